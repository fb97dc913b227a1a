//! `tessera export`: a realm as the declarative file `tessera import` reads
//! ([`RealmImport`]), so importing the export into another database recreates the realm.
//!
//! What the file format carries is exported: the realm's display name, custom scopes, custom
//! roles, teams (with `root`, which memberships may name), users with their memberships, and
//! clients with their registration and settings. Never exported: password hashes and client
//! secrets (a confidential client imported elsewhere gets a new secret, printed once), service
//! accounts (a client_credentials client creates its own), and what the format has no place
//! for (policies, API keys, sessions, the audit log). Everything is sorted by name, so
//! exporting the same contents twice gives the same file.

use diesel::prelude::*;
use std::collections::HashMap;
use tessera_core::ScopeSet;
use tessera_core::import::{
    ClientKind, ClientSpec, MembershipSpec, RealmImport, RealmSpec, RoleSpec, ScopeSpec, TeamSpec,
    UserSpec,
};
use tessera_core::permission::is_builtin_scope;

use crate::db::Database;
use crate::error::StoreError;
use crate::rows::*;
use crate::schema::*;
use tessera_core::model::*;

/// The realm `name` as an import file; `NotFound` when there is no such realm.
pub fn export_realm(db: &Database, name: &str) -> Result<RealmImport, StoreError> {
    let conn = &mut *db.conn()?;
    let realm = crate::realms::by_name(conn, name)?
        .ok_or_else(|| StoreError::NotFound(format!("realm {name}")))?;
    let rid = realm.id.as_str();

    let scopes = crate::scopes::all_in_realm(conn, rid)?
        .into_iter()
        .filter(|s| !is_builtin_scope(&s.name))
        .map(|s| ScopeSpec {
            name: s.name,
            description: s.description,
        })
        .collect();

    let all_roles = crate::roles::all_in_realm(conn, rid)?;
    let role_names: HashMap<String, String> = all_roles
        .iter()
        .map(|r| (r.id.clone(), r.name.clone()))
        .collect();
    let mut roles: Vec<RoleSpec> = all_roles
        .into_iter()
        .filter(|r| !r.builtin)
        .map(|r| RoleSpec {
            requires_mfa: r.requires_mfa,
            name: r.name,
            description: r.description,
            permissions: r.permissions.to_vec(),
        })
        .collect();
    roles.sort_by(|a, b| a.name.cmp(&b.name));

    let all_teams: Vec<Team> = teams::table
        .filter(teams::realm_id.eq(rid))
        .order(teams::name)
        .select(TeamRow::as_select())
        .load::<TeamRow>(conn)?
        .into_models()?;
    let team_names: HashMap<String, String> = all_teams
        .iter()
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let teams = all_teams
        .into_iter()
        .map(|t| TeamSpec {
            name: t.name,
            description: t.description,
        })
        .collect();

    let people: Vec<User> = users::table
        .filter(users::realm_id.eq(rid))
        .filter(users::is_service_account.eq(false))
        .order(users::username)
        .select(UserRow::as_select())
        .load::<UserRow>(conn)?
        .into_models()?;
    let mut users = Vec::with_capacity(people.len());
    for u in people {
        let mut memberships: Vec<MembershipSpec> = crate::users::memberships(conn, &u.id)?
            .into_iter()
            .filter_map(|m| {
                Some(MembershipSpec {
                    team: team_names.get(&m.team_id)?.clone(),
                    role: role_names.get(&m.role_id)?.clone(),
                })
            })
            .collect();
        memberships.sort_by(|a, b| (&a.team, &a.role).cmp(&(&b.team, &b.role)));
        users.push(UserSpec {
            username: u.username,
            email: u.email,
            given_name: u.given_name,
            family_name: u.family_name,
            password: None,
            enabled: u.enabled,
            teams: memberships,
        });
    }

    let mut clients: Vec<ClientSpec> = crate::clients::all_in_realm(conn, rid)?
        .into_iter()
        .map(|c| {
            let settings = c.settings;
            let names = |s: &ScopeSet| s.iter().map(str::to_string).collect::<Vec<_>>();
            ClientSpec {
                redirect_uris: c.redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                client_id: c.client_id,
                name: Some(c.name),
                kind: if c.confidential {
                    ClientKind::Confidential
                } else {
                    ClientKind::Public
                },
                secret: None,
                grant_types: c.grant_types.names(),
                scopes: names(&c.allowed_scopes),
                default_scopes: Some(names(&c.default_scopes)),
                first_party: c.first_party,
                web_origins: settings.web_origins,
                access_token_ttl_secs: settings.access_token_ttl_secs,
                refresh_token_idle_ttl_secs: settings.refresh_token_idle_ttl_secs,
                refresh_token_absolute_ttl_secs: settings.refresh_token_absolute_ttl_secs,
                backchannel_logout_uri: settings.backchannel_logout_uri,
            }
        })
        .collect();
    clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));

    Ok(RealmImport {
        realm: RealmSpec {
            name: realm.name,
            display_name: Some(realm.display_name),
            mfa_required: realm.mfa_required.then_some(true),
        },
        scopes,
        roles,
        teams,
        users,
        clients,
    })
}
