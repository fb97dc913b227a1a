//! The escalation rule as a property, through the real HTTP API (issue 10).
//!
//! Each case builds a random realm — teams, custom roles, users with random memberships,
//! policies, and credentials with random ceilings (tokens with random scopes, personal keys
//! with random roles or scopes, team keys) — then sends random writes, each by a random
//! credential. After every write, every credential's rights are read back with
//! `/v1/auth/test` and every user's rights per team from the store, and:
//!
//! - an accepted write gave no credential and no user anything the acting credential did not
//!   hold before it (a token's gains: anything the actor could do; a key's or a team's gains:
//!   what the actor held in that team, directly or through the root team);
//! - a refused write changed no one's rights, and no write answered 5xx;
//! - the realm still has an enabled admin.
//!
//! Cases: `TESSERA_PROPERTY_CASES`, else 2,000 on SQLite and 200 on PostgreSQL (every case
//! is a new realm on one server), split between two runners that run side by side. A failure
//! shrinks to a minimal realm and write list.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tessera_core::permission::CATALOG;
use tessera_store::Database;

use crate::helpers::*;

type Perms = BTreeSet<String>;

const PASSWORD: &str = "long enough password";
const BUILTIN_ROLES: [&str; 5] = ["admin", "operator", "member", "viewer", "oaa_push"];

// ---- what a case is made of ----

/// A subset of the catalog, as a bit mask.
#[derive(Debug, Clone, Copy)]
struct Mask(u32);

impl Mask {
    fn names(self) -> Vec<&'static str> {
        CATALOG
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, (p, _))| *p)
            .collect()
    }
}

fn mask() -> impl Strategy<Value = Mask> {
    prop_oneof![
        // Mostly small sets, where "held" and "granted" often differ by one permission.
        (
            0usize..CATALOG.len(),
            0usize..CATALOG.len(),
            0usize..CATALOG.len()
        )
            .prop_map(|(a, b, c)| Mask((1 << a) | (1 << b) | (1 << c))),
        any::<u32>().prop_map(|m| Mask(m & ((1 << CATALOG.len()) - 1))),
    ]
}

#[derive(Debug, Clone)]
enum Subject {
    User(usize),
    Role(usize),
    Team(usize),
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        any::<usize>().prop_map(Subject::User),
        any::<usize>().prop_map(Subject::Role),
        any::<usize>().prop_map(Subject::Team),
    ]
}

type Memberships = Vec<(usize, usize)>;

fn memberships() -> impl Strategy<Value = Memberships> {
    prop::collection::vec((any::<usize>(), any::<usize>()), 0..3)
}

#[derive(Debug, Clone)]
enum Write {
    CreatePersonalKey {
        team: Option<usize>,
        role: Option<usize>,
        scopes: Option<Mask>,
    },
    SetPersonalKeyRole {
        key: usize,
        role: usize,
    },
    SetPersonalKeyEnabled {
        key: usize,
        enabled: bool,
    },
    CreateTeamKey {
        team: usize,
        role: Option<usize>,
    },
    SetTeamKeyActive {
        key: usize,
        active: bool,
    },
    CreateUser {
        memberships: Memberships,
    },
    SetUserRoles {
        user: usize,
        memberships: Memberships,
    },
    SetUserEnabled {
        user: usize,
        enabled: bool,
    },
    DeleteUser {
        user: usize,
    },
    CreateRole {
        perms: Mask,
    },
    SetRolePermissions {
        role: usize,
        perms: Mask,
    },
    CreatePolicy {
        allow: bool,
        perms: Mask,
        subject: Subject,
    },
    UpdatePolicy {
        policy: usize,
        allow: Option<bool>,
        perms: Option<Mask>,
        enabled: Option<bool>,
        subject: Option<Subject>,
    },
    DeletePolicy {
        policy: usize,
    },
    DeleteTeam {
        team: usize,
    },
}

fn write() -> impl Strategy<Value = Write> {
    let u = any::<usize>;
    prop_oneof![
        3 => (prop::option::of(u()), prop::option::of(u()), prop::option::of(mask()))
            .prop_map(|(team, role, scopes)| Write::CreatePersonalKey { team, role, scopes }),
        2 => (u(), u()).prop_map(|(key, role)| Write::SetPersonalKeyRole { key, role }),
        1 => (u(), any::<bool>()).prop_map(|(key, enabled)| Write::SetPersonalKeyEnabled { key, enabled }),
        2 => (u(), prop::option::of(u())).prop_map(|(team, role)| Write::CreateTeamKey { team, role }),
        1 => (u(), any::<bool>()).prop_map(|(key, active)| Write::SetTeamKeyActive { key, active }),
        2 => memberships().prop_map(|memberships| Write::CreateUser { memberships }),
        3 => (u(), memberships()).prop_map(|(user, memberships)| Write::SetUserRoles { user, memberships }),
        1 => (u(), any::<bool>()).prop_map(|(user, enabled)| Write::SetUserEnabled { user, enabled }),
        1 => u().prop_map(|user| Write::DeleteUser { user }),
        2 => mask().prop_map(|perms| Write::CreateRole { perms }),
        2 => (u(), mask()).prop_map(|(role, perms)| Write::SetRolePermissions { role, perms }),
        3 => (any::<bool>(), mask(), subject())
            .prop_map(|(allow, perms, subject)| Write::CreatePolicy { allow, perms, subject }),
        2 => (u(), prop::option::of(any::<bool>()), prop::option::of(mask()),
              prop::option::of(any::<bool>()), prop::option::of(subject()))
            .prop_map(|(policy, allow, perms, enabled, subject)| Write::UpdatePolicy { policy, allow, perms, enabled, subject }),
        1 => u().prop_map(|policy| Write::DeletePolicy { policy }),
        1 => u().prop_map(|team| Write::DeleteTeam { team }),
    ]
}

/// A random realm and the writes sent to it, each with the index of its acting credential.
#[derive(Debug, Clone)]
struct Case {
    extra_teams: usize,
    roles: Vec<Mask>,
    users: Vec<Memberships>,
    policies: Vec<(bool, Mask, Subject)>,
    /// Per user (the admin first): the token's scopes, `None` for every permission.
    token_scopes: Vec<Option<Mask>>,
    personal_keys: Vec<(usize, Option<usize>, Option<Mask>)>,
    team_keys: Vec<(usize, usize)>,
    writes: Vec<(usize, Write)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..=3,
        prop::collection::vec(mask(), 1..=3),
        prop::collection::vec(memberships(), 1..=3),
        prop::collection::vec((any::<bool>(), mask(), subject()), 0..=2),
        prop::collection::vec(prop::option::of(mask()), 4),
        prop::collection::vec(
            (
                any::<usize>(),
                prop::option::of(any::<usize>()),
                prop::option::of(mask()),
            ),
            0..=3,
        ),
        prop::collection::vec((any::<usize>(), any::<usize>()), 0..=2),
        prop::collection::vec((any::<usize>(), write()), 1..=6),
    )
        .prop_map(
            |(
                extra_teams,
                roles,
                users,
                policies,
                token_scopes,
                personal_keys,
                team_keys,
                writes,
            )| Case {
                extra_teams,
                roles,
                users,
                policies,
                token_scopes,
                personal_keys,
                team_keys,
                writes,
            },
        )
}

// ---- the server, shared by every case ----

struct Server {
    base: String,
    db: Database,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    realms: AtomicUsize,
    writes: AtomicUsize,
    accepted: AtomicUsize,
}

/// One server for the whole property, on its own thread and actix system; cases are realms.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = spawn_app().await;
                tx.send((app.base.clone(), app.db.clone())).unwrap();
                // The app lives as long as the test process.
                std::future::pending::<()>().await;
                drop(app);
            })
        });
        let (base, db) = rx.recv().unwrap();
        Server {
            base,
            db,
            http: reqwest::Client::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            realms: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        }
    })
}

// ---- one case ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Token { user: String },
    PersonalKey { user: String, team: String },
    TeamKey { team: String },
}

#[derive(Debug, Clone)]
struct Credential {
    bearer: String,
    kind: Kind,
    label: String,
}

/// What everyone may do at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    /// Per credential, in the order of `World::credentials`.
    credentials: Vec<Perms>,
    /// Per (user, team): the user's rights in that team; team `None`: across all teams.
    users: BTreeMap<(String, Option<String>), Perms>,
    teams: Vec<String>,
}

impl Snapshot {
    fn user(&self, user: &str, team: Option<&str>) -> Perms {
        self.users
            .get(&(user.to_string(), team.map(str::to_string)))
            .cloned()
            .unwrap_or_default()
    }
}

/// The realm as the case has built it: ids by the order they were made.
struct World<'s> {
    server: &'s Server,
    realm: String,
    realm_id: String,
    teams: Vec<String>,
    roles: Vec<String>,
    users: Vec<String>,
    personal_keys: Vec<String>,
    team_keys: Vec<String>,
    policies: Vec<String>,
    credentials: Vec<Credential>,
    made: usize,
}

fn pick<T: Clone>(list: &[T], i: usize) -> Option<T> {
    (!list.is_empty()).then(|| list[i % list.len()].clone())
}

impl<'s> World<'s> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .server
            .http
            .request(method, format!("{}{path}", self.server.base))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn token(&self, user: &str, password: &str, scope: Option<Mask>) -> Option<String> {
        let mut form = vec![
            ("client_id", "portal".to_string()),
            ("grant_type", "password".into()),
            ("username", user.into()),
            ("password", password.into()),
        ];
        if let Some(m) = scope {
            let names = m.names();
            form.push((
                "scope",
                if names.is_empty() {
                    "profile".into()
                } else {
                    names.join(" ")
                },
            ));
        }
        let resp = self
            .server
            .http
            .post(format!(
                "{}/realms/{}/protocol/openid-connect/token",
                self.server.base, self.realm
            ))
            .form(&form)
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().map(str::to_string)
    }

    fn name(&mut self, prefix: &str) -> String {
        self.made += 1;
        format!("{prefix}{}", self.made)
    }

    fn team_roles(&self, memberships: &Memberships) -> Vec<Value> {
        let mut seen = BTreeSet::new();
        memberships
            .iter()
            .filter_map(|(t, r)| Some((pick(&self.teams, *t)?, pick(&self.roles, *r)?)))
            .filter(|pair| seen.insert(pair.clone()))
            .map(|(t, r)| json!({"team_id": t, "role_id": r}))
            .collect()
    }

    fn subject(&self, s: &Subject) -> Option<Value> {
        let (kind, id) = match s {
            Subject::User(i) => ("user", pick(&self.users, *i)?),
            Subject::Role(i) => ("role", pick(&self.roles, *i)?),
            Subject::Team(i) => ("team", pick(&self.teams, *i)?),
        };
        Some(json!({"type": kind, "id": id}))
    }

    /// The owner of a personal key made with this credential.
    fn user_of(&self, actor: usize) -> Option<String> {
        match &self.credentials.get(actor)?.kind {
            Kind::Token { user } | Kind::PersonalKey { user, .. } => Some(user.clone()),
            Kind::TeamKey { .. } => None,
        }
    }

    async fn add_user_credential(&mut self, user_id: String, username: &str, scope: Option<Mask>) {
        if let Some(token) = self.token(username, PASSWORD, scope).await {
            self.credentials.push(Credential {
                bearer: token,
                kind: Kind::Token { user: user_id },
                label: format!("token of {username} ({scope:?})"),
            });
        }
    }

    async fn create_personal_key(
        &mut self,
        actor: usize,
        team: Option<usize>,
        role: Option<usize>,
        scopes: Option<Mask>,
    ) -> (u16, Value) {
        let mut body = json!({"name": "k"});
        if let Some(t) = team.and_then(|t| pick(&self.teams, t)) {
            body["team_id"] = json!(t);
        }
        if let Some(r) = role.and_then(|r| pick(&self.roles, r)) {
            body["role"] = json!(r);
        }
        if let Some(m) = scopes {
            body["scopes"] = json!(m.names());
        }
        let bearer = self.credentials[actor].bearer.clone();
        let (s, b) = self
            .call(Method::POST, "/api/v1/apikeys", &bearer, Some(body))
            .await;
        if s == 201 {
            let user = self.user_of(actor).unwrap();
            self.personal_keys
                .push(b["id"].as_str().unwrap().to_string());
            self.credentials.push(Credential {
                bearer: b["value"].as_str().unwrap().to_string(),
                kind: Kind::PersonalKey {
                    user,
                    team: b["team_id"].as_str().unwrap().to_string(),
                },
                label: format!(
                    "personal key {} (role {}, scopes {})",
                    b["id"], b["role"], b["scopes"]
                ),
            });
        }
        (s, b)
    }

    async fn create_team_key(
        &mut self,
        actor: usize,
        team: usize,
        role: Option<usize>,
    ) -> (u16, Value) {
        let Some(team) = pick(&self.teams, team) else {
            return (0, Value::Null);
        };
        let mut body = json!({"name": "t", "team_id": team});
        if let Some(r) = role.and_then(|r| pick(&self.roles, r)) {
            body["role"] = json!(r);
        }
        let bearer = self.credentials[actor].bearer.clone();
        let (s, b) = self
            .call(Method::POST, "/api/preview/teamkeys", &bearer, Some(body))
            .await;
        if s == 200 {
            self.team_keys
                .push(b["value"]["id"].as_str().unwrap().to_string());
            self.credentials.push(Credential {
                bearer: b["value"]["access_key"].as_str().unwrap().to_string(),
                kind: Kind::TeamKey { team },
                label: format!(
                    "team key {} (role {})",
                    b["value"]["id"], b["value"]["role"]
                ),
            });
        }
        (s, b)
    }

    /// The request of a write that only changes what exists (`None`: nothing to change).
    fn request(&self, w: &Write) -> Option<(Method, String, Option<Value>)> {
        let key = |i: &usize| pick(&self.personal_keys, *i).map(|k| format!("/api/v1/apikeys/{k}"));
        let user = |i: &usize| pick(&self.users, *i).map(|u| format!("/api/v1/users/{u}"));
        let policy = |i: &usize| pick(&self.policies, *i).map(|p| format!("/api/v1/policies/{p}"));
        Some(match w {
            Write::SetPersonalKeyRole { key: k, role } => (
                Method::PUT,
                key(k)?,
                Some(json!({"role": pick(&self.roles, *role)?})),
            ),
            Write::SetPersonalKeyEnabled { key: k, enabled } => {
                (Method::PUT, key(k)?, Some(json!({"enabled": enabled})))
            }
            Write::SetTeamKeyActive { key: k, active } => {
                let action = if *active { "reinstate" } else { "revoke" };
                let k = pick(&self.team_keys, *k)?;
                (
                    Method::POST,
                    format!("/api/preview/teamkeys/{k}:{action}"),
                    None,
                )
            }
            Write::SetUserRoles {
                user: u,
                memberships,
            } => (
                Method::PATCH,
                user(u)?,
                Some(json!({"team_roles": self.team_roles(memberships)})),
            ),
            Write::SetUserEnabled { user: u, enabled } => {
                (Method::PATCH, user(u)?, Some(json!({"enabled": enabled})))
            }
            Write::DeleteUser { user: u } => (Method::DELETE, user(u)?, None),
            Write::SetRolePermissions { role, perms } => (
                Method::PATCH,
                format!("/api/v1/roles/{}", pick(&self.roles, *role)?),
                Some(json!({"permissions": perms.names()})),
            ),
            Write::UpdatePolicy {
                policy: p,
                allow,
                perms,
                enabled,
                subject,
            } => {
                let mut body = json!({});
                if let Some(a) = allow {
                    body["effect"] = json!(if *a { "allow" } else { "deny" });
                }
                if let Some(m) = perms {
                    body["permissions"] = json!(m.names());
                }
                if let Some(e) = enabled {
                    body["enabled"] = json!(e);
                }
                if let Some(s) = subject.as_ref().and_then(|s| self.subject(s)) {
                    body["subject"] = s;
                }
                (Method::PUT, policy(p)?, Some(body))
            }
            Write::DeletePolicy { policy: p } => (Method::DELETE, policy(p)?, None),
            Write::DeleteTeam { team } => (
                Method::DELETE,
                format!("/api/v1/teams/{}", pick(&self.teams, *team)?),
                None,
            ),
            Write::CreatePersonalKey { .. }
            | Write::CreateTeamKey { .. }
            | Write::CreateUser { .. }
            | Write::CreateRole { .. }
            | Write::CreatePolicy { .. } => return None,
        })
    }

    /// Sends one write; returns its status (0: nothing to send) and a description.
    async fn send(&mut self, actor: usize, w: &Write) -> (u16, String) {
        let bearer = self.credentials[actor].bearer.clone();
        let (status, body) = match w {
            Write::CreatePersonalKey { team, role, scopes } => {
                self.create_personal_key(actor, *team, *role, *scopes).await
            }
            Write::CreateTeamKey { team, role } => self.create_team_key(actor, *team, *role).await,
            Write::CreateUser { memberships } => {
                let name = self.name("u");
                let body = json!({"name": name, "password": PASSWORD, "team_roles": self.team_roles(memberships)});
                let (s, b) = self
                    .call(Method::POST, "/api/v1/users", &bearer, Some(body))
                    .await;
                if s == 200 {
                    let id = b["value"]["id"].as_str().unwrap().to_string();
                    self.users.push(id.clone());
                    self.add_user_credential(id, &name, None).await;
                }
                (s, b)
            }
            Write::CreateRole { perms } => {
                let name = self.name("r");
                let body = json!({"name": name, "permissions": perms.names()});
                let (s, b) = self
                    .call(Method::POST, "/api/v1/roles", &bearer, Some(body))
                    .await;
                if s == 200 {
                    self.roles
                        .push(b["value"]["id"].as_str().unwrap().to_string());
                }
                (s, b)
            }
            Write::CreatePolicy {
                allow,
                perms,
                subject,
            } => {
                let Some(subject) = self.subject(subject) else {
                    return (0, String::new());
                };
                let name = self.name("p");
                let body = json!({"name": name, "effect": if *allow { "allow" } else { "deny" },
                                  "permissions": perms.names(), "subject": subject});
                let (s, b) = self
                    .call(Method::POST, "/api/v1/policies", &bearer, Some(body))
                    .await;
                if s == 201 {
                    self.policies
                        .push(b["value"]["id"].as_str().unwrap().to_string());
                }
                (s, b)
            }
            other => {
                let Some((method, path, body)) = self.request(other) else {
                    return (0, String::new());
                };
                self.call(method, &path, &bearer, body).await
            }
        };
        (
            status,
            format!(
                "{w:?} by {} -> {status} {body}",
                self.credentials[actor].label
            ),
        )
    }

    /// Everyone's rights now: credentials over HTTP, users per team from the store.
    async fn snapshot(&self) -> Snapshot {
        let mut credentials = Vec::with_capacity(self.credentials.len());
        for c in &self.credentials {
            let (s, b) = self
                .call(Method::GET, "/v1/auth/test", &c.bearer, None)
                .await;
            credentials.push(if s == 200 {
                set_of(&b["permissions"])
            } else {
                Perms::new()
            });
        }
        let mut conn = self.server.db.conn().unwrap();
        let (users, teams) = realm_members(&mut conn, &self.realm_id);
        let mut rights = BTreeMap::new();
        for (user, enabled) in users {
            let mut scopes: Vec<Option<String>> = teams.iter().cloned().map(Some).collect();
            scopes.push(None);
            for team in scopes {
                let perms = if enabled {
                    tessera_store::access::effective_permissions(
                        &mut conn,
                        &self.realm_id,
                        &user,
                        team.as_deref(),
                    )
                    .unwrap()
                } else {
                    Perms::new()
                };
                rights.insert((user.clone(), team), perms);
            }
        }
        Snapshot {
            credentials,
            users: rights,
            teams,
        }
    }
}

fn set_of(v: &Value) -> Perms {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The realm's users (with whether they are enabled) and teams, from the store.
fn realm_members(
    conn: &mut tessera_store::DbConnection,
    realm_id: &str,
) -> (Vec<(String, bool)>, Vec<String>) {
    use diesel::prelude::*;
    use tessera_store::schema::{teams, users};
    let u = users::table
        .filter(users::realm_id.eq(realm_id))
        .select((users::id, users::enabled))
        .order(users::id)
        .load::<(String, bool)>(conn)
        .unwrap();
    let t = teams::table
        .filter(teams::realm_id.eq(realm_id))
        .select(teams::id)
        .order(teams::id)
        .load::<String>(conn)
        .unwrap();
    (u, t)
}

/// What `actor` held in `team` (`None`: anywhere) before the write, by the rule's statement:
/// the credential's rights, within its subject's rights in that team or the root team; a key
/// acts only in its own team, or everywhere if that is the root team.
fn held(
    world: &World<'_>,
    before: &Snapshot,
    actor: &Credential,
    own: &Perms,
    team: Option<&str>,
) -> Perms {
    let root = world.teams[0].as_str();
    let Some(team) = team else { return own.clone() };
    let home = match &actor.kind {
        Kind::Token { .. } => None,
        Kind::PersonalKey { team, .. } | Kind::TeamKey { team } => Some(team.as_str()),
    };
    if home.is_some_and(|h| h != team && h != root) {
        return Perms::new();
    }
    match &actor.kind {
        Kind::TeamKey { .. } => own.clone(),
        Kind::Token { user } | Kind::PersonalKey { user, .. } => {
            let mut live = before.user(user, Some(team));
            live.extend(before.user(user, Some(root)));
            own.intersection(&live).cloned().collect()
        }
    }
}

fn check_write(
    world: &World<'_>,
    actor: usize,
    before: &Snapshot,
    after: &Snapshot,
    status: u16,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "a write answered {status}: {what}");
    if !(200..300).contains(&status) {
        // Refused: nothing changed (credentials made by the refused write do not exist).
        prop_assert_eq!(
            &after.users,
            &before.users,
            "a refused write changed rights: {}",
            what
        );
        prop_assert_eq!(
            &after.credentials[..before.credentials.len()],
            &before.credentials[..],
            "a refused write changed rights: {}",
            what
        );
        return Ok(());
    }
    let actor_cred = &world.credentials[actor];
    let own = &before.credentials[actor];
    for (i, c) in world.credentials.iter().enumerate() {
        let was = before.credentials.get(i).cloned().unwrap_or_default();
        let gained: Perms = after.credentials[i].difference(&was).cloned().collect();
        let team = match &c.kind {
            Kind::Token { .. } => None,
            Kind::PersonalKey { team, .. } | Kind::TeamKey { team } => Some(team.as_str()),
        };
        let bound = held(world, before, actor_cred, own, team);
        prop_assert!(
            gained.is_subset(&bound),
            "{} gained {:?} beyond what {} held there ({:?}): {}",
            c.label,
            gained.difference(&bound).collect::<Vec<_>>(),
            actor_cred.label,
            bound,
            what
        );
    }
    for ((user, team), now) in &after.users {
        let was = before.user(user, team.as_deref());
        let gained: Perms = now.difference(&was).cloned().collect();
        let bound = held(world, before, actor_cred, own, team.as_deref());
        prop_assert!(
            gained.is_subset(&bound),
            "user {user} gained {:?} in {team:?} beyond what {} held there ({:?}): {}",
            gained.difference(&bound).collect::<Vec<_>>(),
            actor_cred.label,
            bound,
            what
        );
    }
    let every: Perms = CATALOG.iter().map(|(p, _)| p.to_string()).collect();
    let root = world.teams[0].clone();
    let admins = after
        .users
        .iter()
        .filter(|((_, t), p)| t.as_deref() == Some(root.as_str()) && **p == every)
        .count();
    prop_assert!(admins > 0, "no enabled admin left after {}", what);
    Ok(())
}

async fn run_case(server: &'static Server, case: Case) -> Result<(), TestCaseError> {
    let n = server.realms.fetch_add(1, Ordering::SeqCst);
    let realm = format!("prop{n}");
    let hasher =
        tessera_core::password::PasswordHasher::new(tessera_core::password::Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let report = tessera_store::provision::bootstrap_realm(
        &server.db,
        &realm,
        Some(ADMIN_PASSWORD),
        &hasher,
        now,
    )
    .unwrap()
    .unwrap();
    let mut conn = server.db.conn().unwrap();
    let realm_id = report.realm.id.clone();
    let root = tessera_store::teams::root(&mut conn, &realm_id)
        .unwrap()
        .unwrap()
        .id;
    let mut roles = Vec::new();
    for name in BUILTIN_ROLES {
        roles.push(
            tessera_store::roles::by_name(&mut conn, &realm_id, name)
                .unwrap()
                .unwrap()
                .id,
        );
    }
    let admin_id = tessera_store::users::by_username(&mut conn, &realm_id, "admin")
        .unwrap()
        .unwrap()
        .id;
    drop(conn);
    let mut world = World {
        server,
        realm,
        realm_id,
        teams: vec![root],
        roles,
        users: vec![admin_id.clone()],
        personal_keys: Vec::new(),
        team_keys: Vec::new(),
        policies: Vec::new(),
        credentials: Vec::new(),
        made: 0,
    };
    let admin = world.token("admin", ADMIN_PASSWORD, None).await.unwrap();

    // The realm, built by its admin (who may grant anything).
    for _ in 0..case.extra_teams {
        let name = world.name("t");
        let (s, b) = world
            .call(
                Method::POST,
                "/api/v1/teams",
                &admin,
                Some(json!({"name": name})),
            )
            .await;
        prop_assert_eq!(s, 200, "{}", b);
        world
            .teams
            .push(b["value"]["id"].as_str().unwrap().to_string());
    }
    for perms in &case.roles {
        let name = world.name("r");
        let (s, b) = world
            .call(
                Method::POST,
                "/api/v1/roles",
                &admin,
                Some(json!({"name": name, "permissions": perms.names()})),
            )
            .await;
        prop_assert_eq!(s, 200, "{}", b);
        world
            .roles
            .push(b["value"]["id"].as_str().unwrap().to_string());
    }
    let mut usernames = vec!["admin".to_string()];
    for m in &case.users {
        let name = world.name("u");
        let body = json!({"name": name, "password": PASSWORD, "team_roles": world.team_roles(m)});
        let (s, b) = world
            .call(Method::POST, "/api/v1/users", &admin, Some(body))
            .await;
        prop_assert_eq!(s, 200, "{}", b);
        world
            .users
            .push(b["value"]["id"].as_str().unwrap().to_string());
        usernames.push(name);
    }
    for (allow, perms, subject) in &case.policies {
        let Some(subject) = world.subject(subject) else {
            continue;
        };
        let name = world.name("p");
        let body = json!({"name": name, "effect": if *allow { "allow" } else { "deny" },
                          "permissions": perms.names(), "subject": subject});
        let (s, b) = world
            .call(Method::POST, "/api/v1/policies", &admin, Some(body))
            .await;
        if s == 201 {
            world
                .policies
                .push(b["value"]["id"].as_str().unwrap().to_string());
        }
    }
    // Credentials: a token per person (the admin's with every permission), then keys.
    world.credentials.push(Credential {
        bearer: admin.clone(),
        kind: Kind::Token { user: admin_id },
        label: "token of admin".into(),
    });
    for (i, name) in usernames.iter().enumerate().skip(1) {
        let scope = case.token_scopes.get(i).copied().flatten();
        world
            .add_user_credential(world.users[i].clone(), name, scope)
            .await;
    }
    let people = world.credentials.len();
    for (owner, role, scopes) in &case.personal_keys {
        // Made by the owner's token (so with its ceiling); a refusal here is fine.
        world
            .create_personal_key(owner % people, None, *role, *scopes)
            .await;
    }
    for (team, role) in &case.team_keys {
        world.create_team_key(0, *team, Some(*role)).await;
    }

    let mut before = world.snapshot().await;
    for (actor, w) in &case.writes {
        let actor = actor % world.credentials.len();
        let (status, what) = world.send(actor, w).await;
        if status == 0 {
            continue;
        }
        server.writes.fetch_add(1, Ordering::SeqCst);
        if (200..300).contains(&status) {
            server.accepted.fetch_add(1, Ordering::SeqCst);
        }
        let after = world.snapshot().await;
        check_write(&world, actor, &before, &after, status, &what)?;
        before = after;
    }
    Ok(())
}

/// The cases are split between two runners (two tests, run side by side by the test
/// harness) on the one shared server: each case is its own realm, so they do not interfere,
/// and two cores check twice the realms in the same time.
const RUNNERS: usize = 2;

#[test]
fn no_write_grants_more_than_its_credential_holds() {
    check_property(0);
}

#[test]
fn no_write_grants_more_than_its_credential_holds_second_runner() {
    check_property(1);
}

fn check_property(runner_index: usize) {
    let postgres = tessera_store::testing::postgres_server_url().is_some();
    let total: usize = std::env::var("TESSERA_PROPERTY_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if postgres { 200 } else { 2000 });
    // This runner's share; the first takes the remainder.
    let cases = total / RUNNERS
        + if runner_index == 0 {
            total % RUNNERS
        } else {
            0
        };
    let server = server();
    let mut runner = TestRunner::new(Config {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        failure_persistence: None,
        max_shrink_iters: 300,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&case(), |c| server.runtime.block_on(run_case(server, c)));
    if let Err(e) = result {
        panic!("{e}");
    }
    println!(
        "escalation property, runner {runner_index}: {cases} of {total} cases in {:.1} s; both runners so far: {} random realms (with shrinking), {} writes checked ({} accepted)",
        started.elapsed().as_secs_f64(),
        server.realms.load(Ordering::SeqCst),
        server.writes.load(Ordering::SeqCst),
        server.accepted.load(Ordering::SeqCst),
    );
}
