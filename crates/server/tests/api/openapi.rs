//! The OpenAPI document (`/api/openapi.json`) covers every resource route, and the docs page
//! (`/api/docs`) is self-contained: it loads nothing from anywhere else.

use crate::helpers::spawn_app;
use std::collections::BTreeSet;

/// Every (method, path) the resource routes serve, written out by hand from the `routes()`
/// functions of `tessera_resource::{accounts, apikeys, directory, governance}` and `configure`
/// (`/v1/auth/test`). A route added there without an `#[utoipa::path]` makes the count differ.
/// `/api/openapi.json` and `/api/docs` themselves are not operations of the API.
const SERVED: &[(&str, &str)] = &[
    ("GET", "/v1/auth/test"),
    // apikeys::routes
    ("GET", "/api/v1/apikeys"),
    ("POST", "/api/v1/apikeys"),
    ("GET", "/api/v1/apikeys/{id}"),
    ("PUT", "/api/v1/apikeys/{id}"),
    ("DELETE", "/api/v1/apikeys/{id}"),
    ("GET", "/api/v1/apikeys/{id}/token"),
    ("GET", "/api/preview/teamkeys"),
    ("POST", "/api/preview/teamkeys"),
    ("GET", "/api/preview/teamkeys/{id}"),
    ("PATCH", "/api/preview/teamkeys/{id}"),
    ("DELETE", "/api/preview/teamkeys/{id}"),
    ("POST", "/api/preview/teamkeys/{id}:revoke"),
    ("POST", "/api/preview/teamkeys/{id}:reinstate"),
    // directory::routes
    ("GET", "/api/v1/teams"),
    ("POST", "/api/v1/teams"),
    ("GET", "/api/v1/teams/{id}"),
    ("PUT", "/api/v1/teams/{id}"),
    ("PATCH", "/api/v1/teams/{id}"),
    ("DELETE", "/api/v1/teams/{id}"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("PUT", "/api/v1/users/{id}"),
    ("PATCH", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{id}"),
    // accounts::routes
    ("POST", "/api/v1/users/{id}/password-reset"),
    ("POST", "/api/v1/users/{id}/password"),
    ("GET", "/api/v1/users/{id}/sessions"),
    ("DELETE", "/api/v1/users/{id}/sessions/{session_id}"),
    ("DELETE", "/api/v1/users/{id}/grants/{grant_id}"),
    ("GET", "/api/v1/users/{id}/second-factors"),
    ("DELETE", "/api/v1/users/{id}/second-factors"),
    ("GET", "/api/v1/roles"),
    ("POST", "/api/v1/roles"),
    ("GET", "/api/v1/roles/{id}"),
    ("PUT", "/api/v1/roles/{id}"),
    ("PATCH", "/api/v1/roles/{id}"),
    ("DELETE", "/api/v1/roles/{id}"),
    // governance::routes
    ("GET", "/api/v1/policies"),
    ("POST", "/api/v1/policies"),
    ("GET", "/api/v1/policies/{id}"),
    ("PUT", "/api/v1/policies/{id}"),
    ("DELETE", "/api/v1/policies/{id}"),
    ("GET", "/api/v1/users/{id}/permissions"),
    ("GET", "/api/v1/roles/{id}/permissions"),
    ("POST", "/api/v1/clients/{client_id}:rotate-secret"),
    ("GET", "/api/v1/clients"),
    ("POST", "/api/v1/clients"),
    ("GET", "/api/v1/clients/{client_id}"),
    ("PUT", "/api/v1/clients/{client_id}"),
    ("DELETE", "/api/v1/clients/{client_id}"),
    ("GET", "/api/v1/scopes"),
    ("POST", "/api/v1/scopes"),
    ("GET", "/api/v1/scopes/{id}"),
    ("PUT", "/api/v1/scopes/{id}"),
    ("DELETE", "/api/v1/scopes/{id}"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/{id}"),
];

fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options" | "trace"
            ) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[actix_web::test]
async fn openapi_json_documents_every_served_route() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let doc: serde_json::Value = resp.json().await.unwrap();
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert!(doc["info"]["title"].is_string());

    let expected: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(expected.len(), SERVED.len(), "SERVED lists a route twice");
    let ops = documented(&doc);
    let missing: Vec<_> = expected.difference(&ops).collect();
    assert!(missing.is_empty(), "served but undocumented: {missing:?}");
    let extra: Vec<_> = ops.difference(&expected).collect();
    assert!(extra.is_empty(), "documented but not in SERVED: {extra:?}");
    assert_eq!(ops.len(), SERVED.len());

    // Paths resolve against where the document was fetched, also under a path prefix.
    assert_eq!(doc["servers"][0]["url"], "..");

    // The public text speaks to API users: no notes about where a shape came from.
    let text = doc.to_string();
    for internal in ["seed 00", "Seed 00", "DESIGN.md"] {
        assert!(
            !text.contains(internal),
            "internal note {internal:?} in the OpenAPI text: {}",
            &text[text.find(internal).unwrap().saturating_sub(120)..][..200]
        );
    }

    // Bearer (JWT or API key) everywhere, and the same error body on every error.
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    let error = &doc["components"]["schemas"]["ErrorBody"];
    let required: BTreeSet<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["error", "error_description"]));
    for status in ["400", "401", "403", "404", "409"] {
        let name = match status {
            "400" => "BadRequest",
            "401" => "Unauthorized",
            "403" => "Forbidden",
            "404" => "NotFound",
            _ => "Conflict",
        };
        assert_eq!(
            doc["components"]["responses"][name]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{status}"
        );
    }
    for (method, path) in SERVED {
        let op = &doc["paths"][path][method.to_lowercase()];
        assert_eq!(
            op["responses"]["401"]["$ref"], "#/components/responses/Unauthorized",
            "{method} {path}"
        );
        if path.contains('{') {
            assert!(
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path")),
                "{method} {path}: no path parameter"
            );
        }
    }
    let keys_by_id = &doc["paths"]["/api/v1/apikeys/{id}"]["get"]["responses"];
    assert_eq!(keys_by_id["404"]["$ref"], "#/components/responses/NotFound");
    let create_team = &doc["paths"]["/api/v1/teams"]["post"]["responses"];
    assert_eq!(
        create_team["409"]["$ref"],
        "#/components/responses/Conflict"
    );
    assert_eq!(
        doc["paths"]["/api/v1/policies"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/PolicyBody"
    );

    // Each documented route is really served: without credentials it answers 401 (the
    // server's fallback would answer 404, an unrouted method 405).
    let id = "0190f3a4-7c1e-7f00-8000-000000000001";
    for (method, path) in SERVED {
        let url = format!(
            "{}{}",
            app.base,
            path.replace("{id}", id)
                .replace("{client_id}", "svc")
                .replace("{session_id}", "s")
                .replace("{grant_id}", "g")
        );
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app.http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{method} {url}");
    }
}

#[actix_web::test]
async fn docs_page_is_self_contained_html() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/api/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("openapi.json"));
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("http://"),
        "an absolute URL in the docs page"
    );
    assert!(
        !lower.contains("https://"),
        "an absolute URL in the docs page"
    );
    // Every src/href is relative to this server: no scheme, no protocol-relative `//host`.
    for attr in ["src=", "href="] {
        for (i, _) in lower.match_indices(attr) {
            let rest = &lower[i + attr.len()..];
            let quote = rest.chars().next().unwrap();
            let value = rest[1..].split(quote).next().unwrap();
            assert!(
                !value.starts_with("//") && !value.contains(':'),
                "{attr}{quote}{value}{quote} is not relative"
            );
        }
    }
    assert!(!lower.contains("@import") && !lower.contains("url("));
}
