//! The API-key format: `<prefix>_<body><checksum>`.
//!
//! The body is 30 base62 characters (≈178 random bits); the checksum is the CRC32 of
//! `<prefix>_<body>`, as 6 base62 characters. A string that does not have this shape is an
//! *invalid* key; one with the shape but a wrong checksum is *malformed* (a copy-and-paste
//! error). Both are decided here, without a database query (seed 002).

use crate::secret::sha256_hex;

/// RFC 8693 grant type of the token exchange that turns an API key into a JWT.
pub const TOKEN_EXCHANGE_GRANT: &str = crate::model::GrantType::TokenExchange.as_str();
/// The `subject_token_type` naming an API key (ours; RFC 8693 §3 allows any URI).
pub const API_KEY_TOKEN_TYPE: &str = "urn:tessera:params:oauth:token-type:api-key";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 30;
const CHECKSUM_LEN: usize = 6;

/// What a key is for; each kind has its own prefix so a leaked key is recognisable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// A personal secret key (`sk`): acts for its creator within one team.
    PersonalSecret,
    /// A personal public key (`pk`): identifies, grants only what its role allows.
    PersonalPublic,
    /// A team key: a service account of one team (`oaa_push` by default).
    Team,
}

impl ApiKeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::PersonalSecret => "tsk",
            Self::PersonalPublic => "tpk",
            Self::Team => "ttk",
        }
    }

    fn from_prefix(p: &str) -> Option<Self> {
        match p {
            "tsk" => Some(Self::PersonalSecret),
            "tpk" => Some(Self::PersonalPublic),
            "ttk" => Some(Self::Team),
            _ => None,
        }
    }
}

/// Why a presented string is not a usable key, before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormatError {
    /// Not of the key format at all.
    Invalid,
    /// The format is right but the checksum is not: a mistyped or truncated key.
    Malformed,
}

/// A key that passed the format and checksum checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey<'a> {
    pub kind: ApiKeyKind,
    pub value: &'a str,
}

impl ParsedApiKey<'_> {
    /// The only form of the key that is stored.
    pub fn sha256_hex(&self) -> String {
        sha256_hex(self.value)
    }
}

/// A newly generated key: the value to show once, what to store, and how to display it later.
#[derive(Debug, Clone)]
pub struct GeneratedApiKey {
    pub value: String,
    pub sha256_hex: String,
    pub last_four: String,
}

pub fn generate(kind: ApiKeyKind) -> GeneratedApiKey {
    let random = crate::id::random_bytes::<BODY_LEN>();
    // 62 * 4 = 248 ≤ 256: rejecting bytes ≥ 248 keeps every character equally likely.
    let mut body = String::with_capacity(BODY_LEN);
    let mut source = random.to_vec();
    while body.len() < BODY_LEN {
        for b in source.iter().copied() {
            if b < 248 && body.len() < BODY_LEN {
                body.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
        source = crate::id::random_bytes::<BODY_LEN>().to_vec();
    }
    let head = format!("{}_{body}", kind.prefix());
    let value = format!("{head}{}", checksum(&head));
    GeneratedApiKey {
        sha256_hex: sha256_hex(&value),
        last_four: value[value.len() - 4..].to_string(),
        value,
    }
}

/// Checks shape and checksum. Cheap enough to run on every request.
pub fn parse(candidate: &str) -> Result<ParsedApiKey<'_>, KeyFormatError> {
    let (prefix, rest) = candidate.split_once('_').ok_or(KeyFormatError::Invalid)?;
    let kind = ApiKeyKind::from_prefix(prefix).ok_or(KeyFormatError::Invalid)?;
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Invalid);
    }
    let (head, sum) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
    if checksum(head) != sum {
        return Err(KeyFormatError::Malformed);
    }
    Ok(ParsedApiKey {
        kind,
        value: candidate,
    })
}

/// True when the string starts like one of our keys (so it is not a JWT).
pub fn looks_like_api_key(candidate: &str) -> bool {
    candidate
        .split_once('_')
        .is_some_and(|(p, _)| ApiKeyKind::from_prefix(p).is_some())
}

/// What the API shows instead of the value: the prefix and the last four characters.
pub fn masked(kind_prefix: &str, last_four: &str) -> String {
    format!("{kind_prefix}_…{last_four}")
}

fn checksum(head: &str) -> String {
    let mut n = crc32(head.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// CRC-32 (IEEE 802.3), bitwise: keys are short, so a table buys nothing.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_parse_and_are_distinct() {
        for kind in [
            ApiKeyKind::PersonalSecret,
            ApiKeyKind::PersonalPublic,
            ApiKeyKind::Team,
        ] {
            let k = generate(kind);
            assert!(k.value.starts_with(&format!("{}_", kind.prefix())));
            assert_eq!(k.value.len(), 4 + BODY_LEN + CHECKSUM_LEN);
            let parsed = parse(&k.value).unwrap();
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.sha256_hex(), k.sha256_hex);
            assert!(looks_like_api_key(&k.value));
            assert_ne!(generate(kind).value, k.value);
        }
    }

    #[test]
    fn invalid_and_malformed_are_told_apart() {
        let k = generate(ApiKeyKind::PersonalSecret).value;
        // Not the format: wrong prefix, wrong length, characters outside base62.
        let wrong_prefix = format!("xyz{}", &k[3..]);
        let too_short = k[..k.len() - 1].to_string();
        let too_long = format!("{k}0");
        let bad_char = format!("{}-{}", &k[..10], &k[11..]);
        for bad in [
            "",
            "hello",
            "tsk_",
            &wrong_prefix,
            &too_short,
            &too_long,
            &bad_char,
        ] {
            assert_eq!(parse(bad), Err(KeyFormatError::Invalid), "{bad}");
        }
        assert_eq!(parse("eyJhbGciOi.x.y"), Err(KeyFormatError::Invalid));
        // Right shape, one character changed: the checksum catches it.
        let mut chars: Vec<char> = k.chars().collect();
        chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(parse(&typo), Err(KeyFormatError::Malformed));
    }

    #[test]
    fn masking_keeps_prefix_and_last_four() {
        let k = generate(ApiKeyKind::Team);
        assert_eq!(
            masked("ttk", &k.last_four),
            format!("ttk_…{}", &k.value[k.value.len() - 4..])
        );
    }
}
