//! Strict parsing of `application/x-www-form-urlencoded` bodies for the OAuth endpoints:
//! RFC 6749 §3.1 forbids repeated parameters and treats empty ones as absent.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web;
use futures_util::StreamExt;
use std::collections::HashMap;

use crate::config::IssuerSettings;
use crate::error::IssuerError;

/// The parameters of one request, each at most once.
#[derive(Debug, Default)]
pub struct Form(HashMap<String, String>);

impl Form {
    /// Parses a body; a parameter given twice is an `invalid_request` naming it.
    pub fn parse(body: &[u8]) -> Result<Self, IssuerError> {
        let mut map = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in form_urlencoded::parse(body) {
            if !seen.insert(k.to_string()) {
                return Err(duplicate(&k));
            }
            // No name or value is stored with a NUL (PostgreSQL text refuses it): say so.
            if k.contains('\0') || v.contains('\0') {
                return Err(IssuerError::invalid_request(format!(
                    "the {} parameter contains a NUL character",
                    k.replace('\0', "")
                )));
            }
            // Present without a value: treated as omitted (RFC 6749 §3.1).
            if !v.is_empty() {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every parameter with a value.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn require(&self, name: &str) -> Result<&str, IssuerError> {
        self.get(name)
            .ok_or_else(|| IssuerError::invalid_request(format!("the {name} parameter is missing")))
    }
}

fn duplicate(name: &str) -> IssuerError {
    IssuerError::invalid_request(format!("the {name} parameter appears more than once"))
}

/// Checks the content type and reads the body up to `settings.max_form_bytes`, answering 413
/// beyond it, and 408 when it has not all arrived within `settings.read_timeout_secs`.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    settings: &IssuerSettings,
) -> Result<Form, IssuerError> {
    let limit = settings.max_form_bytes;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(IssuerError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(IssuerError::PayloadTooLarge(limit));
    }
    let body = actix_web::rt::time::timeout(settings.read_timeout(), read_body(payload, limit))
        .await
        .map_err(|_| IssuerError::BodyTimeout(settings.read_timeout_secs))??;
    Form::parse(&body)
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, IssuerError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| IssuerError::invalid_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(IssuerError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let f = Form::parse(b"grant_type=client_credentials&scope=jobs%3Aread+clusters%3Aread")
            .unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("jobs:read clusters:read"));
        assert!(f.get("missing").is_none());
    }

    #[test]
    fn duplicates_are_refused_and_empty_values_ignored() {
        let err = Form::parse(b"scope=a&scope=b").unwrap_err().to_string();
        assert!(
            err.contains("scope parameter appears more than once"),
            "{err}"
        );
        for twice in [&b"scope=&scope=a"[..], b"scope=a&scope="] {
            assert!(Form::parse(twice).is_err(), "{twice:?}");
        }
        let err = Form::parse(b"username=ad%00min").unwrap_err().to_string();
        assert!(err.contains("username parameter contains a NUL"), "{err}");
        let f = Form::parse(b"scope=&grant_type=password").unwrap();
        assert!(f.get("scope").is_none());
        assert!(
            f.require("scope")
                .unwrap_err()
                .to_string()
                .contains("scope parameter is missing")
        );
    }
}
