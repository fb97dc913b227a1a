//! Effective permissions (docs/security.md, "Scopes are a ceiling"): the permissions of a user's roles in their teams, plus
//! policy allows, minus policy denies (a deny always wins). Computed by the store, so the
//! issuer's token exchange and the resource server agree.
//!
//! And the guard every write that can widen rights goes through: the request's [`Principal`]
//! as a [`tessera_core::grant::Authority`], the store's live-rights sets for the place a grant
//! takes effect, and [`tessera_core::grant::check_grant`] deciding (docs/security.md, "You can
//! only grant what you hold").

use std::collections::{BTreeMap, BTreeSet};
use tessera_core::grant::{self, Authority, KeyGrant, Reach, Rights};
use tessera_store::DbConnection;
use tessera_store::access as store_access;

use crate::auth::{Credential, Principal};
use crate::error::ApiError;

pub use tessera_core::permission::Permissions;

/// The user's live effective permissions, across all teams or within `only_team`.
pub fn effective_permissions(
    conn: &mut DbConnection,
    realm_id: &str,
    user_id: &str,
    only_team: Option<&str>,
) -> Result<Permissions, ApiError> {
    Ok(store_access::effective_permissions(
        conn, realm_id, user_id, only_team,
    )?)
}

/// The acting credential, with what it holds where: built once per write, inside its
/// transaction and before the write changes anything — what the actor holds is what it held
/// before, never what the write itself gives it.
pub struct Grantor<'p> {
    principal: &'p Principal,
    authority: Authority,
    /// The actor's live rights for a grant in each team it belongs to (with the root team's).
    live_in_team: BTreeMap<String, Permissions>,
    /// …and in every other team, and realm-wide: the root team's alone.
    live_elsewhere: Permissions,
    /// …and across all its teams, as its tokens see them.
    live_anywhere: Permissions,
}

impl<'p> Grantor<'p> {
    /// Takes the realm's access lock ([`store_access::lock_realm_access`]) and reads what the
    /// actor holds: call it first in the write's transaction.
    pub fn new(conn: &mut DbConnection, principal: &'p Principal) -> Result<Self, ApiError> {
        store_access::lock_realm_access(conn, &principal.realm_id)?;
        let root_team = tessera_store::teams::root(conn, &principal.realm_id)?
            .ok_or_else(|| ApiError::Internal("the realm has no root team".into()))?
            .id;
        // A key without a team (made before keys had one) acts with all its owner's teams,
        // as a token does.
        let home_team = match &principal.credential {
            Credential::ApiKey { team_id, .. } => team_id.clone(),
            Credential::Jwt { .. } => None,
        };
        let mut live_in_team = BTreeMap::new();
        let mut live_elsewhere = Permissions::new();
        let mut live_anywhere = Permissions::new();
        if let Some(user) = &principal.user_id {
            let realm = &principal.realm_id;
            let teams: BTreeSet<String> = store_access::role_grants(conn, user, None)?
                .into_iter()
                .map(|g| g.team_id)
                .collect();
            for team in teams {
                let reach = Reach::Team(team.clone());
                let live =
                    store_access::live_rights_for_grant(conn, realm, user, &root_team, &reach)?;
                live_in_team.insert(team, live);
            }
            live_elsewhere =
                store_access::live_rights_for_grant(conn, realm, user, &root_team, &Reach::Realm)?;
            live_anywhere =
                store_access::live_rights_for_grant(conn, realm, user, &root_team, &Reach::Tokens)?;
        }
        Ok(Self {
            principal,
            authority: Authority {
                permissions: principal.permissions.clone(),
                home_team,
                root_team,
                ceiling: principal.ceiling.clone(),
            },
            live_in_team,
            live_elsewhere,
            live_anywhere,
        })
    }

    pub fn root_team(&self) -> &str {
        &self.authority.root_team
    }

    /// The actor's subject's live rights for a grant in `reach`, as they were when the write
    /// began; a team key is its own subject.
    fn live(&self, reach: &Reach) -> Permissions {
        match (reach, &self.principal.user_id) {
            (_, None) => self.principal.permissions.clone(),
            (Reach::Tokens, Some(_)) => self.live_anywhere.clone(),
            (Reach::Team(team), Some(_)) => self
                .live_in_team
                .get(team)
                .unwrap_or(&self.live_elsewhere)
                .clone(),
            (Reach::Realm, Some(_)) => self.live_elsewhere.clone(),
        }
    }

    /// 403 naming what would be escalated unless the actor holds all of `granted` in `reach`.
    pub fn ensure(&self, reach: &Reach, granted: &Permissions) -> Result<(), ApiError> {
        if granted.is_empty() {
            return Ok(());
        }
        let live = self.live(reach);
        Ok(grant::check_grant(&self.authority, reach, &live, granted)?)
    }

    /// Every gain of one principal between two snapshots of their rights must be held.
    pub fn ensure_gains(&self, before: &Rights, after: &Rights) -> Result<(), ApiError> {
        for (reach, gained) in grant::gains(before, after) {
            self.ensure(&reach, &gained)?;
        }
        Ok(())
    }

    /// The grant a personal key of `owner` in `team` may have (see
    /// [`grant::personal_key_grant`]).
    pub fn personal_key_grant(
        &self,
        conn: &mut DbConnection,
        owner: &str,
        team: &str,
        requested: KeyGrant,
    ) -> Result<KeyGrant, ApiError> {
        let live = self.live(&Reach::Team(team.to_string()));
        let owner_live = effective_permissions(conn, &self.principal.realm_id, owner, Some(team))?;
        Ok(grant::personal_key_grant(
            &self.authority,
            team,
            requested,
            &live,
            &owner_live,
        )?)
    }

    /// A user's rights now (realm-wide and per team), to compare before and after a write.
    pub fn user_rights(&self, conn: &mut DbConnection, user: &str) -> Result<Rights, ApiError> {
        Ok(store_access::user_rights(
            conn,
            &self.principal.realm_id,
            user,
            &self.authority.root_team,
        )?)
    }

    /// 409 when the write would leave the realm without an enabled admin.
    pub fn ensure_realm_keeps_admin(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        if store_access::realm_has_enabled_admin(
            conn,
            &self.principal.realm_id,
            &self.authority.root_team,
        )? {
            Ok(())
        } else {
            Err(ApiError::Conflict(
                "this would leave the realm without an enabled admin (an enabled user holding every permission in the root team); make someone else admin first".into(),
            ))
        }
    }
}
