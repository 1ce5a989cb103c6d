//! This module is the test support shared by every crate's tests (feature `test-support`): stores
//! built fresh per test (the DynamoDB one on its own table of the emulator that `make test`
//! starts), request recording, fault injection and the fixtures the suites share.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use aws_config::SdkConfig;

use crate::aws::{
    AwsTimeouts, SharedInterceptor, dynamodb_client, load_config, secrets_client, sqs_client,
};
use crate::store::dynamo::table::ensure_table;
use crate::store::{DynamoStore, MemoryStore, Store};

pub mod bus;
pub mod faults;
pub mod fixtures;
mod recorder;

pub use recorder::{OPERATIONS_DIR_VAR, Permission, RequestCounter, permissions};

/// Returns the emulator endpoint. DynamoDB and SQS tests need it, and without it they fail loudly
/// rather than pass without testing anything.
pub fn require_emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: DynamoDB and SQS tests run against the moto server \
             that `make test` starts (or run `eval \"$(scripts/moto.sh start)\"` first)"
        )
    })
}

static EMULATOR: OnceLock<SdkConfig> = OnceLock::new();

/// Returns the emulator's AWS configuration.
pub async fn emulator_config() -> SdkConfig {
    require_emulator();
    if let Some(config) = EMULATOR.get() {
        return config.clone();
    }
    // The emulator handles one request at a time, so tests racing many tasks queue behind each
    // other, and generous timeouts keep a busy emulator from looking like an outage.
    let config = load_config(AwsTimeouts::emulator()).await;
    EMULATOR.get_or_init(|| config).clone()
}

/// Creates a new table on the emulator without counting.
pub async fn new_table() -> String {
    let client = dynamodb_client(&emulator_config().await, &[]);
    let table = format!("idv-test-{}", uuid::Uuid::new_v4().simple());
    ensure_table(&client, &table)
        .await
        .expect("create test table");
    table
}

/// Returns a DynamoDB store on `table` whose requests pass through `interceptors`.
pub async fn dynamo_on(table: &str, interceptors: &[SharedInterceptor]) -> DynamoStore {
    let client = dynamodb_client(&emulator_config().await, interceptors);
    DynamoStore::new(client, table)
}

/// Returns a DynamoDB store on a new table, and a counter of the requests it sends.
pub async fn dynamo_with_counter() -> (DynamoStore, RequestCounter) {
    let counter = RequestCounter::new();
    let store = dynamo_on(&new_table().await, &[counter.interceptor()]).await;
    (store, counter)
}

/// Returns a DynamoDB store on a new table.
pub async fn dynamo() -> Arc<dyn Store> {
    let table = new_table().await;
    let store: Arc<dyn Store> = Arc::new(dynamo_on(&table, &[]).await);
    TABLES
        .lock()
        .expect("table registry")
        .push((Arc::downgrade(&store), table));
    store
}

/// This records which table each store made by [`dynamo`] is on. A `Weak` keeps its store's
/// allocation, so that no later store can take a dropped one's place and be mistaken for it.
type Registry = Mutex<Vec<(Weak<dyn Store>, String)>>;
static TABLES: Registry = Mutex::new(Vec::new());

/// Returns the store that a function under test uses. For a store made by [`dynamo`], it is a
/// second client on the same table that records the permissions `function`'s requests need, so that
/// a test's own setup and checks through `store` are not counted as the function's; a memory store
/// is itself. The IAM check compares what was recorded with the function's role.
pub fn as_function(store: &Arc<dyn Store>, function: &str) -> Arc<dyn Store> {
    let table = TABLES
        .lock()
        .expect("table registry")
        .iter()
        .find(|(known, _)| {
            known
                .upgrade()
                .is_some_and(|known| Arc::ptr_eq(&known, store))
        })
        .map(|(_, table)| table.clone());
    match (table, EMULATOR.get()) {
        (Some(table), Some(config)) => {
            let recorder = RequestCounter::for_function(function).interceptor();
            Arc::new(DynamoStore::new(
                dynamodb_client(config, &[recorder]),
                table,
            ))
        }
        _ => store.clone(),
    }
}

/// Returns every item of a table on the emulator, as JSON, for tests that look at what is kept.
pub async fn table_items(table: &str) -> Vec<serde_json::Value> {
    let client = dynamodb_client(&emulator_config().await, &[]);
    let items = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("scan the table");
    items
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).expect("an item as JSON"))
        .collect()
}

pub fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Returns a DynamoDB store whose endpoint is a closed local port, so every call fails to connect.
pub async fn unreachable_dynamo() -> DynamoStore {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a local port");
    let timeouts = AwsTimeouts {
        connect: std::time::Duration::from_millis(300),
        attempt: std::time::Duration::from_millis(500),
        operation: std::time::Duration::from_secs(2),
    };
    let config = load_config(timeouts)
        .await
        .into_builder()
        .endpoint_url(format!("http://{closed}"))
        .build();
    DynamoStore::new(dynamodb_client(&config, &[]), "unreachable")
}

/// Returns a fresh SQS queue on the emulator, and a client whose requests pass `interceptors`.
pub async fn sqs_queue_on(interceptors: &[SharedInterceptor]) -> (aws_sdk_sqs::Client, String) {
    let config = emulator_config().await;
    let name = format!("idv-test-{}", uuid::Uuid::new_v4().simple());
    let url = sqs_client(&config, &[])
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create test queue")
        .queue_url
        .expect("queue url");
    (sqs_client(&config, interceptors), url)
}

/// Returns an SQS client on the emulator whose requests are recorded as `function`'s.
pub async fn sqs_client_for(function: &str) -> aws_sdk_sqs::Client {
    let recorder = RequestCounter::for_function(function).interceptor();
    sqs_client(&emulator_config().await, &[recorder])
}

/// Returns a fresh SQS queue on the emulator, and a counter of the requests its client sends.
pub async fn sqs_queue_with_counter() -> (crate::queue::SqsQueue, RequestCounter) {
    let counter = RequestCounter::new();
    let (client, url) = sqs_queue_on(&[counter.interceptor()]).await;
    (crate::queue::SqsQueue::new(client, url), counter)
}

/// Counts the messages on the emulator's queue, visible or delayed.
pub async fn messages_waiting(queue_url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesDelayed,
    };
    let attributes = sqs_client(&emulator_config().await, &[])
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [
        ApproximateNumberOfMessages,
        ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .filter_map(|name| attributes.get(name)?.parse::<usize>().ok())
    .sum()
}

/// Returns a Secrets Manager client on the emulator, for tests that rotate a secret.
pub async fn secrets_client_on_emulator() -> aws_sdk_secretsmanager::Client {
    secrets_client(&emulator_config().await, &[])
}

/// Creates a Secrets Manager secret on the emulator holding Ralio API credentials, and returns its
/// ARN.
pub async fn api_secret_on_emulator(value: &serde_json::Value) -> String {
    secret_on_emulator("api", value).await
}

/// Creates a Secrets Manager secret on the emulator holding webhook secrets, and returns its ARN.
pub async fn webhook_secret_on_emulator(value: &serde_json::Value) -> String {
    secret_on_emulator("webhook", value).await
}

/// Creates a Secrets Manager secret on the emulator holding the edge's origin secret as its whole
/// string, as the template generates it, and returns its ARN.
pub async fn origin_secret_on_emulator(value: &str) -> String {
    secret_text_on_emulator("origin", value).await
}

async fn secret_on_emulator(kind: &str, value: &serde_json::Value) -> String {
    secret_text_on_emulator(kind, &value.to_string()).await
}

/// The secret is named by its kind, so that the recorded permissions tell the secrets apart.
async fn secret_text_on_emulator(kind: &str, text: &str) -> String {
    secrets_client_on_emulator()
        .await
        .create_secret()
        .name(format!("idv-test-{kind}-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(text)
        .send()
        .await
        .expect("create test secret")
        .arn
        .expect("secret arn")
}

/// Runs each named test function (`async fn name(store: Arc<dyn Store>)`) twice: as
/// `memory::name` on a fresh in-memory store and as `dynamodb::name` on a fresh table.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::memory()).await })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::dynamo().await).await })*
        }
    };
}

/// Tests leave every domain event they saw emitted in this file (`make test` sets it), and each
/// line is checked against its detail-type's JSON Schema under `infra/events/schemas/` after the
/// run.
pub const DOMAIN_EVENTS_VAR: &str = "IDV_DOMAIN_EVENTS";

/// Records emitted events for the schema check.
pub fn record_domain_events(events: &[idv_model::domain_events::PublishedEvent]) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os(DOMAIN_EVENTS_VAR) else {
        return;
    };
    let lines: String = events
        .iter()
        .filter_map(|e| serde_json::to_string(e).ok())
        .map(|line| line + "\n")
        .collect();
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(lines.as_bytes());
    }
}

/// Returns the fields `docs/data-map.md` lists for an item type (`entity`), by their top-level
/// attribute names, so that tests can hold the map to what the store writes.
pub fn documented_fields(entity: &str) -> std::collections::BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/data-map.md");
    let map = std::fs::read_to_string(&path).expect("docs/data-map.md");
    let heading = format!("### `{entity}`:");
    let section = map
        .split("\n### ")
        .find(|s| format!("### {s}").starts_with(&heading))
        .unwrap_or_else(|| panic!("docs/data-map.md has no section for {entity}"));
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|row| row.split(" |").next())
        .flat_map(|names| names.split(", "))
        .filter_map(|name| {
            let name = name.split_whitespace().next()?.trim_matches('`');
            let top = name.split(['.', '[']).next()?;
            (!top.is_empty() && top != "field" && !top.starts_with('-')).then(|| top.to_owned())
        })
        .collect()
}
