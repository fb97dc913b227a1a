//! PKCE (RFC 7636) with the S256 method, the only one accepted: what a well-formed challenge
//! or verifier is, and whether a verifier answers a challenge. The authorization endpoint
//! checks the challenge's form, the token endpoint the verifier; both read this module.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// RFC 7636 §4.1/§4.2: 43 to 128 characters of the unreserved set `[A-Za-z0-9-._~]`. An S256
/// challenge (43 characters of base64url) has this form too.
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The S256 challenge of `verifier`: base64url (unpadded) of its SHA-256.
pub fn s256_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `verifier` is well formed and its S256 challenge is `challenge`, compared in
/// constant time (a wrong verifier may be a guess).
pub fn verify(challenge: &str, verifier: &str) -> bool {
    is_well_formed(verifier)
        && crate::secret::constant_time_eq(
            s256_challenge(verifier).as_bytes(),
            challenge.as_bytes(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_appendix_b_verifier_answers_its_challenge() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verify(CHALLENGE, VERIFIER));
        assert!(!verify(CHALLENGE, &VERIFIER.replace('d', "e")));
        // The challenge itself is not a verifier of itself.
        assert!(!verify(CHALLENGE, CHALLENGE));
    }

    #[test]
    fn a_verifier_of_the_wrong_form_never_matches() {
        // Too short: the same digest check would pass, the form check does not.
        let short = "a".repeat(42);
        assert!(!verify(&s256_challenge(&short), &short));
        let plus = format!("{}+", "a".repeat(43));
        assert!(!verify(&s256_challenge(&plus), &plus));
    }

    #[test]
    fn values_are_43_to_128_unreserved_characters() {
        assert!(is_well_formed(&"a".repeat(43)));
        assert!(is_well_formed(&"a".repeat(128)));
        assert!(is_well_formed(
            "-._~0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
        ));
        assert!(!is_well_formed(&"a".repeat(42)));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
        assert!(!is_well_formed(&format!("{}é", "a".repeat(43))));
    }
}
