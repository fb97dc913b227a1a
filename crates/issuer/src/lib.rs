//! The OAuth 2.0 / OpenID Connect issuer as actix-web services, per realm at Keycloak's paths.

pub mod cache;
pub mod client_auth;
pub mod config;
pub mod discovery;
pub mod error;
pub mod form;
pub mod state;
pub mod throttle;
pub mod token;

use actix_web::web;

pub use config::IssuerSettings;
pub use error::IssuerError;
pub use state::IssuerState;

/// The realm behind the short aliases (`/oauth/token`).
pub const DEFAULT_REALM: &str = "default";

async fn post_only() -> Result<actix_web::HttpResponse, IssuerError> {
    Err(IssuerError::MethodNotAllowed("POST"))
}

async fn get_only() -> Result<actix_web::HttpResponse, IssuerError> {
    Err(IssuerError::MethodNotAllowed("GET"))
}

/// Registers the issuer's routes. The caller provides `web::Data<IssuerState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/realms/{realm}/.well-known/openid-configuration")
            .route(web::get().to(discovery::metadata))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/.well-known/oauth-authorization-server/realms/{realm}")
            .route(web::get().to(discovery::metadata))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/.well-known/oauth-authorization-server")
            .route(web::get().to(discovery::metadata))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/certs")
            .route(web::get().to(discovery::jwks))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/token")
            .route(web::post().to(token::token))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/oauth/token")
            .route(web::post().to(token::token_default_realm))
            .default_service(web::to(post_only)),
    );
}
