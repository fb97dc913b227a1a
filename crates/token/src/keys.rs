//! Signing keys on disk and the key set in force.
//!
//! Each key is one PEM file named `<alg>-<created unix seconds>-<random>.pem` in the keys
//! directory (mode 0600). Everything else is derived from the names and the clock:
//! - a key is *published* in the JWKS from the moment its file exists;
//! - it *signs* once it is older than the activation delay (so verifiers that cache the JWKS
//!   see it before any token uses it), and until a newer key of its algorithm activates;
//! - after that it stays published for the retention period (the longest token lifetime plus
//!   leeway), so tokens it signed keep verifying, then `tessera keys rotate` deletes it.
//!
//! Replicas sharing the directory therefore agree without talking to each other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair;
use josekit::jws::{ES256, JwsSigner, RS256};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::claims::AccessTokenClaims;
use crate::error::TokenError;
use crate::jwks::{public_jwk, thumbprint};

/// JWS algorithms we sign with. ES256 for access tokens (cheap); RS256 for ID tokens (OIDC's
/// mandatory default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlg {
    Es256,
    Rs256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::Rs256];

    pub fn jose_name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    fn file_prefix(self) -> &'static str {
        match self {
            Self::Es256 => "es256",
            Self::Rs256 => "rs256",
        }
    }

    pub fn from_jose_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// How long a new key waits before signing and how long a retired key stays published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    pub activation_delay_secs: i64,
    pub retention_secs: i64,
}

/// One key loaded from disk.
#[derive(Debug)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: i64,
    pub path: PathBuf,
    signer: Box<dyn JwsSigner>,
    public_jwk: serde_json::Map<String, serde_json::Value>,
    /// The public key as DER SubjectPublicKeyInfo (Keycloak's realm document publishes it).
    public_der: Vec<u8>,
}

impl SigningKey {
    fn load(path: &Path, alg: SigningAlg, created_at: i64) -> Result<Self, TokenError> {
        let pem = fs::read(path)
            .map_err(|e| TokenError::Keys(format!("cannot read {}: {e}", path.display())))?;
        let bad = |e: josekit::JoseError| {
            TokenError::Keys(format!(
                "{} is not a {} key: {e}",
                path.display(),
                alg.jose_name()
            ))
        };
        type Loaded = (josekit::jwk::Jwk, Vec<u8>, Box<dyn JwsSigner>);
        let (jwk, public_der, signer): Loaded = match alg {
            SigningAlg::Es256 => {
                let pair = ES256.key_pair_from_pem(&pem).map_err(bad)?;
                (
                    pair.to_jwk_public_key(),
                    pair.to_der_public_key(),
                    Box::new(ES256.signer_from_pem(&pem).map_err(bad)?),
                )
            }
            SigningAlg::Rs256 => {
                let pair = RS256.key_pair_from_pem(&pem).map_err(bad)?;
                (
                    pair.to_jwk_public_key(),
                    pair.to_der_public_key(),
                    Box::new(RS256.signer_from_pem(&pem).map_err(bad)?),
                )
            }
        };
        let map: &serde_json::Map<String, serde_json::Value> = jwk.as_ref();
        let kid = thumbprint(map)?;
        let public_jwk = public_jwk(map, &kid, alg.jose_name());
        Ok(Self {
            kid,
            alg,
            created_at,
            path: path.to_path_buf(),
            signer,
            public_jwk,
            public_der,
        })
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    pub fn public_jwk(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.public_jwk
    }

    /// Signs a compact JWS over `header_json.payload_json` with this key.
    pub fn sign_compact(&self, typ: &str, payload_json: &[u8]) -> Result<String, TokenError> {
        let header = format!(
            r#"{{"alg":"{}","typ":"{}","kid":"{}"}}"#,
            self.alg.jose_name(),
            typ,
            self.kid
        );
        let mut out = String::with_capacity(64 + payload_json.len() * 4 / 3 + 350);
        URL_SAFE_NO_PAD.encode_string(header.as_bytes(), &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload_json, &mut out);
        let signature = self
            .signer
            .sign(out.as_bytes())
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}

/// The keys in force at one moment: what signs, what is published, and the JWKS bytes.
#[derive(Debug)]
pub struct KeySet {
    signing: HashMap<SigningAlg, Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    jwks_json: Arc<[u8]>,
}

impl KeySet {
    /// Chooses signing and published keys from `keys` at time `now` under `policy`.
    fn select(keys: &[Arc<SigningKey>], policy: KeyPolicy, now: i64) -> Result<Self, TokenError> {
        let mut signing = HashMap::new();
        let mut published = Vec::new();
        for alg in SigningAlg::ALL {
            let mut of_alg: Vec<&Arc<SigningKey>> = keys.iter().filter(|k| k.alg == alg).collect();
            of_alg.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
            if of_alg.is_empty() {
                return Err(TokenError::Keys(format!(
                    "no {} key in the keys directory",
                    alg.jose_name()
                )));
            }
            let activates = |k: &SigningKey| k.created_at + policy.activation_delay_secs;
            // The newest key already active; with none active yet (a fresh install), the oldest.
            let active_index = of_alg
                .iter()
                .rposition(|k| activates(k) <= now)
                .unwrap_or(0);
            let active = of_alg[active_index];
            signing.insert(alg, Arc::clone(active));
            for (i, key) in of_alg.iter().enumerate() {
                let keep = if i >= active_index {
                    true
                } else {
                    // Retired when its successor activated; published for the retention period.
                    let retired_at = activates(of_alg[i + 1]);
                    now < retired_at + policy.retention_secs
                };
                if keep {
                    published.push(Arc::clone(key));
                }
            }
        }
        let jwks = serde_json::json!({
            "keys": published.iter().map(|k| serde_json::Value::Object(k.public_jwk.clone())).collect::<Vec<_>>()
        });
        let jwks_json: Arc<[u8]> = serde_json::to_vec(&jwks)
            .map_err(|e| TokenError::Keys(e.to_string()))?
            .into();
        Ok(Self {
            signing,
            published,
            jwks_json,
        })
    }

    pub fn signing_key(&self, alg: SigningAlg) -> Option<&Arc<SigningKey>> {
        self.signing.get(&alg)
    }

    pub fn published(&self) -> &[Arc<SigningKey>] {
        &self.published
    }

    /// The JWKS document, serialised once per key change.
    pub fn jwks_json(&self) -> Arc<[u8]> {
        Arc::clone(&self.jwks_json)
    }

    /// Mints an RFC 9068 access token (`typ: at+jwt`) with the active key of `alg`.
    pub fn sign_access_token(
        &self,
        alg: SigningAlg,
        claims: &AccessTokenClaims,
    ) -> Result<String, TokenError> {
        let key = self
            .signing_key(alg)
            .ok_or_else(|| TokenError::Signing(format!("no {} key", alg.jose_name())))?;
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        key.sign_compact("at+jwt", &payload)
    }

    /// Signs arbitrary JWT claims (ID tokens) with the active key of `alg`.
    pub fn sign_jwt(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &serde_json::Value,
    ) -> Result<String, TokenError> {
        let key = self
            .signing_key(alg)
            .ok_or_else(|| TokenError::Signing(format!("no {} key", alg.jose_name())))?;
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        key.sign_compact(typ, &payload)
    }
}

/// A key file's algorithm and creation time, parsed from its name.
fn parse_key_file_name(name: &str) -> Option<(SigningAlg, i64)> {
    let stem = name.strip_suffix(".pem")?;
    let mut parts = stem.splitn(3, '-');
    let alg = match parts.next()? {
        "es256" => SigningAlg::Es256,
        "rs256" => SigningAlg::Rs256,
        _ => return None,
    };
    let created = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((alg, created))
}

/// The keys directory and the key set derived from it, refreshed on demand.
pub struct KeyStore {
    dir: PathBuf,
    policy: KeyPolicy,
    loaded: Mutex<KeyCache>,
    current: RwLock<Arc<KeySet>>,
}

impl KeyStore {
    /// Generates the first keys when the directory has none, then loads it.
    pub fn open(
        dir: &Path,
        policy: KeyPolicy,
        now: i64,
    ) -> Result<(Self, Vec<String>), TokenError> {
        let created = ensure_keys(dir, now)?;
        Ok((Self::open_existing(dir, policy, now)?, created))
    }

    /// Loads an existing keys directory without creating anything (for `tessera keys list`).
    pub fn open_existing(dir: &Path, policy: KeyPolicy, now: i64) -> Result<Self, TokenError> {
        let (keys, loaded) = load_dir(dir, &HashMap::new())?;
        let set = KeySet::select(&keys, policy, now)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            policy,
            loaded: Mutex::new(loaded),
            current: RwLock::new(Arc::new(set)),
        })
    }

    /// The key set in force; cheap (an `Arc` clone).
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the directory (new files parsed once, removed files dropped) and re-selects
    /// keys for `now`. Returns true when the published set or a signing key changed.
    pub fn refresh(&self, now: i64) -> Result<bool, TokenError> {
        let mut loaded = self
            .loaded
            .lock()
            .map_err(|_| TokenError::Keys("key cache poisoned".into()))?;
        let (keys, fresh) = load_dir(&self.dir, &loaded)?;
        *loaded = fresh;
        let set = KeySet::select(&keys, self.policy, now)?;
        let before = self.current();
        let changed = before.jwks_json != set.jwks_json
            || SigningAlg::ALL.iter().any(|a| {
                before.signing_key(*a).map(|k| &k.kid) != set.signing_key(*a).map(|k| &k.kid)
            });
        if changed {
            match self.current.write() {
                Ok(mut g) => *g = Arc::new(set),
                Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
            }
        }
        Ok(changed)
    }
}

/// Parsed keys by file, so a refresh parses only new files.
type KeyCache = HashMap<PathBuf, Arc<SigningKey>>;

fn load_dir(dir: &Path, cache: &KeyCache) -> Result<(Vec<Arc<SigningKey>>, KeyCache), TokenError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| TokenError::Keys(format!("cannot list {}: {e}", dir.display())))?;
    let mut keys = Vec::new();
    let mut fresh = HashMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| TokenError::Keys(e.to_string()))?;
        let name = entry.file_name();
        let Some((alg, created)) = name.to_str().and_then(parse_key_file_name) else {
            continue;
        };
        let path = entry.path();
        let key = match cache.get(&path) {
            Some(k) => Arc::clone(k),
            None => Arc::new(SigningKey::load(&path, alg, created)?),
        };
        fresh.insert(path, Arc::clone(&key));
        keys.push(key);
    }
    Ok((keys, fresh))
}

/// The file in the keys directory that processes sharing it lock while they create keys.
pub const LOCK_FILE: &str = ".lock";

/// Holds the keys directory's lock (an exclusive `flock` on [`LOCK_FILE`]) until dropped, so
/// replicas started together check and create keys one at a time.
struct DirLock(fs::File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<Self, TokenError> {
        let path = dir.join(LOCK_FILE);
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .map_err(|e| TokenError::Keys(format!("cannot open {}: {e}", path.display())))?;
        file.lock()
            .map_err(|e| TokenError::Keys(format!("cannot lock {}: {e}", path.display())))?;
        Ok(Self(file))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Creates the directory (0700) and one key per algorithm that has none. Returns the new
/// files' names. Race-free across processes sharing the directory: the check and the
/// creation happen under the directory's lock, so replicas started together make one key per
/// algorithm between them.
/// A directory that already has every key is not locked (nor written), so replicas may mount
/// it read-only.
pub fn ensure_keys(dir: &Path, now: i64) -> Result<Vec<String>, TokenError> {
    create_private_dir(dir)?;
    if missing_algs(dir)?.is_empty() {
        return Ok(Vec::new());
    }
    let _lock = DirLock::acquire(dir)?;
    ensure_keys_locked(dir, now)
}

/// The algorithms that have no key file in `dir`.
fn missing_algs(dir: &Path) -> Result<Vec<SigningAlg>, TokenError> {
    let existing: Vec<SigningAlg> = fs::read_dir(dir)
        .map_err(|e| TokenError::Keys(format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(parse_key_file_name))
        .map(|(alg, _)| alg)
        .collect();
    Ok(SigningAlg::ALL
        .into_iter()
        .filter(|a| !existing.contains(a))
        .collect())
}

fn ensure_keys_locked(dir: &Path, now: i64) -> Result<Vec<String>, TokenError> {
    let missing = missing_algs(dir)?;
    let mut created = Vec::new();
    for alg in missing {
        created.push(write_new_key(dir, alg, now)?);
    }
    Ok(created)
}

/// What `tessera keys rotate` did.
#[derive(Debug, Default)]
pub struct RotationReport {
    pub created: Vec<String>,
    pub removed: Vec<String>,
}

/// Writes a new key for every algorithm (published now, signing after the activation delay)
/// and deletes key files that are no longer published.
pub fn rotate(dir: &Path, policy: KeyPolicy, now: i64) -> Result<RotationReport, TokenError> {
    create_private_dir(dir)?;
    let _lock = DirLock::acquire(dir)?;
    let mut report = RotationReport {
        created: ensure_keys_locked(dir, now)?,
        removed: Vec::new(),
    };
    // An empty directory just got its first keys; anything else gets successors, stamped
    // strictly after the newest key of their algorithm so the order of keys is never a tie
    // (two rotations within one second, or clocks a little apart between replicas).
    if report.created.is_empty() {
        let (existing, _) = load_dir(dir, &HashMap::new())?;
        for alg in SigningAlg::ALL {
            let newest = existing
                .iter()
                .filter(|k| k.alg == alg)
                .map(|k| k.created_at)
                .max()
                .unwrap_or(i64::MIN);
            report
                .created
                .push(write_new_key(dir, alg, now.max(newest.saturating_add(1)))?);
        }
    }
    let (keys, _) = load_dir(dir, &HashMap::new())?;
    let set = KeySet::select(&keys, policy, now)?;
    for key in &keys {
        if !set.published.iter().any(|p| p.path == key.path) {
            fs::remove_file(&key.path).map_err(|e| {
                TokenError::Keys(format!("cannot remove {}: {e}", key.path.display()))
            })?;
            report.removed.push(file_name(&key.path));
        }
    }
    Ok(report)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_new_key(dir: &Path, alg: SigningAlg, now: i64) -> Result<String, TokenError> {
    let pem = match alg {
        SigningAlg::Es256 => ES256
            .generate_key_pair()
            .map(|k| k.to_pem_private_key())
            .map_err(|e| TokenError::Keys(format!("cannot generate ES256 key: {e}")))?,
        SigningAlg::Rs256 => RS256
            .generate_key_pair(2048)
            .map(|k| k.to_pem_private_key())
            .map_err(|e| TokenError::Keys(format!("cannot generate RS256 key: {e}")))?,
    };
    let suffix = tessera_core::secret::hex(&tessera_core::id::random_bytes::<4>());
    let name = format!("{}-{now}-{suffix}.pem", alg.file_prefix());
    let path = dir.join(&name);
    write_private_file(&path, &pem)?;
    Ok(name)
}

fn create_private_dir(dir: &Path) -> Result<(), TokenError> {
    fs::create_dir_all(dir)
        .map_err(|e| TokenError::Keys(format!("cannot create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes a private key readable by the owner only; written to a temporary name and renamed,
/// so a reader never sees half a key.
fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), TokenError> {
    use std::io::Write;
    let tmp = path.with_extension("pem.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let fail =
        |e: std::io::Error| TokenError::Keys(format!("cannot write {}: {e}", path.display()));
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: KeyPolicy = KeyPolicy {
        activation_delay_secs: 300,
        retention_secs: 600,
    };

    #[test]
    fn file_names_round_trip() {
        assert_eq!(
            parse_key_file_name("es256-1700000000-ab12cd34.pem"),
            Some((SigningAlg::Es256, 1_700_000_000))
        );
        assert_eq!(parse_key_file_name("README.md"), None);
        assert_eq!(parse_key_file_name("es256-x-y.pem"), None);
        assert_eq!(parse_key_file_name("es256-1700000000-ab.pem.tmp"), None);
    }

    #[test]
    fn first_start_generates_private_keys_that_sign_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let (store, created) = KeyStore::open(&keys_dir, POLICY, 1_000).unwrap();
        assert_eq!(created.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in &created {
                let mode = fs::metadata(keys_dir.join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
        }
        let set = store.current();
        assert!(set.signing_key(SigningAlg::Es256).is_some());
        assert!(set.signing_key(SigningAlg::Rs256).is_some());
        assert_eq!(set.published().len(), 2);
        // Reopening reuses the keys.
        let (again, created_again) = KeyStore::open(&keys_dir, POLICY, 2_000).unwrap();
        assert!(created_again.is_empty());
        assert_eq!(
            again.current().signing_key(SigningAlg::Es256).unwrap().kid,
            set.signing_key(SigningAlg::Es256).unwrap().kid
        );
    }

    #[test]
    fn rotation_publishes_before_signing_and_retires_after_retention() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = KeyStore::open(dir.path(), POLICY, 1_000).unwrap();
        let old = store
            .current()
            .signing_key(SigningAlg::Es256)
            .unwrap()
            .kid
            .clone();

        let report = rotate(dir.path(), POLICY, 2_000).unwrap();
        assert_eq!(report.created.len(), 2);
        assert!(report.removed.is_empty());
        assert!(store.refresh(2_000).unwrap());
        let set = store.current();
        // Published at once, but the old key still signs.
        assert_eq!(set.published().len(), 4);
        assert_eq!(set.signing_key(SigningAlg::Es256).unwrap().kid, old);

        // After the activation delay the new key signs; the old one is still published.
        assert!(store.refresh(2_300).unwrap());
        let set = store.current();
        let new = set.signing_key(SigningAlg::Es256).unwrap().kid.clone();
        assert_ne!(new, old);
        assert!(set.published().iter().any(|k| k.kid == old));

        // After the retention period the old key is no longer published, and the next
        // rotation deletes its file.
        store.refresh(2_300 + 600).unwrap();
        assert!(!store.current().published().iter().any(|k| k.kid == old));
        let report = rotate(dir.path(), POLICY, 2_900).unwrap();
        assert_eq!(report.removed.len(), 2, "{report:?}");
    }

    #[test]
    fn rotations_within_one_second_keep_a_strict_order() {
        let dir = tempfile::tempdir().unwrap();
        let policy = KeyPolicy {
            activation_delay_secs: 600,
            retention_secs: 600,
        };
        let (store, _) = KeyStore::open(dir.path(), policy, 1_000).unwrap();
        let first = store
            .current()
            .signing_key(SigningAlg::Es256)
            .unwrap()
            .kid
            .clone();
        rotate(dir.path(), policy, 1_000).unwrap();
        rotate(dir.path(), policy, 1_000).unwrap();
        store.refresh(1_000).unwrap();
        // Nothing has activated: the original key still signs, whatever the kids' order.
        assert_eq!(
            store.current().signing_key(SigningAlg::Es256).unwrap().kid,
            first
        );
        let mut created: Vec<i64> = store
            .current()
            .published()
            .iter()
            .filter(|k| k.alg == SigningAlg::Es256)
            .map(|k| k.created_at)
            .collect();
        created.sort();
        assert_eq!(created, vec![1_000, 1_001, 1_002]);
    }

    /// Replicas started together on one shared directory: each checks and creates under the
    /// directory's lock, so there is one key per algorithm, not one per replica.
    #[test]
    fn concurrent_first_starts_create_one_key_per_algorithm() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let starts = 4;
        let barrier = Arc::new(std::sync::Barrier::new(starts));
        let created: Vec<Vec<String>> = (0..starts)
            .map(|_| {
                let (keys_dir, barrier) = (keys_dir.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    ensure_keys(&keys_dir, 1_000).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(
            created.iter().map(Vec::len).sum::<usize>(),
            2,
            "{created:?}"
        );
        let mut files: Vec<String> = fs::read_dir(&keys_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pem"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[0].starts_with("es256-") && files[1].starts_with("rs256-"));
        // The lock file is not a key.
        KeyStore::open_existing(&keys_dir, POLICY, 1_000).unwrap();
    }

    #[test]
    fn jwks_has_distinct_kids_and_no_private_members() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = KeyStore::open(dir.path(), POLICY, 1_000).unwrap();
        rotate(dir.path(), POLICY, 1_001).unwrap();
        store.refresh(1_001).unwrap();
        let jwks: serde_json::Value = serde_json::from_slice(&store.current().jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 4);
        let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        kids.sort();
        kids.dedup();
        assert_eq!(kids.len(), 4);
        for k in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(k.get(private).is_none(), "{private} published");
            }
        }
    }
}
