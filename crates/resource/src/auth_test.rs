//! `GET /v1/auth/test` (seed 001): who the credential authenticates as.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::auth::Principal;

#[derive(Serialize)]
struct AuthTest {
    authenticated: bool,
    user_id: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

pub async fn auth_test(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(AuthTest {
        authenticated: true,
        user_id: principal.subject,
        scopes: principal.scopes,
        expires_at: principal.expires_at.map(tessera_core::clock::rfc3339),
    })
}
