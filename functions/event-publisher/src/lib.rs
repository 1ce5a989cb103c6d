//! The event publisher turns the table's stream, filtered to the audit items of applied
//! changes, into domain events on the service's EventBridge bus.
//!
//! A record that cannot be published (the bus refused it after retries, or the owner's trail
//! could not be read) is reported as the batch's failure, so the stream delivers it, and what
//! follows it, again. Events carry a stable `eventId`, so a consumer drops the repeats.

pub mod lambda;

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use idv_adapters::config::{ConfigError, Env};
use idv_adapters::publish::{Delivered, EventSink, Publisher, delivered};
use idv_adapters::store::{AuditLog, UserReader};
use idv_adapters::wiring::Wiring;

/// Holds the parts the publisher is made of. Tests and the local stack choose each part, and
/// Lambda's come from its environment ([`EventPublisher::from_env`]).
pub struct Parts {
    pub trail: Arc<dyn AuditLog>,
    pub users: Arc<dyn UserReader>,
    pub sink: Arc<dyn EventSink>,
}

pub struct EventPublisher {
    /// It is public so that a test can shorten its pause between retries.
    pub publisher: Publisher,
}

impl EventPublisher {
    pub fn new(parts: Parts) -> Arc<Self> {
        let Parts { trail, users, sink } = parts;
        Arc::new(Self {
            publisher: Publisher::new(trail, users, sink),
        })
    }

    /// Builds the publisher from Lambda's configuration: `TABLE_NAME`, `EVENT_BUS_NAME`.
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let store = wiring.store()?;
        let sink = wiring.event_sink()?;
        wiring.prime(&store, None, None).await?;
        Ok(Self::new(Parts {
            trail: store.clone(),
            users: store,
            sink,
        }))
    }

    /// Publishes a batch of stream records, and the answer names the first one to deliver
    /// again. Everything before it was published. A record that does not decode is not skipped
    /// but reported too, so the mapping retries it, bisects down to it and finally parks it on
    /// the failure queue, which is alarmed. A publisher older than the writer is the usual
    /// cause, and the fix is to deploy the new publisher and redrive.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut records: Vec<Delivered> = Vec::new();
        let mut undecodable = None;
        for record in &event.records {
            match delivered(record) {
                Ok(Some(found)) => records.push(found),
                Ok(None) => {}
                Err(error) => {
                    // The error names the attribute, never its value, so it is safe to log.
                    tracing::error!(
                        kind = error.kind(),
                        position = record.change.sequence_number.as_deref().unwrap_or(""),
                        "an audit item in the stream cannot be read"
                    );
                    undecodable = record.change.sequence_number.clone();
                    break;
                }
            }
        }
        let mut failed_at = undecodable;
        if let Err(unpublished) = self.publisher.publish(&records).await {
            tracing::warn!(
                error = %unpublished.error,
                position = %records[unpublished.index].position,
                "events not published; the stream delivers them again"
            );
            failed_at = Some(records[unpublished.index].position.clone());
        }
        let mut response = DynamoDbEventResponse::default();
        if let Some(position) = failed_at {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(position);
            response.batch_item_failures.push(failure);
        }
        response
    }
}
