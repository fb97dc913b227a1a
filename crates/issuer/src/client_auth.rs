//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, or `none` for public clients. One method per request.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::IpAddr;
use std::sync::Arc;
use tessera_core::model::{Client, Realm};
use tessera_core::secret;

use crate::error::{IssuerError, OAuthCode};
use crate::form::Form;
use crate::state::IssuerState;
use crate::token::TokenSeen;

/// A presented client_id is kept for the audit log up to this many characters.
const MAX_AUDITED_ID_CHARS: usize = 100;

/// How the client presented itself.
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None { id: String },
}

/// Basic credentials, which the body may repeat the client_id of but not add a secret to.
fn presented_basic(
    authorization: &str,
    body_id: Option<&str>,
    body_secret: Option<&str>,
    realm: &str,
) -> Result<Presented, IssuerError> {
    let (id, secret) = parse_basic(authorization).ok_or_else(|| {
        IssuerError::invalid_client(
            realm,
            "the Authorization header is not valid Basic credentials",
        )
    })?;
    if body_secret.is_some() {
        return Err(IssuerError::invalid_request(
            "use one client authentication method: Basic credentials or client_secret in the body, not both",
        ));
    }
    if body_id.is_some_and(|b| b != id) {
        return Err(IssuerError::invalid_client(
            realm,
            "client_id in the body does not match the Basic credentials",
        ));
    }
    Ok(Presented::Basic { id, secret })
}

/// A stored hash that no secret matches, compared against when the client is unknown so both
/// failures take the same time.
const NO_SUCH_CLIENT_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

fn presented(req: &HttpRequest, form: &Form, realm: &str) -> Result<Presented, IssuerError> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    if form.get("client_assertion").is_some() || form.get("client_assertion_type").is_some() {
        return Err(IssuerError::invalid_client(
            realm,
            "client assertions are not supported; use client_secret_basic or client_secret_post",
        ));
    }
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        return presented_basic(value.to_str().unwrap_or(""), body_id, body_secret, realm);
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Presented::Post {
            id: id.to_string(),
            secret: secret.to_string(),
        }),
        (Some(id), None) => Ok(Presented::None { id: id.to_string() }),
        (None, Some(_)) => Err(IssuerError::invalid_request(
            "client_secret was sent without client_id",
        )),
        (None, None) => Err(IssuerError::invalid_client(
            realm,
            "client authentication is required: send client_id (and client_secret for confidential clients)",
        )),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let id = unescape(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, unescape(secret).unwrap_or_default()))
}

/// Authenticates the client of a token request. Unknown client and wrong secret give the same
/// answer; repeated failures from one address are refused for a while.
pub async fn authenticate(
    state: &IssuerState,
    req: &HttpRequest,
    form: &Form,
    realm: &Realm,
    addr: Option<IpAddr>,
) -> Result<Arc<Client>, IssuerError> {
    authenticate_seen(state, req, form, realm, addr, &mut TokenSeen::new()).await
}

/// [`authenticate`]; `seen` learns the presented client_id, whether it is registered, and
/// whether this failure locked the address (for the token endpoint's metrics and audit).
pub(crate) async fn authenticate_seen(
    state: &IssuerState,
    req: &HttpRequest,
    form: &Form,
    realm: &Realm,
    addr: Option<IpAddr>,
    seen: &mut TokenSeen,
) -> Result<Arc<Client>, IssuerError> {
    let now = state.now();
    if let Some(wait) = state.client_auth_throttle.locked_for(addr, now) {
        return Err(IssuerError::Throttled {
            code: OAuthCode::InvalidClient,
            retry_after_secs: wait,
        });
    }
    let presented = presented(req, form, &realm.name)?;
    let (id, secret_given) = presented.credentials();
    seen.presented_client = Some(id.chars().take(MAX_AUDITED_ID_CHARS).collect());
    let client = state.client(realm, id).await?;
    seen.known_client = client.is_some();
    let failed = |seen: &mut TokenSeen, description: &str| {
        seen.client_locked =
            state
                .client_auth_throttle
                .record_failure(addr, &state.settings.throttle, now);
        IssuerError::invalid_client(&realm.name, description)
    };
    let Some(client) = client.filter(|c| c.enabled) else {
        if let Some(s) = secret_given {
            secret::verify_secret(s, NO_SUCH_CLIENT_HASH);
        }
        return Err(failed(seen, "client authentication failed"));
    };
    match credential_refusal(&client, secret_given) {
        None => Ok(client),
        Some(description) => Err(failed(seen, description)),
    }
}

impl Presented {
    /// The client_id and the secret, if one was sent.
    fn credentials(&self) -> (&str, Option<&str>) {
        match self {
            Presented::Basic { id, secret } | Presented::Post { id, secret } => {
                (id.as_str(), Some(secret.as_str()))
            }
            Presented::None { id } => (id.as_str(), None),
        }
    }
}

/// Why a registered, enabled client's credentials do not authenticate it, if they do not.
fn credential_refusal(client: &Client, secret_given: Option<&str>) -> Option<&'static str> {
    match (
        client.confidential,
        secret_given,
        client.secret_sha256.as_deref(),
    ) {
        (true, Some(s), Some(stored)) if secret::verify_secret(s, stored) => None,
        (true, Some(_), _) => Some("client authentication failed"),
        (true, None, _) => Some(
            "this client is confidential: authenticate with client_secret_basic or client_secret_post",
        ),
        // Some libraries send public clients as Basic with an empty secret.
        (false, None, _) | (false, Some(""), _) => None,
        (false, Some(_), _) => Some("this is a public client: it has no secret to send"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let raw = STANDARD.encode("my%3Aclient:s%25e+c%3Ar");
        assert_eq!(
            parse_basic(&format!("Basic {raw}")),
            Some(("my:client".into(), "s%e c:r".into()))
        );
        assert_eq!(
            parse_basic(&format!("basic {}", STANDARD.encode("svc:pw"))),
            Some(("svc".into(), "pw".into()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode(":secret"))),
            None
        );
    }
}
