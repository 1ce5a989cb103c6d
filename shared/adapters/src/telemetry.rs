//! Logs are JSON lines on Lambda (for CloudWatch) and readable text locally. The level comes from
//! `RUST_LOG`, else `LOG_LEVEL`, else `info`, as `level` or `target=level` directives. Regular
//! expressions are not accepted, because `EnvFilter` would bring a regex engine into every binary.
//! Callers log ids, never personal data or hosted URLs.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Reads `RUST_LOG`, else `LOG_LEVEL`, else `info`; an unreadable value falls back to `info`.
pub fn filter_from(rust_log: Option<&str>, log_level: Option<&str>) -> Targets {
    [rust_log, log_level]
        .into_iter()
        .flatten()
        .filter(|directives| well_formed(directives))
        .find_map(|directives| directives.trim().parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Checks that every directive is a level or `target=level`, because a mistyped level (`inf`) would
/// otherwise read as a target name and switch every other log off.
fn well_formed(directives: &str) -> bool {
    directives.split(',').map(str::trim).all(|directive| {
        let level = directive.rsplit('=').next().unwrap_or_default();
        level.parse::<LevelFilter>().is_ok()
    })
}

pub fn init() {
    let filter = filter_from(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("LOG_LEVEL").ok().as_deref(),
    );
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let layer = tracing_subscriber::fmt::layer().with_target(false);
    // `try_init` lets a second call (tests, the local runner) keep the first subscriber.
    if on_lambda {
        let layer = layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time();
        let _ = tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init();
    } else {
        use std::io::IsTerminal;
        let layer = layer.compact().with_ansi(std::io::stdout().is_terminal());
        let _ = tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn levels_come_from_rust_log_then_log_level_then_info() {
        let enabled = |f: &Targets, level| f.would_enable("idv_webhook", &level);
        let debug = filter_from(None, Some("debug"));
        assert!(enabled(&debug, Level::DEBUG));
        let warn = filter_from(Some("warn"), Some("debug"));
        assert!(enabled(&warn, Level::WARN) && !enabled(&warn, Level::INFO));
        let default = filter_from(None, None);
        assert!(enabled(&default, Level::INFO) && !enabled(&default, Level::DEBUG));
        let typo = filter_from(Some("inf"), None);
        assert!(enabled(&typo, Level::INFO), "a typo falls back to info");
        let scoped = filter_from(Some("warn,idv_webhook=trace"), None);
        assert!(enabled(&scoped, Level::TRACE));
        assert!(!scoped.would_enable("aws_smithy_runtime", &Level::INFO));
    }
}
