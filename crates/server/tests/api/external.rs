//! What the tests that drive tools outside Rust share: the repository root, free ports, and
//! the rule for missing tools — without Chromium, playwright-core or the Python venv a test
//! says "skipped: …" and passes, so `cargo test` works anywhere, except under CI (`CI` set),
//! where a missing tool fails the test: CI must never skip silently.

use crate::helpers::output_of;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits two levels below the repository root")
        .to_path_buf()
}

/// A port that was free a moment ago, for a callback server a child process starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// True when nothing is `missing`; otherwise says "skipped: …", or panics under CI.
pub fn available(missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} missing, and CI is set: CI must run this test, not skip it"
    );
    println!("skipped: {what}");
    false
}

/// Chromium and playwright-core, which `.ci/browser.sh` installs.
pub fn browser_missing(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} not found (run .ci/browser.sh)"));
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        missing.push("playwright-core not installed (run .ci/browser.sh)".into());
    }
    missing
}

/// `node --test` of one file of `tests/browser`, with Chromium's path in the environment.
pub fn node_test(root: &Path, file: &str) -> Command {
    let mut node = Command::new("node");
    node.current_dir(root)
        .args(["--test", "--test-reporter=spec", file])
        .env("CHROMIUM", CHROMIUM)
        .env("NO_COLOR", "1");
    node
}

/// Runs `cmd`, prints its output, and fails with it unless it exits 0.
pub async fn run_and_check(what: &str, cmd: Command) {
    let out = output_of(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what}: stdout\n{stdout}");
    if !stderr.trim().is_empty() {
        println!("--- {what}: stderr\n{stderr}");
    }
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
