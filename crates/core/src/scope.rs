//! OAuth scopes: parsing what clients send and rendering what we grant.
//!
//! RFC 6749 §3.3 separates scopes with spaces. Our users' scripts (seed 001) separate them
//! with commas, so both are accepted; a comma is therefore never part of a scope name.

use crate::error::ValidationError;
use std::collections::BTreeSet;
use std::fmt;

/// Longest scope name we accept; anything longer is a mistake, not a scope.
pub const MAX_SCOPE_LEN: usize = 128;

/// A set of scope names, kept sorted and de-duplicated so the rendering is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<String>);

impl ScopeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a `scope` parameter: names separated by spaces and/or commas.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let mut set = BTreeSet::new();
        for name in crate::permission::split_list(input) {
            validate_scope_name(name)?;
            set.insert(name.to_string());
        }
        Ok(Self(set))
    }

    /// Parses a list we stored ourselves ([`crate::permission::split_list`]).
    pub fn from_stored(stored: &str) -> Self {
        Self(crate::permission::parse_list(stored))
    }

    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(names.into_iter().map(Into::into).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The names, sorted: a JSON list.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    pub fn insert(&mut self, name: impl Into<String>) {
        self.0.insert(name.into());
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name)
    }

    /// The names in `self` that `allowed` lacks, in order; empty when `self ⊆ allowed`.
    pub fn not_in(&self, allowed: &ScopeSet) -> Vec<&str> {
        self.0
            .iter()
            .filter(|s| !allowed.0.contains(*s))
            .map(String::as_str)
            .collect()
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, as RFC 6749 §3.3 and RFC 9068 §2.2.3 render it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
            first = false;
        }
        Ok(())
    }
}

/// A scope name: RFC 6749 scope-token characters (`%x21 / %x23-5B / %x5D-7E`), no comma.
pub fn validate_scope_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() {
        return Err(ValidationError::new("scope", "a scope name is empty"));
    }
    if name.len() > MAX_SCOPE_LEN {
        return Err(ValidationError::new(
            "scope",
            format!("scope names are at most {MAX_SCOPE_LEN} characters"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e') || c == ',')
    {
        return Err(ValidationError::new(
            "scope",
            format!(
                "scope name contains {bad:?}; use printable ASCII without spaces, commas, quotes or backslashes"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_commas_both_separate() {
        let a = ScopeSet::parse("jobs:read clusters:read").unwrap();
        let b = ScopeSet::parse("jobs:read,clusters:read").unwrap();
        let c = ScopeSet::parse(" clusters:read, jobs:read  jobs:read").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), "clusters:read jobs:read");
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn empty_input_is_an_empty_set() {
        assert!(ScopeSet::parse("").unwrap().is_empty());
        assert!(ScopeSet::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn rejects_characters_outside_scope_token() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "tab\there"] {
            let err = ScopeSet::parse(bad).unwrap_err();
            assert_eq!(err.field, "scope", "{bad}");
        }
        assert!(ScopeSet::parse(&"x".repeat(MAX_SCOPE_LEN + 1)).is_err());
    }

    #[test]
    fn not_in_lists_what_is_missing() {
        let allowed = ScopeSet::parse("a b").unwrap();
        let asked = ScopeSet::parse("a c d").unwrap();
        assert_eq!(asked.not_in(&allowed), vec!["c", "d"]);
        assert!(!asked.is_subset(&allowed));
        assert!(ScopeSet::parse("b").unwrap().is_subset(&allowed));
    }
}
