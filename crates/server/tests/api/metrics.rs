//! Operability: the Prometheus metrics on their own address, and the audit events of
//! sign-ins and failed token requests, after a scripted workload.

use crate::authorize::{Jar, auth_url, submit_sign_in, web_client};
use crate::helpers::*;
use std::collections::BTreeMap;

/// One sample of the Prometheus text: metric name and labels.
type Sample = (String, BTreeMap<String, String>);

/// Parses the text exposition format (the lines this exporter writes: no escapes in the
/// label values the tests look at).
fn parse(text: &str) -> Vec<(Sample, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.trim_end_matches('}');
                let labels = inner
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap();
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        out.push(((name, labels), value.parse().unwrap()));
    }
    out
}

/// The value of the series `name` with exactly `labels`.
fn value(samples: &[(Sample, f64)], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|((n, l), _)| n == name && *l == want)
        .map(|(_, v)| *v)
}

async fn scrape(app: &TestApp) -> Vec<(Sample, f64)> {
    let base = app.metrics_base.as_ref().expect("metrics are served");
    let resp = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse(&resp.text().await.unwrap())
}

async fn password_grant(app: &TestApp, username: &str, password: &str) -> u16 {
    app.password_grant(username, password)
        .await
        .status()
        .as_u16()
}

async fn auth_test_status(app: &TestApp, key: &str) -> u16 {
    app.call(reqwest::Method::GET, "/v1/auth/test", Some(key), None)
        .await
        .0
}

#[actix_web::test]
async fn a_workload_is_counted_on_the_metrics_address_and_audited() {
    let app = spawn_app().await;
    let secret = app.create_svc();
    web_client(&app);
    let form = [("grant_type", "client_credentials")];
    for _ in 0..3 {
        assert_eq!(app.post_basic("svc", &secret, &form).await.status(), 200);
    }
    assert_eq!(app.post_basic("svc", "wrong", &form).await.status(), 401);
    assert_eq!(app.post_basic("nobody", "wrong", &form).await.status(), 401);
    assert_eq!(password_grant(&app, "admin", ADMIN_PASSWORD).await, 200);
    assert_eq!(password_grant(&app, "admin", "not it").await, 400);
    assert_eq!(password_grant(&app, "ghost", "not it").await, 400);
    // The sign-in form, with a wrong password.
    let mut jar = Jar::default();
    let resp = submit_sign_in(
        &app,
        &mut jar,
        &auth_url(&app, &[]),
        &[("username", "admin"), ("password", "not it either")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    // An API key: made with a token (one more password grant, one JWT authentication),
    // then used once as it is and once altered.
    let token = app
        .password_token("admin", ADMIN_PASSWORD, "api_key:create")
        .await;
    let (status, created) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/apikeys",
            Some(&token),
            Some(serde_json::json!({"name": "metrics"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["value"].as_str().unwrap().to_string();
    assert_eq!(auth_test_status(&app, &key).await, 200);
    let mut altered = key.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(auth_test_status(&app, &altered).await, 401);

    let samples = scrape(&app).await;
    let requests = |grant: &str, result: &str, client: &str| {
        value(
            &samples,
            "tessera_token_requests_total",
            &[
                ("grant_type", grant),
                ("result", result),
                ("client_id", client),
            ],
        )
    };
    assert_eq!(requests("client_credentials", "ok", "svc"), Some(3.0));
    assert_eq!(
        requests("client_credentials", "invalid_client", "svc"),
        Some(1.0)
    );
    // An unregistered client_id is not a label of its own.
    assert_eq!(
        requests("client_credentials", "invalid_client", "unknown"),
        Some(1.0)
    );
    assert_eq!(
        requests("client_credentials", "invalid_client", "nobody"),
        None
    );
    assert_eq!(requests("password", "ok", "portal"), Some(2.0));
    assert_eq!(requests("password", "invalid_grant", "portal"), Some(2.0));
    let duration_count = |grant: &str| {
        value(
            &samples,
            "tessera_token_request_duration_seconds_count",
            &[("grant_type", grant)],
        )
    };
    assert_eq!(duration_count("client_credentials"), Some(5.0));
    assert_eq!(duration_count("password"), Some(4.0));
    assert!(
        value(
            &samples,
            "tessera_token_request_duration_seconds_bucket",
            &[("grant_type", "client_credentials"), ("le", "+Inf")],
        ) == Some(5.0)
    );
    let sign_ins = |method: &str, result: &str| {
        value(
            &samples,
            "tessera_sign_ins_total",
            &[("method", method), ("result", result)],
        )
    };
    assert_eq!(sign_ins("password_grant", "success"), Some(2.0));
    // Unknown user and wrong password: one result, as the answer is one.
    assert_eq!(sign_ins("password_grant", "invalid"), Some(2.0));
    assert_eq!(sign_ins("form", "invalid"), Some(1.0));
    assert_eq!(sign_ins("form", "success"), None);
    let key_auths = |result: &str| {
        value(
            &samples,
            "tessera_api_key_authentications_total",
            &[("result", result)],
        )
    };
    assert_eq!(key_auths("success"), Some(1.0));
    assert_eq!(key_auths("invalid"), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "tessera_jwt_authentications_total",
            &[("result", "success")]
        ),
        Some(1.0)
    );
    for state in ["in_use", "idle"] {
        assert!(
            value(&samples, "tessera_db_pool_connections", &[("state", state)]).is_some(),
            "pool gauge {state}"
        );
    }
    assert_eq!(
        value(&samples, "tessera_db_pool_max_connections", &[]),
        Some(f64::from(app.config.database.max_connections))
    );
    assert!(value(&samples, "tessera_db_pool_wait_seconds_count", &[]).unwrap() > 0.0);
    for alg in ["ES256", "RS256"] {
        assert_eq!(
            value(&samples, "tessera_signing_keys_published", &[("alg", alg)]),
            Some(1.0),
            "{alg}"
        );
        assert!(value(&samples, "tessera_signing_key_age_seconds", &[("alg", alg)]).is_some());
        // Test keys sign at once: none waits.
        assert_eq!(
            value(
                &samples,
                "tessera_signing_key_next_activation_seconds",
                &[("alg", alg)]
            ),
            Some(0.0)
        );
    }

    // The API's port does not serve the metrics.
    let (status, _) = app.call(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 404);

    // The audit log: sign-ins with their reasons, and the client-authentication failures.
    let reader = app
        .password_token("admin", ADMIN_PASSWORD, "audit:read")
        .await;
    let (status, audit) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?page_size=500",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let events: Vec<serde_json::Value> = audit["values"].as_array().unwrap().clone();
    let detail = |e: &serde_json::Value| -> serde_json::Value {
        serde_json::from_str(e["detail"].as_str().unwrap()).unwrap()
    };
    let of = |action: &str, outcome: &str| -> Vec<(serde_json::Value, serde_json::Value)> {
        events
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .map(|e| (e.clone(), detail(e)))
            .collect()
    };
    let admin_id = {
        let conn = &mut *app.db.conn().unwrap();
        let realm = tessera_store::realms::by_name(conn, "default")
            .unwrap()
            .unwrap();
        tessera_store::users::by_username(conn, &realm.id, "admin")
            .unwrap()
            .unwrap()
            .id
    };
    let admin = format!("user:{admin_id}");
    let successes = of("user.sign_in", "success");
    // The explicit grant, the API-key maker's and the audit reader's.
    assert_eq!(successes.len(), 3, "{successes:?}");
    for (e, d) in &successes {
        assert_eq!(e["actor"], admin.as_str());
        assert_eq!(e["source_addr"], "127.0.0.1");
        assert_eq!(d["method"], "password_grant");
        assert_eq!(d["client_id"], "portal");
        assert!(d.get("reason").is_none(), "{d}");
    }
    let failures = of("user.sign_in", "failure");
    // Events of one second are in no particular order.
    let mut reasons: Vec<(String, String, String, String)> = failures
        .iter()
        .map(|(e, d)| {
            (
                e["actor"].as_str().unwrap().to_string(),
                d["method"].as_str().unwrap().to_string(),
                d["client_id"].as_str().unwrap().to_string(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reasons.sort();
    let mut expected = vec![
        (
            admin.clone(),
            "password_grant".into(),
            "portal".into(),
            "invalid_password".into(),
        ),
        (
            "username:ghost".into(),
            "password_grant".into(),
            "portal".into(),
            "unknown_user".into(),
        ),
        (
            admin.clone(),
            "form".into(),
            "web".into(),
            "invalid_password".into(),
        ),
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    assert!(
        failures
            .iter()
            .all(|(e, _)| e["source_addr"] == "127.0.0.1")
    );
    let client_failures = of("client.authenticate", "failure");
    let mut actors: Vec<&str> = client_failures
        .iter()
        .map(|(e, _)| e["actor"].as_str().unwrap())
        .collect();
    actors.sort();
    assert_eq!(actors, ["client:nobody", "client:svc"]);
    for (e, d) in &client_failures {
        assert_eq!(e["source_addr"], "127.0.0.1");
        assert_eq!(d["grant_type"], "client_credentials");
        assert_eq!(d["reason"], "client authentication failed");
    }
    // Successful client_credentials requests write nothing.
    assert!(
        events
            .iter()
            .all(|e| !e["actor"].as_str().unwrap().starts_with("client:svc")
                || e["outcome"] == "failure")
    );
}

#[actix_web::test]
async fn a_lockout_is_counted_and_audited() {
    let app = spawn_app_with(|c| {
        c.issuer.throttle.user_max_failures = 2;
    })
    .await;
    assert_eq!(password_grant(&app, "admin", "wrong 1").await, 400);
    assert_eq!(password_grant(&app, "admin", "wrong 2").await, 400);
    // Locked: refused before the password is checked.
    assert_eq!(password_grant(&app, "admin", ADMIN_PASSWORD).await, 429);
    let samples = scrape(&app).await;
    assert_eq!(
        value(&samples, "tessera_throttle_locks_total", &[("key", "pair")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tessera_sign_ins_total",
            &[("method", "password_grant"), ("result", "throttled")]
        ),
        Some(1.0)
    );
    let conn = &mut *app.db.conn().unwrap();
    let realm = tessera_store::realms::by_name(conn, "default")
        .unwrap()
        .unwrap();
    let events = tessera_store::audit::of_realm(conn, &realm.id).unwrap();
    let locks: Vec<_> = events
        .iter()
        .filter(|e| e.action == "throttle.lock")
        .collect();
    assert_eq!(locks.len(), 1, "{events:?}");
    assert_eq!(locks[0].target, "throttle:pair:127.0.0.1/admin");
    assert_eq!(locks[0].source_addr, "127.0.0.1");
    let throttled: Vec<_> = events
        .iter()
        .filter(|e| e.action == "user.sign_in" && e.detail.contains("\"throttled\""))
        .collect();
    assert_eq!(throttled.len(), 1, "{events:?}");
    assert_eq!(throttled[0].outcome, "failure");
}

#[actix_web::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|c| c.metrics.listen = String::new()).await;
    assert!(app.metrics_base.is_none());
    let secret = app.create_svc();
    let resp = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 200);
}

/// The `detail` of the newest audit event with `action` on `target`, parsed.
async fn audited_detail(
    app: &TestApp,
    token: &str,
    action: &str,
    target: &str,
) -> serde_json::Value {
    let (status, audit) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?page_size=500&order=newest",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{audit}");
    let event = audit["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == action && e["target"] == target)
        .unwrap_or_else(|| panic!("no {action} on {target} in {audit}"))
        .clone();
    serde_json::from_str(event["detail"].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn rest_writes_audit_what_they_changed() {
    let app = spawn_app().await;
    app.create_svc();
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let (status, created) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(serde_json::json!({"name": "ann", "password": "ann-password"})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let user = created["value"]["id"].as_str().unwrap().to_string();
    let root = created["value"]["team_roles"][0]["team_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, roles) = app
        .call(reqwest::Method::GET, "/api/v1/roles", Some(&token), None)
        .await;
    let admin_role = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{user}"),
            Some(&token),
            Some(serde_json::json!({"team_roles": [{"team_id": root, "role_id": admin_role}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let detail = audited_detail(&app, &token, "user.update", &format!("user:{user}")).await;
    let roles_change = &detail["team_roles"];
    assert_eq!(roles_change["from"][0]["role_name"], "member", "{detail}");
    assert_eq!(roles_change["to"][0]["role_name"], "admin", "{detail}");
    // Only what changed.
    assert_eq!(detail.as_object().unwrap().len(), 1, "{detail}");

    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/clients/svc",
            Some(&token),
            Some(serde_json::json!({"name": "The service", "scopes": ["jobs:read"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let detail = audited_detail(&app, &token, "client.update", "client:svc").await;
    assert_eq!(detail["name"]["to"], "The service", "{detail}");
    assert_eq!(
        detail["scopes"],
        serde_json::json!({"from": ["clusters:read", "jobs:read"], "to": ["jobs:read"]}),
        "{detail}"
    );
    assert!(!detail.to_string().contains("secret"), "{detail}");
}

/// `log.access`: one line per request from the real binary, with the path but never the query
/// string or the Authorization header.
#[actix_web::test]
async fn the_access_log_has_one_line_per_request_without_queries_or_credentials() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    tessera_resource::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = fresh_database_url(dir.path());
    let mut child = Command::new(tessera_bin())
        .arg("--database-url")
        .arg(&url)
        .arg("--keys-dir")
        .arg(dir.path().join("keys"))
        .args(["--listen", "127.0.0.1:0", "serve"])
        .env_remove("TESSERA_CONFIG")
        .env("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("TESSERA_ARGON2_MEMORY_KIB", "256")
        .env("TESSERA_ARGON2_ITERATIONS", "1")
        .env("TESSERA_METRICS_LISTEN", "127.0.0.1:0")
        .env("TESSERA_LOG_ACCESS", "true")
        .env("TESSERA_LOG_FORMAT", "json")
        .env("TESSERA_LOG_LEVEL", "warn,tessera::access=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let base = announced_url(stdout)
        .await
        .expect("the server announced its URL");
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{base}/v1/auth/test?secret-in-query=1"))
        .header("authorization", "Bearer not-a-real-credential")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // The line is written once the response is; give the process a moment, then stop it.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    child.kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "tessera::access")
        .collect();
    let auth_test = lines
        .iter()
        .find(|l| l["fields"]["path"] == "/v1/auth/test")
        .unwrap_or_else(|| panic!("no access line for /v1/auth/test in {stderr}"));
    assert_eq!(auth_test["fields"]["method"], "GET");
    assert_eq!(auth_test["fields"]["status"], 401);
    assert_eq!(auth_test["fields"]["client"], "127.0.0.1");
    assert!(auth_test["fields"]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["path"] == "/health" && l["fields"]["status"] == 200),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-in-query"), "{stderr}");
    assert!(!stderr.contains("not-a-real-credential"), "{stderr}");
}
