//! Governance APIs, one module per entity: policies (seed 000), the effective permission
//! lists of users and roles, OAuth clients, custom scopes and the audit log.
//!
//! Every handler checks the caller's permission first, then reads its input, then calls one
//! function that acts; every write leaves an audit event in the same transaction.

use actix_web::web;

use crate::error::ApiError;

pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod permissions;
pub(crate) mod policies;
pub(crate) mod scopes;

pub fn routes(cfg: &mut web::ServiceConfig) {
    policies::routes(cfg);
    permissions::routes(cfg);
    clients::routes(cfg);
    scopes::routes(cfg);
    audit::routes(cfg);
}

/// A free-text description: at most 1000 characters, no control characters but newlines.
fn validate_description(field: &str, d: &str) -> Result<(), ApiError> {
    if d.chars().count() > 1000 {
        return Err(ApiError::bad(field, "must be at most 1000 characters"));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(())
}
