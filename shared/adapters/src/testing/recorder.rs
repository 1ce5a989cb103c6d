//! This request recorder for SDK clients records which operations a client sent (for the round-trip
//! budgets) and which IAM permissions they need, because the template's roles are checked against
//! what each function's tests saw it call.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// Function tests leave the permissions they used in this directory (`make test` sets it).
pub const OPERATIONS_DIR_VAR: &str = "IDV_OPERATIONS_DIR";

/// This is one IAM permission that a request needed: an action and what it acts on (`table`,
/// `index/<name>`, `queue`, `secret`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    pub action: String,
    pub resource: String,
}

impl Permission {
    fn new(action: String, resource: impl Into<String>) -> Self {
        Self {
            action,
            resource: resource.into(),
        }
    }

    /// Returns the line format of the recorded files, such as `dynamodb:PutItem table`.
    pub fn line(&self) -> String {
        format!("{} {}", self.action, self.resource)
    }

    pub fn parse_line(line: &str) -> Option<Self> {
        let (action, resource) = line.trim().split_once(' ')?;
        Some(Self::new(action.to_owned(), resource))
    }
}

/// This mark is in the name of every webhook-secrets secret that the tests create.
pub const WEBHOOK_SECRET_MARK: &str = "-webhook-";

/// This mark is in the name of every edge origin secret that the tests create.
pub const ORIGIN_SECRET_MARK: &str = "-origin-";

/// Returns the permissions that one request needs, from its `X-Amz-Target` and body.
/// `TransactWriteItems` is authorised item by item, as the actions it contains.
pub fn permissions(target: &str, body: Option<&[u8]>) -> Vec<Permission> {
    let Some((service, operation)) = target.split_once('.') else {
        return Vec::new();
    };
    let body: Value = body
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    let service = service.to_ascii_lowercase();
    if service.starts_with("dynamodb") {
        if operation == "TransactWriteItems" {
            let items = body["TransactItems"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            return items
                .iter()
                .filter_map(|item| item.as_object()?.keys().next().cloned())
                .map(|kind| {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_owned(),
                        other => format!("{other}Item"),
                    };
                    Permission::new(format!("dynamodb:{action}"), "table")
                })
                .collect();
        }
        let resource = match body["IndexName"].as_str() {
            Some(index) => format!("index/{index}"),
            None => "table".to_owned(),
        };
        return vec![Permission::new(format!("dynamodb:{operation}"), resource)];
    }
    if service == "amazonsqs" {
        return vec![Permission::new(format!("sqs:{operation}"), "queue")];
    }
    if service == "awsevents" {
        return vec![Permission::new(format!("events:{operation}"), "bus")];
    }
    if service == "secretsmanager" {
        // The secret is told apart from the names that the test helpers give the three secrets.
        let secret = match body["SecretId"].as_str() {
            Some(id) if id.contains(ORIGIN_SECRET_MARK) => "secret/origin",
            Some(id) if id.contains(WEBHOOK_SECRET_MARK) => "secret/webhook",
            _ => "secret/api",
        };
        return vec![Permission::new(
            format!("secretsmanager:{operation}"),
            secret,
        )];
    }
    vec![Permission::new(format!("{service}:{operation}"), "unknown")]
}

/// This counter records every request an SDK client transmits (retries included): the operation
/// names in order, and optionally the permissions into `$IDV_OPERATIONS_DIR/<function>.txt`.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    sent: Arc<Mutex<Vec<String>>>,
    record_to: Option<PathBuf>,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns a counter that also records the permissions `function`'s requests need, when the
    /// test run collects them.
    pub fn for_function(function: &str) -> Self {
        let record_to = std::env::var_os(OPERATIONS_DIR_VAR).map(|dir| {
            let dir = PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            dir.join(format!("{function}.txt"))
        });
        Self {
            sent: Arc::default(),
            record_to,
        }
    }

    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    /// Returns the operations sent so far, in order (for example `TransactWriteItems`).
    pub fn operations(&self) -> Vec<String> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.sent.lock().map(|v| v.len()).unwrap_or_default()
    }

    /// Forgets what was counted, to measure the next step alone.
    pub fn reset(&self) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.clear();
        }
    }

    fn record(&self, needed: &[Permission]) {
        let Some(path) = &self.record_to else {
            return;
        };
        let lines: String = needed.iter().map(|p| p.line() + "\n").collect();
        // Each request is one append, so that concurrent tests interleave whole lines.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(lines.as_bytes());
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        // JSON-protocol services name the operation in X-Amz-Target ("DynamoDB_20120810.Query").
        let target = request.headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.record(&permissions(target, request.body().bytes()));
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(operation);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(target: &str, body: &str) -> Vec<String> {
        permissions(target, Some(body.as_bytes()))
            .iter()
            .map(Permission::line)
            .collect()
    }

    #[test]
    fn transactions_need_each_of_their_actions_and_queries_name_their_index() {
        assert_eq!(
            actions(
                "DynamoDB_20120810.TransactWriteItems",
                r#"{"TransactItems":[{"Put":{}},{"Update":{}},{"ConditionCheck":{}}]}"#
            ),
            [
                "dynamodb:PutItem table",
                "dynamodb:UpdateItem table",
                "dynamodb:ConditionCheckItem table"
            ]
        );
        assert_eq!(
            actions("DynamoDB_20120810.Query", r#"{"IndexName":"BySession"}"#),
            ["dynamodb:Query index/BySession"]
        );
        assert_eq!(
            actions("DynamoDB_20120810.Query", "{}"),
            ["dynamodb:Query table"]
        );
        assert_eq!(
            actions("AmazonSQS.SendMessage", "{}"),
            ["sqs:SendMessage queue"]
        );
        assert_eq!(
            actions(
                "secretsmanager.GetSecretValue",
                r#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:1:secret:idv-test-api-1"}"#
            ),
            ["secretsmanager:GetSecretValue secret/api"]
        );
        assert_eq!(
            actions(
                "secretsmanager.GetSecretValue",
                r#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:1:secret:idv-test-webhook-1"}"#
            ),
            ["secretsmanager:GetSecretValue secret/webhook"]
        );
        assert_eq!(
            actions(
                "secretsmanager.GetSecretValue",
                r#"{"SecretId":"arn:aws:secretsmanager:eu-west-1:1:secret:idv-test-origin-1"}"#
            ),
            ["secretsmanager:GetSecretValue secret/origin"]
        );
        assert_eq!(
            actions("AWSEvents.PutEvents", "{}"),
            ["events:PutEvents bus"]
        );
        let line = "dynamodb:Query index/BySession";
        assert_eq!(Permission::parse_line(line).unwrap().line(), line);
    }
}
