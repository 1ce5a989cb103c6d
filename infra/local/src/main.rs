//! `idv-local` runs the whole service on one port, with the Ralio simulator. `--help` lists the
//! options. The functions' settings come from the variables the deployed functions read, and a
//! flag overrides its variable.

use idv_local::cli::Args;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    idv_adapters::telemetry::init();
    let args = <Args as clap::Parser>::parse();
    idv_local::cli::run(args).await
}
