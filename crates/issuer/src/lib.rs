//! The OAuth 2.0 / OpenID Connect issuer as actix-web services, per realm at Keycloak's paths.

pub mod account;
pub mod authorize;
pub mod cache;
pub mod client_auth;
pub mod config;
pub mod discovery;
pub mod error;
pub mod form;
pub mod logout;
pub mod oidc;
pub mod passkey;
pub mod reset;
pub mod revocation;
pub mod sessions;
pub mod signin;
pub mod state;
pub mod throttle;
pub mod token;
pub mod totp;

use actix_web::web;

pub use config::IssuerSettings;
pub use error::IssuerError;
pub use state::IssuerState;

/// The realm behind the short aliases (`/oauth/token`).
pub const DEFAULT_REALM: &str = "default";

async fn post_only() -> Result<actix_web::HttpResponse, IssuerError> {
    Err(IssuerError::MethodNotAllowed("POST"))
}

async fn get_or_post_only() -> Result<actix_web::HttpResponse, IssuerError> {
    Err(IssuerError::MethodNotAllowed("GET, POST"))
}

/// `/realms/{realm}/account` → `/realms/{realm}/account/` (its forms post relative to it).
async fn account_slash(
    state: web::Data<IssuerState>,
    realm: web::Path<String>,
) -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("{}/realms/{realm}/account/", state.path_prefix()),
        ))
        .finish()
}

async fn get_only() -> Result<actix_web::HttpResponse, IssuerError> {
    Err(IssuerError::MethodNotAllowed("GET"))
}

/// Registers the issuer's routes. The caller provides `web::Data<IssuerState>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // The router tries resources in this order, matching each `{realm}` pattern with a regex;
    // the hot endpoints come first so they are not checked against every other pattern.
    cfg.service(
        web::resource("/realms/{realm}/protocol/openid-connect/token")
            .route(web::post().to(token::token))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/certs")
            .route(web::get().to(discovery::jwks))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/.well-known/openid-configuration")
            .route(web::get().to(discovery::metadata))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/token/introspect")
            .route(web::post().to(revocation::introspect))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/auth")
            .route(web::get().to(authorize::authorize))
            .route(web::post().to(authorize::authorize))
            .default_service(web::to(get_or_post_only)),
    )
    .service(
        web::resource("/oauth/authorize")
            .route(web::get().to(authorize::authorize_default_realm))
            .route(web::post().to(authorize::authorize_default_realm))
            .default_service(web::to(get_or_post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/authenticate")
            .route(web::post().to(authorize::authenticate))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/second-factor")
            .route(web::post().to(signin::second_factor))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/new-password")
            .route(web::post().to(signin::new_password))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/enrol")
            .route(web::post().to(signin::enrol))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/")
            .route(web::get().to(account::show))
            .default_service(web::to(get_only)),
    )
    .service(web::resource("/realms/{realm}/account").route(web::get().to(account_slash)))
    .service(
        web::resource("/realms/{realm}/account/password")
            .route(web::post().to(account::change_password))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/totp/start")
            .route(web::post().to(account::start_totp))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/totp/confirm")
            .route(web::post().to(account::confirm_totp))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/totp/remove")
            .route(web::post().to(account::remove_totp))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/recovery-codes")
            .route(web::post().to(account::new_recovery_codes))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/sessions/{id}/end")
            .route(web::post().to(account::end_session))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/grants/{id}/revoke")
            .route(web::post().to(account::revoke_grant))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/consent")
            .route(web::post().to(authorize::consent))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/reset-password")
            .route(web::get().to(reset::show))
            .route(web::post().to(reset::submit))
            .default_service(web::to(get_or_post_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/logout")
            .route(web::get().to(authorize::logout))
            .route(web::post().to(authorize::logout))
            .default_service(web::to(get_or_post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/logout")
            .route(web::post().to(authorize::confirm_logout))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/userinfo")
            .route(web::get().to(oidc::userinfo))
            .route(web::post().to(oidc::userinfo))
            .default_service(web::to(get_or_post_only)),
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
        web::resource("/realms/{realm}")
            .route(web::get().to(discovery::realm_info))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/protocol/openid-connect/revoke")
            .route(web::post().to(revocation::revoke))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/oauth/token")
            .route(web::post().to(token::token_default_realm))
            .default_service(web::to(post_only)),
    );
    // Passkeys (WebAuthn): the ceremonies' script, sign-in, and the account's passkeys.
    cfg.service(
        web::resource("/realms/{realm}/login-actions/passkey.js")
            .route(web::get().to(passkey::script))
            .default_service(web::to(get_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/passkey/begin")
            .route(web::post().to(passkey::sign_in_begin))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/login-actions/passkey/finish")
            .route(web::post().to(passkey::sign_in_finish))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/passkeys/begin")
            .route(web::post().to(passkey::register_begin))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/passkeys/finish")
            .route(web::post().to(passkey::register_finish))
            .default_service(web::to(post_only)),
    )
    .service(
        web::resource("/realms/{realm}/account/passkeys/{id}/remove")
            .route(web::post().to(passkey::remove))
            .default_service(web::to(post_only)),
    );
}
