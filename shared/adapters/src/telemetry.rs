//! Logging: JSON lines on Lambda (CloudWatch), readable text locally. Levels from `RUST_LOG`,
//! else `LOG_LEVEL`, else `info`. Callers log ids, never personal data or hosted URLs.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into()))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // try_init: a second call (tests, the local runner) keeps the first subscriber.
    if on_lambda {
        let _ = builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time()
            .try_init();
    } else {
        use std::io::IsTerminal;
        let _ = builder
            .compact()
            .with_ansi(std::io::stdout().is_terminal())
            .try_init();
    }
}
