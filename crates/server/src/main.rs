//! `tessera`: see `tessera --help`.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tessera_core::{Clock, SystemClock};
use tessera_server::cli::{Cli, Command, run_command};
use tessera_server::{Config, ServerError, app};

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    tune_malloc();
    tessera_resource::install_tls_provider();
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    let result = match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => serve(&config, app::Mode::AllInOne),
        Command::Issuer => serve(&config, app::Mode::Issuer),
        Command::Resource { issuer_url } => serve(
            &config,
            app::Mode::Resource {
                issuer_url: issuer_url.clone(),
            },
        ),
        other => run_command(other, &config, &mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sets two glibc malloc parameters before anything else runs, unless the environment already
/// sets them (`GLIBC_TUNABLES` or glibc's `MALLOC_*_` variables):
/// - a fixed mmap threshold (1 MiB). By default glibc raises the threshold to the size of any
///   large block freed, after which each argon2 hash's 19 MiB comes from an arena and stays in
///   the process when the hash ends; fixed, such blocks are mmapped and returned on free.
/// - at most two arenas. Every thread that allocates may otherwise get an arena of its own
///   (up to 8 per core), each keeping its free memory.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let set = |tunable: &str, alias: &str| {
        tunables.contains(tunable) || std::env::var_os(alias).is_some()
    };
    if !set("glibc.malloc.mmap_threshold", "MALLOC_MMAP_THRESHOLD_") {
        // SAFETY: mallopt only changes allocator parameters; this runs first in main, before
        // any other thread exists.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    }
    if !set("glibc.malloc.arena_max", "MALLOC_ARENA_MAX") {
        // SAFETY: as above.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn serve(config: &Config, mode: app::Mode) -> Result<(), ServerError> {
    let started = std::time::Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Bound first: a start that cannot serve must not bootstrap (docs/operations.md).
    let listener = app::bind(config)?;
    let prepared = match &mode {
        app::Mode::Resource { issuer_url } => {
            if !(issuer_url.starts_with("http://") || issuer_url.starts_with("https://")) {
                return Err(ServerError::Config(format!(
                    "--issuer-url {issuer_url:?} must be an http:// or https:// URL"
                )));
            }
            app::prepare_resource(config)?
        }
        app::Mode::AllInOne | app::Mode::Issuer => {
            let admin_password = std::env::var("TESSERA_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            app::prepare(config, clock.as_ref(), admin_password.as_deref())?
        }
    };
    if !prepared.migrations_applied.is_empty() {
        tracing::info!(
            count = prepared.migrations_applied.len(),
            "database migrated"
        );
    }
    if !prepared.created_keys.is_empty() {
        tracing::info!(keys = ?prepared.created_keys, dir = %config.keys_dir.display(), "generated signing keys");
    }
    // Shown before anything else can fail: the admin now exists, and this is its only showing.
    if let Some(report) = &prepared.bootstrap {
        println!("Created realm default: user admin, public client portal.");
        if let Some(p) = &report.generated_admin_password {
            println!("Admin password (shown once; set TESSERA_ADMIN_PASSWORD to choose it): {p}");
        }
    }
    let runtime = actix_web::rt::System::new();
    runtime.block_on(async move {
        let running = app::start_on(listener, config, &prepared, clock, &mode)?;
        let issuer = format!("{}/realms/{}", running.public_url, tessera_issuer::DEFAULT_REALM);
        match &mode {
            app::Mode::Resource { issuer_url } => println!(
                "Tessera resource server is listening on {} — issuer: {issuer_url}",
                running.public_url
            ),
            _ => println!(
                "Tessera is listening on {} — realm default: {issuer}",
                running.public_url
            ),
        }
        tracing::info!(addr = %running.addr, ready_ms = started.elapsed().as_millis() as u64, "ready");
        running
            .until_stopped()
            .await
            .map_err(|e| ServerError::Config(format!("server stopped: {e}")))
    })
}
