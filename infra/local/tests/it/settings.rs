//! These tests check that idv-local reads each function's settings from the variables the
//! deployed function reads, and that a flag overrides its variable.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use clap::Parser;
use idv_adapters::clock::ManualClock;
use idv_adapters::testing::fixtures::t0;
use idv_local::cli::Args;
use idv_local::{LOCAL_WEBHOOK_SECRET, LocalOptions, Running};
use idv_model::WebhookSecret;
use serde_json::{Value, json};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Returns the options `idv-local FLAGS` runs with in environment `env`, on free ports.
fn options(flags: &[&str], env: &HashMap<String, String>) -> LocalOptions {
    let mut argv = vec![
        "idv-local",
        "--addr=127.0.0.1:0",
        "--sim-addr=127.0.0.1:0",
        "--store=memory",
    ];
    argv.extend(flags);
    Args::try_parse_from(argv).unwrap().options(env).unwrap()
}

/// Starts idv-local in environment `env`, on `clock`.
async fn start(env: &HashMap<String, String>, clock: &ManualClock) -> Running {
    let options = LocalOptions {
        clock: Arc::new(clock.clone()),
        ..options(&[], env)
    };
    idv_local::start(options).await.expect("idv-local starts")
}

/// Delivers `body` to the running webhook as Ralio would, and returns the status and the
/// outcome answered.
async fn deliver(running: &Running, body: &str) -> (u16, Value) {
    let signature = WebhookSecret::new(LOCAL_WEBHOOK_SECRET).sign_hex(body.as_bytes());
    let response = reqwest::Client::new()
        .post(&running.webhook_url)
        .header("x-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    (status, answer)
}

/// Returns a session's verification stamped at `t0`, for a session nobody stored. Its owner
/// cannot be known, so Ralio is asked to send it again until the attribution window has passed.
fn unattributable() -> String {
    json!({
        "id": uuid::Uuid::new_v4(), "event": "kyc_session_verified",
        "timestamp": t0().to_rfc3339(),
        "data": { "sessionId": uuid::Uuid::new_v4(), "entityType": "user" }
    })
    .to_string()
}

#[tokio::test]
async fn attribution_retry_window_from_the_environment_shortens_the_window() {
    let clock = ManualClock::at(t0());
    let short = start(&env(&[("ATTRIBUTION_RETRY_WINDOW", "5s")]), &clock).await;
    let default = start(&env(&[]), &clock).await;
    let (body, other) = (unattributable(), unattributable());
    assert_eq!(deliver(&short, &body).await.0, 503, "young: sent back");
    assert_eq!(deliver(&default, &other).await.0, 503);

    clock.advance(Duration::seconds(4));
    assert_eq!(deliver(&short, &body).await.0, 503, "still inside 5 s");

    clock.advance(Duration::seconds(1));
    let (status, answer) = deliver(&short, &body).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("quarantined")),
        "{answer}"
    );
    assert_eq!(
        deliver(&default, &other).await.0,
        503,
        "without the variable, the window is the default hour"
    );
    short.stop().await;
    default.stop().await;
}

#[test]
fn a_flag_overrides_its_variable_and_the_rest_of_the_environment_stays() {
    let environment = env(&[
        ("ACCOUNT_SETTLE", "5m"),
        ("ACCOUNT_LEASE", "90s"),
        ("RALIO_TIMEOUT", "4s"),
        ("EXPIRY_GRACE", "2h"),
        ("SESSION_REUSE_MARGIN", "30m"),
    ]);
    let flagged = options(
        &[
            "--account-settle=1m",
            "--ralio-timeout=3s",
            "--bucket=5m",
            "--session-life=10m",
        ],
        &environment,
    );
    assert_eq!(flagged.account_gate.settle, Duration::minutes(1));
    assert_eq!(flagged.account_gate.lease, Duration::seconds(90));
    assert_eq!(
        flagged.ralio_client.request_timeout,
        std::time::Duration::from_secs(3)
    );
    assert_eq!(flagged.schedule.bucket(), Duration::minutes(5));
    assert_eq!(flagged.schedule.grace(), Duration::hours(2));
    // When the variable is set, the margin is kept however short the simulator's sessions live.
    assert_eq!(flagged.create_session.reuse_margin, Duration::minutes(30));
    // When it is not set, the margin is a tenth of their life, as before the variable was read.
    let unset = options(&["--session-life=10m"], &env(&[]));
    assert_eq!(unset.create_session.reuse_margin, Duration::minutes(1));
}
