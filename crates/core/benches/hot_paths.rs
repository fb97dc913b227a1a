//! Micro-benchmarks of the per-request checks in `tessera-core`: API-key parse (shape and
//! CRC-32 checksum) and SHA-256 hash, the client-secret check, and scope parsing.
//!
//! Run: `cargo bench -p tessera-core` (figures in `docs/benchmarks-micro.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tessera_core::ScopeSet;
use tessera_core::apikey::{self, ApiKeyKind};
use tessera_core::secret::{generate_client_secret, verify_secret};

fn api_key(c: &mut Criterion) {
    let key = apikey::generate(ApiKeyKind::PersonalSecret).value;
    let mut g = c.benchmark_group("apikey");
    g.bench_function("parse", |b| {
        b.iter(|| apikey::parse(black_box(&key)).expect("valid key").kind)
    });
    g.bench_function("parse_and_sha256", |b| {
        b.iter(|| {
            apikey::parse(black_box(&key))
                .expect("valid key")
                .sha256_hex()
        })
    });
    // A mistyped key: rejected by the checksum, before any hashing or lookup.
    let mut typo: Vec<char> = key.chars().collect();
    typo[10] = if typo[10] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    g.bench_function("parse_malformed", |b| {
        b.iter(|| apikey::parse(black_box(&typo)).is_err())
    });
    g.finish();
}

fn client_secret(c: &mut Criterion) {
    let secret = generate_client_secret();
    let wrong = generate_client_secret().plain;
    let mut g = c.benchmark_group("client_secret");
    g.bench_function("verify_match", |b| {
        b.iter(|| verify_secret(black_box(&secret.plain), black_box(&secret.sha256_hex)))
    });
    g.bench_function("verify_mismatch", |b| {
        b.iter(|| verify_secret(black_box(&wrong), black_box(&secret.sha256_hex)))
    });
    g.finish();
}

fn scopes(c: &mut Criterion) {
    let space = "openid profile email offline_access jobs:read jobs:write billing:read";
    let comma = "openid,profile,email,offline_access,jobs:read,jobs:write,billing:read";
    let mut g = c.benchmark_group("scope_parse");
    g.bench_function("space_separated_7", |b| {
        b.iter(|| ScopeSet::parse(black_box(space)).expect("valid scopes"))
    });
    g.bench_function("comma_separated_7", |b| {
        b.iter(|| ScopeSet::parse(black_box(comma)).expect("valid scopes"))
    });
    g.bench_function("single", |b| {
        b.iter(|| ScopeSet::parse(black_box("jobs:read")).expect("valid scope"))
    });
    g.finish();
}

criterion_group!(benches, api_key, client_secret, scopes);
criterion_main!(benches);
