//! `make load` sends signed webhook deliveries at volume against `idv-local`, then checks that
//! nothing was lost, nothing was applied twice and no account was opened without REGULAR.
//!
//! Each run starts two fresh services on the chosen store. One takes the load (duplicates, each
//! user's deliveries shuffled, users interleaved, many in flight), and the other gets the same
//! events once each, in order. Every user is then read from both through the merchant API.
//! Their standing must be the same, every event must be in the trail, none may be applied
//! twice, and an account request must succeed exactly for the users the in-order run left at
//! REGULAR.

pub mod send;
pub mod verify;
pub mod workload;

use std::sync::Arc;

use idv_local::{LocalOptions, RalioMode, Running, StoreKind};

use crate::send::{Sent, send};
use crate::verify::{Verdict, verify};
use crate::workload::{Plan, Signed, Workload, build};

/// The secret the run signs with (the service is started with it).
const SECRET: &str = "whsec_idv_load_run_secret_not_for_production";

#[derive(Debug)]
pub struct Report {
    pub store: StoreKind,
    pub plan: Plan,
    pub unique: usize,
    pub load: Sent,
    pub in_order: Sent,
    pub verdict: Verdict,
}

async fn start(store: StoreKind, table: String) -> Result<Running, String> {
    let mut options = LocalOptions {
        addr: ([127, 0, 0, 1], 0).into(),
        store,
        table_name: table,
        webhook_secrets: SECRET.into(),
        // moto on a busy machine needs the SDK's own limits, not AWS's (3 s an attempt).
        aws_timeouts: idv_local::AwsTimeouts::emulator(),
        ..LocalOptions::default()
    };
    if let RalioMode::Simulator { addr, .. } = &mut options.ralio {
        *addr = ([127, 0, 0, 1], 0).into();
    }
    idv_local::start(options).await.map_err(|e| e.to_string())
}

/// Performs one load run on `store`.
pub async fn run(plan: &Plan, store: StoreKind) -> Result<Report, String> {
    let workload = Arc::new(build(plan, SECRET, chrono::Utc::now()));
    let stamp = uuid::Uuid::new_v4().simple().to_string();
    let loaded = start(store, format!("idv-load-{}", &stamp[..12])).await?;
    let reference = start(store, format!("idv-load-ref-{}", &stamp[..12])).await?;
    let client = reqwest::Client::new();
    // Ralio would open an account for every one of these users, so only the service's own gate
    // (its KYC level from the webhooks) can refuse one.
    let ralio = loaded
        .simulator
        .as_ref()
        .ok_or("idv-local without its simulator")?;
    for uid in &workload.users {
        ralio.set_level_silently(&uid.to_string(), "REGULAR")?;
    }

    let load_jobs: Vec<Vec<Signed>> = workload
        .deliveries
        .iter()
        .map(|&(u, e)| vec![workload.in_order[u][e].clone()])
        .collect();
    let load = send(
        &client,
        &loaded.webhook_url,
        Arc::new(load_jobs),
        plan.concurrency,
    )
    .await;
    let in_order = send(
        &client,
        &reference.webhook_url,
        Arc::new(workload.in_order.clone()),
        plan.concurrency,
    )
    .await;
    for (what, sent) in [("load", &load), ("in order", &in_order)] {
        println!(
            "    {what}: {} deliveries, {:.0}/s, p50 {}, p99 {}, {} not 200, {} retries",
            sent.latencies.len(),
            sent.per_second(),
            ms(sent.percentile(50.0)),
            ms(sent.percentile(99.0)),
            sent.not_ok(),
            sent.retries
        );
    }
    // Reading back is not what is measured, and fewer readers at once keep moto (one Python
    // thread, two tables) from falling behind.
    let verdict = verify(
        &client,
        &loaded.api_url,
        &reference.api_url,
        workload.clone(),
        plan.concurrency.min(8),
    )
    .await;
    loaded.stop().await;
    reference.stop().await;
    Ok(Report {
        store,
        plan: plan.clone(),
        unique: Workload::unique(&workload),
        load,
        in_order,
        verdict: verdict?,
    })
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Returns the figures of some runs as a Markdown table, then each run's verdict.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| store | deliveries | distinct events | concurrency | throughput | p50 | p99 | answers not 200 | retries after 5xx | in order: throughput, p50 |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {:?} | {} | {} | {} | {:.0}/s | {} | {} | {} | {} | {:.0}/s, {} |\n",
            r.store,
            r.load.latencies.len(),
            r.unique,
            r.plan.concurrency,
            r.load.per_second(),
            ms(r.load.percentile(50.0)),
            ms(r.load.percentile(99.0)),
            r.load.not_ok(),
            r.load.retries,
            r.in_order.per_second(),
            ms(r.in_order.percentile(50.0)),
        ));
    }
    for r in reports {
        let v = &r.verdict;
        out.push_str(&format!(
            "\n{:?}: {} users checked ({} at REGULAR): {} differ from in-order delivery, {} events lost, {} applied twice, {} accounts opened without REGULAR, {} refused at REGULAR{}\n",
            r.store,
            v.users,
            v.regular_users,
            v.differing,
            v.lost,
            v.applied_twice,
            v.opened_without_regular,
            v.refused_with_regular,
            if v.holds() { "" } else { ": FAILED" },
        ));
        for example in &v.examples {
            out.push_str(&format!("  {example}\n"));
        }
    }
    out
}
