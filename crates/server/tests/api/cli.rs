//! The `tessera` binary: help, first and second start, CLI provisioning, import.

use crate::helpers::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A command with this test's database and keys, cheap argon2, and no ambient config.
fn tessera(app_dir: &std::path::Path, database_url: &str) -> Command {
    let mut c = Command::new(tessera_bin());
    c.arg("--database-url")
        .arg(database_url)
        .arg("--keys-dir")
        .arg(app_dir.join("keys"))
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_ADMIN_PASSWORD")
        .env("TESSERA_ARGON2_MEMORY_KIB", "256")
        .env("TESSERA_ARGON2_ITERATIONS", "1")
        .env("TESSERA_METRICS_LISTEN", "127.0.0.1:0")
        .env("TESSERA_LOG_LEVEL", "warn");
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `tessera serve` on a free port; returns its stdout up to the "listening" line.
fn start_and_stop(cmd: &mut Command) -> String {
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("is listening on") {
                break;
            }
        }
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    seen.expect("the server printed its listening line within 60 s")
}

#[test]
fn help_explains_every_subcommand() {
    let out = run_ok(Command::new(tessera_bin()).arg("--help"));
    for sub in [
        "serve", "migrate", "realm", "client", "user", "keys", "import", "export",
    ] {
        assert!(out.contains(sub), "--help lacks {sub}: {out}");
    }
    let realm = run_ok(Command::new(tessera_bin()).args(["realm", "--help"]));
    assert!(realm.contains("create"));
    let keys = run_ok(Command::new(tessera_bin()).args(["keys", "--help"]));
    assert!(keys.contains("rotate"));
}

#[test]
fn first_start_bootstraps_and_prints_the_password_once_second_start_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let first = start_and_stop(&mut tessera(dir.path(), &url));
    assert!(first.contains("Created realm default"), "{first}");
    let password_line = first
        .lines()
        .find(|l| l.contains("Admin password (shown once"))
        .unwrap_or_else(|| panic!("no password line in {first}"));
    let password = password_line.rsplit(' ').next().unwrap();
    assert!(password.len() >= 20, "{password}");
    let key_files = pem_files(&dir.path().join("keys"));
    assert_eq!(key_files.len(), 2);
    #[cfg(unix)]
    for f in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        // The keys and the directory's lock file.
        use std::os::unix::fs::PermissionsExt;
        let mode = f.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let second = start_and_stop(&mut tessera(dir.path(), &url));
    assert!(second.contains("is listening on"), "{second}");
    assert!(
        !second.contains("password"),
        "a second start printed a secret: {second}"
    );
    assert!(!second.contains(password));
    assert_eq!(
        pem_files(&dir.path().join("keys")),
        key_files,
        "keys reused"
    );
}

/// The key files (`*.pem`) in a keys directory, sorted.
fn pem_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pem"))
        .collect();
    names.sort();
    names
}

/// A first start on a port that is taken fails before it bootstraps: it names the problem and
/// creates no realm, so no admin exists whose generated password was never shown. The next
/// start, on a free port, creates the admin and shows its password.
#[test]
fn a_first_start_on_a_busy_port_creates_nothing_and_the_next_start_shows_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = tessera(dir.path(), &url)
        .args(["--listen", &addr, "serve"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&addr) && stderr.to_lowercase().contains("address already in use"),
        "{stderr}"
    );
    assert!(stderr.contains("--listen"), "says how to fix it: {stderr}");
    assert!(!stdout.contains("Created realm"), "{stdout}");
    let db = tessera_store::Database::connect(&url, Default::default()).unwrap();
    db.migrate().unwrap();
    let realms = tessera_store::realms::list(&mut db.conn().unwrap()).unwrap();
    assert!(realms.is_empty(), "a failed start created {realms:?}");
    drop(db);
    drop(taken);

    let next = start_and_stop(&mut tessera(dir.path(), &url));
    assert!(next.contains("Created realm default"), "{next}");
    assert!(next.contains("Admin password (shown once"), "{next}");
}

#[test]
fn admin_password_comes_from_the_environment_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let out = start_and_stop(
        tessera(dir.path(), &url).env("TESSERA_ADMIN_PASSWORD", "chosen-admin-password"),
    );
    assert!(out.contains("Created realm default"));
    assert!(!out.contains("Admin password"), "{out}");
    assert!(!out.contains("chosen-admin-password"));
    // A too-short password is refused with a message naming the variable.
    let dir2 = tempfile::tempdir().unwrap();
    let (url2, _pg2) = fresh_database_url(dir2.path());
    let out = tessera(dir2.path(), &url2)
        .env("TESSERA_ADMIN_PASSWORD", "short")
        .args(["--listen", "127.0.0.1:0", "serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("TESSERA_ADMIN_PASSWORD"));
}

#[actix_web::test]
async fn client_create_prints_a_secret_once_that_works_with_the_seed_curl() {
    let app = spawn_app().await;
    let mut create = tessera(app.dir.path(), app.database_url());
    create.args([
        "client",
        "create",
        "svc",
        "--scope",
        "jobs:read,clusters:read",
    ]);
    let out = output_of(create).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.contains("Defined scopes: jobs:read clusters:read"),
        "{out}"
    );
    let secret = out
        .lines()
        .find(|l| l.starts_with("Client secret"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    assert_eq!(secret.len(), 43);
    let curl = curl_client_credentials("svc", &secret, "jobs:read", &app.token_url()).await;
    let body: serde_json::Value = serde_json::from_slice(&curl.stdout).unwrap();
    assert_eq!(body["scope"], "jobs:read", "{body}");
    // The secret is never shown again: listing shows no secret material.
    let list = run_ok(tessera(app.dir.path(), app.database_url()).args(["client", "list"]));
    assert!(list.contains("svc\tconfidential"));
    assert!(!list.contains(&secret));
    // Creating it twice is a clear error.
    let dup = tessera(app.dir.path(), app.database_url())
        .args(["client", "create", "svc"])
        .output()
        .unwrap();
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
}

#[actix_web::test]
async fn user_create_with_password_on_stdin_can_then_use_the_password_grant() {
    let app = spawn_app().await;
    let mut child = tessera(app.dir.path(), app.database_url())
        .args([
            "user",
            "create",
            "grace",
            "--password-stdin",
            "--role",
            "viewer",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"grace-hopper-1906\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("grace-hopper-1906"));
    let resp = app.password_grant("grace", "grace-hopper-1906").await;
    assert_eq!(resp.status(), 200);
}

#[test]
fn realm_create_then_import_of_the_example_file_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    run_ok(tessera(dir.path(), &url).arg("migrate"));
    let out = run_ok(tessera(dir.path(), &url).args(["realm", "create", "staging"]));
    assert!(out.contains("Admin password (shown once)"), "{out}");
    let again = tessera(dir.path(), &url)
        .args(["realm", "create", "staging"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/realm.toml");
    let first = run_ok(tessera(dir.path(), &url).args(["import", example]));
    assert!(first.contains("created"), "{first}");
    assert!(!first.contains(" 0 created"), "{first}");
    let second = run_ok(tessera(dir.path(), &url).args(["import", example]));
    assert!(
        second.contains("0 created, 0 updated"),
        "re-import changed something: {second}"
    );
    assert!(
        !second.contains("secret"),
        "a re-import printed a secret: {second}"
    );
    let realms = run_ok(tessera(dir.path(), &url).args(["realm", "list"]));
    assert!(realms.lines().any(|l| l == "acme"), "{realms}");
}

/// `tessera export` is the inverse of `tessera import`: importing an export into a fresh
/// database and exporting again gives the same file, without password hashes or secrets.
#[test]
fn export_then_import_into_a_fresh_database_recreates_the_realm() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    run_ok(tessera(dir.path(), &url).arg("migrate"));
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/realm.toml");
    run_ok(tessera(dir.path(), &url).args(["import", example]));
    // A client with every setting the file format has.
    let extra = dir.path().join("extra.json");
    std::fs::write(
        &extra,
        serde_json::json!({
            "realm": {"name": "acme"},
            "clients": [{
                "client_id": "web",
                "name": "Web app",
                "grant_types": ["authorization_code", "refresh_token"],
                "scopes": ["openid", "profile", "jobs:read"],
                "default_scopes": ["openid"],
                "redirect_uris": ["https://app.example/cb"],
                "post_logout_redirect_uris": ["https://app.example/bye"],
                "first_party": true,
                "web_origins": ["+"],
                "access_token_ttl_secs": 120,
                "refresh_token_idle_ttl_secs": 3600,
                "refresh_token_absolute_ttl_secs": 7200,
                "backchannel_logout_uri": "https://app.example/bcl"
            }],
            "users": [{"username": "off", "enabled": false, "teams": [{"team": "research", "role": "auditor"}]}],
            "teams": [{"name": "research", "description": "Submits jobs"}],
            "roles": [{"name": "auditor", "description": "Reads users, teams and the audit log",
                       "permissions": ["audit:read", "user:read", "team:read"]}]
        })
        .to_string(),
    )
    .unwrap();
    run_ok(tessera(dir.path(), &url).arg("import").arg(&extra));

    let first = run_ok(tessera(dir.path(), &url).args(["export", "acme"]));
    let parsed: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(parsed["realm"]["display_name"], "Acme Corp");
    let ada = parsed["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ada@acme.example")
        .unwrap_or_else(|| panic!("{first}"));
    assert_eq!(
        ada["teams"],
        serde_json::json!([
            {"team": "platform", "role": "operator"},
            {"team": "research", "role": "member"}
        ])
    );
    let web = parsed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == "web")
        .unwrap();
    assert_eq!(web["backchannel_logout_uri"], "https://app.example/bcl");
    assert_eq!(web["web_origins"], serde_json::json!(["+"]));
    assert!(
        !first.contains("service-account-svc"),
        "a service account is the client's own: {first}"
    );
    for secret in ["$argon2", "change-me-ada-2024", "\"secret\": \""] {
        assert!(!first.contains(secret), "{secret} in the export: {first}");
    }

    let dir2 = tempfile::tempdir().unwrap();
    let (url2, _pg2) = fresh_database_url(dir2.path());
    run_ok(tessera(dir2.path(), &url2).arg("migrate"));
    let file = dir2.path().join("acme.json");
    std::fs::write(&file, &first).unwrap();
    let imported = run_ok(tessera(dir2.path(), &url2).arg("import").arg(&file));
    assert!(imported.contains("Client secret for svc"), "{imported}");
    let second = run_ok(tessera(dir2.path(), &url2).args(["export", "acme"]));
    assert_eq!(first, second, "the export of the import differs");

    // TOML says the same.
    let toml_text =
        run_ok(tessera(dir2.path(), &url2).args(["export", "acme", "--format", "toml"]));
    let from_toml: tessera_core::import::RealmImport = toml::from_str(&toml_text).unwrap();
    let from_json: tessera_core::import::RealmImport = serde_json::from_str(&first).unwrap();
    assert_eq!(from_toml, from_json);

    let missing = tessera(dir2.path(), &url2)
        .args(["export", "nope"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("there is no realm nope"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[test]
fn a_bad_import_file_is_refused_with_its_name_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[realm]\nname = \"acme\"\n[[clients]]\nclient_id = \"svc\"\ngrant_types = [\"implicit\"]\n").unwrap();
    run_ok(tessera(dir.path(), &url).arg("migrate"));
    let out = tessera(dir.path(), &url)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("grant"), "{err}");
    let realms = run_ok(tessera(dir.path(), &url).args(["realm", "list"]));
    assert!(realms.trim().is_empty(), "{realms}");
}

/// Run from the wrong directory, a command finds no database: it says where it looked and
/// how to point it at the right one, and creates nothing. `migrate` creates the database;
/// then an error names the database the command opened.
#[test]
fn a_command_run_where_there_is_no_database_creates_none_and_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tessera_bin())
        .current_dir(dir.path())
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_DATABASE_URL")
        .env("TESSERA_LOG_LEVEL", "warn")
        .args(["realm", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no database at ./data/tessera.db")
            && err.contains(&dir.path().join("data").display().to_string())
            && err.contains("run from the directory where Tessera runs")
            && err.contains("TESSERA_DATABASE_URL"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a database (or its directory) was created"
    );
    for args in [
        &["user", "set-password", "admin"][..],
        &["client", "list"],
        &["unlock", "--user", "admin"],
    ] {
        let out = Command::new(tessera_bin())
            .current_dir(dir.path())
            .env_remove("TESSERA_CONFIG")
            .env_remove("TESSERA_DATABASE_URL")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no database at"),
            "{args:?}"
        );
    }
    assert!(!dir.path().join("data").exists());

    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    run_ok(tessera(dir.path(), &url).arg("migrate"));
    let out = tessera(dir.path(), &url)
        .args(["client", "list", "--realm", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nope") && err.contains(&format!("(database {url})")),
        "{err}"
    );
}

#[test]
fn an_unreachable_postgres_reports_the_real_cause() {
    let dir = tempfile::tempdir().unwrap();
    let out = tessera(
        dir.path(),
        "postgres://tessera:pw@127.0.0.1:1/tessera?connect_timeout=2",
    )
    .arg("migrate")
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PostgreSQL") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(
        !err.contains(":pw@"),
        "the password leaked into the error: {err}"
    );
    assert!(
        err.contains("(database postgres://tessera:***@127.0.0.1:1/tessera"),
        "names the database it tried: {err}"
    );
}

#[actix_web::test]
async fn set_password_and_rotate_secret_take_effect_and_print_only_once() {
    let app = spawn_app_with(|c| c.issuer.cache_ttl_secs = 0).await;
    let old_secret = app.create_svc();
    // A lost admin password is reset from the command line.
    let mut set = tessera(app.dir.path(), app.database_url());
    set.args(["user", "set-password", "admin"]);
    let out = output_of(set).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let new_password = stdout
        .lines()
        .find(|l| l.starts_with("Password (shown once)"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    let grant = |password: String| {
        let app = &app;
        async move { app.password_grant("admin", &password).await.status() }
    };
    assert_eq!(grant(new_password).await, 200);
    assert_eq!(
        grant(ADMIN_PASSWORD.to_string()).await,
        400,
        "the old password no longer works"
    );

    // A client secret is rotated: the old one stops working, the new one works.
    let mut rotate = tessera(app.dir.path(), app.database_url());
    rotate.args(["client", "rotate-secret", "svc"]);
    let out = output_of(rotate).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_secret = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("New secret"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    assert_ne!(new_secret, old_secret);
    for (secret, want) in [(old_secret.as_str(), 401), (new_secret.as_str(), 200)] {
        let status = app
            .post_basic("svc", secret, &[("grant_type", "client_credentials")])
            .await
            .status();
        assert_eq!(status, want);
    }
    // Public clients and service accounts are refused with a reason.
    let mut public = tessera(app.dir.path(), app.database_url());
    public.args(["client", "rotate-secret", "portal"]);
    let out = output_of(public).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public client"));
    let mut account = tessera(app.dir.path(), app.database_url());
    account.args(["user", "set-password", "service-account-svc"]);
    let out = output_of(account).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("service account"));
}

/// The operator's unlock (issue 11): `tessera unlock` ends a username's lock from one address,
/// or its locks and slowdown everywhere, at once on the running server; nothing named is an
/// error that changes nothing.
#[actix_web::test]
async fn unlock_ends_a_lock_from_one_address_or_everywhere() {
    let app = spawn_app_with(|c| {
        c.issuer.trust_forwarded_headers = true;
        c.issuer.throttle.user_max_failures = 2;
        c.issuer.throttle.user_global_max_failures = 5;
    })
    .await;
    let grant = |addr: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.password_grant_from(addr, "admin", password)
                .await
                .status()
                .as_u16()
        }
    };
    let unlock = |args: &[&str]| {
        let mut cmd = tessera(app.dir.path(), app.database_url());
        cmd.arg("unlock").args(args);
        output_of(cmd)
    };
    for _ in 0..2 {
        assert_eq!(grant("203.0.113.1", "wrong").await, 400);
    }
    assert_eq!(grant("203.0.113.1", ADMIN_PASSWORD).await, 429);

    let nothing = unlock(&[]).await;
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("--user USERNAME"));
    assert_eq!(grant("203.0.113.1", ADMIN_PASSWORD).await, 429);

    let out = unlock(&["--user", "ADMIN", "--address", "203.0.113.1"]).await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("cleared pair:203.0.113.1/admin"),
        "{stdout}"
    );
    assert_eq!(grant("203.0.113.1", ADMIN_PASSWORD).await, 200);

    // Three more failures from three addresses, five in all: the username waits before every
    // attempt.
    for addr in ["203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        assert_eq!(grant(addr, "wrong").await, 400);
    }
    assert_eq!(grant("203.0.113.5", ADMIN_PASSWORD).await, 429);
    let out = unlock(&["--user", "admin"]).await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("user:admin"), "{stdout}");
    assert!(stdout.contains("pair:203.0.113.2/admin"), "{stdout}");
    assert_eq!(grant("203.0.113.5", ADMIN_PASSWORD).await, 200);
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    let events = tessera_store::audit::of_realm(conn, &realm.id).unwrap();
    let mut unlocks: Vec<&str> = events
        .iter()
        .filter(|e| e.action == "throttle.unlock")
        .map(|e| e.target.as_str())
        .collect();
    // Both in the same second: their order in the log is not defined.
    unlocks.sort();
    assert_eq!(unlocks, ["user:admin", "user:admin from 203.0.113.1"]);
}

/// `tessera user create` and `tessera import` refuse the names the REST API refuses, with the
/// same message (the one rule, `tessera_core::username`), and create nothing.
#[test]
fn user_create_and_import_refuse_the_names_the_api_refuses_with_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    run_ok(tessera(dir.path(), &url).arg("migrate"));
    run_ok(tessera(dir.path(), &url).args(["realm", "create", "acme"]));
    let create = |name: &str| {
        tessera(dir.path(), &url)
            .args(["user", "create", name, "--realm", "acme"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    run_ok(tessera(dir.path(), &url).args(["user", "create", "paypa", "--realm", "acme"]));

    let refused = [
        "admin\u{202E}nimda",
        "ad\u{200B}min",
        "ada lovelace",
        "p\u{0430}ypal",
    ];
    for name in refused {
        let expected = tessera_core::username::parse(name).unwrap_err().to_string();
        assert!(expected.starts_with("username: "), "{expected}");
        let out = create(name);
        assert!(!out.status.success(), "{name:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&expected), "{name:?}: {err}");

        let file = dir.path().join("users.toml");
        std::fs::write(
            &file,
            format!("[realm]\nname = \"acme\"\n\n[[users]]\nusername = {name:?}\n")
                .replace("\\u{202e}", "\\u202E")
                .replace("\\u{200b}", "\\u200B"),
        )
        .unwrap();
        let out = tessera(dir.path(), &url)
            .arg("import")
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "import of {name:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&expected), "import of {name:?}: {err}");
    }

    // Another spelling of an existing name, and a lookalike of one, are conflicts.
    let out = create("Admin");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a user named \"admin\" already exists"),
        "{err}"
    );
    let out = create("\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("looks like the existing user \"paypa\""),
        "{err}"
    );

    let db = tessera_store::Database::connect(&url, Default::default()).unwrap();
    let mut conn = db.conn().unwrap();
    let realm = tessera_store::realms::by_name(&mut conn, "acme")
        .unwrap()
        .unwrap();
    use diesel::prelude::*;
    use tessera_store::schema::users;
    let mut names: Vec<String> = users::table
        .filter(users::realm_id.eq(&realm.id))
        .select(users::username)
        .load(&mut conn)
        .unwrap();
    names.sort();
    assert_eq!(names, vec!["admin", "paypa"], "nothing else was created");
}
