//! DISC and JWKS checks of the conformance checklist, and realm routing.

use crate::helpers::*;

#[actix_web::test]
async fn disc_01_02_metadata_is_json_with_the_exact_issuer() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        doc["issuer"],
        app.issuer.as_str(),
        "issuer must be byte-identical"
    );
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/protocol/openid-connect/token", app.issuer)
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/protocol/openid-connect/certs", app.issuer)
    );
}

#[actix_web::test]
async fn disc_03_rfc8414_path_serves_the_same_metadata() {
    let app = spawn_app().await;
    let oidc = app.discovery().await;
    let resp = app
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server/realms/default",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rfc8414: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(rfc8414, oidc);
}

#[actix_web::test]
async fn disc_05_06_advertises_exactly_what_is_implemented() {
    let app = spawn_app().await;
    app.create_client(serde_json::json!({
        "client_id": "jobs", "grant_types": ["client_credentials"], "scopes": ["jobs:read"]
    }));
    let doc = app.discovery().await;
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/protocol/openid-connect/auth", app.issuer)
    );
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{}/protocol/openid-connect/userinfo", app.issuer)
    );
    let scopes: Vec<&str> = doc["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"openid"));
    assert!(scopes.contains(&"api_key:read"));
    // A custom scope appears once the realm defines it (after the cache TTL).
    for s in &scopes {
        assert!(
            s.chars()
                .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')),
            "{s} is not a scope-token"
        );
    }
}

#[actix_web::test]
async fn jwks_01_02_03_keys_are_public_unique_and_include_rsa_2048() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/protocol/openid-connect/certs", app.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cache = resp.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("max-age="), "{cache}");
    let jwks: serde_json::Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let mut kids = std::collections::BTreeSet::new();
    for k in keys {
        assert!(
            kids.insert(k["kid"].as_str().unwrap().to_string()),
            "duplicate kid"
        );
        assert_eq!(k["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(
                k.get(private).is_none(),
                "private member {private} published"
            );
        }
        assert_ne!(k["kty"], "oct");
    }
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").expect("an RSA key");
    assert_eq!(rsa["alg"], "RS256");
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        rsa["n"].as_str().unwrap(),
    )
    .unwrap();
    assert!(n.len() * 8 >= 2048, "RSA modulus is {} bits", n.len() * 8);
    let ec = keys.iter().find(|k| k["kty"] == "EC").expect("an EC key");
    assert_eq!(
        (ec["crv"].as_str(), ec["alg"].as_str()),
        (Some("P-256"), Some("ES256"))
    );
}

#[actix_web::test]
async fn unknown_realm_and_unknown_path_are_json_404s() {
    let app = spawn_app().await;
    for url in [
        format!("{}/realms/nope/.well-known/openid-configuration", app.base),
        format!("{}/realms/nope/protocol/openid-connect/certs", app.base),
        format!("{}/no/such/path", app.base),
    ] {
        let resp = app.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{url}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{url}");
        assert!(body["error_description"].as_str().unwrap().len() > 5);
    }
    let resp = app
        .post_form(
            &format!("{}/realms/nope/protocol/openid-connect/token", app.base),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_description_contains(&body, "realm nope");
}

#[actix_web::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let live = app
        .http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready: serde_json::Value = get_json(&app.http, &format!("{}/health/ready", app.base)).await;
    assert_eq!(ready["status"], "ready");
}

#[actix_web::test]
async fn jwks_kids_are_rfc7638_thumbprints() {
    let app = spawn_app().await;
    let jwks = app.jwks().await;
    for k in jwks["keys"].as_array().unwrap() {
        // RFC 7638 §3: the required members, lexicographic order, no white space.
        let canonical = match k["kty"].as_str().unwrap() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                k["crv"].as_str().unwrap(),
                k["x"].as_str().unwrap(),
                k["y"].as_str().unwrap()
            ),
            "RSA" => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                k["e"].as_str().unwrap(),
                k["n"].as_str().unwrap()
            ),
            other => panic!("unexpected kty {other}"),
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        let thumbprint = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest.as_ref(),
        );
        assert_eq!(k["kid"].as_str().unwrap(), thumbprint);
    }
}

/// One DER element: (tag, contents, the rest after it). Short and long definite lengths.
fn der(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, header) = match input[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (input[2] as usize, 3),
        0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
        other => panic!("unexpected DER length byte {other:#x}"),
    };
    (tag, &input[header..header + len], &input[header + len..])
}

/// python-keycloak's `public_key()` reads `public_key` from `GET /realms/{realm}` and wraps it
/// in PEM to verify access tokens: it must be the SPKI of the key that signs them.
#[actix_web::test]
async fn realm_info_publishes_the_access_token_key_as_keycloak_does() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/realms/default", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let info: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(info["realm"], "default");
    assert_eq!(
        info["token-service"],
        format!("{}/protocol/openid-connect", app.issuer)
    );
    assert_eq!(info["account-service"], format!("{}/account", app.issuer));
    assert_eq!(info["tokens-not-before"], 0);
    let b64 = info["public_key"].as_str().unwrap();
    assert!(
        !b64.contains("BEGIN") && !b64.contains('\n'),
        "no PEM armour"
    );

    // SubjectPublicKeyInfo { AlgorithmIdentifier { id-ecPublicKey, prime256v1 }, BIT STRING }.
    let spki = STANDARD.decode(b64).unwrap();
    let (tag, body, rest) = der(&spki);
    assert_eq!((tag, rest.len()), (0x30, 0));
    let (tag, algorithm, rest) = der(body);
    assert_eq!(tag, 0x30);
    let (tag, oid, params) = der(algorithm);
    assert_eq!(tag, 0x06);
    assert_eq!(
        oid,
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
        "id-ecPublicKey"
    );
    let (tag, curve, _) = der(params);
    assert_eq!(tag, 0x06);
    assert_eq!(
        curve,
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        "prime256v1"
    );
    let (tag, bits, _) = der(rest);
    assert_eq!(tag, 0x03);
    assert_eq!(bits[0], 0, "no unused bits");
    let point = &bits[1..];
    assert_eq!(
        (point.len(), point[0]),
        (65, 0x04),
        "an uncompressed P-256 point"
    );

    // A real access token verifies with exactly this key, and it is the JWKS key of its kid.
    let secret = app.create_svc();
    let resp = app
        .post_basic("svc", &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the access token verifies with the realm's public_key");
    let mut tampered = signature.clone();
    tampered[10] ^= 1;
    assert!(
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &tampered)
            .is_err()
    );
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert_eq!(
        URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap(),
        &point[1..33]
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap(),
        &point[33..]
    );

    // Unknown realm: 404 like every realm endpoint; GET only.
    let resp = app
        .http
        .get(format!("{}/realms/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let resp = app
        .http
        .post(format!("{}/realms/default", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
}
