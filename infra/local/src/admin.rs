//! `idv-admin`: operator commands against a deployed stack (AWS credentials, `TABLE_NAME`,
//! `RALIO_BASE_URL` and `RALIO_SECRET_ARN` or `RALIO_API_CODE`/`RALIO_API_KEY`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use idv_adapters::aws::{AwsTimeouts, dynamodb_client, load_config};
use idv_adapters::config::{Env, ProcessEnv, ralio_config};
use idv_adapters::ralio::RalioClient;
use idv_adapters::reconcile::reconcile_user;
use idv_adapters::secrets::load_ralio_secret;
use idv_adapters::store::DynamoStore;
use idv_model::Uid;

#[derive(Parser)]
#[command(
    name = "idv-admin",
    version,
    about = "Operator commands for the Ralio IDV service"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Catch a user's sessions up with Ralio's list endpoint: store sessions we lack and apply
    /// reported states we missed (through the same rules as webhooks; safe to repeat).
    Reconcile {
        /// The Ralio user id.
        uid: String,
    },
}

async fn reconcile(uid: &str) -> Result<String, String> {
    let uid = Uid::parse(uid).map_err(|e| e.to_string())?;
    let env = ProcessEnv;
    let table = env
        .required("TABLE_NAME", "the DynamoDB table name")
        .map_err(|e| e.to_string())?;
    let aws = load_config(AwsTimeouts::default()).await;
    let secret = load_ralio_secret(&env, &aws)
        .await
        .map_err(|e| e.to_string())?;
    let ralio = RalioClient::new(ralio_config(&env, secret.as_ref()).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let store = DynamoStore::new(dynamodb_client(&aws, None), table);
    let report = reconcile_user(uid, &ralio, &store, chrono::Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    let outcomes: Vec<String> = report
        .outcomes
        .iter()
        .map(|(id, o)| format!("  {id}: {}", o.as_str()))
        .collect();
    Ok(format!(
        "sessions added: {}\nunknown states skipped: {}\nreported states:\n{}",
        report.added,
        report.unknown_states,
        if outcomes.is_empty() {
            "  (none)".into()
        } else {
            outcomes.join("\n")
        }
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    idv_adapters::telemetry::init();
    let result = match Args::parse().command {
        Command::Reconcile { uid } => reconcile(&uid).await,
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("idv-admin: {message}");
            ExitCode::FAILURE
        }
    }
}
