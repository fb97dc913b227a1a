//! Creating and reconciling realm contents: the bootstrap of a new realm, clients, users and
//! the declarative import. Shared by the CLI, start-up and (later) the admin APIs, so each
//! rule lives once.

use tessera_core::ScopeSet;
use tessera_core::ValidationError;
use tessera_core::id::new_uuid;
use tessera_core::import::ClientKind;
use tessera_core::import::ClientSpec;
use tessera_core::import::RealmImport;
use tessera_core::names;
use tessera_core::password::PasswordHasher;
use tessera_core::permission::BUILTIN_ROLES;
use tessera_core::permission::CATALOG;
use tessera_core::permission::OIDC_SCOPES;
use tessera_core::permission::is_builtin_scope;
use tessera_core::secret;
use tessera_core::username;

use crate::db::Database;
use crate::db::DbConnection;
use crate::error::StoreError;
use tessera_core::model::*;

/// The public client every realm gets; the seed scripts use it for the password grant.
pub const PORTAL_CLIENT_ID: &str = "portal";
pub const ADMIN_USERNAME: &str = "admin";
pub const ROOT_TEAM_NAME: &str = "root";

/// Who made a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub name: &'a str,
    pub source_addr: &'a str,
}

impl Actor<'static> {
    pub const SYSTEM: Actor<'static> = Actor {
        name: "system",
        source_addr: "",
    };
    pub const CLI: Actor<'static> = Actor {
        name: "cli",
        source_addr: "",
    };
}

pub fn audit(
    conn: &mut DbConnection,
    realm_id: &str,
    actor: &Actor<'_>,
    action: &str,
    target: &str,
    now: i64,
) -> Result<(), StoreError> {
    audit_event(
        conn,
        realm_id,
        actor,
        &Audited {
            action,
            target,
            outcome: "success",
            detail: "",
        },
        now,
    )
}

/// What an audit event records besides who and when.
#[derive(Debug, Clone, Copy)]
pub struct Audited<'a> {
    pub action: &'a str,
    pub target: &'a str,
    /// `success` or `failure`.
    pub outcome: &'a str,
    /// Compact JSON of what changed or why it failed; empty when there is nothing to add.
    pub detail: &'a str,
}

pub fn audit_event(
    conn: &mut DbConnection,
    realm_id: &str,
    actor: &Actor<'_>,
    event: &Audited<'_>,
    now: i64,
) -> Result<(), StoreError> {
    crate::audit::insert(
        conn,
        &AuditEvent {
            id: tessera_core::id::new_time_ordered_uuid(now),
            realm_id: realm_id.into(),
            actor: actor.name.into(),
            action: event.action.into(),
            target: event.target.into(),
            source_addr: actor.source_addr.into(),
            outcome: event.outcome.into(),
            detail: event.detail.into(),
            created_at: now,
        },
    )
}

/// What bootstrapping a realm created. `admin_password` is set only when we generated it:
/// the caller shows it once.
#[derive(Debug)]
pub struct BootstrapReport {
    pub realm: Realm,
    pub generated_admin_password: Option<String>,
}

/// A realm ready to insert: the admin password is hashed before any transaction opens.
struct PreparedBootstrap {
    realm: Realm,
    admin_password_hash: String,
    generated_admin_password: Option<String>,
}

fn prepare_bootstrap(
    name: &str,
    admin_password: Option<&str>,
    hasher: &PasswordHasher,
    now: i64,
) -> Result<PreparedBootstrap, StoreError> {
    names::validate_realm_name(name)?;
    let (password, generated) = match admin_password {
        Some(p) => (p.to_string(), false),
        None => (tessera_core::password::generate_password(), true),
    };
    let admin_password_hash = hasher.hash(&password).map_err(|e| {
        ValidationError::new(
            "TESSERA_ADMIN_PASSWORD",
            format!("admin password {}", e.message),
        )
    })?;
    Ok(PreparedBootstrap {
        realm: Realm {
            id: new_uuid(),
            name: name.into(),
            display_name: name.into(),
            created_at: now,
            updated_at: now,
            mfa_required: false,
        },
        admin_password_hash,
        generated_admin_password: generated.then_some(password),
    })
}

/// Inserts a prepared realm inside the caller's transaction; false when it already exists.
fn insert_bootstrap(
    conn: &mut DbConnection,
    prepared: &PreparedBootstrap,
    now: i64,
) -> Result<bool, StoreError> {
    let realm = &prepared.realm;
    // Another process may have bootstrapped it since the caller looked.
    if crate::realms::by_name(conn, &realm.name)?.is_some() {
        return Ok(false);
    }
    crate::realms::insert(conn, realm)?;
    let mut admin_role_id = String::new();
    for builtin in BUILTIN_ROLES {
        let role = Role {
            id: new_uuid(),
            realm_id: realm.id.clone(),
            name: builtin.name.into(),
            description: builtin.description.into(),
            permissions: builtin.permissions.iter().copied().collect(),
            builtin: true,
            created_at: now,
            updated_at: now,
            requires_mfa: false,
        };
        if builtin.name == "admin" {
            admin_role_id = role.id.clone();
        }
        crate::roles::insert(conn, &role)?;
    }
    let root = Team::new(
        &realm.id,
        ROOT_TEAM_NAME,
        "Everyone in the realm",
        true,
        now,
    );
    crate::teams::insert(conn, &root)?;
    let mut admin = User::new(&realm.id, &username::parse(ADMIN_USERNAME)?, now);
    admin.password_hash = Some(prepared.admin_password_hash.clone());
    admin.given_name = Some("Realm".into());
    admin.family_name = Some("Administrator".into());
    crate::users::insert(conn, &admin)?;
    crate::teams::ensure_membership(
        conn,
        &TeamMembership {
            team_id: root.id.clone(),
            user_id: admin.id.clone(),
            role_id: admin_role_id,
            realm_id: realm.id.clone(),
            created_at: now,
        },
    )?;
    crate::clients::insert(conn, &portal_client(&realm.id, now))?;
    audit(
        conn,
        &realm.id,
        &Actor::SYSTEM,
        "realm.bootstrap",
        &format!("realm:{}", realm.name),
        now,
    )?;
    Ok(true)
}

/// Creates realm `name` with the built-in roles, a root team, an `admin` user (member of the
/// root team with the `admin` role) and the public `portal` client. Returns `None` when the
/// realm already exists: nothing is changed and no secret is produced.
pub fn bootstrap_realm(
    db: &Database,
    name: &str,
    admin_password: Option<&str>,
    hasher: &PasswordHasher,
    now: i64,
) -> Result<Option<BootstrapReport>, StoreError> {
    names::validate_realm_name(name)?;
    if crate::realms::by_name(&mut *db.conn()?, name)?.is_some() {
        return Ok(None);
    }
    let prepared = prepare_bootstrap(name, admin_password, hasher, now)?;
    let created = match db.write_tx(|conn| insert_bootstrap(conn, &prepared, now)) {
        Ok(created) => created,
        // Another replica bootstrapped the realm between our check and our insert.
        Err(StoreError::Conflict(_))
            if crate::realms::by_name(&mut *db.conn()?, name)?.is_some() =>
        {
            false
        }
        Err(e) => return Err(e),
    };
    Ok(created.then_some(BootstrapReport {
        realm: prepared.realm,
        generated_admin_password: prepared.generated_admin_password,
    }))
}

/// Registers the web console of every realm with that realm's `portal` client: the
/// console's callback as a redirect URI and its signed-out page as a post-logout redirect
/// URI, built on `public_url` by `uris(realm name)`. Idempotent; URIs an operator added stay.
/// Returns the realms whose client changed.
pub fn register_console_uris(
    db: &Database,
    uris: impl Fn(&str) -> (String, String),
    now: i64,
) -> Result<Vec<String>, StoreError> {
    db.write_tx(|conn| {
        let mut changed = Vec::new();
        for realm in crate::realms::list(conn)? {
            let (callback, signed_out) = uris(&realm.name);
            if add_console_uris(conn, &realm.id, &callback, &signed_out, now)? {
                changed.push(realm.name);
            }
        }
        Ok(changed)
    })
}

/// `register_console_uris` for one realm, for a realm created while the server runs: adds
/// the console's URIs to its `portal` client when they are missing. Reads first, so a realm
/// whose `portal` already has them costs no write. Returns the realm's id when it changed
/// something (the issuer's cached `portal` must then be dropped), `None` otherwise, also when
/// the realm or its `portal` does not exist.
pub fn ensure_console_uris(
    db: &Database,
    realm: &str,
    callback: &str,
    signed_out: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let registered = |conn: &mut DbConnection| -> Result<Option<(String, bool)>, StoreError> {
        let Some(r) = crate::realms::by_name(conn, realm)? else {
            return Ok(None);
        };
        let Some(portal) = crate::clients::by_client_id(conn, &r.id, PORTAL_CLIENT_ID)? else {
            return Ok(None);
        };
        let has = portal.redirect_uris.iter().any(|u| u == callback)
            && portal
                .post_logout_redirect_uris
                .iter()
                .any(|u| u == signed_out);
        Ok(Some((r.id, has)))
    };
    match registered(&mut *db.conn()?)? {
        None | Some((_, true)) => return Ok(None),
        Some((_, false)) => {}
    }
    db.write_tx(|conn| {
        let Some((realm_id, _)) = registered(conn)? else {
            return Ok(None);
        };
        Ok(add_console_uris(conn, &realm_id, callback, signed_out, now)?.then_some(realm_id))
    })
}

/// Adds the console's URIs to the realm's `portal` client; true when it changed it.
fn add_console_uris(
    conn: &mut DbConnection,
    realm_id: &str,
    callback: &str,
    signed_out: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(mut portal) = crate::clients::by_client_id(conn, realm_id, PORTAL_CLIENT_ID)? else {
        return Ok(false);
    };
    let redirects = &mut portal.redirect_uris;
    let post_logout = &mut portal.post_logout_redirect_uris;
    let missing =
        !redirects.iter().any(|u| u == callback) || !post_logout.iter().any(|u| u == signed_out);
    if !missing {
        return Ok(false);
    }
    if !redirects.iter().any(|u| u == callback) {
        redirects.push(callback.to_string());
    }
    if !post_logout.iter().any(|u| u == signed_out) {
        post_logout.push(signed_out.to_string());
    }
    portal.updated_at = now;
    crate::clients::update_registration(conn, &portal)?;
    Ok(true)
}

fn portal_client(realm_id: &str, now: i64) -> Client {
    let permissions = ScopeSet::from_names(CATALOG.iter().map(|(p, _)| *p));
    let oidc = ScopeSet::from_names(OIDC_SCOPES.iter().map(|(s, _)| *s));
    let defaults = permissions.union(&ScopeSet::from_names(["profile", "email"]));
    Client {
        id: new_uuid(),
        realm_id: realm_id.into(),
        client_id: PORTAL_CLIENT_ID.into(),
        name: "Tessera portal and scripts".into(),
        confidential: false,
        secret_sha256: None,
        grant_types: [
            GrantType::Password,
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ]
        .into_iter()
        .collect(),
        allowed_scopes: permissions.union(&oidc),
        default_scopes: defaults,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        first_party: true,
        service_account_user_id: None,
        enabled: true,
        created_at: now,
        updated_at: now,
        settings: Default::default(),
    }
}

/// A client as created: the stored row, and its secret when we generated one (shown once).
#[derive(Debug)]
pub struct ClientCreated {
    pub client: Client,
    pub generated_secret: Option<String>,
    /// Custom scopes that were defined because the client named them.
    pub defined_scopes: Vec<String>,
}

/// What to do with scopes a client names that the realm does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownScopes {
    Define,
    Refuse,
}

/// Creates a client from its spec. A `client_credentials` client gets a service-account user
/// (`service-account-<client_id>`), whose id is the `sub` of its tokens.
pub fn create_client(
    db: &Database,
    realm_name: &str,
    spec: &ClientSpec,
    unknown_scopes: UnknownScopes,
    actor: &Actor<'_>,
    now: i64,
) -> Result<ClientCreated, StoreError> {
    db.write_tx(|conn| create_client_in(conn, realm_name, spec, unknown_scopes, actor, now))
}

/// [`create_client`] inside the caller's transaction.
pub fn create_client_in(
    conn: &mut DbConnection,
    realm_name: &str,
    spec: &ClientSpec,
    unknown_scopes: UnknownScopes,
    actor: &Actor<'_>,
    now: i64,
) -> Result<ClientCreated, StoreError> {
    spec.validate()?;
    {
        let realm = require_realm(conn, realm_name)?;
        if crate::clients::by_client_id(conn, &realm.id, &spec.client_id)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "client {} already exists in realm {realm_name}",
                spec.client_id
            )));
        }
        let defined_scopes = ensure_scopes(conn, &realm.id, &spec.scopes, unknown_scopes, now)?;
        let (client, generated_secret) = new_client_row(conn, &realm.id, spec, now)?;
        crate::clients::insert(conn, &client)?;
        audit(
            conn,
            &realm.id,
            actor,
            "client.create",
            &format!("client:{}", spec.client_id),
            now,
        )?;
        Ok(ClientCreated {
            client,
            generated_secret,
            defined_scopes,
        })
    }
}

fn new_client_row(
    conn: &mut DbConnection,
    realm_id: &str,
    spec: &ClientSpec,
    now: i64,
) -> Result<(Client, Option<String>), StoreError> {
    let (secret_sha256, generated) = match (spec.kind, &spec.secret) {
        (ClientKind::Public, _) => (None, None),
        (ClientKind::Confidential, Some(s)) => (Some(secret::sha256_hex(s)), None),
        (ClientKind::Confidential, None) => {
            let g = secret::generate_client_secret();
            (Some(g.sha256_hex), Some(g.plain))
        }
    };
    let mut client = Client {
        id: new_uuid(),
        realm_id: realm_id.into(),
        client_id: spec.client_id.clone(),
        name: String::new(),
        confidential: spec.kind == ClientKind::Confidential,
        secret_sha256,
        grant_types: GrantTypes::default(),
        allowed_scopes: ScopeSet::new(),
        default_scopes: ScopeSet::new(),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        first_party: false,
        service_account_user_id: None,
        enabled: true,
        created_at: now,
        updated_at: now,
        settings: Default::default(),
    };
    apply_client_spec(conn, &mut client, spec, now)?;
    Ok((client, generated))
}

/// Writes the spec's registration fields onto `client`, creating its service account when it
/// needs one. Shared by creation, import and the clients API.
pub fn apply_client_spec(
    conn: &mut DbConnection,
    client: &mut Client,
    spec: &ClientSpec,
    now: i64,
) -> Result<(), StoreError> {
    client.name = spec.name.clone().unwrap_or_else(|| spec.client_id.clone());
    client.confidential = spec.kind == ClientKind::Confidential;
    client.grant_types = GrantTypes::from_names(&spec.grant_types)?;
    let allowed = ScopeSet::from_names(spec.scopes.iter().cloned());
    client.default_scopes = match &spec.default_scopes {
        Some(d) => ScopeSet::from_names(d.iter().cloned()),
        None => allowed.clone(),
    };
    client.allowed_scopes = allowed;
    client.redirect_uris = spec.redirect_uris.clone();
    client.post_logout_redirect_uris = spec.post_logout_redirect_uris.clone();
    client.first_party = spec.first_party;
    client.settings = spec.settings();
    if client.allows_grant(GrantType::ClientCredentials) && client.service_account_user_id.is_none()
    {
        let username = service_account_name(&client.client_id)?;
        let user = match crate::users::by_username(conn, &client.realm_id, username.as_str())? {
            // The account of a client deleted and made again. Only an exact match: names are
            // compared by key, and client ids are case-sensitive, so `Svc` must not take
            // over the account of `svc`.
            Some(u) if u.is_service_account && u.username == username.as_str() => u,
            Some(u) => {
                return Err(StoreError::Conflict(format!(
                    "client {:?} needs a service account named {:?}, but the user {:?} has that name or one like it; rename that user or choose another client id",
                    client.client_id,
                    username.as_str(),
                    u.username
                )));
            }
            None => {
                let mut u = User::new(&client.realm_id, &username, now);
                u.is_service_account = true;
                u.persona = "service_account".into();
                crate::users::insert(conn, &u)?;
                u
            }
        };
        client.service_account_user_id = Some(user.id);
    }
    Ok(())
}

/// The username of a client's service account: `service-account-` and the client id, with the
/// two characters a client id may have but a username may not (`:` and `~`) made `.` and `-`.
fn service_account_name(client_id: &str) -> Result<username::Username, StoreError> {
    let name: String = format!("service-account-{client_id}")
        .chars()
        .map(|c| match c {
            ':' => '.',
            '~' => '-',
            c => c,
        })
        .collect();
    Ok(username::parse(&name)?)
}

/// Checks that every scope name is built in or defined in the realm; with
/// [`UnknownScopes::Define`] the missing ones are defined. Returns the names it defined.
fn ensure_scopes(
    conn: &mut DbConnection,
    realm_id: &str,
    names: &[String],
    unknown: UnknownScopes,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let mut defined = Vec::new();
    for name in names {
        if is_builtin_scope(name) || crate::scopes::by_name(conn, realm_id, name)?.is_some() {
            continue;
        }
        match unknown {
            UnknownScopes::Refuse => {
                return Err(ValidationError::new(
                    "scopes",
                    format!("scope {name:?} is not defined in this realm; define it first"),
                )
                .into());
            }
            UnknownScopes::Define => {
                crate::scopes::insert(
                    conn,
                    &Scope {
                        id: new_uuid(),
                        realm_id: realm_id.into(),
                        name: name.clone(),
                        description: String::new(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                defined.push(name.clone());
            }
        }
    }
    Ok(defined)
}

/// A new user with optional password and e-mail.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: Option<&'a str>,
    pub email: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub family_name: Option<&'a str>,
    /// Team name and role name; the user joins the realm's root team when empty.
    pub team_role: Option<(&'a str, &'a str)>,
}

pub fn create_user(
    db: &Database,
    realm_name: &str,
    new: &NewUser<'_>,
    hasher: &PasswordHasher,
    actor: &Actor<'_>,
    now: i64,
) -> Result<User, StoreError> {
    let name = username::parse(new.username)?;
    let password_hash = new.password.map(|p| hasher.hash(p)).transpose()?;
    db.write_tx(|conn| {
        let realm = require_realm(conn, realm_name)?;
        let mut user = User::new(&realm.id, &name, now);
        user.password_hash = password_hash;
        user.email = new.email.map(str::to_string);
        user.given_name = new.given_name.map(str::to_string);
        user.family_name = new.family_name.map(str::to_string);
        crate::users::insert(conn, &user).map_err(|e| match e {
            StoreError::Conflict(m) => StoreError::Conflict(format!("{m} in realm {realm_name}")),
            other => other,
        })?;
        let (team_name, role_name) = new.team_role.unwrap_or((ROOT_TEAM_NAME, "member"));
        let team = crate::teams::by_name(conn, &realm.id, team_name)?
            .ok_or_else(|| ValidationError::new("team", format!("no team named {team_name:?}")))?;
        let role = crate::roles::by_name(conn, &realm.id, role_name)?
            .ok_or_else(|| ValidationError::new("role", format!("no role named {role_name:?}")))?;
        crate::teams::ensure_membership(
            conn,
            &TeamMembership {
                team_id: team.id,
                user_id: user.id.clone(),
                role_id: role.id,
                realm_id: realm.id.clone(),
                created_at: now,
            },
        )?;
        audit(
            conn,
            &realm.id,
            actor,
            "user.create",
            &format!("user:{}", user.id),
            now,
        )?;
        Ok(user)
    })
}

/// Sets a user's password (recovering a lost admin password, for one), ending every session
/// and grant signed in with the old one ([`crate::accounts::set_password_in`]).
pub fn set_user_password(
    db: &Database,
    realm_name: &str,
    username: &str,
    password: &str,
    hasher: &PasswordHasher,
    actor: &Actor<'_>,
    now: i64,
) -> Result<User, StoreError> {
    let hash = hasher.hash(password)?;
    db.write_tx(|conn| {
        let realm = require_realm(conn, realm_name)?;
        let user = crate::users::by_username(conn, &realm.id, username)?.ok_or_else(|| {
            StoreError::NotFound(format!("user {username} in realm {realm_name}"))
        })?;
        if user.is_service_account {
            return Err(ValidationError::new(
                "username",
                format!("{username} is a service account; it signs in with its client's secret"),
            )
            .into());
        }
        // As every password change: what was signed in with the old one ends.
        crate::accounts::set_password_in(conn, &user.id, &hash, false, now)?;
        audit(
            conn,
            &realm.id,
            actor,
            "user.set_password",
            &format!("user:{}", user.id),
            now,
        )?;
        Ok(user)
    })
}

/// Replaces a confidential client's secret with a generated one, returned to show once. The
/// old secret stops working at once here, and within the cache TTL on other replicas.
pub fn rotate_client_secret(
    db: &Database,
    realm_name: &str,
    client_id: &str,
    actor: &Actor<'_>,
    now: i64,
) -> Result<String, StoreError> {
    db.write_tx(|conn| {
        let realm = require_realm(conn, realm_name)?;
        let client =
            crate::clients::by_client_id(conn, &realm.id, client_id)?.ok_or_else(|| {
                StoreError::NotFound(format!("client {client_id} in realm {realm_name}"))
            })?;
        if !client.confidential {
            return Err(ValidationError::new(
                "client_id",
                format!("{client_id} is a public client; it has no secret"),
            )
            .into());
        }
        let generated = secret::generate_client_secret();
        crate::clients::set_secret(conn, &client.id, Some(&generated.sha256_hex), now)?;
        audit(
            conn,
            &realm.id,
            actor,
            "client.rotate_secret",
            &format!("client:{client_id}"),
            now,
        )?;
        Ok(generated.plain)
    })
}

fn require_realm(conn: &mut DbConnection, name: &str) -> Result<Realm, StoreError> {
    crate::realms::by_name(conn, name)?.ok_or_else(|| StoreError::NotFound(format!("realm {name}")))
}

/// What an import did. A second import of the same file reports nothing created or updated.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub bootstrap: Option<BootstrapReport>,
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    /// (client_id, secret) for confidential clients created without a fixed secret.
    pub generated_secrets: Vec<(String, String)>,
}

/// Makes the realm match the file: creates what is missing, updates what differs, leaves
/// everything else alone. Validated first and applied in one transaction, so a bad file
/// changes nothing.
pub fn import_realm(
    db: &Database,
    file: &RealmImport,
    admin_password: Option<&str>,
    hasher: &PasswordHasher,
    now: i64,
) -> Result<ImportReport, StoreError> {
    file.validate()?;
    let mut report = ImportReport::default();
    // Hash passwords (a new realm's admin, users that do not exist yet) before the
    // transaction, so it holds the write lock only for the writes.
    let existing_realm = crate::realms::by_name(&mut *db.conn()?, &file.realm.name)?;
    let bootstrap = match &existing_realm {
        None => Some(prepare_bootstrap(
            &file.realm.name,
            admin_password,
            hasher,
            now,
        )?),
        Some(_) => None,
    };
    let mut new_password_hashes = std::collections::HashMap::new();
    {
        let mut conn = db.conn()?;
        for u in &file.users {
            let exists = match &existing_realm {
                Some(realm) => {
                    crate::users::by_username(&mut conn, &realm.id, &u.username)?.is_some()
                }
                None => false,
            };
            if let Some(p) = &u.password
                && !exists
            {
                new_password_hashes.insert(u.username.clone(), hasher.hash(p)?);
            }
        }
    }
    let actor = Actor::CLI;
    db.write_tx(|conn| {
        if let Some(prepared) = &bootstrap {
            insert_bootstrap(conn, prepared, now)?;
        }
        let realm = require_realm(conn, &file.realm.name)?;
        let rid = realm.id.as_str();
        let note = |report: &mut ImportReport, outcome: Outcome, what: String| match outcome {
            Outcome::Created => report.created.push(what),
            Outcome::Updated => report.updated.push(what),
            Outcome::Unchanged => report.unchanged += 1,
        };

        if let Some(required) = file.realm.mfa_required
            && required != realm.mfa_required
        {
            crate::mfa::set_realm_mfa_required(conn, rid, required, now)?;
            note(
                &mut report,
                Outcome::Updated,
                format!("realm {} mfa_required", realm.name),
            );
        }
        if let Some(display) = &file.realm.display_name
            && *display != realm.display_name
        {
            diesel::update(crate::schema::realms::table.find(rid))
                .set(crate::schema::realms::display_name.eq(display))
                .execute(conn)?;
            note(
                &mut report,
                Outcome::Updated,
                format!("realm {}", realm.name),
            );
        }

        for s in &file.scopes {
            let outcome = match crate::scopes::by_name(conn, rid, &s.name)? {
                None => {
                    crate::scopes::insert(
                        conn,
                        &Scope {
                            id: new_uuid(),
                            realm_id: rid.into(),
                            name: s.name.clone(),
                            description: s.description.clone(),
                            created_at: now,
                            updated_at: now,
                        },
                    )?;
                    Outcome::Created
                }
                Some(existing) if existing.description != s.description => {
                    crate::scopes::update_description(conn, &existing.id, &s.description, now)?;
                    Outcome::Updated
                }
                Some(_) => Outcome::Unchanged,
            };
            note(&mut report, outcome, format!("scope {}", s.name));
        }

        for r in &file.roles {
            let permissions: PermissionList = ScopeSet::from_names(r.permissions.iter().cloned())
                .iter()
                .collect();
            let outcome = match crate::roles::by_name(conn, rid, &r.name)? {
                None => {
                    crate::roles::insert(
                        conn,
                        &Role {
                            id: new_uuid(),
                            realm_id: rid.into(),
                            name: r.name.clone(),
                            description: r.description.clone(),
                            permissions,
                            builtin: false,
                            created_at: now,
                            updated_at: now,
                            requires_mfa: r.requires_mfa,
                        },
                    )?;
                    Outcome::Created
                }
                Some(existing)
                    if existing.description != r.description
                        || existing.permissions != permissions
                        || existing.requires_mfa != r.requires_mfa =>
                {
                    crate::roles::update(
                        conn,
                        &Role {
                            description: r.description.clone(),
                            permissions,
                            requires_mfa: r.requires_mfa,
                            updated_at: now,
                            ..existing
                        },
                    )?;
                    Outcome::Updated
                }
                Some(_) => Outcome::Unchanged,
            };
            note(&mut report, outcome, format!("role {}", r.name));
        }

        for t in &file.teams {
            let outcome = match crate::teams::by_name(conn, rid, &t.name)? {
                None => {
                    crate::teams::insert(
                        conn,
                        &Team::new(rid, &t.name, &t.description, false, now),
                    )?;
                    Outcome::Created
                }
                Some(existing) if existing.description != t.description => {
                    crate::teams::update_description(conn, &existing.id, &t.description, now)?;
                    Outcome::Updated
                }
                Some(_) => Outcome::Unchanged,
            };
            note(&mut report, outcome, format!("team {}", t.name));
        }

        for u in &file.users {
            let (user, mut outcome) = match crate::users::by_username(conn, rid, &u.username)? {
                None => {
                    let mut user = User::new(rid, &username::parse(&u.username)?, now);
                    user.email = u.email.clone();
                    user.given_name = u.given_name.clone();
                    user.family_name = u.family_name.clone();
                    user.enabled = u.enabled;
                    user.password_hash = new_password_hashes.get(&u.username).cloned();
                    crate::users::insert(conn, &user)?;
                    (user, Outcome::Created)
                }
                Some(existing) => {
                    let wanted = User {
                        email: u.email.clone(),
                        given_name: u.given_name.clone(),
                        family_name: u.family_name.clone(),
                        enabled: u.enabled,
                        ..existing.clone()
                    };
                    if (
                        &wanted.email,
                        &wanted.given_name,
                        &wanted.family_name,
                        wanted.enabled,
                    ) != (
                        &existing.email,
                        &existing.given_name,
                        &existing.family_name,
                        existing.enabled,
                    ) {
                        crate::users::update_profile(
                            conn,
                            &User {
                                updated_at: now,
                                ..wanted.clone()
                            },
                        )?;
                        (wanted, Outcome::Updated)
                    } else {
                        (existing, Outcome::Unchanged)
                    }
                }
            };
            for m in &u.teams {
                let team = crate::teams::by_name(conn, rid, &m.team)?
                    .ok_or_else(|| StoreError::NotFound(format!("team {}", m.team)))?;
                let role = crate::roles::by_name(conn, rid, &m.role)?
                    .ok_or_else(|| StoreError::NotFound(format!("role {}", m.role)))?;
                let added = crate::teams::ensure_membership(
                    conn,
                    &TeamMembership {
                        team_id: team.id,
                        user_id: user.id.clone(),
                        role_id: role.id,
                        realm_id: rid.into(),
                        created_at: now,
                    },
                )?;
                if added && outcome == Outcome::Unchanged {
                    outcome = Outcome::Updated;
                }
            }
            note(&mut report, outcome, format!("user {}", u.username));
        }

        for c in &file.clients {
            ensure_scopes(conn, rid, &c.scopes, UnknownScopes::Refuse, now)?;
            let outcome = match crate::clients::by_client_id(conn, rid, &c.client_id)? {
                None => {
                    let (client, generated) = new_client_row(conn, rid, c, now)?;
                    crate::clients::insert(conn, &client)?;
                    if let Some(s) = generated {
                        report.generated_secrets.push((c.client_id.clone(), s));
                    }
                    Outcome::Created
                }
                Some(existing) => {
                    let mut wanted = existing.clone();
                    apply_client_spec(conn, &mut wanted, c, now)?;
                    // The secret the client should end with: the file's, none for a public
                    // client, a generated one for a confidential client that has none yet.
                    let wanted_secret = match (&c.secret, c.kind) {
                        (Some(s), ClientKind::Confidential) => Some(Some(secret::sha256_hex(s))),
                        (None, ClientKind::Public) => Some(None),
                        (None, ClientKind::Confidential) if existing.secret_sha256.is_none() => {
                            let g = secret::generate_client_secret();
                            report
                                .generated_secrets
                                .push((c.client_id.clone(), g.plain));
                            Some(Some(g.sha256_hex))
                        }
                        _ => None,
                    };
                    let secret_changed = wanted_secret
                        .as_ref()
                        .is_some_and(|w| *w != existing.secret_sha256);
                    let registration_changed = (
                        &wanted.name,
                        wanted.confidential,
                        &wanted.grant_types,
                        &wanted.allowed_scopes,
                        &wanted.default_scopes,
                        &wanted.redirect_uris,
                        &wanted.post_logout_redirect_uris,
                        wanted.first_party,
                        &wanted.service_account_user_id,
                        &wanted.settings,
                    ) != (
                        &existing.name,
                        existing.confidential,
                        &existing.grant_types,
                        &existing.allowed_scopes,
                        &existing.default_scopes,
                        &existing.redirect_uris,
                        &existing.post_logout_redirect_uris,
                        existing.first_party,
                        &existing.service_account_user_id,
                        &existing.settings,
                    );
                    if registration_changed {
                        crate::clients::update_registration(
                            conn,
                            &Client {
                                updated_at: now,
                                ..wanted
                            },
                        )?;
                    }
                    if let Some(hash) = wanted_secret.filter(|_| secret_changed) {
                        crate::clients::set_secret(conn, &existing.id, hash.as_deref(), now)?;
                    }
                    if registration_changed || secret_changed {
                        Outcome::Updated
                    } else {
                        Outcome::Unchanged
                    }
                }
            };
            note(&mut report, outcome, format!("client {}", c.client_id));
        }

        for what in report
            .created
            .iter()
            .map(|w| ("import.create", w))
            .chain(report.updated.iter().map(|w| ("import.update", w)))
        {
            audit(conn, rid, &actor, what.0, what.1, now)?;
        }
        Ok(())
    })?;
    report.bootstrap = bootstrap.map(|p| BootstrapReport {
        realm: p.realm,
        generated_admin_password: p.generated_admin_password,
    });
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

use diesel::prelude::*;
