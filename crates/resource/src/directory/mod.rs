//! Teams, users and roles (seed 004): `/api/v1/teams`, `/api/v1/users`, `/api/v1/roles`, with
//! the Veza envelopes and fields. [`handlers`] holds the HTTP operations; each entity's module
//! (`teams`, `users`, `roles`) holds its request type, what the API shows of it, and the
//! functions the handlers call. Here is what they share: the author of a write (`Author`),
//! how a body applies (`Mode`), and the checks of text, lists and codes.
//!
//! A body is read into its entity's request type, which is both the parser and the OpenAPI
//! schema: a wrong type names its field (`team_roles[1].role_id: …`), an unknown field is
//! refused, and where `null` means something other than absence (PATCH changes only what it is
//! given) the field is an `Option<Option<T>>`: `None` absent, `Some(None)` null,
//! `Some(Some(v))` a value.
//!
//! Codes the seed shows as numbers or as names (`policy_type`, `persona`, `provider_types`,
//! digest `frequency`) are accepted as either and returned as given.

pub mod handlers;
mod roles;
mod teams;
mod users;

use serde::Serialize;
use serde_json::Value as Json;
use tessera_store::db::Window;

use crate::error::ApiError;
use crate::http::ListQuery;

pub use handlers::routes;
pub(crate) use users::hasher;

/// Longest free text (descriptions).
const MAX_TEXT: usize = 2000;
/// Longest name-like value (aliases, provider ids, person names, codes).
const MAX_NAME: usize = 200;
/// Longest list in a body (providers, team roles, digests).
const MAX_LIST: usize = 500;

/// 409 when the realm has another `kind` named `name` (names are unique per realm).
fn ensure_unused(taken: bool, kind: &str, name: &str) -> Result<(), ApiError> {
    if taken {
        return Err(ApiError::Conflict(format!(
            "a {kind} named {name:?} already exists"
        )));
    }
    Ok(())
}

/// `row`, or 404 naming the `kind` and id looked for.
fn found<T>(row: Option<T>, kind: &str, id: &str) -> Result<T, ApiError> {
    row.ok_or_else(|| ApiError::NotFound(format!("{kind} {id}")))
}

/// Paging parameters as a store window (one extra row tells whether there is more).
fn window(list: &ListQuery) -> Window<'_> {
    Window {
        after: list.page.after.as_deref(),
        limit: list.page.size + 1,
    }
}

fn filter_id<'a>(list: &'a ListQuery, field: &str) -> Result<Option<&'a str>, ApiError> {
    match list.filter_value(field) {
        None => Ok(None),
        Some(v) if tessera_core::id::is_uuid(v) => Ok(Some(v)),
        Some(v) => Err(ApiError::bad(
            "filter",
            format!("{field} {v:?} is not an id (a lowercase UUID)"),
        )),
    }
}

// ---- reading bodies ----

// A directory request body: a JSON object whose `id`, when sent, names what it is about.
use crate::http::RequestBody;

/// How a body applies: create (defaults for what is absent), replace (PUT: the same), or
/// patch (absent fields keep their value).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Create,
    Replace,
    Patch,
}

impl Mode {
    /// A required, non-null field on create and replace; on patch, absent keeps the value.
    fn required<T>(self, field: &str, sent: Option<Option<T>>) -> Result<Option<T>, ApiError> {
        match (sent, self) {
            (Some(Some(v)), _) => Ok(Some(v)),
            (None, Mode::Patch) => Ok(None),
            (Some(None), _) => Err(ApiError::bad(field, "must not be null")),
            (None, _) => Err(ApiError::bad(field, "is required")),
        }
    }

    /// An optional field: `Some(None)` clears it (null, or absent on create/replace); `None`
    /// keeps it (absent on patch).
    fn optional<T>(self, sent: Option<Option<T>>) -> Option<Option<T>> {
        match (sent, self) {
            (None, Mode::Patch) => None,
            (None, _) => Some(None),
            (sent, _) => sent,
        }
    }

    /// An optional field whose clearing value is `T::default()` (`""`, `[]`): `None` keeps.
    fn or_default<T: Default>(self, sent: Option<Option<T>>) -> Option<T> {
        self.optional(sent).map(Option::unwrap_or_default)
    }
}

/// A list of at most [`MAX_LIST`] entries.
fn check_list<T>(field: &str, list: &[T]) -> Result<(), ApiError> {
    if list.len() > MAX_LIST {
        return Err(ApiError::bad(field, format!("at most {MAX_LIST} entries")));
    }
    Ok(())
}

/// An entry of a list such as `providers` or `digest_settings`: an id, and an optional name
/// and code, under the body's own keys ([`ListEntry::KEYS`]).
trait ListEntry {
    /// The keys of the id, the name and the code, for error fields (`providers[0].id`).
    const KEYS: [&'static str; 3];
    fn parts(&self) -> (&str, Option<&str>, Option<&Json>);
}

/// At most [`MAX_LIST`] entries; each id a non-empty single line listed once, each name a
/// single line, each code a code.
fn check_entries<E: ListEntry>(field: &str, entries: &[E]) -> Result<(), ApiError> {
    check_list(field, entries)?;
    let [id_key, name_key, code_key] = E::KEYS;
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let (id, name, code) = entry.parts();
        let id_field = format!("{field}[{i}].{id_key}");
        if id.trim().is_empty() {
            return Err(ApiError::bad(id_field, "must not be empty"));
        }
        check_line(&id_field, id, MAX_NAME)?;
        if !seen.insert(id) {
            return Err(ApiError::bad(id_field, format!("{id:?} is listed twice")));
        }
        if let Some(name) = name {
            check_line(&format!("{field}[{i}].{name_key}"), name, MAX_NAME)?;
        }
        if let Some(code) = code {
            check_code(&format!("{field}[{i}].{code_key}"), code)?;
        }
    }
    Ok(())
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::bad(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_line(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    check_text(field, value, max)?;
    if value.chars().any(char::is_control) {
        return Err(ApiError::bad(field, "must be a single line"));
    }
    Ok(())
}

/// A code the seed shows as a number (`"policy_type": 1`) or a name (`"PROVIDER_ID_SET"`).
fn check_code(field: &str, v: &Json) -> Result<(), ApiError> {
    match v {
        Json::Number(n) if n.is_i64() => Ok(()),
        Json::String(s) if !s.trim().is_empty() => check_line(field, s, MAX_NAME),
        _ => Err(ApiError::bad(
            field,
            "must be a whole number or a non-empty name",
        )),
    }
}

/// A checked code as stored (text: a number as its digits, a name as itself); `null` is `""`.
fn store_code(field: &str, code: Option<Json>) -> Result<String, ApiError> {
    let Some(code) = code else {
        return Ok(String::new());
    };
    check_code(field, &code)?;
    Ok(match code {
        Json::String(name) => name,
        number => number.to_string(),
    })
}

/// A stored code as it was given: a number, a name, or `null` when there is none.
fn load_code(stored: &str) -> Json {
    if stored.is_empty() {
        Json::Null
    } else if let Ok(n) = stored.parse::<i64>() {
        Json::from(n)
    } else {
        Json::from(stored)
    }
}

fn to_json_text<T: Serialize>(v: &T) -> Result<String, ApiError> {
    serde_json::to_string(v).map_err(|e| ApiError::Internal(e.to_string()))
}
