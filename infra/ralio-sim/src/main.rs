//! This binary runs the Ralio simulator on its own. `idv-local` embeds it, and this binary is
//! for pointing another deployment (or a browser) at a fake Ralio.

use clap::Parser;

#[derive(Parser)]
#[command(about = "A Ralio stand-in: API, hosted page and signed webhooks")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001", env = "SIM_ADDR")]
    addr: String,
    /// Where to send webhooks.
    #[arg(long, env = "SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Webhook signing secret.
    #[arg(
        long,
        env = "SIM_WEBHOOK_SECRET",
        default_value = "whsec_local_development_only"
    )]
    webhook_secret: String,
    #[arg(long, value_enum, default_value = "mixed")]
    payloads: ralio_sim::Generation,
    #[arg(long, value_enum, default_value = "hex")]
    signature: ralio_sim::Signature,
    /// What the merchant account list shows (undocumented at Ralio: each reading is a mode).
    #[arg(long, value_enum, default_value = "users-accounts")]
    account_list: ralio_sim::AccountList,
    /// Whether the session list keeps an ended session's hostedUrl (undocumented at Ralio).
    #[arg(long, value_enum, default_value = "with-hosted-url")]
    final_listing: ralio_sim::FinalListing,
    /// Send no `account_activated` for the accounts it opens.
    #[arg(long)]
    no_account_activated: bool,
    /// Fail every call of an operation: OPERATION:FAULT (see `POST /sim/faults`). Repeatable.
    #[arg(long, value_parser = ralio_sim::faults::parse_fault_flag)]
    fault: Vec<(ralio_sim::Operation, ralio_sim::Fault)>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(false)
        .compact()
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    let mut config = ralio_sim::SimConfig::new(
        format!("http://{}", listener.local_addr()?),
        args.webhook_url,
        args.webhook_secret,
    );
    config.generation = args.payloads;
    config.signature = args.signature;
    config.account_list = args.account_list;
    config.final_listing = args.final_listing;
    config.announce_accounts = !args.no_account_activated;
    config.faults = args.fault;
    println!(
        "Ralio simulator on http://{} (api_code {}, api_key {})",
        listener.local_addr()?,
        config.api_code,
        config.api_key
    );
    let app = ralio_sim::router(ralio_sim::Simulator::new(config));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
