//! Public JWKs: RFC 7638 thumbprints (our `kid`s) and the published JWKS document.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use serde_json::{Map, Value};

use crate::error::TokenError;

/// The RFC 7638 thumbprint of a public JWK: SHA-256 over the required members in
/// lexicographic order, base64url. Stable for a key, so it serves as the `kid`.
pub fn thumbprint(jwk: &Map<String, Value>) -> Result<String, TokenError> {
    let member = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::Keys(format!("JWK lacks {name}")))
    };
    let canonical = match member("kty")? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e")?,
            member("n")?
        ),
        other => return Err(TokenError::Keys(format!("unsupported key type {other}"))),
    };
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())))
}

/// Members a published JWK may carry; anything else (notably private parts) is dropped.
const PUBLIC_MEMBERS: &[&str] = &["kty", "crv", "x", "y", "n", "e"];

/// Builds the public JWK we publish: public members only, plus `kid`, `alg` and `use`.
pub fn public_jwk(source: &Map<String, Value>, kid: &str, alg: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for m in PUBLIC_MEMBERS {
        if let Some(v) = source.get(*m) {
            out.insert((*m).to_string(), v.clone());
        }
    }
    out.insert("kid".into(), Value::String(kid.into()));
    out.insert("alg".into(), Value::String(alg.into()));
    out.insert("use".into(), Value::String("sig".into()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA key of RFC 7638 §3.1 and its published thumbprint.
        let jwk: Map<String, Value> = serde_json::from_str(r#"{
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn public_jwk_drops_private_members() {
        let src: Map<String, Value> =
            serde_json::from_str(r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"SECRET"}"#)
                .unwrap();
        let p = public_jwk(&src, "k1", "ES256");
        assert!(p.get("d").is_none());
        assert_eq!(p["kid"], "k1");
        assert_eq!(p["use"], "sig");
    }
}
