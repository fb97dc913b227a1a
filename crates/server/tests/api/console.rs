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
    /// Ids found on the way, by the name a script uses for them (`{name}`).
    ids: std::collections::HashMap<String, String>,
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
        let start = format!("{console}/login?return_to=%2Frealms%2Fdefault%2Fconsole%2Fusers");
        let resp = get(app, &mut jar, &start).await;
        assert_eq!(resp.status(), 303);
        let issuer_page = get(app, &mut jar, &location(&resp)).await;
        let html = issuer_page.text().await.unwrap();
        let mut resp = submit_admin_password(app, &mut jar, &html).await;
        if resp.status() == 200 {
            let consent = resp.text().await.unwrap();
            resp = allow_consent(app, &mut jar, &consent).await;
        }
        assert_eq!(resp.status(), 303);
        let callback = location(&resp);
        assert!(
            callback.starts_with(&format!("{console}/callback?")),
            "{callback}"
        );
        let resp = get(app, &mut jar, &callback).await;
        assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
        assert_eq!(location(&resp), "/realms/default/console/users");
        for cookie in ["at", "rt", "id", "csrf"].map(|c| format!("tessera_console_{c}")) {
            let value = jar.0.get(&cookie);
            assert!(
                value.is_some_and(|v| !v.is_empty()),
                "{cookie} after sign-in"
            );
        }
        assert_eq!(
            jar.0["tessera_console_login"], "",
            "the pending sign-in is removed"
        );
        let (ids, transcript) = Default::default();
        Self {
            app,
            jar,
            console,
            ids,
            transcript,
        }
    }

    async fn send(&mut self, what: String, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.header("cookie", self.jar.header()).send();
        let resp = resp.await.unwrap();
        self.jar.absorb(&resp);
        let status = resp.status().as_u16();
        let location = resp.headers().get("location");
        let location = location.map_or(String::new(), |l| l.to_str().unwrap().to_string());
        let body = resp.text().await.unwrap();
        let record = format!("{what} -> {status} {location}\n{body}");
        self.transcript.push(record);
        Answer {
            status,
            location,
            body,
        }
    }

    /// Runs a script of requests, one a line: `GET path status` or `POST path status form`
    /// (the form urlencoded, without the CSRF field), then `=> name` to keep the id a
    /// redirect names, then ` | text` for each text the answer must contain (the body; a
    /// redirect's `Location`). `{name}` stands for an id kept before.
    async fn run(&mut self, script: &str) {
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let line = self.ids.iter().fold(line.to_string(), |l, (name, id)| {
                l.replace(&format!("{{{name}}}"), id)
            });
            self.step(&line).await;
        }
    }

    async fn step(&mut self, line: &str) {
        let mut parts = line.split(" | ");
        let request = parts.next().unwrap();
        let (request, keep) = match request.split_once(" => ") {
            Some((request, name)) => (request, Some(name)),
            None => (request, None),
        };
        let words: Vec<&str> = request.split(' ').collect();
        let (method, path, status) = (words[0], words[1], words[2].parse::<u16>().unwrap());
        let url = format!("{}{path}", self.console);
        let req = if method == "GET" {
            self.app.http.get(url)
        } else {
            let csrf = &self.jar.0["tessera_console_csrf"];
            let form = words.get(3).map_or(String::new(), |f| format!("&{f}"));
            let body = format!("csrf={csrf}{form}");
            let req = self.app.http.post(url).body(body);
            req.header("content-type", "application/x-www-form-urlencoded")
        };
        let answer = self.send(request.to_string(), req).await;
        assert_eq!(answer.status, status, "{line}: {}", answer.body);
        let seen = if status == 303 {
            &answer.location
        } else {
            &answer.body
        };
        for text in parts {
            assert!(seen.contains(text), "{line}: no {text:?} in {seen}");
        }
        if let Some(name) = keep {
            self.ids.insert(name.to_string(), id_in(&answer.location));
        }
    }

    /// Keeps as `{name}` the id `pick` finds in the API's answer at `path`.
    async fn keep_api_id(&mut self, name: &str, token: &str, path: &str, pick: &str) {
        let (status, answer) = self
            .app
            .call(reqwest::Method::GET, path, Some(token), None)
            .await;
        assert_eq!(status, 200, "{answer}");
        let id = answer.pointer(pick).and_then(|v| v.as_str());
        let id = id.unwrap_or_else(|| panic!("no {pick} in {answer}"));
        self.ids.insert(name.to_string(), id.to_string());
    }

    /// With `CONSOLE_SNAPSHOT=path`, writes every answer there: run before and after a change
    /// to the console and compare the two files (ids, tokens and times differ).
    fn dump(&self) {
        if let Ok(path) = std::env::var("CONSOLE_SNAPSHOT") {
            std::fs::write(path, self.transcript.join("\n=====\n")).unwrap();
        }
    }
}

/// The id at the end of a `…/{id}?done=…` redirect.
fn id_in(location: &str) -> String {
    let path = location.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

const USERS_AND_TEAMS: &str = r#"
GET /users 200 | <h1>Users</h1> | >admin</a> | Add a user | Last sign-in
GET /users?name=admin 200 | >admin</a> | value="admin"
GET /users?name=nobody 200 | No users match.
GET /users/new 200 | Add the user | name="role_id"
POST /users/new 400 name= | Add the user
POST /users/new 303 name=alice&password=alice-password-1234&email=alice%40example.com&display_name=Alice+A => alice | ?done=user-created
GET /users/{alice}?done=user-created 200 | The user was created. | Alice A | alice@example.com | Reset password | Disable the user
POST /users/{alice}/enabled 400 enabled=maybe | enabled must be true or false
POST /users/{alice}/enabled 303 enabled=false | ?done=user-disabled
GET /users/{alice}?done=user-disabled 200 | Enable the user | disabled
POST /users/{alice}/enabled 303 enabled=true | ?done=user-enabled
POST /users/{alice}/memberships 400 op=add | Choose a team and a role.
GET /teams 200 | <h1>Teams</h1> | Add the team
POST /teams 400 name= | Add the team
POST /teams 303 name=ops&description=Operations => ops | ?done=team-created
GET /roles 200 | <h1>Roles</h1> | >operator</a> | Built in
"#;

const MEMBERSHIPS_AND_RESETS: &str = r#"
GET /roles/{operator} 200 | With policies applied | api_key:create
POST /users/{alice}/memberships 303 op=add&team_id={ops}&role_id={operator} | ?done=memberships
GET /users/{alice}?done=memberships 200 | team roles were saved. | Remove operator in ops | >ops</a>
GET /teams/{ops}?done=team-created 200 | The team was created. | Operations | >alice</a> | operator
GET /users 200 | operator in ops
POST /users/{alice}/memberships 303 op=remove&team_id={ops}&role_id={operator} | ?done=memberships
POST /users/{alice}/memberships 400 op=swap&team_id={ops}&role_id={operator} | op must be add or remove
POST /users/{alice}/password-reset 400 method=link&expires_in_secs=soon | enter a whole number of seconds
POST /users/{alice}/password-reset 400 method=link&expires_in_secs=9999999 | Reset password
POST /users/{alice}/password-reset 201 method=link&expires_in_secs=3600 | reset link | alice | Expires
POST /users/{alice}/password-reset 201 method=temporary_password | temporary password | must choose a new password
POST /users/{alice}/second-factors/remove 303 | ?done=second-factors-removed
"#;

const CLIENTS_AND_AUDIT: &str = r#"
GET /clients 200 | <h1>OAuth clients</h1> | >portal</a> | Add a client
GET /clients/new 200 | Add the client | client_credentials
POST /clients/new 400 client_id=bad+id!&grant_types=client_credentials | Add the client
POST /clients/new 201 client_id=jobs&name=Jobs&type=confidential&grant_types=client_credentials&scopes=openid | Client created | client secret | jobs
POST /clients/new 303 client_id=spa&type=public&grant_types=authorization_code&redirect_uris=https%3A%2F%2Fspa.example%2Fcb%0A | /clients/spa?done=client-updated
GET /clients/jobs 200 | Rotate the secret | confidential | client_credentials
GET /clients/spa?done=client-updated 200 | The client was saved. | https://spa.example/cb
POST /clients/jobs/rotate-secret 200 | New client secret
POST /clients/spa/rotate-secret 400
GET /audit 200 | <h1>Audit log</h1> | team.create
GET /audit?action=team.create 200 | team.create
GET /audit?actor=%22 200 | Filter
"#;

const KEYS: &str = r#"
GET /audit/{event} 200 | Source address
GET /keys 200 | name="csrf"
GET /keys/new 200 | All of my rights in the team
POST /keys/new 400 name=ci&expires_at=31%2F01%2F2027 | use a date such as 2027-01-31
POST /keys/new 400 name=
POST /keys/new 201 name=ci&expires_at=2099-01-31&scopes=api_key%3Aread | ci
GET /keys?tab=team 200
GET /teamkeys/new 200 | ops
POST /teamkeys/new 400 name=push&team_id=
POST /teamkeys/new 201 name=push&team_id={ops}&role=oaa_push | push
"#;

const KEY_ACTIONS: &str = r#"
GET /keys 200 | >ci<
GET /keys/{key} 200 | ci
GET /keys/{key}/delete 200 | Delete the key
POST /keys/{key}/rename 400 name=
POST /keys/{key}/rename 303 name=ci-2 | ?done=renamed
POST /keys/{key}/revoke 303 | ?done=revoked
GET /keys/{key}?done=revoked 200 | The key was revoked
POST /keys/{key}/reinstate 303 | ?done=reinstated
POST /keys/{key}/delete 303 | /keys?tab=personal&done=deleted
GET /keys?tab=team 200 | >push<
GET /teamkeys/{team_key} 200 | push
POST /teamkeys/{team_key}/rename 303 name=push-2 | ?done=renamed
POST /teamkeys/{team_key}/revoke 303 | ?done=revoked
POST /teamkeys/{team_key}/reinstate 303 | ?done=reinstated
POST /teamkeys/{team_key}/delete 303 | /keys?tab=team&done=deleted
"#;

/// Every page and form of the console, over HTTP, signed in as admin: each renders its
/// list, detail or form, shows an API refusal next to the form that caused it, and confirms
/// a change after its redirect; then the session is renewed and ended.
#[actix_web::test]
async fn the_administration_pages_render_and_their_forms_work() {
    let app = spawn_app().await;
    let mut b = ConsoleBrowser::sign_in(&app).await;
    b.run(USERS_AND_TEAMS).await;
    let token = app
        .password_token("admin", ADMIN_PASSWORD, EVERY_PERMISSION)
        .await;
    let roles = "/api/v1/roles?page_size=100";
    let (_, list) = app
        .call(reqwest::Method::GET, roles, Some(&token), None)
        .await;
    let position = list["roles"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["name"] == "operator");
    let operator = format!("/roles/{}/id", position.expect("the operator role"));
    b.keep_api_id("operator", &token, roles, &operator).await;
    b.run(MEMBERSHIPS_AND_RESETS).await;
    b.run(CLIENTS_AND_AUDIT).await;
    let audit = "/api/v1/audit?order=newest&page_size=1";
    b.keep_api_id("event", &token, audit, "/values/0/id").await;
    b.run(KEYS).await;
    b.keep_api_id("key", &token, "/api/v1/apikeys?page_size=10", "/0/id")
        .await;
    let team_keys = "/api/preview/teamkeys?page_size=10";
    b.keep_api_id("team_key", &token, team_keys, "/values/0/id")
        .await;
    b.run(KEY_ACTIONS).await;

    // A form without the session's CSRF token is refused.
    let forged = [("csrf", "guess"), ("name", "x")];
    let req = app.http.post(format!("{}/teams", b.console)).form(&forged);
    assert_eq!(b.send("POST /teams (forged)".into(), req).await.status, 400);

    // An expired access token is renewed with the refresh token, quietly.
    let before = b.jar.0["tessera_console_at"].clone();
    app.clock.advance(3600);
    b.run("GET /teams 200 | ops").await;
    assert_ne!(
        b.jar.0["tessera_console_at"], before,
        "a renewed access token"
    );

    // Sign-out: every console cookie goes, and the issuer's logout follows.
    b.run("GET /signed-out 200").await;
    b.run("POST /logout 303 | /protocol/openid-connect/logout?id_token_hint= | post_logout_redirect_uri=").await;
    assert_eq!(b.jar.0["tessera_console_at"], "");
    b.dump();
}
