//! The authorization-code flow over HTTP without a browser: authorization endpoint, sign-in
//! and consent forms, code exchange with PKCE, ID token (checked with the `openidconnect`
//! crate), userinfo; and the refusals of the checklist's AUTHZ, REDIR, PKCE, CODE and PRM rows.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;

pub(crate) const REDIRECT: &str = "https://rp.example/cb";
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier-0123456789";

pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// A confidential web client (not first-party, so it asks for consent).
pub(crate) fn web_client(app: &TestApp) -> String {
    app.create_client(serde_json::json!({
        "client_id": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "profile", "email", "api_key:read"],
        "redirect_uris": [REDIRECT, "https://rp.example/cb2?foo=bar"],
        "post_logout_redirect_uris": ["https://rp.example/logged-out"],
    }))
    .unwrap()
}

/// A browser's cookie jar, just enough for this flow.
#[derive(Default)]
pub(crate) struct Jar(pub(crate) HashMap<String, String>);

impl Jar {
    pub(crate) fn absorb(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.0.insert(k.to_string(), v.to_string());
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    // askama escapes HTML; undo its entities (numeric, and the named ones).
    let raw = &html[start..end];
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let semi = after.find(';').unwrap();
        let entity = &after[1..semi];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            e if e.starts_with("#x") => {
                char::from_u32(u32::from_str_radix(&e[2..], 16).unwrap()).unwrap()
            }
            e if e.starts_with('#') => char::from_u32(e[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown entity {other}"),
        };
        out.push(ch);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

pub(crate) fn query_of(location: &str) -> HashMap<String, String> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

pub(crate) async fn get(app: &TestApp, jar: &mut Jar, url: &str) -> reqwest::Response {
    send_with_jar(jar, app.http.get(url)).await
}

pub(crate) async fn post(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    send_with_jar(jar, app.http.post(format!("{}{path}", app.base)).form(form)).await
}

/// Sends `req` with the jar's cookies and keeps the cookies the response sets.
async fn send_with_jar(jar: &mut Jar, req: reqwest::RequestBuilder) -> reqwest::Response {
    let resp = req.header("cookie", jar.header()).send().await.unwrap();
    jar.absorb(&resp);
    resp
}

/// Opens the sign-in page at `url` and submits its form with `fields` (besides its CSRF token
/// and request).
pub(crate) async fn submit_sign_in(
    app: &TestApp,
    jar: &mut Jar,
    url: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = get(app, jar, url).await.text().await.unwrap();
    post_page_form(
        app,
        jar,
        "/realms/default/login-actions/authenticate",
        &html,
        fields,
    )
    .await
}

/// Submits a form of the sign-in flow to `path`: the CSRF token and request hidden in the
/// page `html`, then `fields`.
pub(crate) async fn post_page_form(
    app: &TestApp,
    jar: &mut Jar,
    path: &str,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (csrf, request) = (hidden(html, "csrf"), hidden(html, "request"));
    let mut form = vec![("csrf", csrf.as_str()), ("request", request.as_str())];
    form.extend_from_slice(fields);
    post(app, jar, path, &form).await
}

/// Submits the sign-in page `html` with admin's username and password.
pub(crate) async fn submit_admin_password(
    app: &TestApp,
    jar: &mut Jar,
    html: &str,
) -> reqwest::Response {
    post_page_form(
        app,
        jar,
        "/realms/default/login-actions/authenticate",
        html,
        &[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("action", "login"),
        ],
    )
    .await
}

/// Submits the consent page `consent` with "allow".
pub(crate) async fn allow_consent(
    app: &TestApp,
    jar: &mut Jar,
    consent: &str,
) -> reqwest::Response {
    post_page_form(
        app,
        jar,
        "/realms/default/login-actions/consent",
        consent,
        &[("action", "allow")],
    )
    .await
}

/// Opens the plain authorization URL (`auth_url(app, &[])`) and returns the page's HTML.
pub(crate) async fn open_sign_in_page(app: &TestApp, jar: &mut Jar) -> String {
    get(app, jar, &auth_url(app, &[]))
        .await
        .text()
        .await
        .unwrap()
}

pub(crate) fn auth_url(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email"),
        ("state", "s-123"),
        ("nonce", "n-456"),
    ];
    params.extend_from_slice(extra);
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{}/protocol/openid-connect/auth?{q}", app.issuer)
}

/// Signs in as admin through the login (and consent) pages; returns the code's redirect.
pub(crate) async fn sign_in(app: &TestApp, jar: &mut Jar, url: &str) -> HashMap<String, String> {
    let page = get(app, jar, url).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    let resp = submit_admin_password(app, jar, &html).await;
    let session = jar
        .0
        .get("tessera_session")
        .cloned()
        .expect("a session cookie");
    assert!(!session.is_empty());
    let resp = if resp.status() == 200 {
        let consent = resp.text().await.unwrap();
        assert!(consent.contains("Allow"), "{consent}");
        allow_consent(app, jar, &consent).await
    } else {
        resp
    };
    assert_eq!(resp.status(), 303, "redirects after POST are 303");
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    query_of(&location)
}

pub(crate) async fn redeem(
    app: &TestApp,
    secret: &str,
    code: &str,
    verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    app.post_basic("web", secret, &form).await
}

#[actix_web::test]
async fn authz_01_code_flow_with_pkce_consent_id_token_and_userinfo() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    let url = auth_url(
        &app,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    );
    let reply = sign_in(&app, &mut jar, &url).await;
    assert_eq!(reply["state"], "s-123");
    assert_eq!(reply["iss"], app.issuer, "RFC 9207 iss");
    let code = &reply["code"];
    assert!(code.len() >= 43, "≥128-bit code");

    let resp = redeem(&app, &secret, code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: serde_json::Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    let id_token = body["id_token"].as_str().expect("an ID token for openid");

    // The ID token, checked by the openidconnect crate against our JWKS.
    let jwt = verify_independently(id_token, &app.jwks().await);
    assert_eq!(jwt.header["alg"], "RS256");
    assert!(jwt.header["kid"].is_string());
    let c = &jwt.claims;
    assert_eq!(c["iss"], app.issuer.as_str());
    assert_eq!(c["aud"], serde_json::json!(["web"]));
    assert_eq!(c["azp"], "web");
    assert_eq!(c["nonce"], "n-456");
    assert!(c["auth_time"].is_i64());
    assert!(c.get("name").is_none(), "profile claims come from userinfo");
    let at_hash = URL_SAFE_NO_PAD
        .encode(&ring::digest::digest(&ring::digest::SHA256, at.as_bytes()).as_ref()[..16]);
    assert_eq!(c["at_hash"], at_hash.as_str());

    // Userinfo by GET and POST, sub equal to the ID token's.
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let resp = app
            .http
            .request(
                method.clone(),
                format!("{}/protocol/openid-connect/userinfo", app.issuer),
            )
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        let info: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(info["sub"], c["sub"]);
        assert_eq!(info["preferred_username"], "admin");
    }

    // CODE-01/02: a second redemption fails and revokes the first access token.
    let again = redeem(&app, &secret, code, Some(VERIFIER)).await;
    assert_eq!(again.status(), 400);
    let err: serde_json::Value = again.json().await.unwrap();
    assert_eq!(err["error"], "invalid_grant");
    let revoked = app
        .http
        .get(format!("{}/protocol/openid-connect/userinfo", app.issuer))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
    assert!(
        revoked.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // PRM-02: the session and the stored consent give a code with no UI.
    let silent = get(
        &app,
        &mut jar,
        &auth_url(
            &app,
            &[
                ("prompt", "none"),
                ("code_challenge", &challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
            ],
        ),
    )
    .await;
    assert_eq!(silent.status(), 303);
    let reply = query_of(silent.headers()["location"].to_str().unwrap());
    assert!(reply.contains_key("code"), "{reply:?}");
}

#[actix_web::test]
async fn pkce_02_03_wrong_missing_or_downgraded_verifiers_are_invalid_grant() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let with_pkce = [
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_string()),
    ];
    let with_pkce: Vec<(&str, &str)> = with_pkce.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut jar = Jar::default();
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-0123";
    let code = sign_in(&app, &mut jar, &auth_url(&app, &with_pkce)).await["code"].clone();
    let resp = redeem(&app, &secret, &code, Some(wrong)).await;
    assert_eq!(resp.status(), 400);
    let code = get(&app, &mut jar, &auth_url(&app, &with_pkce)).await;
    let code = query_of(code.headers()["location"].to_str().unwrap())["code"].clone();
    let resp = redeem(&app, &secret, &code, None).await;
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_description_contains(&err, "code_verifier");
    // Downgrade: no challenge at authorization, a verifier at the token endpoint.
    let code = get(&app, &mut jar, &auth_url(&app, &[])).await;
    let code = query_of(code.headers()["location"].to_str().unwrap())["code"].clone();
    let resp = redeem(&app, &secret, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 400);
}

#[actix_web::test]
async fn redir_01_06_authz_09_untrusted_client_or_redirect_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    web_client(&app);
    let base = format!(
        "{}/protocol/openid-connect/auth?response_type=code&scope=openid&state=x",
        app.issuer
    );
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut cases = vec![format!(
        "{base}&client_id=nobody&redirect_uri={}",
        enc(REDIRECT)
    )];
    for near_miss in [
        "https://rp.example/cb/",
        "https://rp.example/CB",
        "https://rp.example:443/cb",
        "https://rp.example.evil.com/cb",
        "https://evil@rp.example/cb",
        "http://rp.example/cb",
        "https://rp.example/cb?x=1",
        "https://rp.example/cb2?foo=baz",
    ] {
        cases.push(format!(
            "{base}&client_id=web&redirect_uri={}",
            enc(near_miss)
        ));
    }
    // REDIR-02: two registered URIs and none named.
    cases.push(format!("{base}&client_id=web"));
    for url in cases {
        let resp = app.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{url}");
        assert!(resp.headers().get("location").is_none(), "{url}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
    }
}

#[actix_web::test]
async fn authz_05_pkce_04_05_prm_01_06_errors_go_back_by_redirect_with_state_and_iss() {
    let app = spawn_app().await;
    web_client(&app);
    app.create_client(serde_json::json!({
        "client_id": "spa",
        "type": "public",
        "grant_types": ["authorization_code"],
        "scopes": ["openid"],
        "redirect_uris": [REDIRECT],
    }));
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid jobs:delete")], "invalid_scope"),
        (
            vec![
                ("code_challenge", "x".repeat(43).leak()),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (
            vec![("code_challenge", "x".repeat(43).leak())],
            "invalid_request",
        ),
        (
            vec![
                ("code_challenge", "x".repeat(43).leak()),
                ("code_challenge_method", "S512"),
            ],
            "invalid_request",
        ),
        (vec![("prompt", "none")], "login_required"),
        (vec![("prompt", "none login")], "invalid_request"),
        (
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (vec![("max_age", "soon")], "invalid_request"),
    ];
    for (extra, want) in cases {
        let mut params: HashMap<&str, &str> = [
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "st"),
        ]
        .into_iter()
        .collect();
        params.extend(extra.iter().copied());
        let q = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let resp = app
            .http
            .get(format!("{}/protocol/openid-connect/auth?{q}", app.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "{extra:?}");
        let reply = query_of(resp.headers()["location"].to_str().unwrap());
        assert_eq!(reply["error"], want, "{extra:?}");
        assert_eq!(reply["state"], "st");
        assert_eq!(reply["iss"], app.issuer);
        assert!(!reply.contains_key("code"));
    }
    // PKCE-04: a public client must send a challenge.
    let q = format!(
        "response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=st",
        form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let resp = app
        .http
        .get(format!("{}/protocol/openid-connect/auth?{q}", app.issuer))
        .send()
        .await
        .unwrap();
    let reply = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(reply["error"], "invalid_request");
    assert!(reply["error_description"].contains("code_challenge"));
}

#[actix_web::test]
async fn authz_11_cancel_and_deny_send_access_denied() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    let resp = submit_sign_in(
        &app,
        &mut jar,
        &auth_url(&app, &[]),
        &[("action", "cancel")],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let reply = query_of(resp.headers()["location"].to_str().unwrap());
    assert_eq!(reply["error"], "access_denied");
    assert_eq!(reply["state"], "s-123");
}

#[actix_web::test]
async fn login_form_needs_its_csrf_token_and_says_only_invalid_username_or_password() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    let html = open_sign_in_page(&app, &mut jar).await;
    let request = hidden(&html, "request");
    // Without the matching CSRF token: an error page, no redirect, no session.
    let resp = post(
        &app,
        &mut jar,
        "/realms/default/login-actions/authenticate",
        &[
            ("csrf", "forged"),
            ("request", &request),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(!jar.0.contains_key("tessera_session"));
    // Wrong password: the page again, with one generic message.
    let resp = post(
        &app,
        &mut jar,
        "/realms/default/login-actions/authenticate",
        &[
            ("csrf", &hidden(&html, "csrf")),
            ("request", &request),
            ("username", "admin"),
            ("password", "not the password"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 401);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Invalid username or password."));
    assert!(!jar.0.contains_key("tessera_session"));
}

pub(crate) async fn refresh_with(
    app: &TestApp,
    client: &str,
    secret: &str,
    rt: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.post_basic(client, secret, &form).await
}

/// Signs admin in with a fresh jar through the plain authorization URL and redeems the code
/// without PKCE; returns the (signed-in) jar and the token response body.
pub(crate) async fn sign_in_and_redeem(app: &TestApp, secret: &str) -> (Jar, serde_json::Value) {
    let mut jar = Jar::default();
    let code = sign_in(app, &mut jar, &auth_url(app, &[])).await["code"].clone();
    let body = redeem(app, secret, &code, None).await.json().await.unwrap();
    (jar, body)
}

/// Signs in and redeems a code; returns the token response.
pub(crate) async fn tokens(app: &TestApp, secret: &str) -> serde_json::Value {
    let mut jar = Jar::default();
    let url = auth_url(
        app,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = sign_in(app, &mut jar, &url).await["code"].clone();
    let resp = redeem(app, secret, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[actix_web::test]
async fn rt_01_02_05_06_refresh_rotates_keeps_identity_and_may_narrow_scope() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let first = tokens(&app, &secret).await;
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string();
    let resp = refresh_with(&app, "web", &secret, &rt1, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let second: serde_json::Value = resp.json().await.unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "RT-06: rotation");
    let jwks = app.jwks().await;
    let a = verify_independently(first["id_token"].as_str().unwrap(), &jwks).claims;
    let b = verify_independently(second["id_token"].as_str().unwrap(), &jwks).claims;
    for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
        assert_eq!(a[claim], b[claim], "RT-02: {claim}");
    }
    // The rotated token is dead now.
    let again = refresh_with(&app, "web", &secret, &rt1, None).await;
    assert_eq!(again.status(), 400);
    // RT-05: a narrower scope is granted; a wider one is refused.
    let rt3: serde_json::Value = {
        // rt2 was revoked by the reuse above (the family ended); start a new grant.
        let fresh = tokens(&app, &secret).await;
        let rt = fresh["refresh_token"].as_str().unwrap().to_string();
        let wider = refresh_with(
            &app,
            "web",
            &secret,
            &rt,
            Some("openid api_key:read admin:all"),
        )
        .await;
        assert_eq!(wider.status(), 400);
        let e: serde_json::Value = wider.json().await.unwrap();
        assert_eq!(e["error"], "invalid_scope");
        let narrow = refresh_with(&app, "web", &secret, &rt, Some("openid")).await;
        assert_eq!(narrow.status(), 200);
        narrow.json().await.unwrap()
    };
    assert_eq!(rt3["scope"], "openid");
    // The rotated token keeps the original grant: a later refresh may ask for profile again.
    let rt4 = rt3["refresh_token"].as_str().unwrap();
    let back = refresh_with(&app, "web", &secret, rt4, Some("openid profile")).await;
    assert_eq!(back.status(), 200);
    let _ = rt2;
}

#[actix_web::test]
async fn rt_07_reusing_a_rotated_token_revokes_the_family_and_its_access_tokens() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let first = tokens(&app, &secret).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let second: serde_json::Value = refresh_with(&app, "web", &secret, &rt1, None)
        .await
        .json()
        .await
        .unwrap();
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    let at2 = second["access_token"].as_str().unwrap().to_string();
    // RT1 again: refused, and RT2 dies with it.
    assert_eq!(
        refresh_with(&app, "web", &secret, &rt1, None)
            .await
            .status(),
        400
    );
    let resp = refresh_with(&app, "web", &secret, &rt2, None).await;
    assert_eq!(resp.status(), 400);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    // The access token of the family is revoked too.
    let info = app
        .http
        .get(format!("{}/protocol/openid-connect/userinfo", app.issuer))
        .bearer_auth(&at2)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);
    let (status, _) = app
        .call(reqwest::Method::GET, "/v1/auth/test", Some(&at2), None)
        .await;
    assert_eq!(
        status, 401,
        "the resource server refuses it at once in the same process"
    );
}

#[actix_web::test]
async fn rt_03_08_foreign_garbage_and_access_tokens_are_invalid_grant() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let other = app
        .create_client(serde_json::json!({
            "client_id": "other",
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid"],
            "redirect_uris": [REDIRECT],
        }))
        .unwrap();
    let t = tokens(&app, &secret).await;
    let rt = t["refresh_token"].as_str().unwrap();
    let at = t["access_token"].as_str().unwrap();
    for (client, client_secret, token) in [
        ("other", other.as_str(), rt),
        ("web", secret.as_str(), "garbage"),
        ("web", secret.as_str(), at),
    ] {
        let resp = refresh_with(&app, client, client_secret, token, None).await;
        assert_eq!(resp.status(), 400, "{client} {token}");
        let e: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(e["error"], "invalid_grant");
    }
    // The foreign attempt did not burn the token.
    assert_eq!(
        refresh_with(&app, "web", &secret, rt, None).await.status(),
        200
    );
}

/// `prompt=none` tells whether the browser still has a session.
pub(crate) async fn signed_in(app: &TestApp, jar: &mut Jar) -> bool {
    let resp = get(app, jar, &auth_url(app, &[("prompt", "none")])).await;
    let reply = query_of(resp.headers()["location"].to_str().unwrap());
    reply.contains_key("code")
}

#[actix_web::test]
async fn rp_initiated_logout_ends_the_session_and_returns_only_to_a_registered_uri() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let (mut jar, body) = sign_in_and_redeem(&app, &secret).await;
    let id_token = body["id_token"].as_str().unwrap().to_string();
    assert!(signed_in(&app, &mut jar).await);

    let logout = |uri: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", uri)
            .append_pair("state", "bye")
            .finish();
        format!("{}/protocol/openid-connect/logout?{q}", app.issuer)
    };
    // An unregistered destination: an error page, no redirect, still signed in.
    let resp = get(&app, &mut jar, &logout("https://evil.example/")).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    assert!(signed_in(&app, &mut jar).await);

    let resp = get(&app, &mut jar, &logout("https://rp.example/logged-out")).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers()["location"],
        "https://rp.example/logged-out?state=bye"
    );
    assert_eq!(
        jar.0.get("tessera_session").map(String::as_str),
        Some(""),
        "cookie cleared"
    );
    assert!(!signed_in(&app, &mut jar).await, "PRM-01 after logout");
}

#[actix_web::test]
async fn logout_without_a_hint_asks_first() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    sign_in(&app, &mut jar, &auth_url(&app, &[])).await;
    let page = get(
        &app,
        &mut jar,
        &format!("{}/protocol/openid-connect/logout", app.issuer),
    )
    .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    assert!(
        signed_in(&app, &mut jar).await,
        "a GET alone signs nobody out"
    );
    let done = post_page_form(
        &app,
        &mut jar,
        "/realms/default/login-actions/logout",
        &html,
        &[("action", "logout")],
    )
    .await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("You are signed out"));
    assert!(!signed_in(&app, &mut jar).await);
}
