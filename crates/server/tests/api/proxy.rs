//! Tessera mounted under a path behind a real reverse proxy (issue 12): Debian's nginx, and
//! Debian's HAProxy, each configured as docs/operations.md shows, terminate TLS on
//! `https://127.0.0.1:PORT/auth/`, strip `/auth` and forward to Tessera with `X-Forwarded-For`
//! and `X-Forwarded-Proto`. Every URL and cookie path a browser is
//! given must carry the `/auth` prefix; the test drives the authorization-code flow, RP-initiated
//! logout and the console's sign-in round trip through the proxy alone, following only the
//! URLs the server handed out. `.ci/proxy.sh` installs nginx and HAProxy; without them (or
//! `openssl`) a test says "skipped: …", and fails under CI.

use crate::authorize::{REDIRECT, VERIFIER, auth_url, challenge, hidden, query_of, web_client};
use crate::external::{available, free_port};
use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The client's own address: the proxy sees it and appends it to `X-Forwarded-For`, while
/// Tessera's TCP peer is the proxy at 127.0.0.1, so the two cannot be confused.
const CLIENT_ADDR: &str = "127.0.0.3";

/// `name` on the `PATH` or in the `sbin` directories, where Debian puts both proxies.
fn binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn openssl_works() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The proxy as a child process, stopped (SIGTERM, by pid) when dropped.
struct Proxy {
    child: Child,
    /// Where its error log goes.
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn error_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Haproxy,
}

impl Kind {
    fn binary_name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }

    fn start(self, bin: &Path, dir: &Path, port: u16, upstream: &str) -> Proxy {
        self_signed_cert(dir);
        match self {
            Kind::Nginx => start_nginx(bin, dir, port, upstream),
            Kind::Haproxy => start_haproxy(bin, dir, port, upstream),
        }
    }
}

/// A self-signed certificate for 127.0.0.1, made with the `openssl` command.
fn self_signed_cert(dir: &Path) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts nginx on `127.0.0.1:port` (TLS), forwarding `/auth/` to Tessera at `upstream`.
fn start_nginx(nginx: &Path, dir: &Path, port: u16, upstream: &str) -> Proxy {
    let d = dir.display();
    let conf = format!(
        r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location /auth/ {{
            proxy_pass http://{upstream}/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
        location /.well-known/oauth-authorization-server/auth/ {{
            proxy_pass http://{upstream}/.well-known/oauth-authorization-server/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"#
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proxy {
        child,
        log: dir.join("error.log"),
    }
}

/// Starts HAProxy in the foreground on `127.0.0.1:port` (TLS), forwarding `/auth/` to Tessera
/// at `upstream` with the prefix stripped.
fn start_haproxy(haproxy: &Path, dir: &Path, port: u16, upstream: &str) -> Proxy {
    let mut pem = std::fs::read(dir.join("cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("key.pem")).unwrap());
    std::fs::write(dir.join("combined.pem"), pem).unwrap();
    let d = dir.display();
    let conf = format!(
        r#"global
    log stderr format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend https
    bind 127.0.0.1:{port} ssl crt {d}/combined.pem
    http-request set-header X-Forwarded-Proto https
    use_backend tessera if {{ path_beg /auth/ /.well-known/oauth-authorization-server/auth/ }}

backend tessera
    option forwardfor
    http-request replace-path ^/auth(/.*) \1
    http-request replace-path ^/\.well-known/oauth-authorization-server/auth(/.*) /.well-known/oauth-authorization-server\1
    server tessera1 {upstream}
"#
    );
    let conf_path = dir.join("haproxy.cfg");
    std::fs::write(&conf_path, conf).unwrap();
    // In the foreground (`-db`), its warnings and errors go to standard error.
    let log = dir.join("error.log");
    let child = Command::new(haproxy)
        .arg("-db")
        .arg("-f")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Proxy { child, log }
}

/// A browser talking to the proxy: it trusts the test's self-signed certificate, follows no
/// redirects, connects from [`CLIENT_ADDR`] and keeps cookies by path, as browsers do.
struct Browser {
    http: reqwest::Client,
    origin: String,
    /// (name, value, path)
    cookies: Vec<(String, String, String)>,
    /// Every `Set-Cookie` header received, in order.
    received: Vec<String>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(CLIENT_ADDR.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap()
}

/// A cookie path matches a request path as RFC 6265 §5.1.4 says.
fn path_matches(cookie_path: &str, path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

fn attribute<'a>(set_cookie: &'a str, name: &str) -> Option<&'a str> {
    set_cookie.split(';').skip(1).find_map(|a| {
        let (k, v) = a.trim().split_once('=').unwrap_or((a.trim(), ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

impl Browser {
    fn url(&self, to: &str) -> String {
        if to.starts_with('/') {
            format!("{}{to}", self.origin)
        } else {
            to.to_string()
        }
    }

    fn cookie_header(&self, url: &str) -> String {
        let path = reqwest::Url::parse(url).unwrap().path().to_string();
        self.cookies
            .iter()
            .filter(|(_, _, p)| path_matches(p, &path))
            .map(|(k, v, _)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the response's cookies; every one must be `Secure` and scoped under `/auth/`.
    fn absorb(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            self.received.push(text.to_string());
            let (name, value) = text.split(';').next().unwrap().split_once('=').unwrap();
            let path = attribute(text, "Path").unwrap_or("/").to_string();
            assert!(attribute(text, "Secure").is_some(), "not Secure: {text}");
            assert!(
                path.starts_with("/auth/"),
                "a path without the prefix: {text}"
            );
            self.cookies.retain(|(n, _, p)| !(n == name && *p == path));
            let removed = value.is_empty() || attribute(text, "Max-Age") == Some("0");
            if !removed {
                self.cookies
                    .push((name.to_string(), value.to_string(), path.clone()));
            }
        }
    }

    async fn get(&mut self, to: &str) -> reqwest::Response {
        let url = self.url(to);
        let resp = self
            .http
            .get(&url)
            .header("cookie", self.cookie_header(&url))
            .send()
            .await
            .unwrap();
        self.absorb(&resp);
        resp
    }

    async fn post(&mut self, to: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let url = self.url(to);
        let resp = self
            .http
            .post(&url)
            .header("cookie", self.cookie_header(&url))
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(&resp);
        resp
    }

    /// The last `Set-Cookie` header received for `name`.
    fn last_set(&self, name: &str) -> &str {
        self.received
            .iter()
            .rev()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie set"))
    }

    fn has_cookie(&self, name: &str, path: &str) -> bool {
        self.cookies.iter().any(|(n, _, p)| n == name && p == path)
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn set_cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}

/// The `action` of the page's (first) form.
fn form_action(html: &str) -> String {
    let form = &html[html.find("<form").expect("a form")..];
    let start = form.find("action=\"").unwrap() + "action=\"".len();
    form[start..start + form[start..].find('"').unwrap()].to_string()
}

/// Answers a sign-in or consent page the issuer shows, posting to the form's own action,
/// until the issuer redirects; returns that redirect.
async fn through_issuer_pages(b: &mut Browser, mut resp: reqwest::Response) -> reqwest::Response {
    for _ in 0..3 {
        // A page (the sign-in form again after a failure is a 401); anything else is the end.
        if resp.status() != 200 && resp.status() != 401 {
            break;
        }
        let html = resp.text().await.unwrap();
        let action = form_action(&html);
        let (csrf, request) = (hidden(&html, "csrf"), hidden(&html, "request"));
        resp = if html.contains("name=\"password\"") {
            assert_eq!(action, "/auth/realms/default/login-actions/authenticate");
            b.post(
                &action,
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("username", "admin"),
                    ("password", ADMIN_PASSWORD),
                    ("action", "login"),
                ],
            )
            .await
        } else {
            assert_eq!(action, "/auth/realms/default/login-actions/consent");
            b.post(
                &action,
                &[("csrf", &csrf), ("request", &request), ("action", "allow")],
            )
            .await
        };
    }
    assert_eq!(resp.status(), 303, "the issuer redirects at the end");
    resp
}

#[actix_web::test]
async fn behind_nginx_under_a_path_every_url_and_cookie_carries_the_prefix() {
    behind_a_proxy_under_a_path(Kind::Nginx).await;
}

#[actix_web::test]
async fn behind_haproxy_under_a_path_every_url_and_cookie_carries_the_prefix() {
    behind_a_proxy_under_a_path(Kind::Haproxy).await;
}

async fn behind_a_proxy_under_a_path(kind: Kind) {
    let bin = binary(kind.binary_name());
    let mut missing = Vec::new();
    if bin.is_none() {
        missing.push(format!("{kind:?} not found (run .ci/proxy.sh)"));
    }
    if !openssl_works() {
        missing.push("openssl not found (apt-get install openssl)".to_string());
    }
    if !available(&missing) {
        return;
    }
    let bin = bin.unwrap();

    let proxy_port = free_port();
    let upstream = format!("127.0.0.1:{}", free_port());
    let origin = format!("https://127.0.0.1:{proxy_port}");
    let public_url = format!("{origin}/auth");
    let mut app = spawn_app_with(|c| {
        c.listen = upstream.clone();
        c.public_url = public_url.clone();
        c.issuer.trust_forwarded_headers = true;
    })
    .await;
    assert_eq!(app.base, public_url);
    // nginx's workers run as an unprivileged user when started as root: they must reach
    // their temporary directories.
    let dir = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let proxy = kind.start(&bin, dir.path(), proxy_port, &upstream);
    // The helpers (discovery, token requests) go through the proxy too.
    app.http = client();
    // Until the proxy answers: `None` once Tessera's health came back through it.
    let mut last = Some("nothing yet".to_string());
    for _ in 0..100 {
        last = match app.http.get(format!("{public_url}/health")).send().await {
            Ok(r) if r.status() == 200 => None,
            Ok(r) => Some(format!(
                "{} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            )),
            Err(e) => Some(format!("{e:?}")),
        };
        if last.is_none() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        last.is_none(),
        "{kind:?} does not answer: {last:?}\n{}",
        proxy.error_log()
    );

    // Discovery: the issuer and its endpoints carry the prefix.
    let issuer = format!("{public_url}/realms/default");
    assert_eq!(app.issuer, issuer);
    let meta = app.discovery().await;
    assert_eq!(meta["issuer"], issuer.as_str(), "{meta}");
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        let url = meta[endpoint].as_str().unwrap();
        assert!(url.starts_with(&format!("{issuer}/")), "{endpoint}: {url}");
    }
    // RFC 8414 §3 puts the metadata of `https://host/auth/realms/default` at the host's root:
    // `/.well-known/oauth-authorization-server/auth/realms/default`, a second proxy rule.
    let rfc8414: serde_json::Value = get_json(
        &app.http,
        &format!("{origin}/.well-known/oauth-authorization-server/auth/realms/default"),
    )
    .await;
    assert_eq!(rfc8414["issuer"], issuer.as_str(), "{rfc8414}");

    // The authorization-code flow with PKCE through the sign-in and consent pages.
    let secret = web_client(&app);
    let mut b = Browser {
        http: client(),
        origin: origin.clone(),
        cookies: Vec::new(),
        received: Vec::new(),
    };
    let start = auth_url(
        &app,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ],
    );
    let page = b.get(&start).await;
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "tessera_csrf");
    assert!(
        csrf_cookie.contains("Path=/auth/realms/default/") && csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );
    let html = page.text().await.unwrap();
    let action = form_action(&html);
    assert_eq!(action, "/auth/realms/default/login-actions/authenticate");

    // A failed sign-in is counted against the client's address, as forwarded by the proxy.
    let failed = b
        .post(
            &action,
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("request", &hidden(&html, "request")),
                ("username", "admin"),
                ("password", "wrong password"),
                ("action", "login"),
            ],
        )
        .await;
    assert_eq!(failed.status(), 401);
    {
        let conn = &mut *app.db.conn().unwrap();
        let realm = tessera_store::realms::by_name(conn, "default")
            .unwrap()
            .unwrap();
        let mut entry = |key: &str| tessera_store::throttle::entry(conn, &realm.id, key);
        let client = entry(&format!("addr:{CLIENT_ADDR}")).unwrap();
        assert_eq!(client.map(|e| e.failures), Some(1));
        assert!(
            entry("addr:127.0.0.1").unwrap().is_none(),
            "not the proxy's"
        );
    }

    let done = through_issuer_pages(&mut b, failed).await;
    let session = b.last_set("tessera_session");
    for attribute in ["Path=/auth/realms/default/", "Secure", "HttpOnly"] {
        assert!(session.contains(attribute), "{session}");
    }
    let to = location(&done);
    assert!(to.starts_with(REDIRECT), "{to}");
    let reply = query_of(&to);
    assert_eq!(reply["iss"], issuer);
    let tokens: serde_json::Value = app
        .post_basic(
            "web",
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &reply["code"]),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let jwks = app.jwks().await;
    for kind in ["id_token", "access_token"] {
        let token = tokens[kind].as_str().unwrap_or_else(|| panic!("{tokens}"));
        let jwt = verify_independently(token, &jwks);
        assert_eq!(jwt.claims["iss"], issuer.as_str(), "{kind}");
    }

    // RP-initiated logout without a hint asks first, on a form posting under the prefix.
    let page = b
        .get(&format!(
            "{issuer}/protocol/openid-connect/logout?client_id=web&\
             post_logout_redirect_uri=https%3A%2F%2Frp.example%2Flogged-out&state=bye"
        ))
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let action = form_action(&html);
    assert_eq!(action, "/auth/realms/default/login-actions/logout");
    let out = b
        .post(
            &action,
            &[
                ("csrf", &hidden(&html, "csrf")),
                ("request", &hidden(&html, "request")),
                ("action", "logout"),
            ],
        )
        .await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "https://rp.example/logged-out?state=bye");
    assert!(
        !b.has_cookie("tessera_session", "/auth/realms/default/"),
        "the session cookie is removed at its prefixed path"
    );

    // The console: `/auth/console` opens the default realm's console under the prefix.
    let resp = b.get("/auth/console").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/auth/realms/default/console/");
    let resp = b.get(&location(&resp)).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(
        location(&resp),
        "/auth/realms/default/console/login?return_to=%2Fauth%2Frealms%2Fdefault%2Fconsole%2F"
    );
    let resp = b.get(&location(&resp)).await;
    assert_eq!(resp.status(), 303);
    let pending = set_cookie(&resp, "tessera_console_login");
    assert!(
        pending.contains("Path=/auth/realms/default/console"),
        "{pending}"
    );
    let authorize = location(&resp);
    assert!(
        authorize.starts_with(&format!("{issuer}/protocol/openid-connect/auth?")),
        "{authorize}"
    );
    let console = format!("{public_url}/realms/default/console");
    assert_eq!(
        query_of(&authorize)["redirect_uri"],
        format!("{console}/callback")
    );
    let page = b.get(&authorize).await;
    let back = through_issuer_pages(&mut b, page).await;
    let callback = location(&back);
    assert!(
        callback.starts_with(&format!("{console}/callback?")),
        "{callback}"
    );
    let resp = b.get(&callback).await;
    assert_eq!(resp.status(), 303, "{}", resp.text().await.unwrap());
    assert_eq!(location(&resp), "/auth/realms/default/console/");
    for name in ["tessera_console_at", "tessera_console_csrf"] {
        assert!(b.has_cookie(name, "/auth/realms/default/console"), "{name}");
    }
    let resp = b.get("/auth/realms/default/console/").await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/auth/realms/default/console/keys");
    let resp = b.get("/auth/realms/default/console/keys").await;
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains(&format!("form-action 'self' {origin}")),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("src=\"/auth/realms/default/console/console.js\""),
        "{html}"
    );
    assert!(html.contains("href=\"/auth/realms/default/console/keys\""));
    assert!(
        !html.contains("\"/realms/"),
        "a link without the prefix: {html}"
    );
    let script = b.get("/auth/realms/default/console/console.js").await;
    assert_eq!(script.status(), 200);

    // Console sign-out: the issuer's logout with the hint, back to the console's page.
    let signout = &html[html.find("class=\"signout\"").unwrap()..];
    let action = form_action(&format!("<form {signout}"));
    assert_eq!(action, "/auth/realms/default/console/logout");
    let csrf = hidden(signout, "csrf");
    let resp = b.post(&action, &[("csrf", &csrf)]).await;
    assert_eq!(resp.status(), 303);
    let logout = location(&resp);
    assert!(
        logout.starts_with(&format!("{issuer}/protocol/openid-connect/logout?")),
        "{logout}"
    );
    assert!(!b.has_cookie("tessera_console_at", "/auth/realms/default/console"));
    let resp = b.get(&logout).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{console}/signed-out"));
    assert!(!b.has_cookie("tessera_session", "/auth/realms/default/"));
    let resp = b.get(&location(&resp)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("href=\"/auth/realms/default/console/\"")
    );
    drop(proxy);
}
