//! Metrics are written as CloudWatch embedded-metric-format (EMF) lines: a JSON object on stdout
//! that CloudWatch Logs turns into a metric, so the request path makes no API call.

use serde_json::{Map, Value, json};

/// This is the namespace of the service's own metrics, which the alarms in `template.yaml` watch.
pub const NAMESPACE: &str = "RalioIdv";

/// Counts one failed Ralio call for `function`, with the failure `kind` as a property.
pub fn ralio_failure(function: &str, kind: &str) {
    count(
        "RalioFailures",
        ("Function", function),
        &[("failure", kind)],
    );
}

/// Counts one signed payload that was kept without being applied, by reason (`QuarantinedEvents`,
/// dimension `Reason`).
pub fn quarantined(reason: &str) {
    count("QuarantinedEvents", ("Reason", reason), &[]);
}

/// Counts one webhook delivery by what came of it (`WebhookDeliveries`, dimension `Outcome`:
/// `applied`, `duplicate`, `stale`, `quarantined`, `signature_invalid`, …), for the dashboard's
/// outcome graph.
pub fn webhook_outcome(outcome: &str) {
    count("WebhookDeliveries", ("Outcome", outcome), &[]);
}

/// Counts one webhook whose signature was refused, by the reason (`WebhookSignatureRejected`,
/// dimension `Reason`: `signature_missing`, `signature_invalid`).
pub fn signature_rejected(reason: &str) {
    count("WebhookSignatureRejected", ("Reason", reason), &[]);
}

/// Counts one webhook answered 503 `signature_unverified` (`WebhookSignatureUnverified`, dimension
/// `Function`). It has its own metric, which the webhook's 5xx alarm subtracts, so that forgeries
/// during a rotation never hold the store alarm red.
pub fn signature_unverified() {
    count("WebhookSignatureUnverified", ("Function", "webhook"), &[]);
}

/// Counts one webhook request answered 503 `edge_header_mismatch` (`WebhookEdgeRefused`,
/// dimension `Function`, with the reason as a property). It has its own metric and alarm, which
/// the webhook's 5xx alarm subtracts, so that requests going around the edge never hold the store
/// alarm red.
pub fn edge_refused(reason: &str) {
    count(
        "WebhookEdgeRefused",
        ("Function", "webhook"),
        &[("reason", reason)],
    );
}

/// Counts one verified webhook by the position of the secret that matched (`WebhookSecretMatched`,
/// dimension `SecretIndex`). Once index 1 stays at zero after a rotation, the old secret can be
/// removed.
pub fn secret_matched(index: usize) {
    count(
        "WebhookSecretMatched",
        ("SecretIndex", &index.to_string()),
        &[],
    );
}

/// Counts domain events sent to the bus (`EventsPublished`) or given back to the stream to be
/// delivered again (`EventsUnpublished`), dimension `Function`.
pub fn events(metric: &str, how_many: usize) {
    if how_many > 0 {
        add(
            metric,
            ("Function", "event-publisher"),
            &[],
            how_many as u64,
        );
    }
}

/// Reports a sweep run, dimension `Function`: sessions whose state it applied (`SweepHealed`, not
/// counting those a webhook had already brought), Ralio calls (`SweepRalioCalls`), sessions left
/// for later because a call failed (`SweepFailed`), sessions it stopped waiting for
/// (`SweepGaveUp`) and users whose level is overdue (`LevelOverdue`). Each is written even when
/// zero, so that its alarm has data and `LevelOverdue` reads as a gauge of the run.
pub fn sweep(report: &crate::sweep::SweepReport) {
    let function = ("Function", "reconciler");
    let applied = report
        .healed
        .iter()
        .filter(|(_, outcome)| *outcome == idv_model::EventOutcome::Applied)
        .count();
    add("SweepHealed", function, &[], applied as u64);
    add("SweepRalioCalls", function, &[], report.ralio_calls as u64);
    add("SweepFailed", function, &[], report.failed as u64);
    add("SweepGaveUp", function, &[], report.gave_up as u64);
    add("LevelOverdue", function, &[], report.level_overdue as u64);
}

/// Counts `metric` once under one dimension, with extra properties for Logs Insights.
pub fn count(metric: &str, dimension: (&str, &str), properties: &[(&str, &str)]) {
    add(metric, dimension, properties, 1);
}

fn add(metric: &str, dimension: (&str, &str), properties: &[(&str, &str)], amount: u64) {
    // Each metric is one whole line, because `println!` locks stdout for the line and tests capture
    // it.
    println!(
        "{}",
        emf_line(
            metric,
            dimension,
            properties,
            amount,
            chrono::Utc::now().timestamp_millis()
        )
    );
}

fn emf_line(
    metric: &str,
    (dimension, value): (&str, &str),
    properties: &[(&str, &str)],
    amount: u64,
    timestamp_ms: i64,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // The metric is also counted without the dimension, so alarms have one total per
                // metric.
                "Dimensions": [[dimension], []],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        }),
    );
    line.insert(dimension.into(), json!(value));
    line.insert(metric.into(), json!(amount));
    for (key, value) in properties {
        line.insert((*key).into(), json!(value));
    }
    Value::Object(line).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_lines_name_namespace_dimension_and_value() {
        let line: serde_json::Value = serde_json::from_str(&super::emf_line(
            "RalioFailures",
            ("Function", "create-session"),
            &[("failure", "timeout")],
            1,
            1,
        ))
        .unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "RalioIdv"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Function"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][1],
            serde_json::json!([]),
            "a total too"
        );
        assert_eq!(line["Function"], "create-session");
        assert_eq!(line["RalioFailures"], 1);
        assert_eq!(line["failure"], "timeout");
    }
}
