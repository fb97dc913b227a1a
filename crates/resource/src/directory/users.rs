//! Users: `/api/v1/users`. A user's `name` is the sign-in name (the username rule); her
//! rights come from her roles in teams (`team_roles`), which no write may widen beyond what
//! the writer holds. Passwords are set on create only ([`crate::accounts`] resets them).

use actix_web::{HttpRequest, web};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tessera_core::grant::Rights;
use tessera_core::model::User;
use tessera_core::page::Page;
use tessera_core::password::{Argon2Params, PasswordHasher};
use tessera_core::username::{self, Username};
use tessera_store as store;
use tessera_store::DbConnection;
use tessera_store::usernames;
use tessera_store::users::NamedMembership;
use tessera_store::users::UserFilter;

use super::{
    ListEntry, MAX_NAME, Mode, RequestBody, check_entries, check_line, check_list, filter_id,
    found, load_code, store_code, to_json_text, window,
};
use crate::access::Grantor;
use crate::error::ApiError;
use crate::http::Author;
use crate::http::{ListQuery, Values, explicit, parse_id, time_string};

// ---- what the API returns ----

#[derive(Serialize, utoipa::ToSchema)]
struct TeamRoleOut {
    team_id: String,
    team_name: String,
    role_id: String,
    role_name: String,
}

/// A digest subscription, as stored (and as sent: `frequency` is a code).
#[derive(Serialize, Deserialize, Clone, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Digest {
    digest_id: String,
    #[serde(default)]
    digest_name: Option<String>,
    /// A number or a name.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    frequency: Option<Json>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DigestOut {
    digest_id: String,
    digest_name: String,
    #[schema(value_type = Value)]
    frequency: Json,
}

/// What may be done to the user (`options`), as stored; absent flags take their defaults.
#[derive(Serialize, Deserialize, Clone, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_change_password: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    has_mfa: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_change_roles: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_edit_name: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_extend_support: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    can_remove_from_teams: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OptionsOut {
    can_change_password: bool,
    has_mfa: bool,
    can_change_roles: bool,
    can_disable: bool,
    can_delete: bool,
    can_edit_name: bool,
    can_extend_support: bool,
    can_remove_from_teams: bool,
}

impl OptionsOut {
    /// The stored options over their defaults, which depend on whether the user is local.
    fn new(stored: UserOptions, local: bool) -> Self {
        Self {
            can_change_password: stored.can_change_password.unwrap_or(local),
            has_mfa: stored.has_mfa.unwrap_or(false),
            can_change_roles: stored.can_change_roles.unwrap_or(true),
            can_disable: stored.can_disable.unwrap_or(true),
            can_delete: stored.can_delete.unwrap_or(local),
            can_edit_name: stored.can_edit_name.unwrap_or(local),
            can_extend_support: stored.can_extend_support.unwrap_or(false),
            can_remove_from_teams: stored.can_remove_from_teams.unwrap_or(true),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct UserJson {
    id: String,
    name: String,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    email: Option<String>,
    enabled: bool,
    last_login_at: Option<String>,
    last_refresh_at: Option<String>,
    created_at: String,
    updated_at: String,
    logins_lifetime: String,
    #[schema(value_type = Value)]
    auth_provider_type: Json,
    auth_provider_id: Option<String>,
    #[schema(value_type = Value)]
    persona: Json,
    options: OptionsOut,
    team_roles: Vec<TeamRoleOut>,
    digest_settings: Vec<DigestOut>,
    expires_at: Option<String>,
}

fn user_json(u: User, memberships: Vec<NamedMembership>) -> UserJson {
    let stored: UserOptions = serde_json::from_str(&u.options).unwrap_or_default();
    let digests: Vec<Digest> = serde_json::from_str(&u.digest_settings).unwrap_or_default();
    UserJson {
        last_login_at: u.last_login_at.map(time_string),
        last_refresh_at: None,
        created_at: time_string(u.created_at),
        updated_at: time_string(u.updated_at),
        logins_lifetime: u.login_count.to_string(),
        auth_provider_type: Json::Null,
        auth_provider_id: None,
        persona: load_code(&u.persona),
        options: OptionsOut::new(stored, !u.is_service_account),
        team_roles: memberships
            .into_iter()
            .map(|m| TeamRoleOut {
                team_id: m.team_id,
                team_name: m.team_name,
                role_id: m.role_id,
                role_name: m.role_name,
            })
            .collect(),
        digest_settings: digests
            .into_iter()
            .map(|d| DigestOut {
                digest_id: d.digest_id,
                digest_name: d.digest_name.unwrap_or_default(),
                frequency: d.frequency.unwrap_or(Json::Null),
            })
            .collect(),
        expires_at: None,
        id: u.id,
        name: u.username,
        display_name: u.display_name,
        given_name: u.given_name,
        family_name: u.family_name,
        email: u.email,
        enabled: u.enabled,
    }
}

// ---- what the API reads ----

/// A membership: a role in a team.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamRoleRequest {
    team_id: String,
    role_id: String,
}

/// A user (create, PUT, PATCH). On PATCH, absent fields keep their value; on create and PUT,
/// absent optional fields are cleared, as `null` clears them on any. The password is set on
/// create only and never returned.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UserRequest {
    /// The user's id: left out on create, else the path's.
    id: Option<String>,
    /// The sign-in name (the username rule, docs/api.md "Usernames"): letters and digits of one
    /// script plus `. _ - @ +`, 1-255 bytes, stored NFKC; unique ignoring case and lookalikes.
    /// Required on create and PUT; never `null`.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = String)]
    name: Option<Option<String>>,
    /// Create only.
    password: Option<String>,
    #[serde(default, deserialize_with = "explicit")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit")]
    given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit")]
    family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit")]
    display_name: Option<Option<String>>,
    /// `true` when absent on create and PUT; never `null`.
    #[serde(default, deserialize_with = "explicit")]
    enabled: Option<Option<bool>>,
    /// A number or a name.
    #[serde(default, deserialize_with = "explicit")]
    persona: Option<Option<Json>>,
    #[serde(default, deserialize_with = "explicit")]
    options: Option<Option<UserOptions>>,
    /// The user's memberships; on create, absent puts the user in the root team as a member.
    /// They change only when sent, on PUT too; `null` removes them all.
    #[serde(default, deserialize_with = "explicit")]
    team_roles: Option<Option<Vec<TeamRoleRequest>>>,
    #[serde(default, deserialize_with = "explicit")]
    digest_settings: Option<Option<Vec<Digest>>>,
    /// Only `null`: users are local accounts.
    auth_provider_type: Option<Json>,
    /// Only `null`: users are local accounts.
    auth_provider_id: Option<Json>,
}

impl RequestBody for UserRequest {
    fn sent_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// A checked user body, not yet applied: the name and team roles need the database.
pub(super) struct UserChanges {
    /// The name as sent; checked against the username rule where it is written (a replace
    /// that repeats a name from before the rule must not fail on it).
    name: Option<String>,
    password: Option<String>,
    /// `None`: leave the memberships alone.
    team_roles: Option<Vec<(String, String)>>,
    profile: Profile,
}

/// The fields of a user a body sets as they are; `None` keeps the stored value.
struct Profile {
    email: Option<Option<String>>,
    given_name: Option<Option<String>>,
    family_name: Option<Option<String>>,
    display_name: Option<Option<String>>,
    enabled: Option<bool>,
    persona: Option<String>,
    options: Option<String>,
    digest_settings: Option<String>,
}

impl Profile {
    fn apply(self, u: &mut User) {
        set(&mut u.email, self.email);
        set(&mut u.given_name, self.given_name);
        set(&mut u.family_name, self.family_name);
        set(&mut u.display_name, self.display_name);
        set(&mut u.enabled, self.enabled);
        set(&mut u.persona, self.persona);
        set(&mut u.options, self.options);
        set(&mut u.digest_settings, self.digest_settings);
    }
}

/// Sets `field` when there is a `value`; `None` keeps it.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

impl UserRequest {
    /// Checks the body. Pure: no database.
    pub(super) fn into_changes(self, mode: Mode) -> Result<UserChanges, ApiError> {
        let name = mode.required("name", self.name)?;
        let password = match (self.password, mode) {
            (Some(p), Mode::Create) => {
                tessera_core::password::validate_password(&p)?;
                Some(p)
            }
            (None, _) => None,
            (Some(_), _) => {
                return Err(ApiError::bad(
                    "password",
                    "is set only when the user is created; an administrator resets it with POST /api/v1/users/{id}/password-reset (a link or a temporary password), and a user changes her own with POST /api/v1/users/me/password",
                ));
            }
        };
        let email = mode.optional(self.email).map(check_email).transpose()?;
        let given_name = person_name("given_name", mode.optional(self.given_name))?;
        let family_name = person_name("family_name", mode.optional(self.family_name))?;
        let display_name = person_name("display_name", mode.optional(self.display_name))?;
        let enabled = match (self.enabled, mode) {
            (Some(Some(b)), _) => Some(b),
            (Some(None), _) => return Err(ApiError::bad("enabled", "must be true or false")),
            (None, Mode::Patch) => None,
            (None, _) => Some(true),
        };
        let persona = mode
            .optional(self.persona)
            .map(|p| store_code("persona", p))
            .transpose()?;
        let options = mode
            .or_default(self.options)
            .map(|o| to_json_text(&o))
            .transpose()?;
        let digest_settings = mode
            .or_default(self.digest_settings)
            .map(|d| check_entries("digest_settings", &d).and_then(|()| to_json_text(&d)))
            .transpose()?;
        let external = [
            ("auth_provider_type", &self.auth_provider_type),
            ("auth_provider_id", &self.auth_provider_id),
        ];
        if let Some((field, _)) = external.iter().find(|(_, v)| v.is_some()) {
            return Err(ApiError::bad(
                *field,
                "external identity providers are not supported; users are local accounts (send null or leave it out)",
            ));
        }
        Ok(UserChanges {
            name,
            password,
            team_roles: self.team_roles.map(check_team_roles).transpose()?,
            profile: Profile {
                email,
                given_name,
                family_name,
                display_name,
                enabled,
                persona,
                options,
                digest_settings,
            },
        })
    }
}

/// A user's `name` is the sign-in name: it follows the one username rule
/// ([`tessera_core::username`]) shared with the CLI and import. The error names the body
/// field, `name`, and says it is the username that is wrong.
fn parse_user_name(name: &str) -> Result<Username, ApiError> {
    username::parse(name).map_err(|e| ApiError::bad("name", format!("the username {}", e.message)))
}

/// An e-mail address, where `""` clears it like `null`.
fn check_email(email: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(email) = email.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(Some(email))
    } else {
        Err(ApiError::bad(
            "email",
            format!("{email:?} is not an e-mail address"),
        ))
    }
}

/// A person's name field, where `""` clears it like `null`.
fn person_name(
    field: &str,
    sent: Option<Option<String>>,
) -> Result<Option<Option<String>>, ApiError> {
    match sent {
        Some(Some(v)) if !v.is_empty() => {
            check_line(field, &v, MAX_NAME)?;
            Ok(Some(Some(v)))
        }
        Some(_) => Ok(Some(None)),
        None => Ok(None),
    }
}

impl ListEntry for Digest {
    const KEYS: [&'static str; 3] = ["digest_id", "digest_name", "frequency"];

    fn parts(&self) -> (&str, Option<&str>, Option<&Json>) {
        (
            &self.digest_id,
            self.digest_name.as_deref(),
            self.frequency.as_ref(),
        )
    }
}

/// `team_roles` as (team, role) pairs, each listed once; `null` is none. Memberships change
/// only when team_roles is given, on PUT too: a replace that omits them must not silently
/// take someone's rights (or delete their keys).
fn check_team_roles(sent: Option<Vec<TeamRoleRequest>>) -> Result<Vec<(String, String)>, ApiError> {
    let list = sent.unwrap_or_default();
    check_list("team_roles", &list)?;
    let mut pairs = Vec::with_capacity(list.len());
    for (i, tr) in list.into_iter().enumerate() {
        parse_id(&format!("team_roles[{i}].team_id"), &tr.team_id)?;
        parse_id(&format!("team_roles[{i}].role_id"), &tr.role_id)?;
        let pair = (tr.team_id, tr.role_id);
        if pairs.contains(&pair) {
            return Err(ApiError::bad(
                format!("team_roles[{i}]"),
                "this team and role are listed twice",
            ));
        }
        pairs.push(pair);
    }
    Ok(pairs)
}

/// The configured password hasher when the server shares one (`web::Data<PasswordHasher>`),
/// else one with the default (OWASP) parameters, made once per process. Stored hashes carry
/// their parameters, so either verifies at sign-in.
pub(crate) fn hasher(req: &HttpRequest) -> Result<Arc<PasswordHasher>, ApiError> {
    if let Some(h) = req.app_data::<web::Data<PasswordHasher>>() {
        return Ok(h.clone().into_inner());
    }
    static DEFAULT: OnceLock<Result<Arc<PasswordHasher>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            PasswordHasher::new(Argon2Params::default())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ApiError::Internal)
}

// ---- what the handlers call ----

/// One page of the realm's users, each with their named memberships.
pub(super) fn list(
    conn: &mut DbConnection,
    realm_id: &str,
    list: &ListQuery,
) -> Result<Values<UserJson>, ApiError> {
    filter_id(list, "team_id")?;
    let filter = UserFilter {
        name: list.filter_value("name"),
        email: list.filter_value("email"),
        team_id: list.filter_value("team_id"),
    };
    let rows = store::users::list(conn, realm_id, &filter, &window(list))?;
    let page = Page::from_rows(rows, list.page.size, |u| u.id.clone());
    let ids: Vec<String> = page.items.iter().map(|u| u.id.clone()).collect();
    let mut by_user: HashMap<String, Vec<NamedMembership>> = HashMap::new();
    for m in store::users::named_memberships(conn, &ids)? {
        by_user.entry(m.user_id.clone()).or_default().push(m);
    }
    Ok(Values::from_page(page, |u| {
        let ms = by_user.remove(&u.id).unwrap_or_default();
        user_json(u, ms)
    }))
}

/// The user with her named memberships, or 404.
pub(super) fn load(
    conn: &mut DbConnection,
    realm_id: &str,
    id: &str,
) -> Result<UserJson, ApiError> {
    let user = found(store::users::in_realm(conn, realm_id, id)?, "user", id)?;
    let memberships = store::users::named_memberships(conn, std::slice::from_ref(&user.id))?;
    Ok(user_json(user, memberships))
}

/// A user to create: a create body checked, her name checked against the username rule,
/// and her password (if any) hashed.
pub(super) struct NewUser {
    name: Username,
    password_hash: Option<String>,
    changes: UserChanges,
}

impl NewUser {
    /// Checks a create body and hashes the password, off the async threads.
    pub(super) async fn new(req: &HttpRequest, body: UserRequest) -> Result<Self, ApiError> {
        let mut changes = body.into_changes(Mode::Create)?;
        let name = parse_user_name(changes.name.as_deref().unwrap_or_default())?;
        let password_hash = hash_password(req, changes.password.take()).await?;
        Ok(Self {
            name,
            password_hash,
            changes,
        })
    }
}

/// The password's hash, computed off the async threads.
async fn hash_password(
    req: &HttpRequest,
    password: Option<String>,
) -> Result<Option<String>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    let h = hasher(req)?;
    Ok(Some(web::block(move || h.hash(&password)).await??))
}

/// Every team and role named must exist in the realm: a 400 naming the entry otherwise.
fn check_memberships_exist(
    conn: &mut DbConnection,
    realm_id: &str,
    pairs: &[(String, String)],
) -> Result<(), ApiError> {
    for (i, (team, role)) in pairs.iter().enumerate() {
        if store::teams::in_realm(conn, realm_id, team)?.is_none() {
            return Err(ApiError::bad(
                format!("team_roles[{i}].team_id"),
                format!("no team {team} in this realm"),
            ));
        }
        if store::roles::in_realm(conn, realm_id, role)?.is_none() {
            return Err(ApiError::bad(
                format!("team_roles[{i}].role_id"),
                format!("no role {role} in this realm"),
            ));
        }
    }
    Ok(())
}

/// Creates the user with her memberships: those sent, else a member of the root team. What
/// they give her must be held by the author.
pub(super) fn insert(
    conn: &mut DbConnection,
    author: &Author,
    new: NewUser,
) -> Result<UserJson, ApiError> {
    let NewUser {
        name,
        password_hash,
        changes,
    } = new;
    let name = &name;
    let grantor = Grantor::new(conn, &author.principal)?;
    let realm_id = author.realm_id();
    let mut user = User::new(realm_id, name, author.now);
    changes.profile.apply(&mut user);
    user.password_hash = password_hash;
    usernames::check_free(conn, realm_id, name, None)?;
    let pairs = match changes.team_roles {
        Some(pairs) => {
            check_memberships_exist(conn, realm_id, &pairs)?;
            pairs
        }
        None => match (
            store::teams::root(conn, realm_id)?,
            store::roles::by_name(conn, realm_id, "member")?,
        ) {
            (Some(team), Some(role)) => vec![(team.id, role.id)],
            _ => Vec::new(),
        },
    };
    store::users::insert(conn, &user)?;
    store::users::replace_memberships(conn, realm_id, &user.id, &pairs, author.now)?;
    let rights = grantor.user_rights(conn, &user.id)?;
    grantor.ensure_gains(&Rights::default(), &rights)?;
    author.audit(conn, "user.create", &format!("user:{}", user.id))?;
    load(conn, realm_id, &user.id)
}

/// Applies checked changes to the stored user (404 first). What they give her must be held
/// by the author, and the realm keeps an administrator.
pub(super) fn update(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
    changes: UserChanges,
) -> Result<UserJson, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let realm_id = author.realm_id();
    let before = found(store::users::in_realm(conn, realm_id, id)?, "user", id)?;
    let rights_before = grantor.user_rights(conn, id)?;
    let shown_before = load(conn, realm_id, id)?;
    let mut user = before.clone();
    changes.profile.apply(&mut user);
    if let Some(sent) = changes.name.as_deref() {
        rename(conn, realm_id, &before, &mut user, sent)?;
    }
    if !user.enabled && before.enabled && author.is_user(id) {
        return Err(ApiError::Conflict("you cannot disable yourself".into()));
    }
    user.updated_at = author.now;
    store::users::update(conn, &user)?;
    if let Some(pairs) = changes.team_roles {
        check_memberships_exist(conn, realm_id, &pairs)?;
        store::users::replace_memberships(conn, realm_id, id, &pairs, author.now)?;
    }
    let rights_after = grantor.user_rights(conn, id)?;
    grantor.ensure_gains(&rights_before, &rights_after)?;
    grantor.ensure_realm_keeps_admin(conn)?;
    let shown = load(conn, realm_id, id)?;
    let target = format!("user:{id}");
    author.audit_difference(conn, ("user.update", &target), &shown_before, &shown)?;
    Ok(shown)
}

/// Gives `user` the name `sent`. Repeating the current name (as PUT does) is no change, even
/// for a name from before the username rule; a new name must pass the rule and be free, and
/// a service account keeps its client's name.
fn rename(
    conn: &mut DbConnection,
    realm_id: &str,
    before: &User,
    user: &mut User,
    sent: &str,
) -> Result<(), ApiError> {
    if sent == before.username {
        return Ok(());
    }
    let name = parse_user_name(sent)?;
    if name.as_str() == before.username {
        return Ok(());
    }
    if before.is_service_account {
        return Err(ApiError::Conflict(
            "a service account is named after its client; it cannot be renamed".into(),
        ));
    }
    usernames::check_free(conn, realm_id, &name, Some(&before.id))?;
    user.set_username(&name);
    Ok(())
}

/// Deletes a user other than the author and other than a client's service account; the
/// realm keeps an administrator. Answers the user as she was.
pub(super) fn remove(
    conn: &mut DbConnection,
    author: &Author,
    id: &str,
) -> Result<UserJson, ApiError> {
    let grantor = Grantor::new(conn, &author.principal)?;
    let user = load(conn, author.realm_id(), id)?;
    if author.is_user(id) {
        return Err(ApiError::Conflict("you cannot delete yourself".into()));
    }
    let clients = store::clients::served_by(conn, id)?;
    if !clients.is_empty() {
        return Err(ApiError::Conflict(format!(
            "user {id} is the service account of client {}; delete the client instead",
            clients.join(", ")
        )));
    }
    store::users::delete(conn, id)?;
    grantor.ensure_realm_keeps_admin(conn)?;
    author.audit(conn, "user.delete", &format!("user:{id}"))?;
    Ok(user)
}
