//! The one username rule, shared by the REST API, the CLI, import, bootstrap and service
//! accounts.
//!
//! It follows the PRECIS `UsernameCaseMapped` profile (RFC 8265) in spirit: a username is
//! NFKC-normalised and compared case-insensitively, so `Admin`, `ADMIN` and fullwidth
//! `ａｄｍｉｎ` are one user. On top of that, names that *look* alike are one name too: the
//! UTS #39 confusable skeleton (`раураl` in Cyrillic against `paypal` in Latin) must be unique
//! per realm, and a name may not mix scripts. Invisible and direction-changing characters
//! (zero-width spaces, bidi overrides) are refused outright: they exist only to make two
//! different names read the same.
//!
//! Pure: no I/O. The store keeps [`Username::key`] and [`Username::skeleton`] in unique
//! columns; sign-in looks users up by the key computed from what was typed.

use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::{GeneralSecurityProfile, MixedScript};

use crate::error::ValidationError;

/// The longest username, in bytes of its NFKC form (a column and index limit, and long enough
/// for any e-mail address).
pub const MAX_BYTES: usize = 255;

/// The field every username error names.
const FIELD: &str = "username";

/// A username that passed the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
    skeleton: String,
}

impl Username {
    /// The form stored and shown: the input, NFKC-normalised, case kept.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The lookup and uniqueness key: NFKC, lowercased, NFKC again.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The UTS #39 confusable skeleton of [`Self::key`]: two names with the same skeleton
    /// look alike and may not both exist in a realm.
    pub fn skeleton(&self) -> &str {
        &self.skeleton
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// The lookup key of whatever was typed at sign-in, without judging it: a name the rule
/// refuses can still be looked up (and simply not found).
pub fn lookup_key(input: &str) -> String {
    let nfkc: String = input.nfkc().collect();
    nfkc.to_lowercase().nfkc().collect()
}

/// The confusable skeleton of [`lookup_key`]`(input)`, without judging the input: for
/// comparing with names stored before the rule.
pub fn lookup_skeleton(input: &str) -> String {
    unicode_security::skeleton(&lookup_key(input)).collect()
}

/// Checks `input` against the rule and returns its stored form, key and skeleton.
///
/// Leading or trailing spaces are refused rather than trimmed: a name that silently differs
/// from what was typed is how lookalikes start.
pub fn parse(input: &str) -> Result<Username, ValidationError> {
    if input.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if input.trim() != input {
        return Err(invalid("starts or ends with a space; remove it"));
    }
    let display: String = input.nfkc().collect();
    if display.len() > MAX_BYTES {
        return Err(invalid(format!(
            "is {} bytes long; use at most {MAX_BYTES}",
            display.len()
        )));
    }
    for c in display.chars() {
        check_char(c)?;
    }
    if !display.as_str().is_single_script() {
        return Err(invalid(format!(
            "{} mixes letters of different scripts (e.g. Latin and Cyrillic); use one script",
            quoted(&display)
        )));
    }
    let key = lookup_key(&display);
    let skeleton = unicode_security::skeleton(&key).collect();
    Ok(Username {
        display,
        key,
        skeleton,
    })
}

/// Letters and digits of any script, plus ASCII `. _ - @ +`; everything else is refused with
/// a message saying which character and why.
fn check_char(c: char) -> Result<(), ValidationError> {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+') {
            return Ok(());
        }
    } else if (c.is_alphabetic() || c.is_numeric() || c.identifier_allowed()) && !is_invisible(c) {
        // `identifier_allowed` (UTS #39 Identifier_Status) adds the combining marks that
        // many scripts need to write a name at all (the Devanagari virama, for one).
        return Ok(());
    }
    let code = format!("U+{:04X}", u32::from(c));
    let message = if c.is_control() {
        format!("contains the control character {code}; remove it")
    } else if is_invisible(c) {
        format!("contains an invisible or direction-changing character {code}; remove it")
    } else if c.is_whitespace() {
        format!("contains a space ({code}); use letters, digits, '.', '_', '-', '@' or '+'")
    } else {
        format!(
            "contains {code} ({c:?}), which is not allowed; use letters, digits, '.', '_', '-', '@' or '+'"
        )
    };
    Err(invalid(message))
}

/// Format characters and default-ignorable code points: zero-width spaces and joiners,
/// bidirectional marks, embeddings, overrides and isolates, the BOM, tag characters.
fn is_invisible(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    ) || c.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

/// The name for a message: ASCII as is, anything else with its code points spelled out, so
/// the error stays readable where only ASCII survives (OAuth error descriptions).
fn quoted(s: &str) -> String {
    if s.is_ascii() {
        format!("{s:?}")
    } else {
        let codes: Vec<String> = s
            .chars()
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        format!("{s:?} ({})", codes.join(" "))
    }
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new(FIELD, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Username {
        match parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s:?} refused: {e}"),
        }
    }

    fn refused(s: &str) -> ValidationError {
        match parse(s) {
            Ok(u) => panic!("{s:?} accepted as {u:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn existing_ascii_names_stay_valid_and_keep_their_form() {
        for name in [
            "admin",
            "a.b+c@example.com",
            "service-account-foo",
            "ada_lovelace",
            "x",
            "Ada.Lovelace-2@Example.org",
        ] {
            let u = ok(name);
            assert_eq!(u.as_str(), name);
            assert_eq!(u.key(), name.to_lowercase());
        }
    }

    #[test]
    fn case_and_width_do_not_make_a_new_name() {
        let lower = ok("admin");
        let upper = ok("Admin");
        assert_eq!(upper.as_str(), "Admin");
        assert_eq!(upper.key(), lower.key());
        assert_eq!(upper.skeleton(), lower.skeleton());
        let wide = ok("ａｄｍｉｎ");
        assert_eq!(wide.as_str(), "admin");
        assert_eq!(wide.key(), "admin");
        assert_eq!(lookup_key("ADMIN"), "admin");
        assert_eq!(lookup_key("ＡＤＭＩＮ"), "admin");
    }

    #[test]
    fn letters_of_any_single_script_are_names() {
        assert_eq!(ok("Zoë").key(), "zoë");
        assert_eq!(ok("Ωμέγα").key(), "ωμέγα");
        assert_eq!(ok("иван").as_str(), "иван");
        assert!(parse("山田太郎").is_ok());
        assert!(parse("やまだ").is_ok());
        assert!(parse("山田.42@例え").is_ok());
        assert!(
            parse("नमस्ते").is_ok(),
            "needs the virama U+094D, a combining mark"
        );
        assert!(
            refused("ab\u{200D}c").message.contains("U+200D"),
            "zero-width joiner"
        );
        assert!(parse("Ωmega").is_err(), "Greek and Latin");
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_refused() {
        let e = refused("admin\u{202E}nimda");
        assert_eq!(e.field, "username");
        assert!(e.message.contains("U+202E"), "{}", e.message);
        assert!(e.message.contains("invisible or direction-changing"));
        assert!(e.message.contains("remove it"));
        let e = refused("ad\u{200B}min");
        assert!(e.message.contains("U+200B"), "{}", e.message);
        assert!(refused("admin\u{FEFF}").message.contains("U+FEFF"));
        assert!(refused("a\u{2066}b").message.contains("U+2066"));
    }

    #[test]
    fn spaces_controls_and_symbols_are_refused() {
        assert!(refused("ada lovelace").message.contains("space"));
        assert!(
            refused(" admin")
                .message
                .contains("starts or ends with a space")
        );
        assert!(refused("admin ").message.contains("remove it"));
        assert!(
            refused("ad\u{0007}min")
                .message
                .contains("control character U+0007")
        );
        assert!(
            refused("a\u{00A0}b").message.contains("U+0020"),
            "NBSP is NFKC to a space"
        );
        assert!(refused("a/b").message.contains("U+002F"));
        assert!(refused("a☃b").message.contains("U+2603"));
        assert!(
            refused("a\u{0378}b").message.contains("U+0378"),
            "unassigned"
        );
        assert!(refused("").message.contains("empty"));
    }

    #[test]
    fn length_is_counted_in_bytes_after_normalisation() {
        assert!(parse(&"a".repeat(255)).is_ok());
        assert!(refused(&"a".repeat(256)).message.contains("256 bytes"));
        // 128 two-byte letters: 256 bytes.
        assert!(parse(&"é".repeat(128)).is_err());
    }

    #[test]
    fn mixed_scripts_are_refused() {
        // Latin "p", "a", "y" with a Cyrillic "а" (U+0430).
        let e = refused("p\u{0430}ypal");
        assert_eq!(e.field, "username");
        assert!(e.message.contains("different scripts"), "{}", e.message);
        assert!(e.message.contains("U+0430"), "{}", e.message);
        // Digits and the ASCII punctuation are Common: fine beside any script.
        assert!(parse("иван.42@почта").is_ok());
    }

    #[test]
    fn whole_script_lookalikes_share_a_skeleton() {
        let latin = ok("paypa");
        let cyrillic = ok("\u{0440}\u{0430}\u{0443}\u{0440}\u{0430}");
        assert_ne!(latin.key(), cyrillic.key());
        assert_eq!(latin.skeleton(), cyrillic.skeleton());
        // Skeletons of different-looking names differ.
        assert_ne!(ok("alice").skeleton(), ok("bob").skeleton());
    }
}
