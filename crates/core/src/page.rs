//! Keyset pagination: a page token names the last row served, so page N costs what page 1
//! costs. Tokens are opaque to clients (base64url) but carry no secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ValidationError;

pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 500;

/// A request for one page: how many rows, and after which sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: i64,
    pub after: Option<String>,
}

impl PageRequest {
    /// From the `page_size` and `page_token` query parameters.
    pub fn parse(
        page_size: Option<&str>,
        page_token: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let size = match page_size.filter(|s| !s.is_empty()) {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ValidationError::new(
                        "page_size",
                        format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                    )
                })?,
        };
        let after = match page_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(decode_token(t).ok_or_else(|| {
                ValidationError::new(
                    "page_token",
                    "is not a page token from this API; pass next_page_token unchanged",
                )
            })?),
        };
        Ok(Self { size, after })
    }
}

const TOKEN_VERSION: &str = "k1:";

pub fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}{last_key}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let key = text.strip_prefix(TOKEN_VERSION)?;
    (!key.is_empty() && key.len() <= 256).then(|| key.to_string())
}

/// One page of results with the token for the next (empty when there is none).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched in order: the extra row only tells
    /// whether there is more.
    pub fn from_rows(mut rows: Vec<T>, size: i64, key_of: impl Fn(&T) -> String) -> Self {
        let has_more = rows.len() as i64 > size;
        rows.truncate(size.max(0) as usize);
        let next_page_token = match (has_more, rows.last()) {
            (true, Some(last)) => encode_token(&key_of(last)),
            _ => String::new(),
        };
        Self {
            items: rows,
            next_page_token,
        }
    }

    pub fn has_more(&self) -> bool {
        !self.next_page_token.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            PageRequest::parse(None, None).unwrap(),
            PageRequest {
                size: 100,
                after: None
            }
        );
        assert_eq!(PageRequest::parse(Some("500"), None).unwrap().size, 500);
        for bad in ["0", "501", "-1", "ten"] {
            assert_eq!(
                PageRequest::parse(Some(bad), None).unwrap_err().field,
                "page_size"
            );
        }
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("0f8fad5b-d9cb-469f-a165-70867728950e");
        let p = PageRequest::parse(None, Some(&t)).unwrap();
        assert_eq!(
            p.after.as_deref(),
            Some("0f8fad5b-d9cb-469f-a165-70867728950e")
        );
        for bad in ["!!!", "aGVsbG8", &URL_SAFE_NO_PAD.encode("k1:")] {
            assert_eq!(
                PageRequest::parse(None, Some(bad)).unwrap_err().field,
                "page_token"
            );
        }
    }

    #[test]
    fn from_rows_sets_the_next_token_only_when_there_is_more() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_more());
        assert_eq!(
            PageRequest::parse(None, Some(&page.next_page_token))
                .unwrap()
                .after
                .as_deref(),
            Some("2")
        );
        let last = Page::from_rows(vec![1, 2], 2, |n| n.to_string());
        assert!(!last.has_more());
        assert_eq!(last.next_page_token, "");
    }
}
