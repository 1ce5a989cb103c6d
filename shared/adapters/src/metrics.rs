//! CloudWatch embedded-metric-format (EMF) lines: a JSON object on stdout that CloudWatch Logs
//! turns into a metric, with no API call on the request path.

/// Namespace of the service's own metrics (the alarms in `template.yaml` watch it).
pub const NAMESPACE: &str = "RalioIdv";

/// Counts one failed Ralio call for `function`, with the failure `kind` as a property.
pub fn ralio_failure(function: &str, kind: &str) {
    // One whole line per metric (println! locks stdout for the line; tests capture it).
    println!(
        "{}",
        emf_line(function, kind, chrono::Utc::now().timestamp_millis())
    );
}

fn emf_line(function: &str, kind: &str, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": [{ "Name": "RalioFailures", "Unit": "Count" }]
            }]
        },
        "Function": function,
        "RalioFailures": 1,
        "failure": kind
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_lines_name_namespace_dimension_and_value() {
        let line: serde_json::Value =
            serde_json::from_str(&super::emf_line("create-session", "timeout", 1)).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "RalioIdv"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Function"
        );
        assert_eq!(line["Function"], "create-session");
        assert_eq!(line["RalioFailures"], 1);
        assert_eq!(line["failure"], "timeout");
    }
}
