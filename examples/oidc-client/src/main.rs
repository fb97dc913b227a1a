//! `oidc-client`: signs a person in to a Tessera realm with the OpenID Connect code flow.
//! See the crate documentation (src/lib.rs) and examples/README.md.

use clap::Parser;
use std::process::ExitCode;
use tessera_example_oidc_client::{Args, run};

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(run(&args, &mut stdout)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
