//! RFC 6238 time-based one-time passwords (SHA-1, 6 digits, 30 s: what every authenticator
//! app understands) and recovery codes.
//!
//! Codes are checked against the server's clock one step either side (RFC 6238 §5.2); the
//! caller records the step accepted so no code is accepted twice.

use qrcode::QrCode;
use qrcode::render::svg;
use tessera_core::secret::constant_time_eq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::IssuerError;

const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
/// How many recovery codes a user gets; each works once.
pub const RECOVERY_CODES: usize = 10;

/// A new random secret (160 bits, RFC 4226 §4's recommended length), base32.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = tessera_core::id::random_bytes();
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => String::new(),
    }
}

fn totp(secret: &str, issuer: &str, account: &str) -> Result<TOTP, IssuerError> {
    let bytes = Secret::Encoded(secret.to_string())
        .to_bytes()
        .map_err(|e| IssuerError::Internal(format!("stored TOTP secret: {e}")))?;
    Ok(TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        bytes,
        Some(issuer.to_string()),
        account.to_string(),
    ))
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn provisioning_uri(secret: &str, issuer: &str, account: &str) -> Result<String, IssuerError> {
    Ok(totp(secret, issuer, account)?.get_url())
}

/// The QR code of `uri` as an inline SVG document.
pub fn qr_svg(uri: &str) -> Result<String, IssuerError> {
    let code =
        QrCode::new(uri.as_bytes()).map_err(|e| IssuerError::Internal(format!("QR code: {e}")))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// The time step `code` belongs to at `now` (one step either side), if it is a valid code.
/// Only steps after `last_step` count: a code already used is refused.
pub fn matching_step(secret: &str, code: &str, now: i64, last_step: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "", "").ok()?;
    let current = now.max(0) / STEP_SECS as i64;
    (current - 1..=current + 1)
        .filter(|step| *step > last_step && *step >= 0)
        .find(|step| {
            let expected = totp.generate(*step as u64 * STEP_SECS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

/// A set of fresh recovery codes (`xxxxx-xxxxx`, 50 bits each) to show once.
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes: [u8; 10] = tessera_core::id::random_bytes();
            let mut s = String::with_capacity(11);
            for (i, b) in bytes.iter().enumerate() {
                if i == 5 {
                    s.push('-');
                }
                s.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
            }
            s
        })
        .collect()
}

/// The stored form of a recovery code as typed: lower case, no spaces, the dash restored.
pub fn recovery_code_hash(typed: &str) -> String {
    let compact: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let normal = if compact.len() == 10 {
        format!("{}-{}", &compact[..5], &compact[5..])
    } else {
        compact
    };
    tessera_core::secret::sha256_hex(&normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 Appendix B: secret "12345678901234567890", T = 59 s -> 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = match Secret::Raw(b"12345678901234567890".to_vec()).to_encoded() {
            Secret::Encoded(s) => s,
            Secret::Raw(_) => unreachable!(),
        };
        assert_eq!(matching_step(&secret, "287082", 59, 0), Some(1));
        assert_eq!(matching_step(&secret, "287 082", 59, 0), Some(1));
        // The same code is refused once its step was used, and far from its time.
        assert_eq!(matching_step(&secret, "287082", 59, 1), None);
        assert_eq!(matching_step(&secret, "287082", 59 + 300, 0), None);
        assert_eq!(matching_step(&secret, "28708", 59, 0), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(
            recovery_code_hash(c),
            recovery_code_hash(&c.to_uppercase().replace('-', " "))
        );
        assert!(new_secret().len() >= 32);
    }
}
