//! The one domain error: input that breaks a rule, naming the field and what to fix.

use std::fmt;

/// Input that breaks a domain rule. `field` names what to fix; `message` says how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Text safe for an OAuth `error_description` (RFC 6749 §5.2) and for a quoted string in a
/// `WWW-Authenticate` challenge (RFC 6750 §3): `%x20-21 / %x23-5B / %x5D-7E` only. Quotes and
/// backslashes are replaced, anything else outside printable ASCII becomes `?`.
pub fn wire_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}
