//! Verification of our access tokens against a JWKS, with the checks RFC 8725 and RFC 9068 §4
//! ask for: an algorithm allow-list (never `none`, never HMAC), the key chosen by `kid` from the
//! JWKS only (no `jku`/`jwk`/`x5u`), `typ` = `at+jwt`, and `iss`/`aud`/`exp`/`nbf`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, RS256};
use serde::Deserialize;
use std::collections::HashMap;

use crate::claims::AccessTokenClaims;
use crate::error::TokenError;
use crate::keys::SigningAlg;

/// What a token must match besides its signature.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: i64,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: i64,
}

/// Verifiers for every key of one JWKS document, by `kid`.
pub struct JwksVerifier {
    by_kid: HashMap<String, (SigningAlg, Box<dyn JwsVerifier>)>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TimeClaims {
    #[serde(default)]
    nbf: Option<i64>,
}

impl JwksVerifier {
    /// Builds verifiers from a JWKS document. Keys of other types or algorithms are skipped.
    pub fn from_jwks_json(json: &[u8]) -> Result<Self, TokenError> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Map<String, serde_json::Value>>,
        }
        let doc: Doc = serde_json::from_slice(json)
            .map_err(|e| TokenError::Keys(format!("JWKS is not valid: {e}")))?;
        let mut by_kid = HashMap::new();
        for map in doc.keys {
            let (Some(kid), Some(alg)) = (
                map.get("kid").and_then(|v| v.as_str()).map(str::to_string),
                map.get("alg")
                    .and_then(|v| v.as_str())
                    .and_then(SigningAlg::from_jose_name),
            ) else {
                continue;
            };
            let jwk = Jwk::from_map(map).map_err(|e| TokenError::Keys(e.to_string()))?;
            let verifier: Box<dyn JwsVerifier> = match alg {
                SigningAlg::Es256 => Box::new(
                    ES256
                        .verifier_from_jwk(&jwk)
                        .map_err(|e| TokenError::Keys(e.to_string()))?,
                ),
                SigningAlg::Rs256 => Box::new(
                    RS256
                        .verifier_from_jwk(&jwk)
                        .map_err(|e| TokenError::Keys(e.to_string()))?,
                ),
            };
            by_kid.insert(kid, (alg, verifier));
        }
        Ok(Self { by_kid })
    }

    pub fn knows_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The `kid` in a token's header, if it has a readable one (to decide on a JWKS refetch).
    pub fn token_kid(token: &str) -> Option<String> {
        let header_b64 = token.split('.').next()?;
        let header: Header =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).ok()?).ok()?;
        header.kid
    }

    /// Verifies the signature of any JWT signed by one of these keys (allow-listed algorithm,
    /// key by `kid`, algorithm matching the key) and returns its header and claims. Callers
    /// check the claims that matter to them.
    pub fn verify_signature(
        &self,
        token: &str,
    ) -> Result<(serde_json::Value, serde_json::Value), TokenError> {
        let invalid = |m: &str| TokenError::Invalid(m.to_string());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("the token is not a signed JWT"));
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("the token header is not valid"))?;
        let alg = header["alg"]
            .as_str()
            .and_then(SigningAlg::from_jose_name)
            .ok_or_else(|| invalid("the token's algorithm is not accepted"))?;
        let kid = header["kid"]
            .as_str()
            .ok_or_else(|| invalid("the token header has no kid"))?;
        let (key_alg, verifier) = self
            .by_kid
            .get(kid)
            .ok_or_else(|| invalid("the token was signed by an unknown key"))?;
        if *key_alg != alg {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid("the token signature is not base64url"))?;
        verifier
            .verify(&token.as_bytes()[..h.len() + 1 + p.len()], &signature)
            .map_err(|_| invalid("the token signature is invalid"))?;
        let claims: serde_json::Value = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("the token payload is not valid"))?;
        Ok((header, claims))
    }

    /// Verifies an access token and returns its claims, or says precisely why not.
    pub fn verify_access_token(
        &self,
        token: &str,
        opts: &VerifyOptions<'_>,
    ) -> Result<AccessTokenClaims, TokenError> {
        let invalid = |m: &str| TokenError::Invalid(m.to_string());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("the token is not a signed JWT"));
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| invalid("the token header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header_bytes)
            .map_err(|_| invalid("the token header is not valid JSON"))?;
        let alg = SigningAlg::from_jose_name(&header.alg)
            .ok_or_else(|| invalid(&format!("algorithm {} is not accepted", header.alg)))?;
        if header.crit.is_some() {
            return Err(invalid("critical header extensions are not supported"));
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(invalid(
                "the token is not an access token (typ must be at+jwt)",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token header has no kid"))?;
        let (key_alg, verifier) = self
            .by_kid
            .get(&kid)
            .ok_or_else(|| invalid("the token was signed by an unknown key"))?;
        if *key_alg != alg {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid("the token signature is not base64url"))?;
        let signed_len = h.len() + 1 + p.len();
        verifier
            .verify(&token.as_bytes()[..signed_len], &signature)
            .map_err(|_| invalid("the token signature is invalid"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| invalid("the token payload is not base64url"))?;
        let claims: AccessTokenClaims = serde_json::from_slice(&payload)
            .map_err(|_| invalid("the token lacks required access-token claims"))?;
        let times: TimeClaims = serde_json::from_slice(&payload)
            .map_err(|_| invalid("the token's nbf is not a number"))?;
        if claims.iss != opts.issuer {
            return Err(invalid("the token was issued by another issuer"));
        }
        if claims.aud != opts.audience {
            return Err(invalid("the token is meant for another audience"));
        }
        if claims.exp + opts.leeway_secs <= opts.now {
            return Err(invalid("the token has expired"));
        }
        if times
            .nbf
            .is_some_and(|nbf| nbf > opts.now + opts.leeway_secs)
            || claims.iat > opts.now + opts.leeway_secs
        {
            return Err(invalid("the token is not valid yet"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyPolicy, KeyStore};

    const ISS: &str = "http://127.0.0.1:8080/realms/default";
    const AUD: &str = "http://127.0.0.1:8080";

    fn setup() -> (tempfile::TempDir, KeyStore, JwksVerifier) {
        let dir = tempfile::tempdir().unwrap();
        let policy = KeyPolicy {
            activation_delay_secs: 0,
            retention_secs: 3600,
        };
        let (store, _) = KeyStore::open(dir.path(), policy, 1_000).unwrap();
        let verifier = JwksVerifier::from_jwks_json(&store.current().jwks_json()).unwrap();
        (dir, store, verifier)
    }

    fn claims(now: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISS.into(),
            sub: "u1".into(),
            aud: AUD.into(),
            client_id: "svc".into(),
            scope: "jobs:read".into(),
            iat: now,
            exp: now + 300,
            jti: "j1".into(),
        }
    }

    fn opts(now: i64) -> VerifyOptions<'static> {
        VerifyOptions {
            issuer: ISS,
            audience: AUD,
            now,
            leeway_secs: 30,
        }
    }

    fn b64(v: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn a_minted_token_verifies_with_either_algorithm() {
        let (_d, store, v) = setup();
        for alg in SigningAlg::ALL {
            let t = store
                .current()
                .sign_access_token(alg, &claims(1_000))
                .unwrap();
            assert_eq!(
                v.verify_access_token(&t, &opts(1_010)).unwrap(),
                claims(1_000)
            );
        }
    }

    #[test]
    fn refuses_expired_future_foreign_and_tampered_tokens() {
        let (_d, store, v) = setup();
        let t = store
            .current()
            .sign_access_token(SigningAlg::Es256, &claims(1_000))
            .unwrap();
        let err =
            |t: &str, o: &VerifyOptions<'_>| v.verify_access_token(t, o).unwrap_err().to_string();
        assert!(err(&t, &opts(1_000 + 300 + 30)).contains("expired"));
        assert!(err(&t, &opts(900)).contains("not valid yet"));
        let other_iss = VerifyOptions {
            issuer: "http://evil",
            ..opts(1_000)
        };
        assert!(err(&t, &other_iss).contains("another issuer"));
        let other_aud = VerifyOptions {
            audience: "http://other-rs",
            ..opts(1_000)
        };
        assert!(err(&t, &other_aud).contains("another audience"));

        // Change the payload, keep the signature.
        let parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(1_000);
        c.scope = "admin".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert!(err(&forged, &opts(1_000)).contains("signature"));
    }

    #[test]
    fn refuses_alg_none_and_hmac_with_the_public_key() {
        let (_d, store, v) = setup();
        let set = store.current();
        let key = set.signing_key(SigningAlg::Rs256).unwrap();
        let payload = b64(&serde_json::to_vec(&claims(1_000)).unwrap());

        let none_header =
            b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#, key.kid).as_bytes());
        let none_token = format!("{none_header}.{payload}.");
        assert!(
            v.verify_access_token(&none_token, &opts(1_000))
                .unwrap_err()
                .to_string()
                .contains("not accepted")
        );

        // HS256 keyed with the public JWK's JSON: the classic algorithm-confusion forgery.
        let hs_header =
            b64(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, key.kid).as_bytes());
        let input = format!("{hs_header}.{payload}");
        let secret = serde_json::to_vec(key.public_jwk()).unwrap();
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            input.as_bytes(),
        );
        let hs_token = format!("{input}.{}", b64(mac.as_ref()));
        assert!(v.verify_access_token(&hs_token, &opts(1_000)).is_err());
    }

    #[test]
    fn refuses_other_token_types_and_unknown_keys() {
        let (_d, store, v) = setup();
        let set = store.current();
        let id_token = set
            .sign_jwt(
                SigningAlg::Rs256,
                "JWT",
                &serde_json::to_value(claims(1_000)).unwrap(),
            )
            .unwrap();
        assert!(
            v.verify_access_token(&id_token, &opts(1_000))
                .unwrap_err()
                .to_string()
                .contains("at+jwt")
        );

        let other_dir = tempfile::tempdir().unwrap();
        let (other, _) = KeyStore::open(
            other_dir.path(),
            KeyPolicy {
                activation_delay_secs: 0,
                retention_secs: 60,
            },
            1_000,
        )
        .unwrap();
        let foreign = other
            .current()
            .sign_access_token(SigningAlg::Es256, &claims(1_000))
            .unwrap();
        assert!(
            v.verify_access_token(&foreign, &opts(1_000))
                .unwrap_err()
                .to_string()
                .contains("unknown key")
        );
        assert!(v.verify_access_token("garbage", &opts(1_000)).is_err());
        assert_eq!(
            JwksVerifier::token_kid(&foreign),
            Some(
                other
                    .current()
                    .signing_key(SigningAlg::Es256)
                    .unwrap()
                    .kid
                    .clone()
            )
        );
    }
}
