//! Test support shared by every crate's tests (feature `test-support`): stores built fresh per
//! test, the DynamoDB one on its own table of the emulator that `make test` starts.

use std::sync::Arc;

use crate::aws::{AwsTimeouts, RequestCounter, dynamodb_client, load_config};
use crate::store::dynamo::table::ensure_table;
use crate::store::{DynamoStore, MemoryStore, Store};

/// The emulator endpoint. DynamoDB and SQS tests need it; without it they fail loudly rather
/// than pass without testing anything.
pub fn require_emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: DynamoDB and SQS tests run against the moto server \
             that `make test` starts (or run `eval \"$(scripts/moto.sh start)\"` first)"
        )
    })
}

/// The emulator handles one request at a time, so tests racing many tasks queue behind each
/// other: generous timeouts keep a busy emulator from looking like an outage.
pub fn emulator_timeouts() -> AwsTimeouts {
    AwsTimeouts {
        connect: std::time::Duration::from_secs(5),
        attempt: std::time::Duration::from_secs(60),
        operation: std::time::Duration::from_secs(120),
    }
}

/// A DynamoDB store on a new table, and a counter of the requests it sends.
pub async fn dynamo_with_counter() -> (DynamoStore, RequestCounter) {
    require_emulator();
    let config = load_config(emulator_timeouts()).await;
    let counter = RequestCounter::new();
    let client = dynamodb_client(&config, Some(counter.clone()));
    let table = format!("idv-test-{}", uuid::Uuid::new_v4().simple());
    ensure_table(&client, &table)
        .await
        .expect("create test table");
    counter.reset();
    (DynamoStore::new(client, table), counter)
}

pub async fn dynamo() -> Arc<dyn Store> {
    Arc::new(dynamo_with_counter().await.0)
}

pub fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// A DynamoDB store whose endpoint is a closed local port: every call fails to connect.
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
    DynamoStore::new(dynamodb_client(&config, None), "unreachable")
}

/// A fresh SQS queue on the emulator, and a counter of the requests its client sends.
pub async fn sqs_queue_with_counter() -> (crate::queue::SqsQueue, RequestCounter) {
    require_emulator();
    let config = load_config(emulator_timeouts()).await;
    let counter = RequestCounter::new();
    let client = crate::aws::sqs_client(&config, Some(counter.clone()));
    let name = format!("idv-test-{}", uuid::Uuid::new_v4().simple());
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create test queue")
        .queue_url
        .expect("queue url");
    counter.reset();
    (crate::queue::SqsQueue::new(client, url), counter)
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
