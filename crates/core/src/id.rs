//! Identifiers and random tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `N` bytes from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes[..]);
    bytes
}

/// A random UUID (version 4) in its canonical lowercase form; the id of every stored entity.
pub fn new_uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A UUID (version 7 layout) that sorts by time: 48 bits of milliseconds, then a per-process
/// sequence, then random bits. Audit events use it so that events of one second list in the
/// order they were written.
pub fn new_time_ordered_uuid(unix_secs: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    // Time from the caller's clock (whole seconds); within a second the 12-bit sequence keeps
    // the order (it wraps after 4096 ids, which one second of audit events does not reach).
    let ms = (unix_secs.max(0) as u64) * 1000;
    let mut b = random_bytes::<16>();
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    let seq = (seq & 0x0fff) as u16;
    b[6] = 0x70 | (seq >> 8) as u8;
    b[7] = (seq & 0xff) as u8;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// True for the canonical lowercase UUID text form; used to reject ids that cannot exist
/// before touching storage.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

/// An opaque token of `N` random bytes, base64url without padding (URL- and header-safe).
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert!(is_uuid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn time_ordered_uuids_sort_in_creation_order() {
        let ids: Vec<String> = (0..50)
            .map(|_| new_time_ordered_uuid(1_700_000_000))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|i| is_uuid(i)));
        assert!(new_time_ordered_uuid(1_700_000_001) > ids[49]);
    }

    #[test]
    fn is_uuid_rejects_other_shapes() {
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
        assert!(!is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
    }

    #[test]
    fn random_token_has_requested_entropy() {
        let t = random_token::<32>();
        assert_eq!(t.len(), 43);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
