//! This is `make load`, which the library describes. It prints the table, and exits non-zero
//! when the end state is wrong.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use idv_load::workload::Plan;
use idv_local::StoreKind;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Stores {
    Memory,
    Dynamodb,
    Both,
}

#[derive(Debug, Parser)]
#[command(name = "idv-load")]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    deliveries: usize,
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Sets the share of deliveries that repeat an earlier one.
    #[arg(long, default_value_t = 0.3)]
    duplicates: f64,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Picks the store; DynamoDB is the one at AWS_ENDPOINT_URL (make load starts moto).
    #[arg(long, value_enum, default_value = "both")]
    store: Stores,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let plan = Plan {
        deliveries: args.deliveries,
        users: args.users,
        duplicate_share: args.duplicates,
        concurrency: args.concurrency,
        seed: args.seed,
    };
    let stores: &[StoreKind] = match args.store {
        Stores::Memory => &[StoreKind::Memory],
        Stores::Dynamodb => &[StoreKind::Dynamodb],
        Stores::Both => &[StoreKind::Memory, StoreKind::Dynamodb],
    };
    let mut reports = Vec::new();
    for store in stores {
        println!(
            "==> {} deliveries to idv-local on {store:?}",
            plan.deliveries
        );
        match idv_load::run(&plan, *store).await {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("idv-load: {store:?}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\n{}", idv_load::table(&reports));
    if reports.iter().all(|r| r.verdict.holds()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
