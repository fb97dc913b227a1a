//! Configuration: built-in defaults, then a TOML file, then `TESSERA_*` environment variables,
//! then command-line flags — each overriding the one before.
//!
//! Every key has an environment name derived from its path: `issuer.throttle.window_secs` is
//! `TESSERA_ISSUER_THROTTLE_WINDOW_SECS`. The top-level keys give the short names deployment
//! scripts use: `TESSERA_LISTEN`, `TESSERA_PUBLIC_URL`, `TESSERA_DATABASE_URL`,
//! `TESSERA_KEYS_DIR`. (`TESSERA_ADMIN_PASSWORD` is read at bootstrap only, never stored.)

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tessera_core::password::Argon2Params;
use tessera_issuer::IssuerSettings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: String,
    /// Base URL clients reach us at; issuer URLs are `{public_url}/realms/{realm}`. A path
    /// (`https://host/auth`) prefixes every URL and cookie path handed out; the proxy in front
    /// strips it. Empty: `http://{listen}`.
    pub public_url: String,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub database_url: String,
    /// Directory of signing keys (PEM, mode 0600), shared by all replicas.
    pub keys_dir: PathBuf,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub database: DatabaseConfig,
    pub keys: KeysConfig,
    pub argon2: Argon2Params,
    pub issuer: IssuerSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            database_url: "sqlite://./data/tessera.db".into(),
            keys_dir: PathBuf::from("./keys"),
            workers: 0,
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            database: DatabaseConfig::default(),
            keys: KeysConfig::default(),
            argon2: Argon2Params::default(),
            issuer: IssuerSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `tessera_issuer=debug,info`.
    pub level: String,
    /// One `info` line per request (target `tessera::access`): method, path without the
    /// query, status, duration and client address. Never query strings or credentials.
    pub access: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
            access: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `GET /metrics` (Prometheus text) is served: an address of its own, so the
    /// metrics are not public with the API. Empty disables the metrics.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// How long taking a connection may wait (for a free one, or to open one) before the
    /// request fails with 503: the time a request hangs while the database is down.
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout_secs: 10,
        }
    }
}

impl DatabaseConfig {
    pub fn connect_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.connect_timeout_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Seconds a new key is published before it signs (≥ the JWKS cache max-age).
    pub activation_delay_secs: i64,
    /// How often the keys directory is re-read, in seconds.
    pub reload_interval_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            activation_delay_secs: 300,
            reload_interval_secs: 10,
        }
    }
}

/// Values given as command-line flags; they override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub keys_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?}: {message}")]
    Env {
        name: String,
        value: String,
        message: String,
    },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults ← file (if given) ← environment ← flags.
    pub fn load(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut tree = toml::Value::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.into(),
                source,
            })?;
            let from_file: toml::Value = text
                .parse::<toml::Table>()
                .map(toml::Value::Table)
                .map_err(|e| ConfigError::Parse {
                    path: path.into(),
                    message: e.to_string(),
                })?;
            merge(&mut tree, from_file);
            // Reject unknown keys and wrong types now, naming the file.
            Config::deserialize(tree.clone()).map_err(|e| ConfigError::Parse {
                path: path.into(),
                message: e.to_string(),
            })?;
        }
        apply_env(&mut tree, &mut Vec::new(), env)?;
        let mut config =
            Config::deserialize(tree).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(v) = &overrides.listen {
            config.listen = v.clone();
        }
        if let Some(v) = &overrides.public_url {
            config.public_url = v.clone();
        }
        if let Some(v) = &overrides.database_url {
            config.database_url = v.clone();
        }
        if let Some(v) = &overrides.keys_dir {
            config.keys_dir = v.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let scheme_ok =
            self.public_url.starts_with("http://") || self.public_url.starts_with("https://");
        if !(self.public_url.is_empty() || scheme_ok) {
            return bad(format!(
                "public_url {:?} must start with http:// or https://",
                self.public_url
            ));
        }
        if self.public_url.contains(['?', '#']) {
            return bad("public_url must not have a query or fragment".into());
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad(format!(
                "log.format {:?} must be text or json",
                self.log.format
            ));
        }
        let m = &self.metrics.listen;
        if !m.is_empty() {
            if m.parse::<std::net::SocketAddr>().is_err() && !m.contains(':') {
                return bad(format!(
                    "metrics.listen {m:?} must be HOST:PORT, or empty to disable the metrics"
                ));
            }
            if *m == self.listen && !m.ends_with(":0") {
                return bad(format!(
                    "metrics.listen must differ from listen ({m}): the metrics have an address of their own"
                ));
            }
        }
        let i = &self.issuer;
        if !(1..=86_400).contains(&i.access_token_ttl_secs) {
            return bad("issuer.access_token_ttl_secs must be between 1 and 86400".into());
        }
        if !(0..=300).contains(&i.token_leeway_secs) {
            return bad("issuer.token_leeway_secs must be between 0 and 300".into());
        }
        if self.keys.activation_delay_secs < 0 {
            return bad("keys.activation_delay_secs must not be negative".into());
        }
        // A verifier may fetch the JWKS just before a server loads a new key file (up to one
        // reload interval after it appears) and keep it for max-age: the key must not sign
        // before that copy expires.
        let stale_for = i64::from(i.jwks_max_age_secs) + self.keys.reload_interval_secs as i64;
        if self.keys.activation_delay_secs > 0 && stale_for > self.keys.activation_delay_secs {
            return bad(format!(
                "keys.activation_delay_secs ({}) must be at least issuer.jwks_max_age_secs + keys.reload_interval_secs ({stale_for}): verifiers would cache a JWKS without the key that signs",
                self.keys.activation_delay_secs
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad(format!(
                "log.level {:?} is not a log filter; use e.g. info, debug or tessera_issuer=debug,info",
                self.log.level
            ));
        }
        if !(1..=3600).contains(&i.read_timeout_secs) {
            return bad("issuer.read_timeout_secs must be between 1 and 3600".into());
        }
        let t = &i.throttle;
        if t.window_secs < 1
            || t.lockout_secs < 1
            || t.user_max_failures < 1
            || t.user_global_max_failures < 1
            || t.user_global_max_delay_secs < 1
            || t.address_max_failures < 1
            || t.client_max_failures < 1
        {
            return bad("issuer.throttle values must all be at least 1".into());
        }
        if self.database.max_connections == 0 {
            return bad("database.max_connections must be at least 1".into());
        }
        if !(1..=3600).contains(&self.database.connect_timeout_secs) {
            return bad(format!(
                "database.connect_timeout_secs must be 1 to 3600 seconds, not {}",
                self.database.connect_timeout_secs
            ));
        }
        tessera_core::password::PasswordHasher::new(self.argon2)
            .map(|_| ())
            .map_err(|e| ConfigError::Invalid(format!("argon2: {}", e.message)))
    }

    /// Seconds a retired key stays published: the longest lifetime of a token it signed (a
    /// client may set its own, up to a day), plus the verifiers' leeway and a minute.
    pub fn key_retention_secs(&self) -> i64 {
        self.issuer
            .access_token_ttl_secs
            .max(tessera_core::client::ACCESS_TOKEN_TTL_RANGE.1)
            + self.issuer.token_leeway_secs
            + 60
    }
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Sets every leaf that has a `TESSERA_<PATH>` variable, parsed as the leaf's type.
fn apply_env(
    node: &mut toml::Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    if let toml::Value::Table(table) = node {
        for (key, child) in table.iter_mut() {
            path.push(key.clone());
            apply_env(child, path, env)?;
            path.pop();
        }
        return Ok(());
    }
    let name = format!("TESSERA_{}", path.join("_").to_uppercase());
    let Some(raw) = env(&name) else {
        return Ok(());
    };
    let fail = |message: &str| ConfigError::Env {
        name: name.clone(),
        value: raw.clone(),
        message: message.into(),
    };
    *node = match node {
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| fail("expected a whole number"))?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(fail("expected true or false")),
        }),
        _ => toml::Value::String(raw),
    };
    Ok(())
}

/// Every environment variable the configuration reads, with its default, for the docs and
/// `tessera config`.
pub fn env_reference() -> Vec<(String, String)> {
    fn walk(node: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        match node {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    path.push(k.clone());
                    walk(v, path, out);
                    path.pop();
                }
            }
            leaf => out.push((
                format!("TESSERA_{}", path.join("_").to_uppercase()),
                leaf.to_string(),
            )),
        }
    }
    let mut out = Vec::new();
    if let Ok(tree) = toml::Value::try_from(Config::default()) {
        walk(&tree, &mut Vec::new(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load(None, &env_of(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://./data/tessera.db");
        assert_eq!(c.keys_dir, PathBuf::from("./keys"));
        assert_eq!(c.issuer.access_token_ttl_secs, 300);
        assert_eq!(c.database.connect_timeout_secs, 10);
        assert_eq!(c.metrics.listen, "127.0.0.1:9464");
        assert!(!c.log.access);
        let c = Config::load(
            None,
            &env_of(&[("TESSERA_DATABASE_CONNECT_TIMEOUT_SECS", "3")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.database.connect_timeout(),
            std::time::Duration::from_secs(3)
        );
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://file.example\"\n[issuer]\naccess_token_ttl_secs = 600\n[issuer.throttle]\nwindow_secs = 60\n",
        )
        .unwrap();
        let env = env_of(&[
            ("TESSERA_PUBLIC_URL", "https://env.example"),
            ("TESSERA_ISSUER_THROTTLE_WINDOW_SECS", "120"),
        ]);
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        let c = Config::load(Some(&file), &env, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9100");
        assert_eq!(c.public_url, "https://env.example");
        assert_eq!(c.issuer.access_token_ttl_secs, 600);
        assert_eq!(c.issuer.throttle.window_secs, 120);
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&file), &env_of(&[]), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml") && err.contains("lisen"), "{err}");

        let err = Config::load(
            None,
            &env_of(&[("TESSERA_ISSUER_ACCESS_TOKEN_TTL_SECS", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("TESSERA_ISSUER_ACCESS_TOKEN_TTL_SECS"),
            "{err}"
        );

        let err = Config::load(
            None,
            &env_of(&[("TESSERA_PUBLIC_URL", "ftp://x")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("public_url"), "{err}");

        for (name, value, says) in [
            ("TESSERA_METRICS_LISTEN", "127.0.0.1:8080", "metrics.listen"),
            ("TESSERA_METRICS_LISTEN", "nine", "metrics.listen"),
            (
                "TESSERA_ISSUER_READ_TIMEOUT_SECS",
                "0",
                "issuer.read_timeout_secs",
            ),
            (
                "TESSERA_ISSUER_THROTTLE_USER_GLOBAL_MAX_FAILURES",
                "0",
                "issuer.throttle",
            ),
            (
                "TESSERA_ISSUER_THROTTLE_USER_GLOBAL_MAX_DELAY_SECS",
                "0",
                "issuer.throttle",
            ),
            (
                "TESSERA_DATABASE_CONNECT_TIMEOUT_SECS",
                "0",
                "database.connect_timeout_secs must be 1 to 3600",
            ),
            (
                "TESSERA_DATABASE_CONNECT_TIMEOUT_SECS",
                "3601",
                "database.connect_timeout_secs must be 1 to 3600",
            ),
        ] {
            let err = Config::load(None, &env_of(&[(name, value)]), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{name}: {err}");
        }
    }

    #[test]
    fn env_reference_lists_the_documented_names() {
        let names: Vec<String> = env_reference().into_iter().map(|(n, _)| n).collect();
        for required in [
            "TESSERA_LISTEN",
            "TESSERA_PUBLIC_URL",
            "TESSERA_DATABASE_URL",
            "TESSERA_KEYS_DIR",
            "TESSERA_ISSUER_THROTTLE_LOCKOUT_SECS",
            "TESSERA_ARGON2_MEMORY_KIB",
            "TESSERA_DATABASE_CONNECT_TIMEOUT_SECS",
            "TESSERA_METRICS_LISTEN",
            "TESSERA_LOG_ACCESS",
        ] {
            assert!(
                names.iter().any(|n| n == required),
                "{required} missing from {names:?}"
            );
        }
    }
}
