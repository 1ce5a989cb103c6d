//! This is `make bench`; scripts/bench.sh builds the binaries, runs criterion and starts moto
//! first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use idv_adapters::testing::{
    api_secret_on_emulator, emulator_config, new_table, sqs_queue_on, webhook_secret_on_emulator,
};
use idv_bench::process::Subject;
use idv_bench::report::{Arm64Size, CpuFigure, Report};
use idv_bench::{Plan, Target, TrustStore, invocations, run, sizes};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Start-up, first answer, warm latency and footprint of each function")]
struct Args {
    /// Reads the release binaries from this directory.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Reads cargo-lambda's arm64 artifacts (`make build`) from here, and reports them when
    /// present.
    #[arg(long, default_value = "target/lambda")]
    arm64_dir: PathBuf,
    /// Reads criterion's results (`cargo bench -p idv-model --bench webhook`) from here, and
    /// reports them when present.
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
    #[arg(long, default_value_t = 20)]
    init_runs: usize,
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    #[arg(long, default_value_t = 1000)]
    warm_calls: usize,
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    #[arg(long, default_value = "release")]
    profile: String,
    /// Measure only these functions (comma-separated; hello-world always runs).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The one binary the five functions ship in (`make build`).
const FUNCTIONS_BINARY: &str = "idv-lambda";

/// It is long enough for the webhook's rule on secrets in Lambda (≥ 32 bytes), not just the
/// local one.
const WEBHOOK_SECRET: &str = "whsec_bench_0123456789abcdef0123456789abcdef";

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let scratch = std::env::temp_dir().join(format!("idv-bench-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("home")).map_err(|e| e.to_string())?;
    let lambda_like = TrustStore::lambda_like(&scratch)
        .ok_or("no CA bundle file found for the Lambda-like trust store")?;

    // The functions use these resources on moto, and the Ralio simulator.
    let aws = emulator_config().await;
    let table = new_table().await;
    let (_, queue_url) = sqs_queue_on(&[]).await;
    let bus = format!("idv-bench-{}", uuid::Uuid::new_v4().simple());
    idv_adapters::aws::eventbridge_client(&aws, &[])
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .map_err(|e| format!("create bus: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let sim_url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let sim_config = ralio_sim::SimConfig::new(sim_url.clone(), None, WEBHOOK_SECRET);
    let api_secret = api_secret_on_emulator(
        &json!({ "api_code": sim_config.api_code, "api_key": sim_config.api_key }),
    )
    .await;
    let webhook_secret =
        webhook_secret_on_emulator(&json!({ "webhook_secrets": WEBHOOK_SECRET })).await;
    let sim = ralio_sim::Simulator::new(sim_config);
    tokio::spawn(async move { axum::serve(listener, ralio_sim::router(sim)).await });

    let mut base = BTreeMap::new();
    for (key, value) in std::env::vars() {
        if key.starts_with("AWS_") {
            base.insert(key, value);
        }
    }
    // The functions get the region the resources were created in (the emulator's).
    let region = aws.region().map_or("us-east-1".into(), |r| r.to_string());
    base.insert("AWS_REGION".into(), region.clone());
    base.insert("AWS_DEFAULT_REGION".into(), region);
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("LOG_LEVEL", "info"),
    ] {
        base.insert(key.into(), value.into());
    }
    base.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    // The home directory holds no profile files, as in Lambda.
    base.insert("HOME".into(), scratch.join("home").display().to_string());
    let expiry = [
        ("EXPIRY_WARNING_LEAD", "24h"),
        ("EXPIRY_GRACE", "1h"),
        ("EXPIRY_BUCKET", "15m"),
    ];
    let ralio = [
        ("RALIO_BASE_URL", sim_url.as_str()),
        ("RALIO_SECRET_ARN", api_secret.as_str()),
        ("RALIO_AUTH_SCHEME", "login"),
        ("RALIO_CREATE_SESSION_BODY", "empty"),
    ];
    let subject = |name: &str, binary: &str, vars: Vec<(String, String)>| {
        let mut env = base.clone();
        env.insert(
            "AWS_LAMBDA_FUNCTION_NAME".into(),
            format!("ralio-idv-{name}-bench"),
        );
        // Lambda passes the template's Handler this way, and idv-lambda runs the function it
        // names.
        env.insert("_HANDLER".into(), name.into());
        env.extend(vars);
        Subject {
            name: name.into(),
            binary: args.bin_dir.join(binary),
            args: Vec::new(),
            env,
            log: scratch.join(format!("{name}.log")),
        }
    };
    // The two functions that write get tables of their own.
    let webhook_table = new_table().await;
    let create_table = new_table().await;
    let table_env = [("TABLE_NAME", table.as_str())];
    let queue_env = [("QUEUE_URL", queue_url.as_str())];
    let webhook_env = with(&[
        &[("TABLE_NAME", webhook_table.as_str())],
        &queue_env,
        &expiry,
        &[("WEBHOOK_SECRET_ARN", webhook_secret.as_str())],
    ]);
    let create_env = with(&[
        &[("TABLE_NAME", create_table.as_str())],
        &queue_env,
        &expiry,
        &ralio,
    ]);
    let gate_env = with(&[&table_env, &ralio]);
    let watcher_env = with(&[&table_env, &queue_env]);
    let publisher_env = with(&[&table_env, &[("EVENT_BUS_NAME", bus.as_str())]]);
    let known_user = uuid::Uuid::new_v4().to_string();

    let targets = vec![
        Target {
            subject: subject("hello-world", "hello-lambda", Vec::new()),
            invocation: Box::new(|| br#"{"hello":"world"}"#.to_vec()),
            check: Box::new(invocations::echo),
        },
        Target {
            subject: subject("webhook", FUNCTIONS_BINARY, webhook_env),
            invocation: Box::new(|| invocations::webhook_delivery(WEBHOOK_SECRET)),
            check: Box::new(|a| invocations::http_status(a, &[200])),
        },
        Target {
            subject: subject("create-session", FUNCTIONS_BINARY, create_env),
            invocation: Box::new(invocations::create_session),
            check: Box::new(|a| invocations::http_status(a, &[201, 200])),
        },
        Target {
            subject: subject("account-gate", FUNCTIONS_BINARY, gate_env),
            invocation: Box::new(move || invocations::kyc_read(&known_user)),
            check: Box::new(|a| invocations::http_status(a, &[200])),
        },
        Target {
            subject: subject("expiry-watcher", FUNCTIONS_BINARY, watcher_env),
            invocation: Box::new(invocations::tick),
            check: Box::new(invocations::whole_batch),
        },
        Target {
            subject: subject("event-publisher", FUNCTIONS_BINARY, publisher_env),
            invocation: Box::new(invocations::stream_batch),
            check: Box::new(invocations::whole_batch),
        },
    ];
    let targets = targets
        .into_iter()
        .enumerate()
        .filter(|(i, t)| *i == 0 || args.only.is_empty() || args.only.contains(&t.subject.name))
        .map(|(_, t)| t)
        .collect();
    let plan = Plan {
        init_runs: args.init_runs,
        cold_runs: args.cold_runs,
        warm_calls: args.warm_calls,
        lambda_like,
        targets,
    };
    let measured = run(&plan, &mut std::io::stderr()).await?;

    let arm64 = measured
        .iter()
        .filter_map(|m| {
            let binary = if m.name == "hello-world" {
                "hello-lambda"
            } else {
                FUNCTIONS_BINARY
            };
            let path = args.arm64_dir.join(binary).join("bootstrap");
            let (bytes, deflated) = sizes(&path).ok()?;
            let built: chrono::DateTime<chrono::Utc> =
                std::fs::metadata(&path).ok()?.modified().ok()?.into();
            Some(Arm64Size {
                name: m.name.clone(),
                bytes,
                deflated,
                built: built.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
        })
        .collect();
    let (cpu, cpu_baseline) = criterion_figures(&args.criterion_dir);
    let report = Report {
        measured: &measured,
        machine: machine(),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        profile: args.profile.clone(),
        cpu,
        cpu_baseline,
        arm64,
        runs: (args.init_runs, args.cold_runs, args.warm_calls),
    };
    let text = report.markdown();
    std::fs::write(&args.out, &text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!("{text}");
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Returns the webhook bench's figures. `baseline: …` is the one the others are divided by.
fn criterion_figures(dir: &Path) -> (Vec<CpuFigure>, Option<CpuFigure>) {
    let mut figures = Vec::new();
    let mut baseline = None;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (figures, baseline);
    };
    for entry in entries.flatten() {
        let estimates = entry.path().join("new/estimates.json");
        let benchmark = entry.path().join("new/benchmark.json");
        let (Ok(estimates), Ok(benchmark)) = (
            std::fs::read_to_string(estimates),
            std::fs::read_to_string(benchmark),
        ) else {
            continue;
        };
        let estimates: serde_json::Value = serde_json::from_str(&estimates).unwrap_or_default();
        let benchmark: serde_json::Value = serde_json::from_str(&benchmark).unwrap_or_default();
        let (Some(nanos), Some(name)) = (
            estimates["mean"]["point_estimate"].as_f64(),
            benchmark["title"].as_str(),
        ) else {
            continue;
        };
        let figure = CpuFigure {
            name: name.to_string(),
            nanos,
        };
        if name.starts_with("baseline") {
            baseline = Some(figure.clone());
        }
        figures.push(figure);
    }
    figures.sort_by(|a, b| a.name.cmp(&b.name));
    (figures, baseline)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {} {}, {rustc}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn with(parts: &[&[(&str, &str)]]) -> Vec<(String, String)> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())))
        .collect()
}
