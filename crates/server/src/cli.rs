//! The command line: `tessera [serve|migrate|realm|client|user|keys|unlock|import|export|config]`.

use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use tessera_core::import::{ClientKind, ClientSpec, RealmImport};
use tessera_core::password::PasswordHasher;
use tessera_core::{Clock, SystemClock};
use tessera_store as store;
use tessera_store::provision::{self, Actor, NewUser, UnknownScopes};

use crate::app;
use crate::config::{Config, Overrides};
use crate::error::ServerError;

/// Tessera: an OAuth 2.0 / OpenID Connect authorization server with API keys, teams, roles
/// and policies.
#[derive(Debug, Parser)]
#[command(name = "tessera", version)]
pub struct Cli {
    /// TOML configuration file (also TESSERA_CONFIG). Flags and TESSERA_* variables override it.
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Listen address, e.g. 127.0.0.1:8080 (also TESSERA_LISTEN).
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// Public base URL; issuer URLs are {public-url}/realms/{realm} (also TESSERA_PUBLIC_URL).
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// sqlite://PATH or postgres://USER:PASSWORD@HOST/DB (also TESSERA_DATABASE_URL).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Directory of signing keys (also TESSERA_KEYS_DIR).
    #[arg(long, global = true)]
    pub keys_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the issuer and the resource server on one port (default): migrate, create keys and
    /// the `default` realm if missing, serve.
    Serve,
    /// Run only the issuer (split deployment): token, discovery, JWKS endpoints.
    Issuer,
    /// Run only the resource server (split deployment): the REST APIs, verifying tokens
    /// against the issuer's JWKS fetched over HTTP. It never signs tokens.
    Resource {
        /// The issuer's public base URL, e.g. https://auth.example.com (also TESSERA_ISSUER_URL).
        #[arg(long, env = "TESSERA_ISSUER_URL")]
        issuer_url: String,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage realms.
    #[command(subcommand)]
    Realm(RealmCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// End sign-in throttle locks and waits (docs/operations.md, "Brute-force throttling"):
    /// of a username from every address, of a username from one address, or of an address.
    Unlock {
        #[arg(long, default_value = "default")]
        realm: String,
        /// The username (case does not matter).
        #[arg(long)]
        user: Option<String>,
        /// The client address, as the server sees it (behind a trusted proxy: the forwarded one).
        #[arg(long)]
        address: Option<std::net::IpAddr>,
    },
    /// Make a realm match a declarative file (TOML or JSON): scopes, roles, teams, users,
    /// clients. Importing the same file again changes nothing.
    Import {
        /// The realm file; see examples/realm.toml.
        file: PathBuf,
    },
    /// Print a realm as an import file on standard output: scopes, roles, teams, users with
    /// their memberships, clients with their settings. No password hashes, no client secrets.
    Export {
        /// The realm to export.
        realm: String,
        /// `json` (import reads it from a file named *.json) or `toml`.
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
    },
    /// Print the effective configuration, or every environment variable with its default.
    Config {
        /// List the TESSERA_* variables instead.
        #[arg(long)]
        env: bool,
    },
}

/// The file format of `tessera export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Json,
    Toml,
}

#[derive(Debug, Subcommand)]
pub enum RealmCommand {
    /// Create a realm with built-in roles, a root team, an `admin` user (password from
    /// TESSERA_ADMIN_PASSWORD, or generated and printed once) and the `portal` client.
    Create { name: String },
    /// List realms.
    List,
    /// Require a second factor of every user of a realm (`--required true`), or leave it to
    /// roles and users (`--required false`).
    Mfa {
        name: String,
        #[arg(long, action = clap::ArgAction::Set)]
        required: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is generated and printed once.
    Create(Box<ClientCreateArgs>),
    /// List a realm's clients.
    List {
        #[arg(long, default_value = "default")]
        realm: String,
    },
    /// Replace a confidential client's secret; the new one is printed once. The old secret
    /// stops working within issuer.cache_ttl_secs on running servers.
    RotateSecret {
        client_id: String,
        #[arg(long, default_value = "default")]
        realm: String,
    },
}

#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    /// The client_id clients authenticate with.
    pub client_id: String,
    #[arg(long, default_value = "default")]
    pub realm: String,
    /// A public client (no secret): browser or native apps, and scripts like `portal`.
    #[arg(long)]
    pub public: bool,
    /// Grant types (repeat or comma-separate): client_credentials, password,
    /// authorization_code, refresh_token.
    #[arg(
        long = "grant",
        value_delimiter = ',',
        default_value = "client_credentials"
    )]
    pub grants: Vec<String>,
    /// Scopes the client may request (repeat, comma- or space-separate). Custom scopes that
    /// the realm lacks are defined.
    #[arg(long = "scope", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Scopes granted when a request names none (default: all of --scope).
    #[arg(long = "default-scope", value_delimiter = ',')]
    pub default_scopes: Vec<String>,
    /// Redirect URIs (exact match).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return the browser (exact match).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Skip the consent page for this client (Tessera's own apps).
    #[arg(long)]
    pub first_party: bool,
    /// Browser origins allowed to call Tessera from script (CORS); `+` for the redirect
    /// URIs' origins.
    #[arg(long = "web-origin")]
    pub web_origins: Vec<String>,
    /// Access-token lifetime for this client, in seconds (default: the issuer's).
    #[arg(long)]
    pub access_token_ttl_secs: Option<i64>,
    /// Refresh-token idle lifetime for this client, in seconds.
    #[arg(long)]
    pub refresh_token_idle_ttl_secs: Option<i64>,
    /// Refresh-token absolute lifetime for this client, in seconds.
    #[arg(long)]
    pub refresh_token_absolute_ttl_secs: Option<i64>,
    /// OIDC back-channel logout URI of the client.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input with --password-stdin;
    /// otherwise one is generated and printed once.
    Create(UserCreateArgs),
    /// Set a user's password (e.g. a lost admin password): from standard input with
    /// --password-stdin, otherwise generated and printed once.
    SetPassword {
        username: String,
        #[arg(long, default_value = "default")]
        realm: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Args)]
pub struct UserCreateArgs {
    pub username: String,
    #[arg(long, default_value = "default")]
    pub realm: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub given_name: Option<String>,
    #[arg(long)]
    pub family_name: Option<String>,
    /// Team to join (default: the realm's root team).
    #[arg(long, default_value = "root")]
    pub team: String,
    /// Role in that team: admin, operator, member, viewer, oaa_push or a custom role.
    #[arg(long, default_value = "member")]
    pub role: String,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create new signing keys. They are published at once and sign after
    /// keys.activation_delay_secs; keys whose tokens have all expired are deleted.
    Rotate,
    /// List the keys: kid, algorithm, and whether each signs or is only published.
    /// Changes nothing.
    List,
}

impl Cli {
    pub fn load_config(&self) -> Result<Config, ServerError> {
        let overrides = Overrides {
            listen: self.listen.clone(),
            public_url: self.public_url.clone(),
            database_url: self.database_url.clone(),
            keys_dir: self.keys_dir.clone(),
        };
        Ok(Config::load(
            self.config.as_deref(),
            &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            &overrides,
        )?)
    }
}

/// Runs a command that is not `serve`, writing what a person needs to `out`. A command that
/// opens the database names it in any error; every such command but `migrate` refuses to
/// create a SQLite database that does not exist (a CLI run from the wrong directory).
pub fn run_command(
    command: &Command,
    config: &Config,
    out: &mut dyn Write,
) -> Result<(), ServerError> {
    let uses_database = matches!(
        command,
        Command::Migrate
            | Command::Realm(_)
            | Command::Client(_)
            | Command::User(_)
            | Command::Unlock { .. }
            | Command::Import { .. }
            | Command::Export { .. }
    );
    if !uses_database {
        return run(command, config, out);
    }
    if !matches!(command, Command::Migrate) {
        require_existing_database(&config.database_url)?;
    }
    run(command, config, out).map_err(|e| ServerError::InDatabase {
        database: tessera_store::db::redact(&config.database_url),
        source: Box::new(e),
    })
}

/// Refuses a SQLite URL whose file does not exist: opening it would create an empty database.
fn require_existing_database(url: &str) -> Result<(), ServerError> {
    if let tessera_store::db::DatabaseUrl::Sqlite(path) =
        tessera_store::db::DatabaseUrl::parse(url)?
        && !path.exists()
    {
        let full = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        let where_ = if full == path {
            String::new()
        } else {
            format!(" ({})", full.display())
        };
        return Err(ServerError::Input(format!(
            "no database at {}{where_}; run from the directory where Tessera runs, or set \
             TESSERA_DATABASE_URL / --database-url / --config; `tessera migrate` (or \
             `tessera serve`) creates a new one",
            path.display(),
        )));
    }
    Ok(())
}

fn run(command: &Command, config: &Config, out: &mut dyn Write) -> Result<(), ServerError> {
    let clock = SystemClock;
    let w = |out: &mut dyn Write, s: String| -> Result<(), ServerError> {
        writeln!(out, "{s}").map_err(|e| ServerError::Input(e.to_string()))
    };
    match command {
        Command::Serve | Command::Issuer | Command::Resource { .. } => Err(ServerError::Input(
            "serve, issuer and resource run a server, not a one-shot command".into(),
        )),
        Command::Migrate => {
            let db = app::open_database(config)?;
            let applied = db.migrate()?;
            w(out, format!("{} migration(s) applied", applied.len()))?;
            for m in applied {
                w(out, format!("  {m}"))?;
            }
            Ok(())
        }
        Command::Realm(RealmCommand::Create { name }) => {
            let db = migrated(config)?;
            let hasher = hasher(config)?;
            let admin_password = std::env::var("TESSERA_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            match provision::bootstrap_realm(
                &db,
                name,
                admin_password.as_deref(),
                &hasher,
                clock.now(),
            )? {
                None => Err(ServerError::Input(format!("realm {name} already exists"))),
                Some(report) => {
                    w(
                        out,
                        format!(
                            "Created realm {name} with roles, a root team, user admin and client portal."
                        ),
                    )?;
                    if let Some(p) = report.generated_admin_password {
                        w(out, format!("Admin password (shown once): {p}"))?;
                    }
                    Ok(())
                }
            }
        }
        Command::Realm(RealmCommand::List) => {
            let db = migrated(config)?;
            for r in store::realms::list(&mut *db.conn()?)? {
                w(out, r.name)?;
            }
            Ok(())
        }
        Command::Realm(RealmCommand::Mfa { name, required }) => {
            let (required, now) = (*required, clock.now());
            let db = migrated(config)?;
            let mut conn = db.conn()?;
            let realm = store::realms::by_name(&mut conn, name)?
                .ok_or_else(|| ServerError::Input(format!("no realm named {name}")))?;
            tessera_store::mfa::set_realm_mfa_required(&mut conn, &realm.id, required, now)?;
            tessera_store::provision::audit_event(
                &mut conn,
                &realm.id,
                &Actor::CLI,
                &tessera_store::provision::Audited {
                    action: "realm.update",
                    target: &format!("realm:{}", realm.id),
                    outcome: "success",
                    detail: &serde_json::json!({"mfa_required": {"from": realm.mfa_required, "to": required}}).to_string(),
                },
                now,
            )?;
            w(
                out,
                if required {
                    format!("Realm {name}: every user must sign in with a second factor.")
                } else {
                    format!(
                        "Realm {name}: a second factor is required only where a role asks for it."
                    )
                },
            )
        }
        Command::Client(ClientCommand::Create(args)) => {
            let db = migrated(config)?;
            let scopes = split_scopes(&args.scopes);
            let default_scopes = split_scopes(&args.default_scopes);
            let spec = ClientSpec {
                client_id: args.client_id.clone(),
                name: args.name.clone(),
                kind: if args.public {
                    ClientKind::Public
                } else {
                    ClientKind::Confidential
                },
                secret: None,
                grant_types: args
                    .grants
                    .iter()
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect(),
                default_scopes: (!default_scopes.is_empty()).then_some(default_scopes),
                scopes,
                redirect_uris: args.redirect_uris.clone(),
                post_logout_redirect_uris: args.post_logout_redirect_uris.clone(),
                first_party: args.first_party,
                web_origins: args.web_origins.clone(),
                access_token_ttl_secs: args.access_token_ttl_secs,
                refresh_token_idle_ttl_secs: args.refresh_token_idle_ttl_secs,
                refresh_token_absolute_ttl_secs: args.refresh_token_absolute_ttl_secs,
                backchannel_logout_uri: args.backchannel_logout_uri.clone(),
            };
            let created = provision::create_client(
                &db,
                &args.realm,
                &spec,
                UnknownScopes::Define,
                &Actor::CLI,
                clock.now(),
            )?;
            w(
                out,
                format!(
                    "Created client {} in realm {}.",
                    created.client.client_id, args.realm
                ),
            )?;
            if !created.defined_scopes.is_empty() {
                w(
                    out,
                    format!("Defined scopes: {}", created.defined_scopes.join(" ")),
                )?;
            }
            if let Some(secret) = created.generated_secret {
                w(
                    out,
                    format!("Client secret (shown once; store it now): {secret}"),
                )?;
            }
            Ok(())
        }
        Command::Client(ClientCommand::List { realm }) => {
            let db = migrated(config)?;
            let r = store::realms::by_name(&mut *db.conn()?, realm)?
                .ok_or_else(|| ServerError::Input(format!("realm {realm} does not exist")))?;
            for c in store::clients::all_in_realm(&mut *db.conn()?, &r.id)? {
                let kind = if c.confidential {
                    "confidential"
                } else {
                    "public"
                };
                w(
                    out,
                    format!(
                        "{}\t{kind}\t{}\t{}",
                        c.client_id, c.grant_types, c.allowed_scopes
                    ),
                )?;
            }
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => {
            let db = migrated(config)?;
            let (password, generated) = password_input(args.password_stdin)?;
            let user = provision::create_user(
                &db,
                &args.realm,
                &NewUser {
                    username: &args.username,
                    password: Some(&password),
                    email: args.email.as_deref(),
                    given_name: args.given_name.as_deref(),
                    family_name: args.family_name.as_deref(),
                    team_role: Some((&args.team, &args.role)),
                },
                &hasher(config)?,
                &Actor::CLI,
                clock.now(),
            )?;
            w(
                out,
                format!(
                    "Created user {} ({}) in realm {}.",
                    user.username, user.id, args.realm
                ),
            )?;
            if generated {
                w(out, format!("Password (shown once): {password}"))?;
            }
            Ok(())
        }
        Command::User(UserCommand::SetPassword {
            username,
            realm,
            password_stdin,
        }) => {
            let db = migrated(config)?;
            let (password, generated) = password_input(*password_stdin)?;
            provision::set_user_password(
                &db,
                realm,
                username,
                &password,
                &hasher(config)?,
                &Actor::CLI,
                clock.now(),
            )?;
            w(out, format!("Password of {username} in realm {realm} set."))?;
            if generated {
                w(out, format!("Password (shown once): {password}"))?;
            }
            Ok(())
        }
        Command::Client(ClientCommand::RotateSecret { client_id, realm }) => {
            let db = migrated(config)?;
            let secret =
                provision::rotate_client_secret(&db, realm, client_id, &Actor::CLI, clock.now())?;
            w(
                out,
                format!("New secret for {client_id} (shown once; store it now): {secret}"),
            )?;
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let report = tessera_token::keys::rotate(
                &config.keys_dir,
                app::key_policy(config),
                clock.now(),
            )?;
            w(
                out,
                format!(
                    "New keys {} are published now and sign in {} s; running servers pick them up within {} s.",
                    report.created.join(", "),
                    config.keys.activation_delay_secs,
                    config.keys.reload_interval_secs
                ),
            )?;
            if !report.removed.is_empty() {
                w(
                    out,
                    format!("Removed retired keys: {}", report.removed.join(", ")),
                )?;
            }
            Ok(())
        }
        Command::Keys(KeysCommand::List) => {
            let store = tessera_token::KeyStore::open_existing(
                &config.keys_dir,
                app::key_policy(config),
                clock.now(),
            )?;
            let set = store.current();
            for k in set.published() {
                let signing = set.signing_key(k.alg).is_some_and(|s| s.kid == k.kid);
                w(
                    out,
                    format!(
                        "{}\t{}\t{}\t{}",
                        k.kid,
                        k.alg.jose_name(),
                        if signing { "signing" } else { "published" },
                        tessera_core::clock::rfc3339(k.created_at)
                    ),
                )?;
            }
            Ok(())
        }
        Command::Unlock {
            realm,
            user,
            address,
        } => {
            if user.is_none() && address.is_none() {
                return Err(ServerError::Input(
                    "name what to unlock: --user USERNAME, --address ADDRESS, or both".into(),
                ));
            }
            let db = migrated(config)?;
            let conn = &mut *db.conn()?;
            let r = store::realms::by_name(conn, realm)?
                .ok_or_else(|| ServerError::Input(format!("there is no realm {realm}")))?;
            let cleared = tessera_issuer::throttle::unlock(conn, &r.id, user.as_deref(), *address)
                .map_err(|e| ServerError::Input(e.to_string()))?;
            let target = match (user, address) {
                (Some(u), Some(a)) => format!("user:{} from {a}", u.to_lowercase()),
                (Some(u), None) => format!("user:{}", u.to_lowercase()),
                (None, Some(a)) => format!("addr:{a}"),
                (None, None) => String::new(),
            };
            provision::audit(
                conn,
                &r.id,
                &Actor::CLI,
                "throttle.unlock",
                &target,
                clock.now(),
            )?;
            if cleared.is_empty() {
                w(
                    out,
                    format!("Nothing to unlock for {target} in realm {realm}."),
                )?;
            } else {
                w(
                    out,
                    format!(
                        "Unlocked {target} in realm {realm}: cleared {}.",
                        cleared.join(", ")
                    ),
                )?;
            }
            Ok(())
        }
        Command::Import { file } => {
            let db = migrated(config)?;
            let realm_file = read_realm_file(file)?;
            let admin_password = std::env::var("TESSERA_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            let report = provision::import_realm(
                &db,
                &realm_file,
                admin_password.as_deref(),
                &hasher(config)?,
                clock.now(),
            )?;
            if let Some(b) = &report.bootstrap {
                w(out, format!("Created realm {}.", b.realm.name))?;
                if let Some(p) = &b.generated_admin_password {
                    w(out, format!("Admin password (shown once): {p}"))?;
                }
            }
            w(
                out,
                format!(
                    "Import of realm {}: {} created, {} updated, {} unchanged.",
                    realm_file.realm.name,
                    report.created.len(),
                    report.updated.len(),
                    report.unchanged
                ),
            )?;
            for c in &report.created {
                w(out, format!("  created {c}"))?;
            }
            for u in &report.updated {
                w(out, format!("  updated {u}"))?;
            }
            for (client, secret) in &report.generated_secrets {
                w(
                    out,
                    format!("Client secret for {client} (shown once): {secret}"),
                )?;
            }
            Ok(())
        }
        Command::Export { realm, format } => {
            let db = migrated(config)?;
            let file = tessera_store::export::export_realm(&db, realm).map_err(|e| match e {
                tessera_store::StoreError::NotFound(_) => ServerError::Input(format!(
                    "there is no realm {realm}; see `tessera realm list`"
                )),
                other => other.into(),
            })?;
            let text = match format {
                ExportFormat::Json => serde_json::to_string_pretty(&file)
                    .map_err(|e| ServerError::Config(format!("cannot write JSON: {e}")))?,
                ExportFormat::Toml => toml::to_string(&file)
                    .map_err(|e| ServerError::Config(format!("cannot write TOML: {e}")))?,
            };
            w(out, text)
        }
        Command::Config { env } => {
            if *env {
                for (name, default) in crate::config::env_reference() {
                    w(out, format!("{name}={default}"))?;
                }
            } else {
                let mut shown = config.clone();
                shown.database_url = tessera_store::db::redact(&shown.database_url);
                let text =
                    toml::to_string(&shown).map_err(|e| ServerError::Config(e.to_string()))?;
                w(out, text)?;
            }
            Ok(())
        }
    }
}

fn migrated(config: &Config) -> Result<tessera_store::Database, ServerError> {
    let db = app::open_database(config)?;
    db.migrate()?;
    Ok(db)
}

fn hasher(config: &Config) -> Result<PasswordHasher, ServerError> {
    PasswordHasher::new(config.argon2).map_err(|e| ServerError::Config(e.to_string()))
}

/// A password from the first line of standard input, or a generated one (true).
fn password_input(from_stdin: bool) -> Result<(String, bool), ServerError> {
    if !from_stdin {
        return Ok((tessera_core::password::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| ServerError::Input(format!("cannot read the password: {e}")))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

fn split_scopes(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([' ', ',']))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads a realm file as TOML or JSON, by extension.
pub fn read_realm_file(path: &std::path::Path) -> Result<RealmImport, ServerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServerError::Input(format!("cannot read {}: {e}", path.display())))?;
    let parsed = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str(&text).map_err(|e| e.to_string()),
        _ => toml::from_str(&text).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| ServerError::Input(format!("{}: {e}", path.display())))
}
