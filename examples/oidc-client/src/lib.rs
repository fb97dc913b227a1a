//! A small OpenID Connect relying party built on the `openidconnect` crate: it runs the
//! authorization-code flow against a Tessera realm the way a web application would.
//!
//! 1. discovers the provider from `{issuer}/.well-known/openid-configuration`;
//! 2. listens for the redirect on `http://127.0.0.1:PORT/callback`;
//! 3. sends the person to the authorization endpoint with PKCE (S256), a nonce and a state;
//! 4. checks the redirect's `state` and its RFC 9207 `iss`;
//! 5. exchanges the code (`client_secret_basic` plus the PKCE verifier);
//! 6. verifies the ID token (signature against the JWKS, `iss`, `aud`, `exp`, nonce, `at_hash`);
//! 7. calls userinfo and checks its `sub` against the ID token's.
//!
//! The binary (`src/main.rs`) is a thin wrapper around [`run`]; the integration test in
//! `crates/server/tests/api/example_client.rs` calls [`run`] in-process and plays the browser.

mod http;

pub use http::{Http, HttpError};

use clap::Parser;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    CoreUserInfoClaims,
};
use openidconnect::url::Url;
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The command line.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "oidc-client",
    about = "Signs a person in to a Tessera realm with the OpenID Connect code flow"
)]
pub struct Args {
    /// The realm's issuer URL, e.g. http://127.0.0.1:8080/realms/default
    #[arg(long)]
    pub issuer: String,
    /// The client's id; the client must allow the authorization_code grant and have
    /// http://127.0.0.1:PORT/callback registered as a redirect URI.
    #[arg(long)]
    pub client_id: String,
    /// The client's secret (sent with client_secret_basic). Generated secrets may start with
    /// `-`; such a value is still read as the secret, not as an option.
    #[arg(
        long,
        env = "OIDC_CLIENT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub client_secret: String,
    /// The port of the local callback listener on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The scopes to ask for (space-separated); `openid` is always included.
    #[arg(long, default_value = "openid profile email")]
    pub scope: String,
    /// How long to wait for the redirect, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// What a successful sign-in established.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The ID token's `sub`.
    pub subject: String,
    /// Userinfo's `sub` (checked to equal the ID token's).
    pub userinfo_subject: String,
    pub preferred_username: Option<String>,
}

/// A failure, with its causes spelled out.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Maps an error to ours: `what` and then every cause in the error's chain (skipping causes
/// whose text an outer message already shows).
fn because<E: std::error::Error>(what: impl Into<String>) -> impl FnOnce(E) -> Error {
    move |e| {
        let mut message = format!("{}: {e}", what.into());
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                message.push_str(&format!(": {text}"));
            }
            cause = c.source();
        }
        Error(message)
    }
}

/// RFC 9207's discovery flag, which `CoreProviderMetadata` does not carry.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IssParameterMetadata {
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for IssParameterMetadata {}

/// `CoreProviderMetadata` plus [`IssParameterMetadata`].
pub type ProviderMetadata = openidconnect::ProviderMetadata<
    IssParameterMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// reqwest is built without a crypto provider (`rustls-no-provider`); use ring, as the rest
/// of the workspace does. Installing twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Writes one `key=value` line and flushes it, so a reader sees it at once.
fn say(out: &mut (dyn Write + Send), line: String) -> Result<(), Error> {
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(because("cannot write to stdout"))
}

/// Runs the whole flow; writes `redirect_uri=`, `open=`, then `sub=`, `id_token_verified=true`
/// and `userinfo_sub=` lines to `out`.
pub async fn run(args: &Args, out: &mut (dyn Write + Send)) -> Result<Outcome, Error> {
    install_tls_provider();
    let http = Http::new().map_err(because("cannot build the HTTP client"))?;

    // The listener first: its address is the redirect URI, which must be registered with the
    // client before the flow can work.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
        .await
        .map_err(because(format!("cannot listen on 127.0.0.1:{}", args.port)))?;
    let port = listener
        .local_addr()
        .map_err(because("the listener has no address"))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    say(out, format!("redirect_uri={redirect_uri}"))?;

    let issuer = IssuerUrl::new(args.issuer.clone()).map_err(because("invalid --issuer"))?;
    // discover_async also checks that the document's `issuer` is exactly this URL.
    let metadata = ProviderMetadata::discover_async(issuer, &http)
        .await
        .map_err(because(format!("discovery at {} failed", args.issuer)))?;
    let iss_required = metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported;
    let issuer = metadata.issuer().clone();

    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(args.client_id.clone()),
        Some(ClientSecret::new(args.client_secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri).map_err(because("invalid redirect URI"))?);

    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(pkce_challenge);
    // The crate always asks for `openid`.
    for scope in args.scope.split_whitespace().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    let (auth_url, state, nonce) = request.url();
    say(out, format!("open={auth_url}"))?;

    let reply = tokio::time::timeout(
        Duration::from_secs(args.timeout),
        wait_for_redirect(&listener),
    )
    .await
    .map_err(|_| {
        Error::new(format!(
            "no redirect reached 127.0.0.1:{port} within {} s",
            args.timeout
        ))
    })??;
    drop(listener);

    // The response belongs to our request (state) and comes from our issuer (RFC 9207 iss,
    // the defence against mix-up attacks), whether it carries a code or an error.
    if reply.get("state").map(String::as_str) != Some(state.secret().as_str()) {
        return Err(Error::new(
            "the redirect's state does not match the request's",
        ));
    }
    match reply.get("iss") {
        Some(iss) if iss == issuer.as_str() => {}
        Some(iss) => {
            return Err(Error::new(format!(
                "the redirect's iss {iss} is not the issuer {}",
                issuer.as_str()
            )));
        }
        None if iss_required => {
            return Err(Error::new(
                "the redirect has no iss, though the provider advertises \
                 authorization_response_iss_parameter_supported",
            ));
        }
        None => {}
    }
    if let Some(error) = reply.get("error") {
        let description = reply
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(Error::new(format!(
            "the authorization server refused: {error}{description}"
        )));
    }
    let code = reply
        .get("code")
        .ok_or_else(|| Error::new("the redirect carries neither code nor error"))?;

    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(because("the provider has no token endpoint"))?
        .set_pkce_verifier(pkce_verifier)
        .request_async(&http)
        .await
        .map_err(because("the code exchange failed"))?;

    let id_token = tokens
        .id_token()
        .ok_or_else(|| Error::new("the token response has no ID token"))?;
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .map_err(because("the ID token was rejected"))?;
    // The verifier leaves at_hash to us: it binds the access token to this ID token.
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(because("the ID token's algorithm"))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(because("the ID token's signing key"))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(because("cannot compute at_hash"))?;
        if actual != *expected {
            return Err(Error::new(
                "the ID token's at_hash does not match the access token",
            ));
        }
    }
    let subject = claims.subject().clone();
    say(out, format!("sub={}", subject.as_str()))?;
    say(out, "id_token_verified=true".to_string())?;

    // The crate checks that userinfo's sub equals the one passed here.
    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .map_err(because("the provider has no userinfo endpoint"))?
        .request_async(&http)
        .await
        .map_err(because("the userinfo request failed"))?;
    let userinfo_subject = info.subject().as_str().to_string();
    say(out, format!("userinfo_sub={userinfo_subject}"))?;
    let preferred_username = info.preferred_username().map(|u| u.as_str().to_string());
    if let Some(name) = &preferred_username {
        say(out, format!("preferred_username={name}"))?;
    }
    Ok(Outcome {
        subject: subject.as_str().to_string(),
        userinfo_subject,
        preferred_username,
    })
}

/// Accepts connections until one is `GET /callback?…`; answers it and returns its query.
/// Anything else (a favicon request, a stray probe) gets a 404 and is otherwise ignored.
async fn wait_for_redirect(listener: &TcpListener) -> Result<HashMap<String, String>, Error> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(because("the callback listener failed"))?;
        let target = match tokio::time::timeout(
            Duration::from_secs(10),
            request_target(&mut stream),
        )
        .await
        {
            Ok(Some(target)) => target,
            _ => {
                respond(&mut stream, "400 Bad Request", "Bad request.").await;
                continue;
            }
        };
        let Ok(url) = Url::parse("http://127.0.0.1/").and_then(|base| base.join(&target)) else {
            respond(&mut stream, "400 Bad Request", "Bad request.").await;
            continue;
        };
        if url.path() != "/callback" {
            respond(&mut stream, "404 Not Found", "Not found.").await;
            continue;
        }
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        respond(
            &mut stream,
            "200 OK",
            "The example client received the response. You can close this tab.",
        )
        .await;
        return Ok(query);
    }
}

/// Reads a request head (at most 16 KiB) and returns the target of a GET.
async fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = std::str::from_utf8(&head).ok()?;
    let mut words = head.lines().next()?.split(' ');
    match (words.next(), words.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Some(target.to_string()),
        _ => None,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nreferrer-policy: no-referrer\r\n\
         connection: close\r\n\r\n{text}",
        text.len()
    );
    // The browser's side of the exchange is best effort: the flow goes on regardless.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
