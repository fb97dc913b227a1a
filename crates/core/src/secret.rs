//! Client secrets and other high-entropy credentials: generated here, stored only as SHA-256,
//! compared in constant time. A slow KDF buys nothing for 256-bit random values and would cost
//! every token request (docs/security.md, "How secrets are kept").

use ring::digest::{SHA256, digest};

/// A freshly generated client secret: the value to show once, and what to store.
pub struct GeneratedSecret {
    pub plain: String,
    pub sha256_hex: String,
}

/// 256 random bits, base64url: 43 characters, safe in Basic credentials and form bodies.
pub fn generate_client_secret() -> GeneratedSecret {
    let plain = crate::id::random_token::<32>();
    let sha256_hex = sha256_hex(&plain);
    GeneratedSecret { plain, sha256_hex }
}

/// Lowercase hex SHA-256 of a credential, the only form we store.
pub fn sha256_hex(value: &str) -> String {
    hex(digest(&SHA256, value.as_bytes()).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

/// Constant-time equality: the time taken depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a presented secret against its stored SHA-256 hex in constant time.
pub fn verify_secret(presented: &str, stored_sha256_hex: &str) -> bool {
    constant_time_eq(
        sha256_hex(presented).as_bytes(),
        stored_sha256_hex.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_verifies_and_has_256_bits() {
        let s = generate_client_secret();
        assert_eq!(s.plain.len(), 43);
        assert_eq!(s.sha256_hex.len(), 64);
        assert!(verify_secret(&s.plain, &s.sha256_hex));
        assert!(!verify_secret(&format!("{}x", s.plain), &s.sha256_hex));
        assert_ne!(generate_client_secret().plain, s.plain);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"samf"));
        assert!(!constant_time_eq(b"same", b"sam"));
    }
}
