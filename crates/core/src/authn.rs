//! How a sign-in was proven: RFC 8176 authentication method references (`amr`) and the
//! authentication context class (`acr`) they add up to.
//!
//! Stored as space-separated `amr` values on the browser session and carried to its codes and
//! refresh tokens; `acr` is never stored, always derived here, so the two cannot disagree.

/// `amr` of a password sign-in.
pub const PASSWORD: &str = "pwd";
/// `amr` of a password and a TOTP or recovery code.
pub const PASSWORD_AND_OTP: &str = "pwd otp mfa";
/// `amr` of a password and a passkey.
pub const PASSWORD_AND_PASSKEY: &str = "pwd hwk mfa";
/// `amr` of a passkey alone: possession of the key and the authenticator's own user
/// verification (PIN or biometric), which webauthn-rs requires for passkeys.
pub const PASSKEY: &str = "hwk user mfa";

/// `acr` of a single-factor sign-in.
pub const ACR_SINGLE_FACTOR: &str = "1";
/// `acr` of a multi-factor sign-in.
pub const ACR_MULTI_FACTOR: &str = "2";
/// The `acr` values discovery advertises and `acr_values` may name, weakest first.
pub const ACR_VALUES: [&str; 2] = [ACR_SINGLE_FACTOR, ACR_MULTI_FACTOR];

/// The public id of a browser session (its OIDC `sid`): derived from the hash of its cookie,
/// never the cookie or that hash, so ID tokens, logout tokens and the sessions API agree
/// without storing another value, and showing it lets no one forge the cookie.
pub fn session_sid(session_sha256: &str) -> String {
    use base64::Engine;
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("tessera-sid:{session_sha256}").as_bytes(),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..18])
}

/// Whether the stored `amr` proves more than one factor.
pub fn is_multi_factor(amr: &str) -> bool {
    amr.split(' ').any(|m| m == "mfa")
}

/// The `acr` an `amr` earns.
pub fn acr_of(amr: &str) -> &'static str {
    if is_multi_factor(amr) {
        ACR_MULTI_FACTOR
    } else {
        ACR_SINGLE_FACTOR
    }
}

/// `amr` as the JSON array an ID token carries.
pub fn amr_list(amr: &str) -> Vec<&str> {
    amr.split(' ').filter(|m| !m.is_empty()).collect()
}

/// Whether a sign-in of `amr` satisfies a request's `acr_values` (OIDC Core §3.1.2.1): the
/// weakest class requested that Tessera knows decides; unknown values are ignored, and a
/// request naming only unknown values asks for nothing.
pub fn satisfies(amr: &str, acr_values: &str) -> bool {
    !requires_multi_factor(acr_values) || is_multi_factor(amr)
}

/// Whether `acr_values` asks for a multi-factor sign-in: every known value it names is
/// the multi-factor class.
pub fn requires_multi_factor(acr_values: &str) -> bool {
    let known: Vec<&str> = acr_values
        .split(' ')
        .filter(|v| ACR_VALUES.contains(v))
        .collect();
    !known.is_empty() && known.iter().all(|v| *v == ACR_MULTI_FACTOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_follows_the_factors() {
        assert_eq!(acr_of(PASSWORD), "1");
        assert_eq!(acr_of(PASSWORD_AND_OTP), "2");
        assert_eq!(acr_of(PASSKEY), "2");
        assert_eq!(amr_list(PASSWORD_AND_PASSKEY), ["pwd", "hwk", "mfa"]);
    }

    #[test]
    fn acr_values_ask_for_the_weakest_known_class() {
        assert!(requires_multi_factor("2"));
        assert!(requires_multi_factor("urn:other 2"));
        assert!(!requires_multi_factor("1 2"));
        assert!(!requires_multi_factor("urn:other"));
        assert!(!requires_multi_factor(""));
        assert!(satisfies(PASSWORD, "1"));
        assert!(!satisfies(PASSWORD, "2"));
        assert!(satisfies(PASSKEY, "2"));
    }
}
