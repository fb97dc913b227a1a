//! HTML form bodies and the per-field errors shown back on a form.

use std::collections::BTreeMap;

use actix_web::web;
use futures_util::StreamExt;

use crate::ConsoleState;
use crate::api::ApiProblem;
use crate::error::ConsoleError;

/// Forms are small; anything bigger is not from our pages.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// An `application/x-www-form-urlencoded` body; fields may repeat (checkboxes).
#[derive(Debug, Default)]
pub struct FormData {
    fields: Vec<(String, String)>,
}

impl FormData {
    /// Reads and parses a form body: at most [`MAX_FORM_BYTES`], and all of it within the
    /// configured time (else 408, and the connection closes).
    pub async fn read(
        state: &ConsoleState,
        mut payload: web::Payload,
    ) -> Result<Self, ConsoleError> {
        let timeout = state.settings.body_read_timeout;
        let read = async move {
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ConsoleError::BadRequest(format!("The form could not be read: {e}"))
                })?;
                if body.len() + chunk.len() > MAX_FORM_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        let body = actix_web::rt::time::timeout(timeout, read)
            .await
            .map_err(|_| ConsoleError::BodyTimeout(timeout.as_secs()))??;
        Self::parse(&body)
    }

    pub fn parse(body: &[u8]) -> Result<Self, ConsoleError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(too_large());
        }
        Ok(Self {
            fields: form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        })
    }

    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a field with surrounding blanks removed; `None` when blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Every non-blank value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

fn too_large() -> ConsoleError {
    ConsoleError::BadRequest(format!("The form is larger than {MAX_FORM_BYTES} bytes."))
}

/// Errors to show on a form: per field, and one for the form as a whole.
#[derive(Debug, Default)]
pub struct FieldErrors {
    by_field: BTreeMap<String, String>,
    pub general: Option<String>,
}

impl FieldErrors {
    /// Puts an API refusal next to the field it names when the form has that field; on top
    /// of the form otherwise.
    pub fn from_problem(problem: &ApiProblem, form_fields: &[&str]) -> Self {
        let mut errors = Self::default();
        match problem.field() {
            Some(f) => {
                // `team_roles[0].role_id` belongs to the `team_roles` input.
                let root = f.split(['[', '.']).next().unwrap_or(f);
                match form_fields.iter().find(|&&name| name == f || name == root) {
                    Some(name) => {
                        errors
                            .by_field
                            .insert((*name).to_string(), problem.message().to_string());
                    }
                    None => errors.general = Some(problem.description.clone()),
                }
            }
            None => errors.general = Some(problem.description.clone()),
        }
        errors
    }

    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.by_field.insert(name.to_string(), message.into());
        errors
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.by_field.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;

    #[test]
    fn repeated_and_blank_fields() {
        let f = FormData::parse(b"name=+ci+key+&scopes=a&scopes=&scopes=b&team=").expect("form");
        assert_eq!(f.text("name").as_deref(), Some("ci key"));
        assert_eq!(f.all("scopes"), vec!["a", "b"]);
        assert_eq!(f.text("team"), None);
        assert!(FormData::parse(&vec![b'a'; MAX_FORM_BYTES + 1]).is_err());
    }

    #[test]
    fn problems_land_next_to_their_field() {
        let problem = |d: &str, field: Option<&str>| ApiProblem {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request".into(),
            description: d.into(),
            field: field.map(str::to_string),
        };
        let e = FieldErrors::from_problem(
            &problem("name: must not be empty", Some("name")),
            &["name", "team_id"],
        );
        assert_eq!(e.get("name"), Some("must not be empty"));
        assert!(e.general.is_none());
        let e = FieldErrors::from_problem(
            &problem(
                "team_roles[0].role_id: no such role",
                Some("team_roles[0].role_id"),
            ),
            &["team_roles"],
        );
        assert_eq!(e.get("team_roles"), Some("no such role"));
        let e = FieldErrors::from_problem(&problem("body: bad", Some("body")), &["name"]);
        assert_eq!(e.general.as_deref(), Some("body: bad"));
    }

    #[test]
    fn the_field_member_decides_where_a_problem_lands() {
        let problem = |field: Option<&str>| ApiProblem {
            status: StatusCode::BAD_REQUEST,
            error: "invalid_request".into(),
            description: "name: must not be empty".into(),
            field: field.map(str::to_string),
        };
        // Without `field`, a description that merely looks like `name: …` stays on top.
        let e = FieldErrors::from_problem(&problem(None), &["name"]);
        assert_eq!(e.get("name"), None);
        assert_eq!(e.general.as_deref(), Some("name: must not be empty"));
        // With it, the problem goes next to that input.
        let e = FieldErrors::from_problem(&problem(Some("name")), &["name"]);
        assert_eq!(e.get("name"), Some("must not be empty"));
        assert!(e.general.is_none());
    }
}
