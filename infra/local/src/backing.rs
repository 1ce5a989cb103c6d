//! This module chooses where the stack keeps its state, either the in-memory store and queue or
//! DynamoDB and SQS, and starts the feed that turns the store's changes into domain events on
//! each.

use std::sync::Arc;

use aws_sdk_sqs::error::DisplayErrorContext;
use idv_adapters::aws::{dynamodb_client, dynamodb_streams_client, load_config, sqs_client};
use idv_adapters::queue::{ExpiryQueue, MemoryQueue, SqsQueue};
use idv_adapters::store::dynamo::table::ensure_table;
use idv_adapters::store::{DynamoStore, MemoryStore, Store};
use idv_adapters::stream::StreamReader;
use idv_event_publisher::EventPublisher;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::pump::Pump;
use crate::{LocalOptions, StartError, StoreKind, events};

pub(crate) struct Backing {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn ExpiryQueue>,
    /// Feeds the watcher the ticks of `queue`.
    pub pump: Pump,
    /// Turns the store's changes into domain events until the stack stops.
    pub feed: JoinHandle<()>,
}

/// Opens the store and queue the options name (creating the table and queue on DynamoDB and
/// SQS when missing), with its domain events going to `event_log`.
pub(crate) async fn open(
    options: &LocalOptions,
    event_log: Arc<events::EventLog>,
    stopped: &watch::Receiver<bool>,
) -> Result<Backing, StartError> {
    match options.store {
        StoreKind::Memory => {
            let queue = Arc::new(MemoryQueue::new(options.clock.clone()));
            let (feed, audited) = tokio::sync::mpsc::unbounded_channel();
            let store = Arc::new(MemoryStore::new().with_audit_feed(feed));
            let publisher =
                idv_adapters::publish::Publisher::new(store.clone(), store.clone(), event_log);
            let feed = events::spawn_memory_feed(audited, publisher, stopped.clone());
            Ok(Backing {
                store,
                queue: queue.clone(),
                pump: Pump::Memory(queue),
                feed,
            })
        }
        StoreKind::Dynamodb => {
            let aws = load_config(options.aws_timeouts).await;
            let dynamodb = dynamodb_client(&aws, &[]);
            ensure_table(&dynamodb, &options.table_name)
                .await
                .map_err(|e| StartError::Aws(e.to_string()))?;
            let sqs = sqs_client(&aws, &[]);
            let queue_url = match &options.queue_url {
                Some(url) => url.clone(),
                None => sqs
                    .create_queue()
                    .queue_name(format!("{}-ticks", options.table_name))
                    .send()
                    .await
                    .map_err(|e| StartError::Aws(DisplayErrorContext(e).to_string()))?
                    .queue_url
                    .unwrap_or_default(),
            };
            let queue = Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone()));
            let store = Arc::new(
                DynamoStore::new(dynamodb.clone(), options.table_name.clone())
                    .with_retention(options.account_gate.retention),
            );
            let reader = StreamReader::open(
                &dynamodb,
                dynamodb_streams_client(&aws, &[]),
                &options.table_name,
            )
            .await
            .map_err(|e| StartError::Aws(e.to_string()))?;
            let publisher = EventPublisher::new(idv_event_publisher::Parts {
                trail: store.clone(),
                users: store.clone(),
                sink: event_log,
            });
            let feed =
                events::spawn_stream_pump(reader, publisher, options.poll_every, stopped.clone());
            Ok(Backing {
                store,
                queue,
                pump: Pump::Sqs(sqs, queue_url),
                feed,
            })
        }
    }
}
