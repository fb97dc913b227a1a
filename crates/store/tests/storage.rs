//! One storage test suite, run unchanged against every backend (the dex pattern).
//!
//! Each test is a plain `fn(&Database)`; [`storage_tests!`] turns the list into
//! `sqlite::<name>` (a fresh file per test) and `postgres::<name>` (a fresh database per test
//! on the server in `TESSERA_TEST_POSTGRES_URL`; when it is unset, skipped with a "skipped:"
//! line on standard error, or failed under CI; set to empty, SQLite only on purpose):
//!
//! ```text
//! cargo test -p tessera-store
//! TESSERA_TEST_POSTGRES_URL=$(.ci/postgres.sh | tail -n1) cargo test -p tessera-store
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Barrier};
use tessera_store as store;

use diesel::prelude::*;
use tessera_core::import::{ClientKind, ClientSpec, RealmImport};
use tessera_core::model::{Client, GrantType, Realm, User};
use tessera_core::permission::BUILTIN_ROLES;
use tessera_core::secret;
use tessera_core::username;
use tessera_store::provision::{
    self, Actor, NewUser, UnknownScopes, bootstrap_realm, create_client, create_user, import_realm,
};
use tessera_store::schema::*;
use tessera_store::throttle::AtLimit;
use tessera_store::throttle::ThrottleRule;
use tessera_store::usernames;
use tessera_store::{Database, StoreError};

use support::hasher;

macro_rules! storage_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    crate::support::run_sqlite(super::$name);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    crate::support::run_postgres(stringify!($name), super::$name);
                }
            )*
        }
    };
}

storage_tests!(
    migrations_apply_once,
    bootstrap_creates_the_realm_contents,
    second_bootstrap_changes_nothing,
    admin_password_is_generated_only_when_none_is_given,
    confidential_client_gets_a_generated_secret_and_a_service_account,
    client_with_a_fixed_secret_stores_only_its_hash,
    unknown_scopes_are_refused_and_nothing_is_left_behind,
    duplicate_client_conflicts,
    client_id_is_unique_per_realm_in_the_schema,
    create_user_joins_the_root_team,
    duplicate_user_conflicts,
    user_in_an_unknown_team_is_rolled_back,
    import_creates_everything_and_a_second_import_changes_nothing,
    import_reports_exactly_what_changed,
    import_of_an_invalid_file_creates_nothing,
    import_failing_in_the_database_leaves_no_realm_behind,
    import_turning_a_public_client_confidential_generates_its_secret,
    throttle_locks_on_the_third_failure_and_clears,
    throttle_starts_a_new_count_after_the_window_and_a_success_takes_back_its_attempt,
    concurrent_throttle_attempts_are_all_counted_and_never_exceed_the_limit,
    backoff_key_slows_down_from_its_limit_without_locking_and_a_success_lifts_its_own_wait,
    a_refused_attempt_counts_under_no_key,
    concurrent_attempts_on_a_backoff_key_at_its_limit_admit_one_per_wait,
    exactly_one_concurrent_redemption_of_a_code_wins_and_the_replays_end_its_grant,
    exactly_one_concurrent_rotation_of_a_refresh_token_wins_and_the_replays_end_its_family,
    ending_a_session_during_rotations_leaves_none_of_its_grants_alive,
    audit_events_record_bootstrap_and_client_creation,
    second_factors_and_ceremonies_are_spent_once_under_concurrency,
    setting_a_password_ends_every_session_and_grant_of_the_user_only,
    a_reset_link_is_redeemed_once_and_not_after_expiry_or_in_another_realm,
    exactly_one_of_concurrent_redemptions_of_a_reset_link_wins,
    a_user_sees_and_ends_only_her_own_sessions_and_grants,
    usernames_are_unique_by_key_and_by_lookalike_skeleton,
    unique_violations_on_username_keys_read_like_the_checks,
    sign_in_finds_users_by_key_and_old_rows_by_exact_name,
    backfill_fills_old_rows_and_reports_collisions_without_failing,
    service_accounts_follow_the_username_rule,
);

/// The tests' "now": time is a parameter, never the wall clock.
const NOW: i64 = 1_800_000_000;
const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn bootstrap(db: &Database, name: &str) -> Realm {
    bootstrap_realm(db, name, Some(ADMIN_PASSWORD), &hasher(), NOW)
        .expect("bootstrap")
        .expect("realm is new")
        .realm
}

fn client_spec(value: serde_json::Value) -> ClientSpec {
    serde_json::from_value(value).expect("client spec")
}

fn client(db: &Database, realm_id: &str, client_id: &str) -> Option<Client> {
    store::clients::by_client_id(&mut db.conn().unwrap(), realm_id, client_id).unwrap()
}

fn count(db: &Database, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut *db.conn().unwrap())
        .unwrap()
        .n
}

/// Row counts of every table a provisioning call may write.
fn snapshot(db: &Database) -> Vec<(&'static str, i64)> {
    [
        "realms",
        "users",
        "clients",
        "teams",
        "roles",
        "team_memberships",
        "scopes",
        "audit_events",
    ]
    .into_iter()
    .map(|t| (t, count(db, t)))
    .collect()
}

fn svc_spec() -> ClientSpec {
    client_spec(serde_json::json!({
        "client_id": "svc",
        "name": "Batch service",
        "grant_types": ["client_credentials"],
        "scopes": ["jobs:read", "api_key:read"],
    }))
}

// ---- migrations ----

fn migrations_apply_once(db: &Database) {
    // The harness ran the first migrate(); a second finds nothing to do.
    assert_eq!(db.migrate().unwrap(), Vec::<String>::new());
    assert!(count(db, "__diesel_schema_migrations") >= 1);
    // Every table exists and starts empty.
    for table in [
        "realms",
        "users",
        "clients",
        "teams",
        "roles",
        "team_memberships",
        "policies",
        "scopes",
        "api_keys",
        "browser_sessions",
        "authorization_codes",
        "refresh_tokens",
        "grant_access_tokens",
        "revoked_tokens",
        "login_throttle",
        "audit_events",
    ] {
        assert_eq!(count(db, table), 0, "{table}");
    }
}

// ---- bootstrap ----

fn bootstrap_creates_the_realm_contents(db: &Database) {
    let h = hasher();
    let report = bootstrap_realm(db, "acme", Some(ADMIN_PASSWORD), &h, NOW)
        .unwrap()
        .expect("a new realm");
    assert_eq!(report.generated_admin_password, None);
    let conn = &mut *db.conn().unwrap();

    let realm = store::realms::by_name(conn, "acme")
        .unwrap()
        .expect("realm stored");
    assert_eq!(realm.id, report.realm.id);
    assert_eq!(realm.created_at, NOW);

    let roles = store::roles::all_in_realm(conn, &realm.id).unwrap();
    let mut names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["admin", "member", "oaa_push", "operator", "viewer"]);
    assert_eq!(roles.len(), BUILTIN_ROLES.len());
    assert!(roles.iter().all(|r| r.builtin));
    let admin_role = roles.iter().find(|r| r.name == "admin").unwrap();
    assert!(admin_role.permissions.iter().any(|p| p == "client:write"));

    let root = store::teams::root(conn, &realm.id)
        .unwrap()
        .expect("root team");
    assert_eq!(root.name, provision::ROOT_TEAM_NAME);
    assert!(root.is_root);

    let admin = store::users::by_username(conn, &realm.id, "admin")
        .unwrap()
        .expect("admin user");
    assert!(admin.enabled);
    assert!(!admin.is_service_account);
    assert!(h.verify(ADMIN_PASSWORD, admin.password_hash.as_deref()));
    assert!(!h.verify("not the password", admin.password_hash.as_deref()));

    let memberships = store::users::memberships(conn, &admin.id).unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].team_id, root.id);
    assert_eq!(memberships[0].role_id, admin_role.id);
    assert_eq!(memberships[0].realm_id, realm.id);

    let portal = store::clients::by_client_id(conn, &realm.id, "portal")
        .unwrap()
        .expect("portal client");
    assert!(!portal.confidential);
    assert_eq!(portal.secret_sha256, None);
    assert!(portal.allows_grant(GrantType::Password));
    assert!(!portal.allows_grant(GrantType::ClientCredentials));
    assert!(portal.allowed_scopes.contains("openid"));
    assert!(portal.enabled);
}

fn second_bootstrap_changes_nothing(db: &Database) {
    let realm = bootstrap(db, "acme");
    let admin_before = store::users::by_username(&mut db.conn().unwrap(), &realm.id, "admin")
        .unwrap()
        .unwrap();
    let before = snapshot(db);

    let again = bootstrap_realm(
        db,
        "acme",
        Some("another password entirely"),
        &hasher(),
        NOW + 5,
    )
    .unwrap();
    assert!(again.is_none(), "a second bootstrap must report nothing");
    let again = bootstrap_realm(db, "acme", None, &hasher(), NOW + 5).unwrap();
    assert!(
        again.is_none(),
        "no password may be generated for an existing realm"
    );

    assert_eq!(snapshot(db), before);
    let admin_after = store::users::by_username(&mut db.conn().unwrap(), &realm.id, "admin")
        .unwrap()
        .unwrap();
    assert_eq!(admin_after.password_hash, admin_before.password_hash);
    assert_eq!(admin_after.updated_at, NOW);
}

fn admin_password_is_generated_only_when_none_is_given(db: &Database) {
    let h = hasher();
    let generated = bootstrap_realm(db, "one", None, &h, NOW)
        .unwrap()
        .unwrap()
        .generated_admin_password
        .expect("a generated password");
    assert!(generated.len() >= 20, "{generated:?} is too short");
    let realm = store::realms::by_name(&mut db.conn().unwrap(), "one")
        .unwrap()
        .unwrap();
    let admin = store::users::by_username(&mut db.conn().unwrap(), &realm.id, "admin")
        .unwrap()
        .unwrap();
    assert!(h.verify(&generated, admin.password_hash.as_deref()));

    let given = bootstrap_realm(db, "two", Some(ADMIN_PASSWORD), &h, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(given.generated_admin_password, None);
}

// ---- clients ----

fn confidential_client_gets_a_generated_secret_and_a_service_account(db: &Database) {
    let realm = bootstrap(db, "acme");
    let created = create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &Actor::CLI,
        NOW,
    )
    .unwrap();

    let plain = created.generated_secret.expect("a generated secret");
    assert_eq!(plain.len(), 43);
    let stored = client(db, &realm.id, "svc").expect("client stored");
    assert_eq!(stored.id, created.client.id);
    let hash = stored.secret_sha256.as_deref().expect("secret hash stored");
    assert_eq!(hash, secret::sha256_hex(&plain));
    assert!(secret::verify_secret(&plain, hash));
    assert!(!secret::verify_secret(&format!("{plain}x"), hash));
    assert!(stored.confidential);
    assert!(stored.allows_grant(GrantType::ClientCredentials));
    assert_eq!(stored.name, "Batch service");

    // `api_key:read` is built in; only `jobs:read` needed defining.
    assert_eq!(created.defined_scopes, ["jobs:read"]);
    let scopes = store::scopes::all_in_realm(&mut db.conn().unwrap(), &realm.id).unwrap();
    assert_eq!(
        scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["jobs:read"]
    );
    assert!(stored.allowed_scopes.contains("jobs:read"));
    assert!(stored.allowed_scopes.contains("api_key:read"));

    let sa = store::users::by_username(&mut db.conn().unwrap(), &realm.id, "service-account-svc")
        .unwrap()
        .expect("service account user");
    assert!(sa.is_service_account);
    assert_eq!(sa.password_hash, None);
    assert_eq!(
        stored.service_account_user_id.as_deref(),
        Some(sa.id.as_str())
    );
}

fn client_with_a_fixed_secret_stores_only_its_hash(db: &Database) {
    let realm = bootstrap(db, "acme");
    let fixed = "0123456789abcdef0123456789abcdef-fixed";
    let spec = client_spec(serde_json::json!({
        "client_id": "fixed",
        "secret": fixed,
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://app.example.com/cb"],
        "scopes": ["openid"],
    }));
    let created =
        create_client(db, "acme", &spec, UnknownScopes::Refuse, &Actor::CLI, NOW).unwrap();
    assert_eq!(created.generated_secret, None);
    let stored = client(db, &realm.id, "fixed").unwrap();
    assert_eq!(stored.secret_sha256, Some(secret::sha256_hex(fixed)));
    assert_eq!(stored.redirect_uris, ["https://app.example.com/cb"]);
    // No client_credentials grant, no service account.
    assert_eq!(stored.service_account_user_id, None);
}

fn unknown_scopes_are_refused_and_nothing_is_left_behind(db: &Database) {
    let realm = bootstrap(db, "acme");
    let before = snapshot(db);
    let err = create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Refuse,
        &Actor::CLI,
        NOW,
    )
    .unwrap_err();
    match err {
        StoreError::Invalid(e) => {
            assert_eq!(e.field, "scopes");
            assert!(e.message.contains("jobs:read"), "{}", e.message);
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(snapshot(db), before);
    assert!(client(db, &realm.id, "svc").is_none());

    // Once defined, the same client is accepted.
    create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &Actor::CLI,
        NOW,
    )
    .unwrap();
    let again = client_spec(serde_json::json!({
        "client_id": "svc2",
        "grant_types": ["client_credentials"],
        "scopes": ["jobs:read"],
    }));
    let created =
        create_client(db, "acme", &again, UnknownScopes::Refuse, &Actor::CLI, NOW).unwrap();
    assert!(created.defined_scopes.is_empty());
}

fn duplicate_client_conflicts(db: &Database) {
    bootstrap(db, "acme");
    create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &Actor::CLI,
        NOW,
    )
    .unwrap();
    let before = snapshot(db);
    let err = create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &Actor::CLI,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("svc"), "{err}");

    let portal = client_spec(serde_json::json!({
        "client_id": "portal",
        "type": "public",
        "grant_types": ["password"],
    }));
    let err =
        create_client(db, "acme", &portal, UnknownScopes::Define, &Actor::CLI, NOW).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(snapshot(db), before);
}

fn client_id_is_unique_per_realm_in_the_schema(db: &Database) {
    let acme = bootstrap(db, "acme");
    let other = bootstrap(db, "other");
    let portal = client(db, &acme.id, "portal").unwrap();
    let conn = &mut *db.conn().unwrap();

    // Straight to the table, past provisioning's own check: the constraint must hold.
    let duplicate = Client {
        id: tessera_core::id::new_uuid(),
        ..portal.clone()
    };
    let err = store::clients::insert(conn, &duplicate).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let raw = tessera_store::testing::insert_client_rows(conn, std::slice::from_ref(&duplicate))
        .unwrap_err();
    assert!(
        matches!(
            raw,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            )
        ),
        "{raw:?}"
    );

    // The same client_id in another realm is a different client.
    let elsewhere = Client {
        id: tessera_core::id::new_uuid(),
        client_id: "shared".into(),
        ..portal.clone()
    };
    store::clients::insert(conn, &elsewhere).unwrap();
    store::clients::insert(
        conn,
        &Client {
            id: tessera_core::id::new_uuid(),
            realm_id: other.id.clone(),
            ..elsewhere
        },
    )
    .unwrap();
    let shared: i64 = clients::table
        .filter(clients::client_id.eq("shared"))
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(shared, 2);
}

// ---- users ----

fn new_user<'a>(username: &'a str, team_role: Option<(&'a str, &'a str)>) -> NewUser<'a> {
    NewUser {
        username,
        password: Some("ada's long password"),
        email: Some("ada@example.com"),
        given_name: Some("Ada"),
        family_name: Some("Lovelace"),
        team_role,
    }
}

fn create_user_joins_the_root_team(db: &Database) {
    let realm = bootstrap(db, "acme");
    let h = hasher();
    let user = create_user(db, "acme", &new_user("ada", None), &h, &Actor::CLI, NOW).unwrap();
    let conn = &mut *db.conn().unwrap();
    let stored = store::users::by_username(conn, &realm.id, "ada")
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, user.id);
    assert_eq!(stored.email.as_deref(), Some("ada@example.com"));
    assert!(h.verify("ada's long password", stored.password_hash.as_deref()));

    let root = store::teams::root(conn, &realm.id).unwrap().unwrap();
    let member = store::roles::by_name(conn, &realm.id, "member")
        .unwrap()
        .unwrap();
    let memberships = store::users::memberships(conn, &user.id).unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(
        (
            memberships[0].team_id.as_str(),
            memberships[0].role_id.as_str()
        ),
        (root.id.as_str(), member.id.as_str())
    );
}

fn duplicate_user_conflicts(db: &Database) {
    bootstrap(db, "acme");
    let h = hasher();
    create_user(db, "acme", &new_user("ada", None), &h, &Actor::CLI, NOW).unwrap();
    let before = snapshot(db);
    let err = create_user(db, "acme", &new_user("ada", None), &h, &Actor::CLI, NOW).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("ada"), "{err}");
    // `admin` came with the bootstrap.
    let err = create_user(db, "acme", &new_user("admin", None), &h, &Actor::CLI, NOW).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(snapshot(db), before);
}

/// Whole-script Cyrillic "раура": looks like Latin "paypa".
const CYRILLIC_PAYPA: &str = "\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}";

fn usernames_are_unique_by_key_and_by_lookalike_skeleton(db: &Database) {
    bootstrap(db, "acme");
    let h = hasher();
    let create = |name: &str| create_user(db, "acme", &new_user(name, None), &h, &Actor::CLI, NOW);
    create("ada").unwrap();
    create("paypa").unwrap();
    let before = snapshot(db);

    let err = create("ADA").unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("a user named \"ada\" already exists"),
        "{err}"
    );
    let err = create("\u{FF41}\u{FF44}\u{FF41}").unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = create(CYRILLIC_PAYPA).unwrap_err();
    assert!(
        err.to_string()
            .contains("looks like the existing user \"paypa\""),
        "{err}"
    );
    let err = create("ad\u{202E}a").unwrap_err();
    match &err {
        StoreError::Invalid(v) => {
            assert_eq!(v.field, "username");
            assert!(v.message.contains("U+202E"), "{v}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(db), before);

    // Fullwidth input is stored in its NFKC form.
    let u = create("\u{FF22}ob").unwrap();
    assert_eq!(u.username, "Bob");
    assert_eq!(u.username_key.as_deref(), Some("bob"));

    // Import: another spelling of an existing name is that user; a lookalike is refused and
    // the import changes nothing.
    let users_before = count(db, "users");
    let file = |name: &str| {
        parse(serde_json::json!({"realm": {"name": "acme"}, "users": [{"username": name}]}))
    };
    let report = import_realm(db, &file("ADA"), None, &h, NOW).unwrap();
    assert!(report.created.is_empty(), "{report:?}");
    assert_eq!(report.updated, vec!["user ADA"], "{report:?}");
    assert_eq!(count(db, "users"), users_before);
    let before = snapshot(db);
    let err = import_realm(db, &file(CYRILLIC_PAYPA), None, &h, NOW).unwrap_err();
    assert!(
        err.to_string()
            .contains("looks like the existing user \"paypa\""),
        "{err}"
    );
    assert_eq!(snapshot(db), before);
}

/// A concurrent insert gets past the check and is caught by the unique indexes: the error must
/// read the same on both backends.
fn unique_violations_on_username_keys_read_like_the_checks(db: &Database) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    let mut same_key = User::new(&realm.id, &username::parse("Admin").unwrap(), NOW);
    same_key.username_skeleton = Some("unused".into());
    let err = tessera_store::testing::insert_user_rows(conn, std::slice::from_ref(&same_key))
        .map_err(|e| usernames::map_unique(e, "Admin"))
        .unwrap_err();
    assert_eq!(err.to_string(), "a user named \"Admin\" already exists");

    let latin = User::new(&realm.id, &username::parse("paypa").unwrap(), NOW);
    store::users::insert(conn, &latin).unwrap();
    let cyrillic = User::new(&realm.id, &username::parse(CYRILLIC_PAYPA).unwrap(), NOW);
    let err = tessera_store::testing::insert_user_rows(conn, std::slice::from_ref(&cyrillic))
        .map_err(|e| usernames::map_unique(e, CYRILLIC_PAYPA))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("looks like"), "{err}");
}

/// A row as written before the username rule: no key, no skeleton, any name.
fn old_row(realm_id: &str, name: &str, created_at: i64) -> User {
    let mut u = User::new(
        realm_id,
        &username::parse("placeholder").unwrap(),
        created_at,
    );
    u.username = name.into();
    u.username_key = None;
    u.username_skeleton = None;
    u
}

fn insert_raw(db: &Database, user: &User) {
    tessera_store::testing::insert_user_rows(&mut db.conn().unwrap(), std::slice::from_ref(user))
        .unwrap();
}

fn sign_in_finds_users_by_key_and_old_rows_by_exact_name(db: &Database) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    let find = |conn: &mut tessera_store::DbConnection, name: &str| {
        store::users::by_username(conn, &realm.id, name)
            .unwrap()
            .map(|u| u.username)
    };
    assert_eq!(find(conn, "ADMIN").as_deref(), Some("admin"));
    assert_eq!(find(conn, "\u{FF21}dmin").as_deref(), Some("admin"));
    assert_eq!(find(conn, "nobody"), None);
    insert_raw(db, &old_row(&realm.id, "Old Name", NOW));
    assert_eq!(find(conn, "Old Name").as_deref(), Some("Old Name"));
    assert_eq!(find(conn, "old name"), None, "old rows match only exactly");
}

fn backfill_fills_old_rows_and_reports_collisions_without_failing(db: &Database) {
    let realm = bootstrap(db, "acme");
    let rows = [
        old_row(&realm.id, "Bob", NOW + 1),
        old_row(&realm.id, "bob", NOW + 2),
        old_row(&realm.id, "carol", NOW + 3),
        old_row(&realm.id, "eve\u{202E}", NOW + 4),
        old_row(&realm.id, "paypa", NOW + 5),
        old_row(&realm.id, CYRILLIC_PAYPA, NOW + 6),
        old_row(&realm.id, "ADMIN", NOW + 7),
    ];
    for r in &rows {
        insert_raw(db, r);
    }
    let conn = &mut *db.conn().unwrap();
    let issues = usernames::backfill_keys(conn).unwrap();
    let reported: Vec<(&str, Option<&str>)> = issues
        .iter()
        .map(|i| (i.username.as_str(), i.conflicts_with.as_deref()))
        .collect();
    assert_eq!(
        reported,
        vec![
            ("bob", Some("Bob")),
            ("eve\u{202E}", None),
            (CYRILLIC_PAYPA, Some("paypa")),
            ("ADMIN", Some("admin")),
        ]
    );
    assert!(issues.iter().all(|i| i.realm == "acme"));
    assert!(issues[0].reason.contains("rename"), "{}", issues[0].reason);
    assert!(issues[1].reason.contains("U+202E"), "{}", issues[1].reason);

    let key_of = |conn: &mut tessera_store::DbConnection, id: &str| {
        store::users::by_id(conn, id).unwrap().unwrap().username_key
    };
    let keys: Vec<Option<String>> = rows.iter().map(|r| key_of(conn, &r.id)).collect();
    assert_eq!(
        keys,
        vec![
            Some("bob".to_string()),
            None,
            Some("carol".to_string()),
            None,
            Some("paypa".to_string()),
            None,
            None,
        ]
    );

    // Sign-in: the exact old name still finds its own row; other spellings find the keyed one.
    let find = |conn: &mut tessera_store::DbConnection, name: &str| {
        store::users::by_username(conn, &realm.id, name)
            .unwrap()
            .unwrap()
            .id
    };
    assert_eq!(find(conn, "bob"), rows[1].id);
    assert_eq!(find(conn, "BOB"), rows[0].id);
    assert_eq!(find(conn, "Bob"), rows[0].id);

    // A new name may not take the key or look of a row the backfill left without one.
    let h = hasher();
    let create = |name: &str| create_user(db, "acme", &new_user(name, None), &h, &Actor::CLI, NOW);
    insert_raw(db, &old_row(&realm.id, "Dave", NOW + 8));
    let err = create("dave").unwrap_err();
    assert!(
        err.to_string()
            .contains("a user named \"Dave\" already exists"),
        "{err}"
    );
    insert_raw(db, &old_row(&realm.id, "copo", NOW + 9));
    // Cyrillic "соро".
    let err = create("\u{0441}\u{043E}\u{0440}\u{043E}").unwrap_err();
    assert!(
        err.to_string()
            .contains("looks like the existing user \"copo\""),
        "{err}"
    );

    // Again: nothing changes, the same rows are reported, nothing fails.
    let again = usernames::backfill_keys(conn).unwrap();
    assert_eq!(again, issues);
    let keys_again: Vec<Option<String>> = rows.iter().map(|r| key_of(conn, &r.id)).collect();
    assert_eq!(keys_again, keys);

    // Start-up runs it after migrating, and a realm with such rows still starts.
    db.migrate().unwrap();
}

fn service_accounts_follow_the_username_rule(db: &Database) {
    let realm = bootstrap(db, "acme");
    let spec = client_spec(serde_json::json!({
        "client_id": "urn:acme:svc~1",
        "grant_types": ["client_credentials"],
        "scopes": ["openid"]
    }));
    create_client(db, "acme", &spec, UnknownScopes::Refuse, &Actor::CLI, NOW).unwrap();
    let conn = &mut *db.conn().unwrap();
    let sa = store::users::by_username(conn, &realm.id, "service-account-urn.acme.svc-1")
        .unwrap()
        .expect("service account");
    assert!(sa.is_service_account);
    assert_eq!(
        sa.username_key.as_deref(),
        Some("service-account-urn.acme.svc-1")
    );

    // Client ids are case-sensitive, usernames are not: `SVC` must not take over the service
    // account of `svc`.
    let spec = |id: &str| {
        client_spec(serde_json::json!({
            "client_id": id, "grant_types": ["client_credentials"], "scopes": ["openid"]
        }))
    };
    create_client(
        db,
        "acme",
        &spec("svc"),
        UnknownScopes::Refuse,
        &Actor::CLI,
        NOW,
    )
    .unwrap();
    let err = create_client(
        db,
        "acme",
        &spec("SVC"),
        UnknownScopes::Refuse,
        &Actor::CLI,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("needs a service account"), "{err}");
    assert!(client(db, &realm.id, "SVC").is_none());
}

fn user_in_an_unknown_team_is_rolled_back(db: &Database) {
    let realm = bootstrap(db, "acme");
    let before = snapshot(db);
    let err = create_user(
        db,
        "acme",
        &new_user("ada", Some(("no-such-team", "member"))),
        &hasher(),
        &Actor::CLI,
        NOW,
    )
    .unwrap_err();
    match err {
        StoreError::Invalid(e) => assert_eq!(e.field, "team"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    // The user row was inserted before the team lookup failed: the transaction undid it.
    assert!(
        store::users::by_username(&mut db.conn().unwrap(), &realm.id, "ada")
            .unwrap()
            .is_none()
    );
    assert_eq!(snapshot(db), before);

    // Unknown realm: not found, nothing written.
    let err = create_user(
        db,
        "nope",
        &new_user("ada", None),
        &hasher(),
        &Actor::CLI,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(snapshot(db), before);
}

// ---- import ----

fn realm_file() -> serde_json::Value {
    serde_json::json!({
        "realm": {"name": "acme", "display_name": "Acme Corp"},
        "scopes": [{"name": "jobs:read", "description": "Read jobs"}],
        "roles": [{
            "name": "auditor",
            "description": "Reads the audit log",
            "permissions": ["audit:read", "user:read"]
        }],
        "teams": [{"name": "platform", "description": "Platform team"}],
        "users": [{
            "username": "ada",
            "email": "ada@example.com",
            "password": "correct horse battery",
            "teams": [{"team": "platform", "role": "auditor"}]
        }],
        "clients": [
            {"client_id": "svc", "grant_types": ["client_credentials"], "scopes": ["jobs:read"]},
            {
                "client_id": "web",
                "type": "public",
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": ["openid", "profile"],
                "redirect_uris": ["https://app.example.com/callback"]
            }
        ]
    })
}

fn parse(value: serde_json::Value) -> RealmImport {
    serde_json::from_value(value).expect("realm file")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn import_creates_everything_and_a_second_import_changes_nothing(db: &Database) {
    let h = hasher();
    let file = parse(realm_file());
    let first = import_realm(db, &file, None, &h, NOW).unwrap();
    assert!(first.bootstrap.is_some(), "the realm was bootstrapped");
    assert_eq!(
        sorted(first.created.clone()),
        [
            "client svc",
            "client web",
            "role auditor",
            "scope jobs:read",
            "team platform",
            "user ada",
        ]
    );
    assert_eq!(first.updated, ["realm acme"], "display name set");
    assert_eq!(first.generated_secrets.len(), 1);
    let (secret_for, plain) = &first.generated_secrets[0];
    assert_eq!(secret_for, "svc");

    let conn = &mut *db.conn().unwrap();
    let realm = store::realms::by_name(conn, "acme").unwrap().unwrap();
    assert_eq!(realm.display_name, "Acme Corp");
    let svc = store::clients::by_client_id(conn, &realm.id, "svc")
        .unwrap()
        .unwrap();
    assert!(secret::verify_secret(
        plain,
        svc.secret_sha256.as_deref().unwrap()
    ));
    assert!(svc.service_account_user_id.is_some());
    let web = store::clients::by_client_id(conn, &realm.id, "web")
        .unwrap()
        .unwrap();
    assert!(!web.confidential);
    assert_eq!(web.redirect_uris, ["https://app.example.com/callback"]);
    let auditor = store::roles::by_name(conn, &realm.id, "auditor")
        .unwrap()
        .unwrap();
    assert!(!auditor.builtin);
    assert_eq!(auditor.permissions.to_string(), "audit:read user:read");
    let platform = store::teams::by_name(conn, &realm.id, "platform")
        .unwrap()
        .unwrap();
    let ada = store::users::by_username(conn, &realm.id, "ada")
        .unwrap()
        .unwrap();
    assert!(h.verify("correct horse battery", ada.password_hash.as_deref()));
    let memberships = store::users::memberships(conn, &ada.id).unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].team_id, platform.id);
    assert_eq!(memberships[0].role_id, auditor.id);
    let scope = store::scopes::by_name(conn, &realm.id, "jobs:read")
        .unwrap()
        .unwrap();
    assert_eq!(scope.description, "Read jobs");

    let before = snapshot(db);
    let second = import_realm(db, &file, None, &h, NOW + 60).unwrap();
    assert!(second.bootstrap.is_none());
    assert!(second.created.is_empty(), "{:?}", second.created);
    assert!(second.updated.is_empty(), "{:?}", second.updated);
    assert!(second.generated_secrets.is_empty());
    assert_eq!(second.unchanged, 6);
    assert_eq!(
        snapshot(db),
        before,
        "no audit event for a no-op import either"
    );
    let svc_after = store::clients::by_client_id(&mut db.conn().unwrap(), &realm.id, "svc")
        .unwrap()
        .unwrap();
    assert_eq!(svc_after.secret_sha256, svc.secret_sha256);
    assert_eq!(svc_after.updated_at, NOW);
}

fn import_reports_exactly_what_changed(db: &Database) {
    let h = hasher();
    import_realm(db, &parse(realm_file()), None, &h, NOW).unwrap();

    let mut changed = realm_file();
    changed["teams"][0]["description"] = "The platform team".into();
    let report = import_realm(db, &parse(changed.clone()), None, &h, NOW + 60).unwrap();
    assert!(report.created.is_empty(), "{:?}", report.created);
    assert_eq!(report.updated, ["team platform"]);
    assert_eq!(report.unchanged, 5);

    let conn = &mut *db.conn().unwrap();
    let realm = store::realms::by_name(conn, "acme").unwrap().unwrap();
    let team = store::teams::by_name(conn, &realm.id, "platform")
        .unwrap()
        .unwrap();
    assert_eq!(team.description, "The platform team");
    assert_eq!(team.updated_at, NOW + 60);
    let events = store::audit::of_realm(conn, &realm.id).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "import.update" && e.target == "team platform")
    );

    // And applying the changed file again is a no-op.
    let again = import_realm(db, &parse(changed), None, &h, NOW + 120).unwrap();
    assert!(again.updated.is_empty(), "{:?}", again.updated);
}

fn import_of_an_invalid_file_creates_nothing(db: &Database) {
    let mut bad = realm_file();
    bad["clients"][0]["grant_types"] = serde_json::json!(["implicit"]);
    let err = import_realm(db, &parse(bad), None, &hasher(), NOW).unwrap_err();
    match err {
        StoreError::Invalid(e) => assert_eq!(e.field, "grant_types"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    let conn = &mut *db.conn().unwrap();
    assert!(store::realms::by_name(conn, "acme").unwrap().is_none());
    assert!(store::realms::list(conn).unwrap().is_empty());
    assert!(
        snapshot(db).iter().all(|(_, n)| *n == 0),
        "{:?}",
        snapshot(db)
    );

    // A public client with a secret is refused the same way.
    let mut bad = realm_file();
    bad["clients"][1]["secret"] = "0123456789abcdef0123456789abcdef-x".into();
    let err = import_realm(db, &parse(bad), None, &hasher(), NOW).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(count(db, "realms"), 0);
}

fn import_failing_in_the_database_leaves_no_realm_behind(db: &Database) {
    // Valid on its own, but the client names a scope neither built in nor defined.
    let mut bad = realm_file();
    bad["clients"][0]["scopes"] = serde_json::json!(["reports:read"]);
    let err = import_realm(db, &parse(bad), None, &hasher(), NOW).unwrap_err();
    assert!(err.to_string().contains("reports:read"), "{err}");
    assert!(
        snapshot(db).iter().all(|(_, n)| *n == 0),
        "{:?}",
        snapshot(db)
    );
    // The same file fixed imports and reports the new realm with its admin password.
    let report = import_realm(db, &parse(realm_file()), None, &hasher(), NOW).unwrap();
    let b = report.bootstrap.expect("realm created by this import");
    assert_eq!(b.realm.name, "acme");
    assert!(b.generated_admin_password.is_some());
}

fn import_turning_a_public_client_confidential_generates_its_secret(db: &Database) {
    let h = hasher();
    import_realm(db, &parse(realm_file()), None, &h, NOW).unwrap();
    let mut changed = realm_file();
    changed["clients"][1]["type"] = "confidential".into();
    let report = import_realm(db, &parse(changed), None, &h, NOW + 1).unwrap();
    assert_eq!(report.updated, vec!["client web".to_string()]);
    assert_eq!(
        report.generated_secrets.len(),
        1,
        "{:?}",
        report.generated_secrets
    );
    let (client_id, secret) = &report.generated_secrets[0];
    assert_eq!(client_id, "web");
    let realm = store::realms::by_name(&mut db.conn().unwrap(), "acme")
        .unwrap()
        .unwrap();
    let web = client(db, &realm.id, "web").unwrap();
    assert!(web.confidential);
    assert!(tessera_core::secret::verify_secret(
        secret,
        web.secret_sha256.as_deref().expect("a stored secret hash")
    ));
}

// ---- sign-in throttle ----

const RULE: ThrottleRule = ThrottleRule {
    window_secs: 300,
    max_failures: 3,
    at_limit: AtLimit::Lock { secs: 60 },
};

/// A username across addresses: from the third failure on, a wait of 1, 2, 4 … at most 8 s.
const BACKOFF: ThrottleRule = ThrottleRule {
    window_secs: 300,
    max_failures: 3,
    at_limit: AtLimit::Backoff { max_delay_secs: 8 },
};

/// One admitted attempt that failed, as the issuer records it; the entry as it now stands.
fn fail(
    conn: &mut tessera_store::DbConnection,
    realm: &str,
    key: &str,
    now: i64,
) -> tessera_store::throttle::ThrottleEntry {
    let keys = [(key.to_string(), RULE)];
    assert_eq!(
        store::throttle::admit(conn, realm, &keys, now).unwrap(),
        None
    );
    store::throttle::settle(conn, realm, &keys, "user:nobody", false, now).unwrap();
    store::throttle::entry(conn, realm, key)
        .unwrap()
        .expect("entry")
}

fn throttle_locks_on_the_third_failure_and_clears(db: &Database) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    let key = "user:ada";
    let keys = [(key.to_string(), RULE)];

    let first = fail(conn, &realm.id, key, NOW);
    assert_eq!((first.failures, first.locked_until), (1, None));
    let second = fail(conn, &realm.id, key, NOW + 10);
    assert_eq!((second.failures, second.locked_until), (2, None));
    assert_eq!(second.window_started_at, NOW);
    let third = fail(conn, &realm.id, key, NOW + 20);
    assert_eq!(third.locked_until, Some(NOW + 20 + 60));
    // Locked: the next attempt is refused before it counts, with the time left.
    assert_eq!(
        store::throttle::admit(conn, &realm.id, &keys, NOW + 30).unwrap(),
        Some(50)
    );
    // Other keys are untouched.
    assert!(
        store::throttle::entry(conn, &realm.id, "user:bob")
            .unwrap()
            .is_none()
    );

    // A success clears the username's key.
    let later = NOW + 81;
    assert_eq!(
        store::throttle::admit(conn, &realm.id, &keys, later).unwrap(),
        None
    );
    store::throttle::settle(conn, &realm.id, &keys, key, true, later).unwrap();
    assert!(
        store::throttle::entry(conn, &realm.id, key)
            .unwrap()
            .is_none()
    );
    let fresh = fail(conn, &realm.id, key, later + 1);
    assert_eq!((fresh.failures, fresh.locked_until), (1, None));
}

fn throttle_starts_a_new_count_after_the_window_and_a_success_takes_back_its_attempt(
    db: &Database,
) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    let key = "addr:192.0.2.1";
    fail(conn, &realm.id, key, NOW);
    let second = fail(conn, &realm.id, key, NOW + 299);
    assert_eq!(second.failures, 2);
    // The window started at NOW; at NOW + 300 it is over, so this failure starts a new count
    // instead of locking.
    let later = fail(conn, &realm.id, key, NOW + 300);
    assert_eq!(later.failures, 1);
    assert_eq!(later.window_started_at, NOW + 300);
    assert_eq!(later.locked_until, None);
    // A success through this address is not one of its failures.
    let keys = [(key.to_string(), RULE)];
    assert_eq!(
        store::throttle::admit(conn, &realm.id, &keys, NOW + 301).unwrap(),
        None
    );
    store::throttle::settle(conn, &realm.id, &keys, "user:ada", true, NOW + 301).unwrap();
    let stored = store::throttle::entry(conn, &realm.id, key)
        .unwrap()
        .unwrap();
    assert_eq!((stored.failures, stored.window_started_at), (1, NOW + 300));
}

const THREADS: usize = 8;

/// THREADS attempts at once under a limit of `max`: how many were admitted, and the entry.
fn concurrent_admissions(
    db: &Database,
    realm: &Realm,
    max: i64,
) -> (usize, tessera_store::throttle::ThrottleEntry) {
    let rule = ThrottleRule {
        max_failures: max,
        ..RULE
    };
    let keys = [("user:ada".to_string(), rule)];
    let barrier = Arc::new(Barrier::new(THREADS));
    let admitted: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (barrier, keys, realm_id) = (Arc::clone(&barrier), &keys, realm.id.as_str());
                s.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    store::throttle::admit(&mut conn, realm_id, keys, NOW)
                        .unwrap()
                        .is_none()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let entry = store::throttle::entry(&mut db.conn().unwrap(), &realm.id, "user:ada")
        .unwrap()
        .expect("entry");
    (admitted.iter().filter(|a| **a).count(), entry)
}

fn concurrent_throttle_attempts_are_all_counted_and_never_exceed_the_limit(db: &Database) {
    let realm = bootstrap(db, "acme");
    // Every attempt counts: a lost update would hand a password guesser free attempts.
    let (admitted, entry) = concurrent_admissions(db, &realm, 1_000);
    assert_eq!(admitted, THREADS);
    assert_eq!(entry.failures, THREADS as i64, "{entry:?}");
    // Under a limit of 3, exactly 3 of THREADS simultaneous attempts get through.
    let other = bootstrap(db, "other");
    let (admitted, entry) = concurrent_admissions(db, &other, 3);
    assert_eq!(admitted, 3);
    assert_eq!(entry.failures, 3, "{entry:?}");
}

fn backoff_key_slows_down_from_its_limit_without_locking_and_a_success_lifts_its_own_wait(
    db: &Database,
) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    let keys = [("user:ada".to_string(), BACKOFF)];
    let attempt = |conn: &mut tessera_store::DbConnection, now: i64, success: bool| {
        let admitted = store::throttle::admit(conn, &realm.id, &keys, now).unwrap();
        if admitted.is_none() {
            store::throttle::settle(conn, &realm.id, &keys, "pair:x/ada", success, now).unwrap();
        }
        admitted
    };
    // Below the limit: no wait.
    assert_eq!(attempt(conn, NOW, false), None);
    assert_eq!(attempt(conn, NOW, false), None);
    // The third attempt reaches the limit: admitted, and the next one waits 1 s.
    assert_eq!(attempt(conn, NOW, false), None);
    assert_eq!(attempt(conn, NOW, false), Some(1));
    // Then 2, 4, 8, 8 s: the wait doubles up to its cap, the key is never locked for long.
    let mut now = NOW + 1;
    for wait in [2, 4, 8, 8] {
        assert_eq!(attempt(conn, now, false), None, "at {now}");
        assert_eq!(attempt(conn, now + wait - 1, false), Some(1));
        now += wait;
    }
    let entry = store::throttle::entry(conn, &realm.id, "user:ada")
        .unwrap()
        .unwrap();
    // Refused attempts were not counted; each admitted one restarted the window.
    assert_eq!(entry.failures, 7, "{entry:?}");
    assert_eq!(entry.window_started_at, now - 8);
    // A success lifts the wait its own admission started and takes its attempt back.
    assert_eq!(attempt(conn, now, true), None);
    let entry = store::throttle::entry(conn, &realm.id, "user:ada")
        .unwrap()
        .unwrap();
    assert_eq!((entry.failures, entry.locked_until), (7, None));
    // The failures before it still count: the next attempt starts a wait again.
    assert_eq!(attempt(conn, now, false), None);
    assert_eq!(attempt(conn, now, false), Some(8));
    // A whole window without an admitted attempt ends the slowdown.
    let later = now + 300;
    assert_eq!(attempt(conn, later, false), None);
    let entry = store::throttle::entry(conn, &realm.id, "user:ada")
        .unwrap()
        .unwrap();
    assert_eq!((entry.failures, entry.locked_until), (1, None));
}

fn a_refused_attempt_counts_under_no_key(db: &Database) {
    let realm = bootstrap(db, "acme");
    let conn = &mut *db.conn().unwrap();
    for _ in 0..3 {
        fail(conn, &realm.id, "pair:192.0.2.1/ada", NOW);
    }
    // The pair is locked: the attempt counts neither for the address nor the username.
    let keys = [
        ("pair:192.0.2.1/ada".to_string(), RULE),
        ("addr:192.0.2.1".to_string(), RULE),
        ("user:ada".to_string(), BACKOFF),
    ];
    assert_eq!(
        store::throttle::admit(conn, &realm.id, &keys, NOW + 1).unwrap(),
        Some(59)
    );
    for key in ["addr:192.0.2.1", "user:ada"] {
        assert!(
            store::throttle::entry(conn, &realm.id, key)
                .unwrap()
                .is_none()
        );
    }
    // A success from another address clears that pair only.
    let elsewhere = [
        ("pair:192.0.2.2/ada".to_string(), RULE),
        ("addr:192.0.2.2".to_string(), RULE),
        ("user:ada".to_string(), BACKOFF),
    ];
    assert_eq!(
        store::throttle::admit(conn, &realm.id, &elsewhere, NOW + 1).unwrap(),
        None
    );
    store::throttle::settle(
        conn,
        &realm.id,
        &elsewhere,
        "pair:192.0.2.2/ada",
        true,
        NOW + 1,
    )
    .unwrap();
    let locked = store::throttle::entry(conn, &realm.id, "pair:192.0.2.1/ada")
        .unwrap()
        .unwrap();
    assert_eq!(locked.locked_until, Some(NOW + 60));
    assert!(
        store::throttle::entry(conn, &realm.id, "pair:192.0.2.2/ada")
            .unwrap()
            .is_none()
    );
    let user = store::throttle::entry(conn, &realm.id, "user:ada")
        .unwrap()
        .unwrap();
    assert_eq!(user.failures, 0);
}

fn concurrent_attempts_on_a_backoff_key_at_its_limit_admit_one_per_wait(db: &Database) {
    let realm = bootstrap(db, "acme");
    let keys = [("user:ada".to_string(), BACKOFF)];
    {
        let conn = &mut *db.conn().unwrap();
        for _ in 0..2 {
            assert_eq!(
                store::throttle::admit(conn, &realm.id, &keys, NOW).unwrap(),
                None
            );
            store::throttle::settle(conn, &realm.id, &keys, "pair:x/ada", false, NOW).unwrap();
        }
        // Dropped here: the racing threads need every pooled connection.
    }
    let barrier = Arc::new(Barrier::new(THREADS));
    let admitted: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (barrier, keys, realm_id) = (Arc::clone(&barrier), &keys, realm.id.as_str());
                s.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    store::throttle::admit(&mut conn, realm_id, keys, NOW)
                        .unwrap()
                        .is_none()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // The one that reached the limit started the wait; every other one was refused.
    assert_eq!(admitted.iter().filter(|a| **a).count(), 1, "{admitted:?}");
    let entry = store::throttle::entry(&mut db.conn().unwrap(), &realm.id, "user:ada")
        .unwrap()
        .unwrap();
    assert_eq!((entry.failures, entry.locked_until), (3, Some(NOW + 1)));
}

// ---- authorization codes ----

/// A refresh token of `family` for `user`, as the issuer would store it.
fn refresh_row(
    realm: &Realm,
    family: &str,
    user: &str,
    value: &str,
) -> tessera_core::model::RefreshToken {
    tessera_core::model::RefreshToken {
        token_sha256: secret::sha256_hex(value),
        realm_id: realm.id.clone(),
        family_id: family.into(),
        client_id: "portal".into(),
        user_id: user.into(),
        scope: "openid".into(),
        session_id_sha256: None,
        auth_time: NOW,
        expires_at: NOW + 3600,
        family_expires_at: NOW + 86_400,
        rotated_at: None,
        revoked_at: None,
        created_at: NOW,
        amr: "pwd".into(),
    }
}

/// What each of THREADS concurrent redemptions would issue: its own access token id and
/// refresh token.
fn issues(realm: &Realm, family: &str, user: &str) -> Vec<store::refresh_tokens::Issued> {
    (0..THREADS)
        .map(|i| store::refresh_tokens::Issued {
            access_jti: format!("jti-{i}"),
            access_expires_at: NOW + 300,
            refresh: Some(refresh_row(realm, family, user, &format!("successor-{i}"))),
        })
        .collect()
}

/// Runs `redeem` on THREADS threads released together.
fn race(
    db: &Database,
    redeem: impl Fn(&mut tessera_store::DbConnection, usize) -> store::codes::Redemption + Sync,
) -> Vec<store::codes::Redemption> {
    let barrier = Arc::new(Barrier::new(THREADS));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, redeem) = (Arc::clone(&barrier), &redeem);
                s.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    redeem(&mut conn, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// After a race with replays, nothing of the family works: every refresh token is revoked
/// (the winner's successor included) and so is every access token the winner recorded.
fn assert_family_dead(db: &Database, family: &str, outcomes: &[store::codes::Redemption]) {
    let conn = &mut *db.conn().unwrap();
    let live: i64 = refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family))
        .filter(refresh_tokens::revoked_at.is_null())
        .count()
        .get_result(conn)
        .unwrap();
    assert_eq!(live, 0, "{outcomes:?}");
    let winner = outcomes
        .iter()
        .position(|o| *o == store::codes::Redemption::Issued)
        .unwrap();
    let recorded: Vec<String> = grant_access_tokens::table
        .filter(grant_access_tokens::grant_id.eq(family))
        .select(grant_access_tokens::jti)
        .load(conn)
        .unwrap();
    assert_eq!(recorded, vec![format!("jti-{winner}")]);
    assert!(tessera_store::revoked::is_revoked(conn, &recorded[0]).unwrap());
}

fn exactly_one_concurrent_redemption_of_a_code_wins_and_the_replays_end_its_grant(db: &Database) {
    let realm = bootstrap(db, "acme");
    let mut pooled = db.conn().unwrap();
    let conn = &mut *pooled;
    let admin = store::users::by_username(conn, &realm.id, "admin")
        .unwrap()
        .unwrap();
    let code = tessera_core::model::AuthorizationCode {
        code_sha256: secret::sha256_hex("the-code"),
        realm_id: realm.id.clone(),
        client_id: "portal".into(),
        user_id: admin.id.clone(),
        session_id_sha256: None,
        redirect_uri: "https://app.example.com/cb".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        auth_time: NOW,
        grant_id: tessera_core::id::new_uuid(),
        expires_at: NOW + 60,
        consumed_at: None,
        created_at: NOW,
        amr: "pwd".into(),
    };
    store::codes::insert(conn, &code).unwrap();
    let issued = issues(&realm, &code.grant_id, &admin.id);
    // Every racer needs a connection of the pool.
    drop(pooled);
    let outcomes = race(db, |conn, i| {
        store::codes::redeem(conn, &code, NOW + 1, false, &issued[i]).unwrap()
    });
    let wins = outcomes
        .iter()
        .filter(|o| **o == store::codes::Redemption::Issued)
        .count();
    assert_eq!(wins, 1, "{outcomes:?}");
    assert_family_dead(db, &code.grant_id, &outcomes);
    // A later attempt is a replay too.
    let conn = &mut *db.conn().unwrap();
    let later = store::codes::redeem(conn, &code, NOW + 30, false, &issued[0]).unwrap();
    assert!(
        matches!(later, store::codes::Redemption::Replayed(_)),
        "{later:?}"
    );
}

fn exactly_one_concurrent_rotation_of_a_refresh_token_wins_and_the_replays_end_its_family(
    db: &Database,
) {
    let realm = bootstrap(db, "acme");
    let mut pooled = db.conn().unwrap();
    let admin = store::users::by_username(&mut pooled, &realm.id, "admin")
        .unwrap()
        .unwrap();
    let family = tessera_core::id::new_uuid();
    let presented = refresh_row(&realm, &family, &admin.id, "presented");
    store::refresh_tokens::insert(&mut pooled, &presented).unwrap();
    // Every racer needs a connection of the pool.
    drop(pooled);
    let issued = issues(&realm, &family, &admin.id);
    let outcomes = race(db, |conn, i| {
        store::refresh_tokens::rotate(conn, &presented, NOW + 1, &issued[i]).unwrap()
    });
    let wins = outcomes
        .iter()
        .filter(|o| **o == store::codes::Redemption::Issued)
        .count();
    assert_eq!(wins, 1, "{outcomes:?}");
    assert_family_dead(db, &family, &outcomes);
}

/// Logout racing refreshes: one thread ends the browser session while the others rotate a
/// refresh token of one of its grants. Whatever the order, afterwards no token of the
/// session's grants works, the session has ended, and a grant outside it is untouched.
fn ending_a_session_during_rotations_leaves_none_of_its_grants_alive(db: &Database) {
    let realm = bootstrap(db, "acme");
    let mut pooled = db.conn().unwrap();
    let admin = store::users::by_username(&mut pooled, &realm.id, "admin")
        .unwrap()
        .unwrap();
    let session = secret::sha256_hex("the-session-cookie");
    store::sessions::insert(
        &mut pooled,
        &tessera_core::model::BrowserSession {
            id_sha256: session.clone(),
            realm_id: realm.id.clone(),
            user_id: admin.id.clone(),
            auth_time: NOW,
            last_seen_at: NOW,
            expires_at: NOW + 3600,
            ended_at: None,
            created_at: NOW,
            amr: "pwd".into(),
            pending: None,
        },
    )
    .unwrap();
    let in_session = |family: &str, value: &str| tessera_core::model::RefreshToken {
        session_id_sha256: Some(session.clone()),
        ..refresh_row(&realm, family, &admin.id, value)
    };
    let (racing, quiet, outside) = (
        tessera_core::id::new_uuid(),
        tessera_core::id::new_uuid(),
        tessera_core::id::new_uuid(),
    );
    let presented = in_session(&racing, "presented");
    store::refresh_tokens::insert(&mut pooled, &presented).unwrap();
    store::refresh_tokens::insert(&mut pooled, &in_session(&quiet, "quiet")).unwrap();
    store::refresh_tokens::insert(
        &mut pooled,
        &refresh_row(&realm, &outside, &admin.id, "outside"),
    )
    .unwrap();
    drop(pooled);
    let issued: Vec<store::refresh_tokens::Issued> = (0..THREADS)
        .map(|i| store::refresh_tokens::Issued {
            access_jti: format!("jti-{i}"),
            access_expires_at: NOW + 300,
            refresh: Some(in_session(&racing, &format!("successor-{i}"))),
        })
        .collect();
    let outcomes = race(db, |conn, i| {
        if i == 0 {
            let ended = store::sessions::end(conn, &realm.id, &session, NOW + 1).unwrap();
            assert_eq!(ended.user_id.as_deref(), Some(admin.id.as_str()));
            assert_eq!(ended.client_ids, vec!["portal".to_string()]);
            store::codes::Redemption::Spent
        } else {
            store::refresh_tokens::rotate(conn, &presented, NOW + 1, &issued[i]).unwrap()
        }
    });
    let conn = &mut *db.conn().unwrap();
    let live: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::family_id)
        .load(conn)
        .unwrap();
    assert_eq!(live, vec![outside.clone()], "{outcomes:?}");
    let recorded: Vec<String> = grant_access_tokens::table
        .filter(grant_access_tokens::grant_id.eq(&racing))
        .select(grant_access_tokens::jti)
        .load(conn)
        .unwrap();
    for jti in &recorded {
        assert!(
            tessera_store::revoked::is_revoked(conn, jti).unwrap(),
            "{jti} of {outcomes:?}"
        );
    }
    assert!(
        store::sessions::live(conn, &realm.id, &session, NOW + 2)
            .unwrap()
            .is_none()
    );
}

// ---- audit ----

/// Runs `attempt` on THREADS connections at once; returns how many succeeded.
fn race_count(
    db: &Database,
    attempt: impl Fn(&mut tessera_store::DbConnection) -> bool + Sync,
) -> usize {
    let barrier = Arc::new(Barrier::new(THREADS));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (barrier, attempt) = (Arc::clone(&barrier), &attempt);
                s.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    attempt(&mut conn)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|won| *won)
            .count()
    })
}

fn second_factors_and_ceremonies_are_spent_once_under_concurrency(db: &Database) {
    use tessera_store::mfa;
    let realm = bootstrap(db, "acme");
    let mut pooled = db.conn().unwrap();
    let admin = store::users::by_username(&mut pooled, &realm.id, "admin")
        .unwrap()
        .unwrap();
    assert!(
        mfa::start_totp_enrolment(&mut pooled, &realm.id, &admin.id, "JBSWY3DPEHPK3PXP", NOW)
            .unwrap()
    );
    assert!(mfa::confirm_totp(&mut pooled, &admin.id, 10, NOW).unwrap());
    // A confirmed app is never replaced by a new enrolment.
    assert!(!mfa::start_totp_enrolment(&mut pooled, &realm.id, &admin.id, "OTHER", NOW).unwrap());
    let codes = ["one", "two"].map(secret::sha256_hex);
    mfa::replace_recovery_codes(&mut pooled, &realm.id, &admin.id, &codes, NOW).unwrap();
    mfa::insert_challenge(
        &mut pooled,
        &tessera_core::model::WebauthnChallenge {
            id_sha256: secret::sha256_hex("challenge"),
            realm_id: realm.id.clone(),
            user_id: Some(admin.id.clone()),
            purpose: "passwordless".into(),
            state: "{}".into(),
            expires_at: NOW + 300,
            created_at: NOW,
        },
    )
    .unwrap();
    drop(pooled);

    let won = race_count(db, |conn| {
        mfa::redeem_recovery_code(conn, &admin.id, &codes[0], NOW).unwrap()
    });
    assert_eq!(won, 1, "one recovery code, one sign-in");
    let won = race_count(db, |conn| {
        mfa::accept_totp_step(conn, &admin.id, 11).unwrap()
    });
    assert_eq!(won, 1, "one time step, one sign-in");
    let won = race_count(db, |conn| {
        mfa::take_challenge(
            conn,
            &realm.id,
            &secret::sha256_hex("challenge"),
            "passwordless",
            NOW,
        )
        .unwrap()
        .is_some()
    });
    assert_eq!(won, 1, "one ceremony, one finish");

    let mut conn = db.conn().unwrap();
    let factors = mfa::factors_of(&mut conn, &admin.id).unwrap();
    assert_eq!(factors.recovery_codes_left, 1);
    assert!(factors.totp);
    assert_eq!(
        mfa::totp_of(&mut conn, &admin.id)
            .unwrap()
            .unwrap()
            .last_step,
        11
    );
    assert!(
        !mfa::accept_totp_step(&mut conn, &admin.id, 11).unwrap(),
        "an old step stays spent"
    );
    assert_eq!(count(db, "webauthn_challenges"), 0);
    // Removing the last factor takes the recovery codes with it.
    assert!(mfa::remove_totp(&mut conn, &admin.id).unwrap());
    assert_eq!(
        mfa::factors_of(&mut conn, &admin.id).unwrap(),
        mfa::Factors::default()
    );
}

fn audit_events_record_bootstrap_and_client_creation(db: &Database) {
    let realm = bootstrap(db, "acme");
    let events = store::audit::of_realm(&mut db.conn().unwrap(), &realm.id).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].action, "realm.bootstrap");
    assert_eq!(events[0].target, "realm:acme");
    assert_eq!(events[0].actor, "system");
    assert_eq!(events[0].outcome, "success");
    assert_eq!(events[0].created_at, NOW);

    let actor = Actor {
        name: "admin",
        source_addr: "192.0.2.7",
    };
    create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &actor,
        NOW + 5,
    )
    .unwrap();
    let events = store::audit::of_realm(&mut db.conn().unwrap(), &realm.id).unwrap();
    let created: Vec<_> = events
        .iter()
        .filter(|e| e.action == "client.create")
        .collect();
    assert_eq!(created.len(), 1, "{events:?}");
    assert_eq!(created[0].target, "client:svc");
    assert_eq!(created[0].actor, "admin");
    assert_eq!(created[0].source_addr, "192.0.2.7");
    assert_eq!(created[0].created_at, NOW + 5);

    // A refused client leaves no audit trail of a creation.
    let _ = create_client(
        db,
        "acme",
        &svc_spec(),
        UnknownScopes::Define,
        &actor,
        NOW + 6,
    );
    assert_eq!(count(db, "audit_events"), 2);
}

// ---- the harness itself ----

#[test]
fn test_database_urls_keep_everything_but_the_name() {
    use tessera_store::testing::with_database as w;
    assert_eq!(
        w("postgres://tessera:tessera@127.0.0.1:5432/tessera", "t1"),
        "postgres://tessera:tessera@127.0.0.1:5432/t1"
    );
    assert_eq!(
        w(
            "postgresql://u:p@db.example/app?sslmode=disable&connect_timeout=5",
            "t1"
        ),
        "postgresql://u:p@db.example/t1?sslmode=disable&connect_timeout=5"
    );
    assert_eq!(w("postgres://localhost", "t1"), "postgres://localhost/t1");
    assert_eq!(w("postgres://localhost/", "t1"), "postgres://localhost/t1");
    assert_eq!(
        w("postgres://h?sslmode=require", "t1"),
        "postgres://h/t1?sslmode=require"
    );
}

#[test]
fn client_kinds_parse_as_the_suite_expects() {
    // Guards the JSON the suite builds its specs from.
    assert_eq!(svc_spec().kind, ClientKind::Confidential);
    svc_spec().validate().unwrap();
    parse(realm_file()).validate().unwrap();
}

// ---- accounts: passwords, reset links, sessions and grants ----

fn session_row(realm: &Realm, user: &str, cookie: &str) -> tessera_core::model::BrowserSession {
    tessera_core::model::BrowserSession {
        id_sha256: secret::sha256_hex(cookie),
        realm_id: realm.id.clone(),
        user_id: user.into(),
        auth_time: NOW,
        last_seen_at: NOW,
        expires_at: NOW + 3600,
        ended_at: None,
        created_at: NOW,
        amr: "pwd".into(),
        pending: None,
    }
}

/// A user "bob" beside the bootstrap admin, with a session, a grant from it (refresh token
/// and recorded access token) and a password-grant family outside any session; the admin
/// has the same, so tests can check nothing of hers is touched.
fn two_users_signed_in(db: &Database) -> (Realm, String, String) {
    let realm = bootstrap(db, "acme");
    let bob = create_user(
        db,
        "acme",
        &new_user("bob", None),
        &hasher(),
        &Actor::CLI,
        NOW,
    )
    .unwrap()
    .id;
    let conn = &mut *db.conn().unwrap();
    let admin = store::users::by_username(conn, &realm.id, "admin")
        .unwrap()
        .unwrap()
        .id;
    for user in [&bob, &admin] {
        let session = session_row(&realm, user, &format!("{user}-cookie"));
        store::sessions::insert(conn, &session).unwrap();
        let in_session = tessera_core::model::RefreshToken {
            session_id_sha256: Some(session.id_sha256.clone()),
            ..refresh_row(&realm, &format!("{user}-web"), user, &format!("{user}-rt1"))
        };
        store::refresh_tokens::insert(conn, &in_session).unwrap();
        store::refresh_tokens::record_grant_token(
            conn,
            &format!("{user}-at1"),
            &format!("{user}-web"),
            &realm.id,
            NOW + 300,
        )
        .unwrap();
        store::refresh_tokens::insert(
            conn,
            &refresh_row(&realm, &format!("{user}-cli"), user, &format!("{user}-rt2")),
        )
        .unwrap();
        store::refresh_tokens::record_grant_token(
            conn,
            &format!("{user}-at2"),
            &format!("{user}-cli"),
            &realm.id,
            NOW + 300,
        )
        .unwrap();
    }
    (realm, bob, admin)
}

fn live_refresh_families(conn: &mut tessera_store::DbConnection, user: &str) -> Vec<String> {
    let mut v: Vec<String> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user))
        .filter(refresh_tokens::revoked_at.is_null())
        .select(refresh_tokens::family_id)
        .load(conn)
        .unwrap();
    v.sort();
    v
}

fn code_row(
    realm: &Realm,
    user: &str,
    code: &str,
    grant: &str,
) -> tessera_core::model::AuthorizationCode {
    tessera_core::model::AuthorizationCode {
        code_sha256: secret::sha256_hex(code),
        realm_id: realm.id.clone(),
        client_id: "portal".into(),
        user_id: user.into(),
        session_id_sha256: None,
        redirect_uri: String::new(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        auth_time: NOW,
        grant_id: grant.into(),
        expires_at: NOW + 60,
        consumed_at: None,
        created_at: NOW,
        amr: "pwd".into(),
    }
}

fn setting_a_password_ends_every_session_and_grant_of_the_user_only(db: &Database) {
    use tessera_store::accounts;
    let (realm, bob, admin) = two_users_signed_in(db);
    let conn = &mut *db.conn().unwrap();
    // A code grant without a refresh token (its access token recorded under the grant), one
    // long expired, and an unredeemed code.
    let redeemed = tessera_core::model::AuthorizationCode {
        consumed_at: Some(NOW),
        ..code_row(&realm, &bob, "redeemed", "bob-code")
    };
    store::codes::insert(conn, &redeemed).unwrap();
    store::refresh_tokens::record_grant_token(conn, "bob-at3", "bob-code", &realm.id, NOW + 300)
        .unwrap();
    let old = tessera_core::model::AuthorizationCode {
        consumed_at: Some(NOW - 9000),
        ..code_row(&realm, &bob, "old", "bob-old")
    };
    store::codes::insert(conn, &old).unwrap();
    store::refresh_tokens::record_grant_token(conn, "bob-at4", "bob-old", &realm.id, NOW - 8000)
        .unwrap();
    store::codes::insert(conn, &code_row(&realm, &bob, "pending", "bob-pending")).unwrap();
    let ended = accounts::set_password(conn, &bob, "new-hash", true, NOW + 5).unwrap();
    assert_eq!((ended.sessions, ended.grants), (1, 4));
    let mut revoked: Vec<String> = ended.revoked.into_iter().map(|(j, _)| j).collect();
    revoked.sort();
    // Sorted on both sides: `bob` is a random UUID, so its ids may sort either side of "bob-at3".
    let mut expected = vec![
        format!("{bob}-at1"),
        format!("{bob}-at2"),
        "bob-at3".to_string(),
    ];
    expected.sort();
    assert_eq!(revoked, expected);
    let pending = store::codes::by_hash(conn, &secret::sha256_hex("pending"))
        .unwrap()
        .unwrap();
    assert_eq!(pending.consumed_at, Some(NOW + 5));
    let user = store::users::by_id(conn, &bob).unwrap().unwrap();
    assert_eq!(user.password_hash.as_deref(), Some("new-hash"));
    assert!(user.password_change_required);
    assert_eq!(user.updated_at, NOW + 5);
    assert!(live_refresh_families(conn, &bob).is_empty());
    for jti in ["at1", "at2"] {
        assert!(tessera_store::revoked::is_revoked(conn, &format!("{bob}-{jti}")).unwrap());
    }
    let bob_session = secret::sha256_hex(&format!("{bob}-cookie"));
    assert!(
        store::sessions::live(conn, &realm.id, &bob_session, NOW + 6)
            .unwrap()
            .is_none()
    );
    // The admin's sign-ins are untouched.
    assert_eq!(
        live_refresh_families(conn, &admin),
        vec![format!("{admin}-cli"), format!("{admin}-web")]
    );
    assert!(!tessera_store::revoked::is_revoked(conn, &format!("{admin}-at1")).unwrap());
    let admin_session = secret::sha256_hex(&format!("{admin}-cookie"));
    assert!(
        store::sessions::live(conn, &realm.id, &admin_session, NOW + 6)
            .unwrap()
            .is_some()
    );
    // Clearing the flag later keeps the new hash.
    accounts::set_password(conn, &bob, "newer-hash", false, NOW + 7).unwrap();
    let user = store::users::by_id(conn, &bob).unwrap().unwrap();
    assert!(!user.password_change_required);
    assert!(matches!(
        accounts::set_password(conn, "no-such-user", "h", false, NOW),
        Err(StoreError::NotFound(_))
    ));
    // The CLI's `tessera user set-password` ends the admin's sign-ins the same way.
    provision::set_user_password(
        db,
        "acme",
        "admin",
        "a new admin password",
        &hasher(),
        &Actor::CLI,
        NOW + 8,
    )
    .unwrap();
    assert!(live_refresh_families(conn, &admin).is_empty());
    assert!(
        store::sessions::live(conn, &realm.id, &admin_session, NOW + 9)
            .unwrap()
            .is_none()
    );
}

fn reset_row(
    realm: &Realm,
    user: &str,
    token: &str,
    expires_at: i64,
) -> tessera_core::model::PasswordReset {
    tessera_core::model::PasswordReset {
        token_sha256: secret::sha256_hex(token),
        realm_id: realm.id.clone(),
        user_id: user.into(),
        created_by: "user:someone".into(),
        expires_at,
        used_at: None,
        created_at: NOW,
    }
}

fn a_reset_link_is_redeemed_once_and_not_after_expiry_or_in_another_realm(db: &Database) {
    use tessera_store::accounts;
    let (realm, bob, _) = two_users_signed_in(db);
    let other = bootstrap(db, "other");
    let conn = &mut *db.conn().unwrap();
    let hash = secret::sha256_hex("link-1");
    accounts::create_password_reset(conn, &reset_row(&realm, &bob, "link-1", NOW + 60)).unwrap();
    assert!(
        accounts::live_password_reset(conn, &realm.id, &hash, NOW)
            .unwrap()
            .is_some()
    );
    // Another realm's page cannot spend it, and it is not spent by trying.
    assert_eq!(
        accounts::redeem_password_reset(conn, &other.id, &hash, NOW).unwrap(),
        None
    );
    // Expired: refused, and still unused.
    assert_eq!(
        accounts::redeem_password_reset(conn, &realm.id, &hash, NOW + 60).unwrap(),
        None
    );
    let row: Option<i64> = password_resets::table
        .find(&hash)
        .select(password_resets::used_at)
        .first(conn)
        .unwrap();
    assert_eq!(row, None);
    // Redeemed with the new password: once.
    let done = accounts::complete_password_reset(conn, &realm.id, &hash, "reset-hash", NOW + 1)
        .unwrap()
        .unwrap();
    assert_eq!(done.0, bob);
    assert_eq!(done.1.grants, 2);
    assert!(
        accounts::complete_password_reset(conn, &realm.id, &hash, "again", NOW + 2)
            .unwrap()
            .is_none()
    );
    let user = store::users::by_id(conn, &bob).unwrap().unwrap();
    assert_eq!(user.password_hash.as_deref(), Some("reset-hash"));
    assert!(
        accounts::live_password_reset(conn, &realm.id, &hash, NOW + 2)
            .unwrap()
            .is_none()
    );
    // A newer link supersedes an older unused one; a password change ends the newest.
    accounts::create_password_reset(conn, &reset_row(&realm, &bob, "link-2", NOW + 600)).unwrap();
    let newer = ResetRow {
        created_at: NOW + 10,
        ..reset_row(&realm, &bob, "link-3", NOW + 600)
    };
    accounts::create_password_reset(conn, &newer).unwrap();
    let (h2, h3) = (secret::sha256_hex("link-2"), secret::sha256_hex("link-3"));
    assert!(
        accounts::live_password_reset(conn, &realm.id, &h2, NOW + 11)
            .unwrap()
            .is_none()
    );
    assert!(
        accounts::live_password_reset(conn, &realm.id, &h3, NOW + 11)
            .unwrap()
            .is_some()
    );
    accounts::set_password(conn, &bob, "self-changed", false, NOW + 12).unwrap();
    assert_eq!(
        accounts::redeem_password_reset(conn, &realm.id, &h3, NOW + 13).unwrap(),
        None
    );
}

type ResetRow = tessera_core::model::PasswordReset;

fn exactly_one_of_concurrent_redemptions_of_a_reset_link_wins(db: &Database) {
    use tessera_store::accounts;
    let (realm, bob, _) = two_users_signed_in(db);
    let hash = secret::sha256_hex("raced-link");
    {
        let conn = &mut *db.conn().unwrap();
        accounts::create_password_reset(conn, &reset_row(&realm, &bob, "raced-link", NOW + 60))
            .unwrap();
    }
    // Every racer needs a connection of the pool: the one above is back in it.
    let barrier = Arc::new(Barrier::new(THREADS));
    let outcomes: Vec<Option<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let (barrier, hash, realm_id) = (Arc::clone(&barrier), &hash, &realm.id);
                s.spawn(move || {
                    let mut conn = db.conn().unwrap();
                    barrier.wait();
                    accounts::complete_password_reset(
                        &mut conn,
                        realm_id,
                        hash,
                        &format!("hash-{i}"),
                        NOW + 1,
                    )
                    .unwrap()
                    .map(|(user, _)| user)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[winners[0]].as_deref(), Some(bob.as_str()));
    let conn = &mut *db.conn().unwrap();
    let user = store::users::by_id(conn, &bob).unwrap().unwrap();
    assert_eq!(user.password_hash, Some(format!("hash-{}", winners[0])));
    let used: Option<i64> = password_resets::table
        .find(&hash)
        .select(password_resets::used_at)
        .first(conn)
        .unwrap();
    assert_eq!(used, Some(NOW + 1));
    assert!(live_refresh_families(conn, &bob).is_empty());
}

fn a_user_sees_and_ends_only_her_own_sessions_and_grants(db: &Database) {
    use tessera_store::accounts;
    let (realm, bob, admin) = two_users_signed_in(db);
    let conn = &mut *db.conn().unwrap();
    // A half-finished sign-in and an ended session are not listed.
    store::sessions::insert(
        conn,
        &tessera_core::model::BrowserSession {
            pending: Some("otp".into()),
            ..session_row(&realm, &bob, "bob-pending")
        },
    )
    .unwrap();
    let sessions = accounts::list_sessions_of_user(conn, &bob, NOW + 1).unwrap();
    assert_eq!(sessions.len(), 1);
    let bob_hash = secret::sha256_hex(&format!("{bob}-cookie"));
    assert_eq!(sessions[0].id, tessera_core::authn::session_sid(&bob_hash));
    assert_ne!(sessions[0].id, bob_hash);
    assert_eq!(
        (
            sessions[0].created_at,
            sessions[0].expires_at,
            sessions[0].amr.as_str()
        ),
        (NOW, NOW + 3600, "pwd")
    );
    let grants = accounts::list_grants_of_user(conn, &bob, NOW + 1).unwrap();
    let mut ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec![format!("{bob}-cli"), format!("{bob}-web")]);
    assert!(
        grants
            .iter()
            .all(|g| g.client_id == "portal" && g.expires_at == NOW + 3600)
    );
    // The admin's session and grant are not Bob's to end: nothing changes.
    let admin_sid = accounts::list_sessions_of_user(conn, &admin, NOW + 1).unwrap()[0]
        .id
        .clone();
    assert!(!accounts::end_session_of_user(conn, &bob, &admin_sid, NOW + 2).unwrap());
    assert!(!accounts::revoke_grant_of_user(conn, &bob, &format!("{admin}-cli"), NOW + 2).unwrap());
    assert_eq!(live_refresh_families(conn, &admin).len(), 2);
    assert_eq!(
        accounts::list_sessions_of_user(conn, &admin, NOW + 2)
            .unwrap()
            .len(),
        1
    );
    // Revoking Bob's password-grant family ends its refresh token and access token only.
    assert!(accounts::revoke_grant_of_user(conn, &bob, &format!("{bob}-cli"), NOW + 2).unwrap());
    assert_eq!(
        live_refresh_families(conn, &bob),
        vec![format!("{bob}-web")]
    );
    assert!(tessera_store::revoked::is_revoked(conn, &format!("{bob}-at2")).unwrap());
    assert!(!tessera_store::revoked::is_revoked(conn, &format!("{bob}-at1")).unwrap());
    assert!(!accounts::revoke_grant_of_user(conn, &bob, &format!("{bob}-cli"), NOW + 3).unwrap());
    // Ending Bob's session ends the grant that came from it.
    assert!(accounts::end_session_of_user(conn, &bob, &sessions[0].id, NOW + 3).unwrap());
    assert!(
        accounts::list_sessions_of_user(conn, &bob, NOW + 4)
            .unwrap()
            .is_empty()
    );
    assert!(live_refresh_families(conn, &bob).is_empty());
    assert!(tessera_store::revoked::is_revoked(conn, &format!("{bob}-at1")).unwrap());
    assert!(
        accounts::list_grants_of_user(conn, &bob, NOW + 4)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        accounts::list_grants_of_user(conn, &admin, NOW + 4)
            .unwrap()
            .len(),
        2
    );
}
