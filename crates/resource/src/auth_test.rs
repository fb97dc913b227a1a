//! `GET /v1/auth/test` (seed 001): who the credential authenticates as.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::auth::Principal;

#[derive(Serialize, utoipa::ToSchema)]
struct AuthTest {
    authenticated: bool,
    user_id: String,
    scopes: Vec<String>,
    /// What a request with this credential may do right now: what it carries AND its
    /// subject's live rights (for a personal key, in the key's team).
    permissions: Vec<String>,
    expires_at: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/auth/test",
    tag = "auth",
    summary = "Who the credential authenticates as",
    description = "For an access token or an API key: the subject, what the credential carries (`scopes`) and what it may do right now (`permissions`). Needs no permission.",
    responses(
        (status = 200, description = "The authenticated subject", body = AuthTest),
        (status = 401, response = crate::openapi::Unauthorized),
    )
)]
pub async fn auth_test(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(AuthTest {
        authenticated: true,
        user_id: principal.subject,
        scopes: principal.scopes,
        permissions: principal.permissions.into_iter().collect(),
        expires_at: principal.expires_at.map(tessera_core::clock::rfc3339),
    })
}
