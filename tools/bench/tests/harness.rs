//! This test runs the harness itself, in one short run. A Lambda function process (this test
//! binary, re-executed as an echoing lambda_runtime function) is started, its init and first
//! answer are timed, warm answers are collected, and the report is written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use idv_bench::process::Subject;
use idv_bench::report::Report;
use idv_bench::{Plan, Target, TrustStore, invocations, run};

const CHILD: &str = "IDV_BENCH_ECHO_CHILD";

/// Does something only when the harness starts this binary as the function under test.
#[test]
fn echo_function() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(lambda_runtime::run(lambda_runtime::service_fn(
            |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
                Ok::<_, lambda_runtime::Error>(event.payload)
            },
        )))
        .unwrap();
}

#[tokio::test]
async fn one_short_run_measures_and_reports() {
    let scratch = std::env::temp_dir().join(format!("idv-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut env = BTreeMap::new();
    env.insert(CHILD.to_string(), "1".to_string());
    for (key, value) in [
        ("AWS_LAMBDA_FUNCTION_NAME", "echo"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "g"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "s"),
    ] {
        env.insert(key.to_string(), value.to_string());
    }
    let binary: PathBuf = std::env::current_exe().unwrap();
    let subject = Subject {
        name: "echo".into(),
        binary: binary.clone(),
        // These libtest arguments run only the child test, which then serves the Runtime API.
        args: [
            "--exact",
            "echo_function",
            "--nocapture",
            "--test-threads",
            "1",
        ]
        .map(String::from)
        .to_vec(),
        env,
        log: scratch.join("echo.log"),
    };
    let plan = Plan {
        init_runs: 2,
        cold_runs: 1,
        warm_calls: 20,
        lambda_like: TrustStore::lambda_like(&scratch).unwrap_or(TrustStore::Machine),
        targets: vec![Target {
            subject,
            invocation: Box::new(|| br#"{"ping":1}"#.to_vec()),
            check: Box::new(invocations::echo),
        }],
    };
    let mut progress = Vec::new();
    let measured = run(&plan, &mut progress).await.expect("the run completes");
    let echo = &measured[0];
    assert!(!echo.init_machine.is_zero() && !echo.init_bundle.is_zero());
    assert!(echo.first_answer_primed >= echo.init_primed, "{echo:?}");
    assert_eq!((echo.warm_calls, echo.warm_failed), (20, 0));
    assert!(echo.warm_p99 >= echo.warm_p50);
    assert!(echo.peak_rss_kib > 0);
    assert_eq!(echo.binary_bytes, std::fs::metadata(&binary).unwrap().len());
    assert!(echo.deflated_bytes < echo.binary_bytes);
    let text = Report {
        measured: &measured,
        machine: "test".into(),
        date: "today".into(),
        profile: "dev".into(),
        cpu: Vec::new(),
        cpu_baseline: None,
        arm64: Vec::new(),
        runs: (2, 1, 20),
    }
    .markdown();
    assert!(text.contains("| echo | "), "{text}");
    assert!(text.contains("1.00×"), "the baseline's own ratio: {text}");
    let _ = std::fs::remove_dir_all(&scratch);
}
