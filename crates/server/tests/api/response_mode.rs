//! `response_mode` at the authorization endpoint: `query` (the default for `code`) and
//! `form_post` (OAuth 2.0 Form Post Response Mode), anything else refused; the mode survives
//! the sign-in and consent forms, and errors travel the way the client asked for.

use crate::authorize::{
    Jar, REDIRECT, VERIFIER, allow_consent, auth_url, challenge, get, hidden, post_page_form,
    query_of, redeem, sign_in, submit_admin_password, web_client,
};
use crate::helpers::*;
use base64::Engine;

fn pkce() -> [(&'static str, String); 2] {
    [
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".to_string()),
    ]
}

/// The `web` client's authorization URL with PKCE; `extra` adds parameters or replaces them.
fn url_with(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let pkce = pkce();
    let mut params: Vec<(&str, &str)> = pkce.iter().map(|(k, v)| (*k, v.as_str())).collect();
    params.extend_from_slice(extra);
    let url = auth_url(app, &params);
    let (path, query) = url.split_once('?').unwrap();
    let mut seen = std::collections::HashSet::new();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().rev())
        .finish();
    format!("{path}?{query}")
}

/// A form_post page, checked for what makes it work under its CSP: one inline script allowed
/// by its hash, a form that posts to the redirect URI (whose origin `form-action` allows), a
/// visible button for browsers without script, and no caching. Returns the page.
async fn form_post_page(resp: reqwest::Response, action: &str) -> String {
    let status = resp.status();
    let headers = resp.headers().clone();
    let html = resp.text().await.unwrap();
    assert_eq!(
        status, 200,
        "a form_post answer is a page, not a redirect: {html}"
    );
    assert!(headers.get("location").is_none());
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();

    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    assert!(directives.contains(&"frame-ancestors 'none'"), "{csp}");
    let origin = action.split('/').take(3).collect::<Vec<_>>().join("/");
    assert!(
        directives.contains(&format!("form-action {origin}").as_str()),
        "form-action allows {origin}: {csp}"
    );
    // Exactly one inline script, and the CSP's hash is the hash of that text.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    let start = html.find("<script>").expect("an inline script") + "<script>".len();
    let script = &html[start..start + html[start..].find("</script>").unwrap()];
    let hash = base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        script.as_bytes(),
    ));
    assert!(
        directives.contains(&format!("script-src 'sha256-{hash}'").as_str()),
        "script-src allows exactly the page's script {script:?}: {csp}"
    );
    assert!(script.contains("submit()"), "{script}");

    let form = format!("<form method=\"post\" action=\"{action}\"");
    assert!(html.contains(&form), "posts to {action}: {html}");
    assert!(
        html.contains("<button type=\"submit\" id=\"continue\">Continue</button>"),
        "a visible submit button for browsers without script: {html}"
    );
    html
}

/// The hidden field `name` of a form_post page, if present.
fn field(html: &str, name: &str) -> Option<String> {
    html.contains(&format!("name=\"{name}\" value=\""))
        .then(|| hidden(html, name))
}

#[actix_web::test]
async fn form_post_delivers_the_code_after_sign_in_and_consent_and_the_code_redeems() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    let url = url_with(&app, &[("response_mode", "form_post")]);

    // The login form, then the consent form: the request (and its mode) rides along in each.
    let login = get(&app, &mut jar, &url).await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    assert!(hidden(&html, "request").contains("response_mode=form_post"));
    let consent = submit_admin_password(&app, &mut jar, &html).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(consent.contains("Allow"), "{consent}");
    let resp = allow_consent(&app, &mut jar, &consent).await;
    let page = form_post_page(resp, REDIRECT).await;
    assert_eq!(field(&page, "state").as_deref(), Some("s-123"));
    assert_eq!(field(&page, "iss").as_deref(), Some(app.issuer.as_str()));
    assert_eq!(field(&page, "error"), None);
    let code = field(&page, "code").expect("a code in the page");
    assert!(code.len() >= 43);

    let resp = redeem(&app, &secret, &code, Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
    assert!(body["id_token"].is_string(), "{body}");

    // Signed in and consented: the next request answers at once, by form_post again, to a
    // registered URI that has a query of its own.
    let other = "https://rp.example/cb2?foo=bar";
    let resp = get(
        &app,
        &mut jar,
        &url_with(
            &app,
            &[("response_mode", "form_post"), ("redirect_uri", other)],
        ),
    )
    .await;
    let page = form_post_page(resp, other).await;
    assert!(field(&page, "code").is_some(), "{page}");
}

#[actix_web::test]
async fn errors_go_back_by_form_post_when_it_was_asked_for() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();

    // No session and prompt=none: login_required, posted.
    let resp = get(
        &app,
        &mut jar,
        &url_with(&app, &[("response_mode", "form_post"), ("prompt", "none")]),
    )
    .await;
    let page = form_post_page(resp, REDIRECT).await;
    assert_eq!(field(&page, "error").as_deref(), Some("login_required"));
    assert!(field(&page, "error_description").is_some());
    assert_eq!(field(&page, "state").as_deref(), Some("s-123"));
    assert_eq!(field(&page, "iss").as_deref(), Some(app.issuer.as_str()));
    assert_eq!(field(&page, "code"), None);

    // A scope the client may not have: refused before any page, posted.
    let resp = get(
        &app,
        &mut jar,
        &url_with(
            &app,
            &[
                ("response_mode", "form_post"),
                ("scope", "openid team:write"),
            ],
        ),
    )
    .await;
    let page = form_post_page(resp, REDIRECT).await;
    assert_eq!(field(&page, "error").as_deref(), Some("invalid_scope"));

    // Cancel on the sign-in form: the mode came back with the form, so access_denied is posted.
    let login = get(
        &app,
        &mut jar,
        &url_with(&app, &[("response_mode", "form_post")]),
    )
    .await;
    let html = login.text().await.unwrap();
    let resp = post_page_form(
        &app,
        &mut jar,
        "/realms/default/login-actions/authenticate",
        &html,
        &[("action", "cancel")],
    )
    .await;
    let page = form_post_page(resp, REDIRECT).await;
    assert_eq!(field(&page, "error").as_deref(), Some("access_denied"));
    assert_eq!(field(&page, "state").as_deref(), Some("s-123"));
}

#[actix_web::test]
async fn fragment_jwt_and_unknown_response_modes_are_invalid_request() {
    let app = spawn_app().await;
    web_client(&app);
    let mut jar = Jar::default();
    for mode in ["fragment", "jwt", "query.jwt", "form_post.jwt", "junk<b>"] {
        let resp = get(&app, &mut jar, &url_with(&app, &[("response_mode", mode)])).await;
        assert_eq!(resp.status(), 303, "{mode}");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
        let reply = query_of(&location);
        assert_eq!(reply["error"], "invalid_request", "{mode}: {reply:?}");
        let description = &reply["error_description"];
        assert!(
            description.contains("response_mode") && description.contains("query, form_post"),
            "{mode}: the description names the supported modes: {description}"
        );
        assert_eq!(reply["state"], "s-123");
        assert_eq!(reply["iss"], app.issuer);
        assert!(!reply.contains_key("code"));
    }

    // Before the redirect URI is trusted, nothing goes back to it: the error page.
    let resp = get(
        &app,
        &mut jar,
        &url_with(
            &app,
            &[
                ("response_mode", "form_post"),
                ("redirect_uri", "https://evil.example/cb"),
            ],
        ),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let html = resp.text().await.unwrap();
    assert!(!html.contains("evil.example"), "{html}");
    assert!(html.contains("not registered"), "{html}");
}

#[actix_web::test]
async fn query_is_the_default_and_may_be_named() {
    let app = spawn_app().await;
    let secret = web_client(&app);
    let mut jar = Jar::default();
    // `sign_in` insists on a 303 to the redirect URI with the code in the query.
    let reply = sign_in(
        &app,
        &mut jar,
        &url_with(&app, &[("response_mode", "query")]),
    )
    .await;
    assert_eq!(reply["state"], "s-123");
    let resp = redeem(&app, &secret, &reply["code"], Some(VERIFIER)).await;
    assert_eq!(resp.status(), 200);
    let silent = get(&app, &mut jar, &url_with(&app, &[("prompt", "none")])).await;
    assert_eq!(silent.status(), 303);
    let reply = query_of(silent.headers()["location"].to_str().unwrap());
    assert!(reply.contains_key("code"), "{reply:?}");

    let doc = app.discovery().await;
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
}
