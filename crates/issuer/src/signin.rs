//! TEMPORARY stub of the lead's sign-in module (reverted before `git merge main`).
#![allow(dead_code, unused_variables)]

use actix_web::{HttpRequest, HttpResponse};
use tessera_store::browser::BrowserSession;
use tessera_store::models::{Realm, User};

use crate::authorize::AuthRequest;
use crate::error::IssuerError;
use crate::state::IssuerState;

pub(crate) async fn start_session(
    state: &IssuerState,
    realm: &Realm,
    request: &AuthRequest,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    Err(IssuerError::Internal("stub".into()))
}

pub(crate) async fn pending(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    Ok(None)
}

pub(crate) async fn second_factor_passed(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
    request: &AuthRequest,
    session: &BrowserSession,
    user: &User,
    amr: &str,
) -> Result<HttpResponse, IssuerError> {
    Err(IssuerError::Internal("stub".into()))
}

pub(crate) async fn signed_in(
    state: &IssuerState,
    realm: &Realm,
    req: &HttpRequest,
) -> Result<Option<(BrowserSession, User)>, IssuerError> {
    Ok(None)
}
