//! The expiry tick queue holds one message per time bucket. It is SQS in AWS, and in memory for the
//! local runner and tests.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::ExpiryBucket;
use serde::{Deserialize, Serialize};

use crate::aws::OnFirstUse;

/// SQS delays a message at most 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// This is the body of a tick message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickMessage {
    /// The bucket key looks like `warn#1778490000#900`.
    pub bucket: String,
}

impl TickMessage {
    pub fn for_bucket(bucket: &ExpiryBucket) -> Self {
        Self {
            bucket: bucket.key(),
        }
    }

    pub fn body(&self) -> String {
        serde_json::json!({ "bucket": self.bucket }).to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expiry queue unavailable: {0}")]
pub struct QueueError(pub String);

#[async_trait]
pub trait ExpiryQueue: Send + Sync {
    /// Sends the bucket's tick, delayed by up to [`MAX_DELAY`].
    async fn send_tick(&self, bucket: &ExpiryBucket, delay: Duration) -> Result<(), QueueError>;
}

pub struct SqsQueue {
    client: OnFirstUse<aws_sdk_sqs::Client>,
    url: String,
}

impl SqsQueue {
    pub fn new(client: impl Into<OnFirstUse<aws_sdk_sqs::Client>>, url: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            url: url.into(),
        }
    }
}

#[async_trait]
impl ExpiryQueue for SqsQueue {
    async fn send_tick(&self, bucket: &ExpiryBucket, delay: Duration) -> Result<(), QueueError> {
        let delay = delay.min(MAX_DELAY).as_secs() as i32;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(TickMessage::for_bucket(bucket).body())
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Hides a received message for longer (SQS `ChangeMessageVisibility`).
#[async_trait]
pub trait Visibility: Send + Sync {
    async fn hide(&self, receipt_handle: &str, for_: Duration) -> Result<(), QueueError>;
}

/// This changes SQS message visibility on the tick queue.
pub struct SqsVisibility {
    client: OnFirstUse<aws_sdk_sqs::Client>,
    queue_url: String,
}

impl SqsVisibility {
    pub fn new(
        client: impl Into<OnFirstUse<aws_sdk_sqs::Client>>,
        queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl Visibility for SqsVisibility {
    async fn hide(&self, receipt_handle: &str, for_: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(for_.as_secs().max(1) as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
    }
}

/// This is a tick waiting in the in-memory queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTick {
    pub bucket: ExpiryBucket,
    /// The tick becomes visible at this time, after the send delay, which is capped as SQS caps it.
    pub visible_at: DateTime<Utc>,
}

/// This in-process queue keeps what was sent, for the local runner to deliver when it is due.
#[derive(Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<QueuedTick>>,
    clock: Option<std::sync::Arc<dyn crate::clock::Clock>>,
}

impl MemoryQueue {
    pub fn new(clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        Self {
            sent: Mutex::new(Vec::new()),
            clock: Some(clock),
        }
    }

    /// Returns everything sent so far.
    pub fn sent(&self) -> Vec<QueuedTick> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Takes the ticks visible at `now` off the queue.
    pub fn take_visible(&self, now: DateTime<Utc>) -> Vec<QueuedTick> {
        let Ok(mut sent) = self.sent.lock() else {
            return Vec::new();
        };
        let (visible, waiting): (Vec<_>, Vec<_>) =
            sent.drain(..).partition(|t| t.visible_at <= now);
        *sent = waiting;
        visible
    }

    /// Puts a tick back, visible again at `at`, as a visibility change would.
    pub fn requeue(&self, bucket: ExpiryBucket, at: DateTime<Utc>) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(QueuedTick {
                bucket,
                visible_at: at,
            });
        }
    }
}

#[async_trait]
impl ExpiryQueue for MemoryQueue {
    async fn send_tick(&self, bucket: &ExpiryBucket, delay: Duration) -> Result<(), QueueError> {
        let now = self.clock.as_ref().map_or_else(Utc::now, |c| c.now());
        let delay = chrono::Duration::from_std(delay.min(MAX_DELAY)).unwrap_or_default();
        self.requeue(*bucket, now + delay);
        Ok(())
    }
}
