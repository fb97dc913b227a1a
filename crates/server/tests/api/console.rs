//! The web console's sign-in plumbing over plain HTTP (the pages themselves are driven in
//! Chromium by `tests/browser/console.mjs`): where a visitor is sent, what the sign-in request
//! carries, and the answers to callbacks that do not belong to a sign-in this browser started.

use crate::helpers::*;

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn a_visitor_is_sent_through_the_realms_own_sign_in_with_pkce() {
    let app = spawn_app().await;
    let http = no_redirects();
    let console = format!("{}/realms/default/console", app.base);

    let resp = http
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/realms/default/console/");

    // A page without a session: to the console's sign-in start, remembering the page.
    let resp = http
        .get(format!("{console}/users?page_token=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        "/realms/default/console/login?return_to=%2Frealms%2Fdefault%2Fconsole%2Fusers%3Fpage_token%3Dabc"
    );
    assert_eq!(resp.headers()["x-frame-options"], "DENY");

    // The sign-in start: the authorization endpoint, as `portal`, with PKCE S256, state and nonce.
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to = reqwest::Url::parse(&location(&resp)).unwrap();
    assert_eq!(
        to.as_str().split('?').next().unwrap(),
        format!("{}/realms/default/protocol/openid-connect/auth", app.base)
    );
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "portal");
    assert_eq!(q["redirect_uri"], format!("{console}/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    assert!(q["scope"].starts_with("openid profile "));
    let pending = set_cookies(&resp)
        .into_iter()
        .find(|c| c.starts_with("tessera_console_login="))
        .expect("the pending sign-in is kept in a cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/realms/default/console"] {
        assert!(pending.contains(attribute), "{pending}");
    }

    // The issuer accepts that request: it shows its sign-in page rather than an error.
    let resp = http.get(to.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("id=\"username\""));
}

/// A realm created while the server runs (here through the store, as `tessera realm create`
/// and `tessera import` do) has a working console at once: its sign-in start registers the
/// console with the realm's `portal`, and the issuer accepts the request.
#[actix_web::test]
async fn the_console_of_a_realm_created_while_running_signs_in_without_a_restart() {
    let app = spawn_app().await;
    let http = no_redirects();
    // The issuer has seen the new realm's portal before the console asks (a cached client).
    tessera_store::provision::bootstrap_realm(
        &app.db,
        "late",
        Some("late-admin-password"),
        &tessera_core::password::PasswordHasher::new(app.config.argon2).unwrap(),
        tessera_core::Clock::now(&app.clock),
    )
    .unwrap()
    .expect("a new realm");
    let token = app
        .http
        .post(format!(
            "{}/realms/late/protocol/openid-connect/token",
            app.base
        ))
        .form(&[
            ("client_id", "portal"),
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "late-admin-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);

    let console = format!("{}/realms/late/console", app.base);
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let to = reqwest::Url::parse(&location(&resp)).unwrap();
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["redirect_uri"], format!("{console}/callback"));
    let resp = http.get(to.as_str()).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(
        status, 200,
        "the issuer refused the console's sign-in: {body}"
    );
    assert!(body.contains("id=\"username\""), "{body}");
}

#[actix_web::test]
async fn the_console_is_registered_with_the_portal_client() {
    let app = spawn_app().await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, "client:read")
        .await;
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/clients/portal",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let console = format!("{}/realms/default/console", app.base);
    assert_eq!(
        body["value"]["redirect_uris"],
        serde_json::json!([format!("{console}/callback")])
    );
    assert_eq!(
        body["value"]["post_logout_redirect_uris"],
        serde_json::json!([format!("{console}/signed-out")])
    );
}

#[actix_web::test]
async fn callbacks_that_belong_to_no_sign_in_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let http = no_redirects();
    let console = format!("{}/realms/default/console", app.base);

    // No pending sign-in in this browser.
    let resp = http
        .get(format!("{console}/callback?code=abc&state=xyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("tessera_console_at="))
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("expired or was started in another browser"),
        "{text}"
    );
    assert!(
        text.contains("/realms/default/console/login"),
        "a way to start again: {text}"
    );

    // A pending sign-in, and an answer with another state (a forged or crossed callback).
    let resp = http.get(format!("{console}/login")).send().await.unwrap();
    let pending = set_cookies(&resp)
        .into_iter()
        .find(|c| c.starts_with("tessera_console_login="))
        .unwrap();
    let pending = pending.split(';').next().unwrap().to_string();
    let resp = http
        .get(format!("{console}/callback?code=abc&state=not-the-one"))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("does not belong"));

    // A cancelled sign-in comes back with the issuer's error: said plainly.
    let state = pending
        .trim_start_matches("tessera_console_login=")
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let resp = http
        .get(format!(
            "{console}/callback?error=access_denied&state={state}&iss={}",
            format!("{}/realms/default", app.base)
                .replace(':', "%3A")
                .replace('/', "%2F")
        ))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("cancelled"));

    // Sign-out and every form need the CSRF cookie and field.
    let resp = http
        .post(format!("{console}/logout"))
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // A realm name that cannot be one is refused before it reaches a URL or a cookie.
    let resp = http
        .get(format!("{}/realms/a%22b/console/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// The newest audit event, read through the API.
async fn newest_audit_event(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, events) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?order=newest&page_size=1",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    events["values"][0].clone()
}

/// Console actions are audited with the browser's address (issue 11), not the loopback
/// address the console calls the API from: the console relays the address it determined
/// (here the trusted proxy's forwarded one) with this process's relay secret. A direct API
/// call naming an address without that secret is audited with its own address.
#[actix_web::test]
async fn console_actions_are_audited_with_the_browsers_address() {
    let app = spawn_app_with(|c| c.issuer.trust_forwarded_headers = true).await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    // A signed-in console session: its access token and double-submit cookies.
    let resp = no_redirects()
        .post(format!("{}/realms/default/console/teams", app.base))
        .header(
            "cookie",
            format!("tessera_console_at={token}; tessera_console_csrf=c5rf"),
        )
        .header("x-forwarded-for", "192.0.2.99, 198.51.100.4")
        .form(&[("csrf", "c5rf"), ("name", "from-console")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    let event = newest_audit_event(&app, &token).await;
    assert_eq!(event["action"], "team.create", "{event}");
    assert_eq!(event["source_addr"], "198.51.100.4", "{event}");

    // Straight to the API, naming an address: without the secret, or with a wrong one, the
    // name is ignored and the caller's own address (here the TCP peer) is recorded.
    for secret in [None, Some("guessed")] {
        let mut req = app
            .http
            .post(format!("{}/api/v1/teams", app.base))
            .bearer_auth(&token)
            .header("x-tessera-relayed-client", "203.0.113.66")
            .json(&serde_json::json!({"name": format!("direct-{}", secret.is_some())}));
        if let Some(s) = secret {
            req = req.header("x-tessera-relay-secret", s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let event = newest_audit_event(&app, &token).await;
        assert_eq!(event["action"], "team.create", "{event}");
        assert_eq!(event["source_addr"], "127.0.0.1", "{event}");
    }
}

/// A browser signed in to the default realm's console through the issuer's own sign-in page,
/// keeping its cookies; every form it posts carries the session's CSRF token.
struct ConsoleBrowser<'a> {
    app: &'a TestApp,
    jar: crate::authorize::Jar,
    console: String,
    /// What each request answered, for comparing the pages across a refactor.
    transcript: Vec<String>,
}

/// A response's status, its `Location` (redirects) and its body.
struct Answer {
    status: u16,
    location: String,
    body: String,
}

impl<'a> ConsoleBrowser<'a> {
    /// Signs in as admin: the console's sign-in start, the issuer's page, the callback.
    async fn sign_in(app: &'a TestApp) -> Self {
        use crate::authorize::{allow_consent, get, submit_admin_password};
        let mut jar = crate::authorize::Jar::default();
        let console = format!("{}/realms/default/console", app.base);
        let resp = get(
            app,
            &mut jar,
            &format!("{console}/login?return_to=%2Frealms%2Fdefault%2Fconsole%2Fusers"),
        )
        .await;
        assert_eq!(resp.status(), 303);
        let html = get(app, &mut jar, &location(&resp))
            .await
            .text()
            .await
            .unwrap();
        let resp = submit_admin_password(app, &mut jar, &html).await;
        let resp = if resp.status() == 200 {
            let consent = resp.text().await.unwrap();
            allow_consent(app, &mut jar, &consent).await
        } else {
            resp
        };
        assert_eq!(resp.status(), 303);
        let callback = location(&resp);
        assert!(
            callback.starts_with(&format!("{console}/callback?")),
            "{callback}"
        );
        let resp = get(app, &mut jar, &callback).await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        assert_eq!(location(&resp), "/realms/default/console/users");
        for cookie in [
            "tessera_console_at",
            "tessera_console_rt",
            "tessera_console_id",
            "tessera_console_csrf",
        ] {
            assert!(
                jar.0.get(cookie).is_some_and(|v| !v.is_empty()),
                "{cookie} after sign-in"
            );
        }
        assert_eq!(
            jar.0["tessera_console_login"], "",
            "the pending sign-in is removed"
        );
        Self {
            app,
            jar,
            console,
            transcript: Vec::new(),
        }
    }

    async fn send(&mut self, what: String, req: reqwest::RequestBuilder) -> Answer {
        let resp = req
            .header("cookie", self.jar.header())
            .send()
            .await
            .unwrap();
        self.jar.absorb(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = resp.text().await.unwrap();
        self.transcript
            .push(format!("{what} -> {status} {location}\n{body}"));
        Answer {
            status,
            location,
            body,
        }
    }

    async fn get(&mut self, rest: &str) -> Answer {
        let req = self.app.http.get(format!("{}{rest}", self.console));
        self.send(format!("GET {rest}"), req).await
    }

    async fn post(&mut self, rest: &str, form: &[(&str, &str)]) -> Answer {
        let csrf = self.jar.0["tessera_console_csrf"].clone();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let req = self
            .app
            .http
            .post(format!("{}{rest}", self.console))
            .form(&fields);
        self.send(format!("POST {rest} {form:?}"), req).await
    }

    /// With `CONSOLE_SNAPSHOT=path`, writes every answer there: run before and after a change
    /// to the console and compare the two files (ids, tokens and times differ).
    fn dump(&self) {
        if let Ok(path) = std::env::var("CONSOLE_SNAPSHOT") {
            std::fs::write(path, self.transcript.join("\n=====\n")).unwrap();
        }
    }

    /// A page that must render with `status` and contain every one of `fragments`.
    async fn page(&mut self, rest: &str, status: u16, fragments: &[&str]) -> String {
        let a = self.get(rest).await;
        assert_eq!(a.status, status, "GET {rest}: {}", a.body);
        for f in fragments {
            assert!(a.body.contains(f), "GET {rest} lacks {f:?}: {}", a.body);
        }
        a.body
    }

    /// A form post that must answer `status` and contain `fragments` (in the body, or in the
    /// `Location` of a redirect).
    async fn submit(
        &mut self,
        rest: &str,
        form: &[(&str, &str)],
        status: u16,
        fragments: &[&str],
    ) -> Answer {
        let a = self.post(rest, form).await;
        assert_eq!(a.status, status, "POST {rest} {form:?}: {}", a.body);
        let seen = if status == 303 { &a.location } else { &a.body };
        for f in fragments {
            assert!(seen.contains(f), "POST {rest} lacks {f:?}: {seen}");
        }
        a
    }
}

/// The id at the end of a `…/{id}?done=…` redirect.
fn id_in(location: &str) -> String {
    let path = location.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

/// Every administration page and form of the console, over HTTP, signed in as admin: each
/// renders its list, detail or form, shows an API refusal next to the form that caused it,
/// and confirms a change after its redirect.
#[actix_web::test]
async fn the_administration_pages_render_and_their_forms_work() {
    let app = spawn_app().await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let mut b = ConsoleBrowser::sign_in(&app).await;

    // Users.
    b.page(
        "/users",
        200,
        &["<h1>Users</h1>", ">admin</a>", "Add a user", "Last sign-in"],
    )
    .await;
    b.page("/users?name=admin", 200, &[">admin</a>", "value=\"admin\""])
        .await;
    b.page("/users?name=nobody", 200, &["No users match."])
        .await;
    b.page("/users/new", 200, &["Add the user", "name=\"role_id\""])
        .await;
    b.submit("/users/new", &[("name", "")], 400, &["Add the user"])
        .await;
    let created = b
        .submit(
            "/users/new",
            &[
                ("name", "alice"),
                ("password", "alice-password-1234"),
                ("email", "alice@example.com"),
                ("display_name", "Alice A"),
            ],
            303,
            &["?done=user-created"],
        )
        .await;
    let alice = id_in(&created.location);
    b.page(
        &format!("/users/{alice}?done=user-created"),
        200,
        &[
            "The user was created.",
            "Alice A",
            "alice@example.com",
            "Reset password",
            "Disable the user",
        ],
    )
    .await;
    b.submit(
        &format!("/users/{alice}/enabled"),
        &[("enabled", "maybe")],
        400,
        &["enabled must be true or false"],
    )
    .await;
    b.submit(
        &format!("/users/{alice}/enabled"),
        &[("enabled", "false")],
        303,
        &["?done=user-disabled"],
    )
    .await;
    b.page(
        &format!("/users/{alice}?done=user-disabled"),
        200,
        &["Enable the user", "disabled"],
    )
    .await;
    b.submit(
        &format!("/users/{alice}/enabled"),
        &[("enabled", "true")],
        303,
        &["?done=user-enabled"],
    )
    .await;
    b.submit(
        &format!("/users/{alice}/memberships"),
        &[("op", "add")],
        400,
        &["Choose a team and a role."],
    )
    .await;

    // Teams.
    b.page("/teams", 200, &["<h1>Teams</h1>", "Add the team"])
        .await;
    b.submit("/teams", &[("name", "")], 400, &["Add the team"])
        .await;
    let made = b
        .submit(
            "/teams",
            &[("name", "ops"), ("description", "Operations")],
            303,
            &["?done=team-created"],
        )
        .await;
    let ops = id_in(&made.location);

    // Roles.
    let (status, roles) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/roles?page_size=100",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    let operator = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "operator")
        .expect("the operator role")["id"]
        .as_str()
        .unwrap()
        .to_string();
    b.page(
        "/roles",
        200,
        &["<h1>Roles</h1>", ">operator</a>", "Built in"],
    )
    .await;
    b.page(
        &format!("/roles/{operator}"),
        200,
        &["With policies applied", "api_key:create"],
    )
    .await;

    // Memberships.
    let membership = [
        ("op", "add"),
        ("team_id", ops.as_str()),
        ("role_id", operator.as_str()),
    ];
    b.submit(
        &format!("/users/{alice}/memberships"),
        &membership,
        303,
        &["?done=memberships"],
    )
    .await;
    b.page(
        &format!("/users/{alice}?done=memberships"),
        200,
        &[
            "team roles were saved.",
            "Remove operator in ops",
            ">ops</a>",
        ],
    )
    .await;
    b.page(
        &format!("/teams/{ops}?done=team-created"),
        200,
        &[
            "The team was created.",
            "Operations",
            ">alice</a>",
            "operator",
        ],
    )
    .await;
    b.page("/users", 200, &["operator in ops"]).await;
    let membership = [
        ("op", "remove"),
        ("team_id", ops.as_str()),
        ("role_id", operator.as_str()),
    ];
    b.submit(
        &format!("/users/{alice}/memberships"),
        &membership,
        303,
        &["?done=memberships"],
    )
    .await;
    b.submit(
        &format!("/users/{alice}/memberships"),
        &[
            ("op", "swap"),
            ("team_id", ops.as_str()),
            ("role_id", operator.as_str()),
        ],
        400,
        &["op must be add or remove"],
    )
    .await;

    // Password resets and second factors.
    let reset = format!("/users/{alice}/password-reset");
    b.submit(
        &reset,
        &[("method", "link"), ("expires_in_secs", "soon")],
        400,
        &["enter a whole number of seconds"],
    )
    .await;
    b.submit(
        &reset,
        &[("method", "link"), ("expires_in_secs", "9999999")],
        400,
        &["Reset password"],
    )
    .await;
    b.submit(
        &reset,
        &[("method", "link"), ("expires_in_secs", "3600")],
        201,
        &["reset link", "alice", "Expires"],
    )
    .await;
    b.submit(
        &reset,
        &[("method", "temporary_password")],
        201,
        &["temporary password", "must choose a new password"],
    )
    .await;
    b.post(&format!("/users/{alice}/second-factors/remove"), &[])
        .await;

    // OAuth clients.
    b.page(
        "/clients",
        200,
        &["<h1>OAuth clients</h1>", ">portal</a>", "Add a client"],
    )
    .await;
    b.page(
        "/clients/new",
        200,
        &["Add the client", "client_credentials"],
    )
    .await;
    b.submit(
        "/clients/new",
        &[
            ("client_id", "bad id!"),
            ("grant_types", "client_credentials"),
        ],
        400,
        &["Add the client"],
    )
    .await;
    b.submit(
        "/clients/new",
        &[
            ("client_id", "jobs"),
            ("name", "Jobs"),
            ("type", "confidential"),
            ("grant_types", "client_credentials"),
            ("scopes", "openid"),
        ],
        201,
        &["Client created", "client secret", "jobs"],
    )
    .await;
    b.submit(
        "/clients/new",
        &[
            ("client_id", "spa"),
            ("type", "public"),
            ("grant_types", "authorization_code"),
            ("redirect_uris", "https://spa.example/cb\n"),
        ],
        303,
        &["/clients/spa?done=client-updated"],
    )
    .await;
    b.page(
        "/clients/jobs",
        200,
        &["Rotate the secret", "confidential", "client_credentials"],
    )
    .await;
    b.page(
        "/clients/spa?done=client-updated",
        200,
        &["The client was saved.", "https://spa.example/cb"],
    )
    .await;
    b.submit(
        "/clients/jobs/rotate-secret",
        &[],
        200,
        &["New client secret"],
    )
    .await;
    b.post("/clients/spa/rotate-secret", &[]).await;

    // The audit log.
    b.page("/audit", 200, &["<h1>Audit log</h1>", "team.create"])
        .await;
    b.page("/audit?action=team.create", 200, &["team.create"])
        .await;
    b.page("/audit?actor=%22", 200, &["Filter"]).await;
    let (status, events) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/audit?order=newest&page_size=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let event = events["values"][0]["id"].as_str().unwrap().to_string();
    b.page(&format!("/audit/{event}"), 200, &["Source address"])
        .await;

    // API keys, personal and team.
    b.page("/keys", 200, &["name=\"csrf\""]).await;
    b.page("/keys/new", 200, &["All of my rights in the team"])
        .await;
    b.submit(
        "/keys/new",
        &[("name", "ci"), ("expires_at", "31/01/2027")],
        400,
        &["use a date such as 2027-01-31"],
    )
    .await;
    b.submit("/keys/new", &[("name", "")], 400, &[]).await;
    b.submit(
        "/keys/new",
        &[
            ("name", "ci"),
            ("expires_at", "2099-01-31"),
            ("scopes", "api_key:read"),
        ],
        201,
        &["ci"],
    )
    .await;
    let (status, keys) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/apikeys?page_size=10",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{keys}");
    let key = keys[0]["id"].as_str().unwrap().to_string();
    b.page("/keys", 200, &[">ci<"]).await;
    b.page(&format!("/keys/{key}"), 200, &["ci"]).await;
    b.page(&format!("/keys/{key}/delete"), 200, &["Delete the key"])
        .await;
    b.submit(&format!("/keys/{key}/rename"), &[("name", "")], 400, &[])
        .await;
    b.submit(
        &format!("/keys/{key}/rename"),
        &[("name", "ci-2")],
        303,
        &["?done=renamed"],
    )
    .await;
    b.submit(&format!("/keys/{key}/revoke"), &[], 303, &["?done=revoked"])
        .await;
    b.page(
        &format!("/keys/{key}?done=revoked"),
        200,
        &["The key was revoked"],
    )
    .await;
    b.submit(
        &format!("/keys/{key}/reinstate"),
        &[],
        303,
        &["?done=reinstated"],
    )
    .await;
    b.submit(
        &format!("/keys/{key}/delete"),
        &[],
        303,
        &["/keys?tab=personal&done=deleted"],
    )
    .await;
    b.page("/keys?tab=team", 200, &[]).await;
    b.page("/teamkeys/new", 200, &["ops"]).await;
    b.submit(
        "/teamkeys/new",
        &[("name", "push"), ("team_id", "")],
        400,
        &[],
    )
    .await;
    b.submit(
        "/teamkeys/new",
        &[
            ("name", "push"),
            ("team_id", ops.as_str()),
            ("role", "oaa_push"),
        ],
        201,
        &["push"],
    )
    .await;
    let (status, team_keys) = app
        .call(
            reqwest::Method::GET,
            "/api/preview/teamkeys?page_size=10",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{team_keys}");
    let team_key = team_keys["values"][0]["id"].as_str().unwrap().to_string();
    b.page("/keys?tab=team", 200, &[">push<"]).await;
    b.page(&format!("/teamkeys/{team_key}"), 200, &["push"])
        .await;
    b.submit(
        &format!("/teamkeys/{team_key}/rename"),
        &[("name", "push-2")],
        303,
        &["?done=renamed"],
    )
    .await;
    b.submit(
        &format!("/teamkeys/{team_key}/revoke"),
        &[],
        303,
        &["?done=revoked"],
    )
    .await;
    b.submit(
        &format!("/teamkeys/{team_key}/reinstate"),
        &[],
        303,
        &["?done=reinstated"],
    )
    .await;
    b.submit(
        &format!("/teamkeys/{team_key}/delete"),
        &[],
        303,
        &["/keys?tab=team&done=deleted"],
    )
    .await;

    // A form without the session's CSRF token is refused.
    let req = app
        .http
        .post(format!("{}/teams", b.console))
        .form(&[("csrf", "guess"), ("name", "x")]);
    let a = b.send("POST /teams (forged)".into(), req).await;
    assert_eq!(a.status, 400);

    // An expired access token is renewed with the refresh token, quietly.
    let before = b.jar.0["tessera_console_at"].clone();
    app.clock.advance(3600);
    b.page("/teams", 200, &["ops"]).await;
    assert_ne!(
        b.jar.0["tessera_console_at"], before,
        "a renewed access token"
    );

    // Sign-out: every console cookie goes, and the issuer's logout follows.
    b.page("/signed-out", 200, &[]).await;
    let a = b
        .submit(
            "/logout",
            &[],
            303,
            &["/protocol/openid-connect/logout?id_token_hint="],
        )
        .await;
    assert!(
        a.location.contains("post_logout_redirect_uri="),
        "{}",
        a.location
    );
    assert_eq!(b.jar.0["tessera_console_at"], "");
    b.dump();
}
