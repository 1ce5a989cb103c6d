//! The expiry watcher consumes one tick per time bucket (architecture, "Expiry scheduling").
//!
//! - A tick not yet due has its message hidden again until it is (at most 12 h per receive,
//!   an SQS limit) and is reported as a batch item failure, so SQS hands it back later.
//! - A due warn tick flags every session of its bucket still NOT_STARTED or STARTED as
//!   expiring soon, and a due expiry tick marks them EXPIRED, inferred (a later real outcome
//!   from Ralio still wins). Sessions in REVIEW or final are left alone. Both are conditional
//!   writes, so processing a tick twice changes nothing.
//! - A malformed message is reported failed (it reaches the DLQ after `maxReceiveCount`) and
//!   never fails the other messages of the batch.

pub mod lambda;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env};
use idv_adapters::queue::{TickMessage, Visibility};
use idv_adapters::store::{ExpiryIndex, StoreError};
use idv_adapters::wiring::Wiring;
use idv_model::{ExpiryBucket, WatchAction, WatchOutcome};

/// SQS keeps a received message hidden at most 12 hours, so the watcher stays a minute under.
pub const MAX_HIDE: Duration = Duration::from_secs(12 * 3600 - 60);
/// How many sessions are read per page of a bucket.
pub const PAGE_SIZE: u32 = 100;
/// How many sessions are updated at once.
pub const CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The message is not a tick this service sent, so retrying cannot help.
    #[error("malformed tick message: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Says what handling one tick came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// The tick is not due, so the message is hidden this much longer.
    NotDue {
        hide_for: Duration,
    },
    Processed(Tally),
}

/// Counts what a due tick did to its bucket's sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub changed: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub missing: usize,
}

/// Parses a tick message body (`{"bucket":"warn#…#…"}`).
pub fn parse_tick(body: &str) -> Result<ExpiryBucket, TickError> {
    let message: TickMessage = serde_json::from_str(body)
        .map_err(|_| TickError::Malformed("not a tick message".into()))?;
    ExpiryBucket::parse_key(&message.bucket).map_err(|e| TickError::Malformed(e.to_string()))
}

/// Builds the event Lambda's SQS event source mapping hands the function for received messages,
/// so that the watcher can run off a queue without Lambda (the local runner, tests).
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id.clone();
            message.body = m.body.clone();
            message.receipt_handle = m.receipt_handle.clone();
            message
        })
        .collect();
    event
}

/// Holds the parts the watcher is made of. Tests and the local stack choose each part, and
/// Lambda's come from its environment ([`Watcher::from_env`]).
pub struct Parts {
    pub index: Arc<dyn ExpiryIndex>,
    /// Hides a tick that is not due yet until it is. It is `None` for a queue whose pump puts
    /// such ticks back itself (the local runner's in-process queue, which calls
    /// [`Watcher::handle_tick`]).
    pub visibility: Option<Arc<dyn Visibility>>,
    pub clock: Arc<dyn Clock>,
}

pub struct Watcher {
    index: Arc<dyn ExpiryIndex>,
    visibility: Option<Arc<dyn Visibility>>,
    clock: Arc<dyn Clock>,
}

impl Watcher {
    pub fn new(parts: Parts) -> Arc<Self> {
        let Parts {
            index,
            visibility,
            clock,
        } = parts;
        Arc::new(Self {
            index,
            visibility,
            clock,
        })
    }

    /// Builds the watcher from Lambda's configuration: `TABLE_NAME`, `QUEUE_URL`.
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let store = wiring.store()?;
        let visibility = wiring.visibility()?;
        wiring.prime(&store, None, None).await?;
        Ok(Self::new(Parts {
            index: store,
            visibility: Some(visibility),
            clock: Arc::new(SystemClock),
        }))
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn handle_tick(&self, bucket: &ExpiryBucket) -> Result<TickOutcome, TickError> {
        let now = self.clock.now();
        if now < bucket.due_at() {
            let remaining = (bucket.due_at() - now).to_std().unwrap_or(Duration::ZERO);
            return Ok(TickOutcome::NotDue {
                hide_for: remaining.min(MAX_HIDE),
            });
        }
        let action = WatchAction::for_bucket(bucket.kind);
        let mut tally = Tally::default();
        let mut page: Option<String> = None;
        loop {
            let listing = self
                .index
                .list_bucket(bucket, PAGE_SIZE, page.as_deref())
                .await?;
            let outcomes: Vec<Result<WatchOutcome, StoreError>> =
                futures_util::stream::iter(listing.members)
                    .map(|member| async move { self.index.watch(action, &member, now).await })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
            for outcome in outcomes {
                match outcome? {
                    WatchOutcome::Changed => tally.changed += 1,
                    WatchOutcome::Unchanged => tally.unchanged += 1,
                    WatchOutcome::Skipped => tally.skipped += 1,
                    WatchOutcome::Missing => tally.missing += 1,
                }
            }
            match listing.next {
                Some(next) => page = Some(next),
                None => break,
            }
        }
        tracing::info!(
            bucket = %bucket,
            changed = tally.changed,
            unchanged = tally.unchanged,
            skipped = tally.skipped,
            missing = tally.missing,
            "expiry tick processed"
        );
        Ok(TickOutcome::Processed(tally))
    }

    /// Handles an SQS batch for Lambda and returns the ids of the messages that must come back.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let results: Vec<Option<String>> = futures_util::stream::iter(event.records)
            .map(|message| async move { self.handle_message(message).await })
            .buffer_unordered(4)
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        for id in results.into_iter().flatten() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// Returns `Some(message id)` when the message must come back (not due, failed or
    /// malformed).
    async fn handle_message(&self, message: SqsMessage) -> Option<String> {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let bucket = match parse_tick(body) {
            Ok(bucket) => bucket,
            Err(err) => {
                tracing::error!(message_id = %id, error = %err, "tick rejected; it will reach the dead-letter queue");
                return Some(id);
            }
        };
        match self.handle_tick(&bucket).await {
            Ok(TickOutcome::Processed(_)) => None,
            Ok(TickOutcome::NotDue { hide_for }) => {
                if let Some(handle) = message.receipt_handle.as_deref()
                    && let Some(visibility) = &self.visibility
                    && let Err(e) = visibility.hide(handle, hide_for).await
                {
                    // The tick then comes back after the queue's own visibility timeout instead.
                    tracing::warn!(message_id = %id, error = %e, "could not extend tick visibility");
                }
                Some(id)
            }
            Err(err) => {
                tracing::error!(message_id = %id, bucket = %bucket, error = %err, "tick failed; it will be retried");
                Some(id)
            }
        }
    }
}
