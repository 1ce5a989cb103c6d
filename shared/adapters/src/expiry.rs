//! This module schedules a session's expiry ticks. The store indexes the session under its buckets,
//! and then each bucket must have its one tick item and one queue message.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use idv_model::{ExpiryBucket, ExpirySchedule, TickClaim};

use crate::queue::ExpiryQueue;
use crate::store::ExpiryIndex;

/// A warm container remembers this many bucket keys before it starts over.
const KNOWN_BUCKETS_CAP: usize = 10_000;

pub struct ExpiryScheduler {
    index: Arc<dyn ExpiryIndex>,
    queue: Arc<dyn ExpiryQueue>,
    schedule: ExpirySchedule,
    /// These are the buckets this container already knows to have their tick, which saves a write
    /// per session.
    known: Mutex<HashSet<ExpiryBucket>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not schedule expiry tick {bucket}: {reason}")]
pub struct ScheduleError {
    pub bucket: String,
    pub reason: String,
}

impl ExpiryScheduler {
    pub fn new(
        index: Arc<dyn ExpiryIndex>,
        queue: Arc<dyn ExpiryQueue>,
        schedule: ExpirySchedule,
    ) -> Self {
        Self {
            index,
            queue,
            schedule,
            known: Mutex::new(HashSet::new()),
        }
    }

    pub fn schedule(&self) -> ExpirySchedule {
        self.schedule
    }

    /// Returns the warn and expiry buckets of a session that expires at `expires_at`.
    pub fn buckets(&self, expires_at: DateTime<Utc>) -> [ExpiryBucket; 2] {
        self.schedule.buckets(expires_at)
    }

    fn is_known(&self, bucket: &ExpiryBucket) -> bool {
        self.known
            .lock()
            .map(|k| k.contains(bucket))
            .unwrap_or(false)
    }

    fn remember(&self, bucket: &ExpiryBucket) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= KNOWN_BUCKETS_CAP {
                known.clear();
            }
            known.insert(*bucket);
        }
    }

    /// Makes sure each bucket's one queue message is sent. The session that claims the tick sends
    /// it and marks it sent. Returns how many messages were sent.
    ///
    /// A message that cannot be sent gives its claim back, so the next session in the bucket tries
    /// again. A claimer that dies before sending, or whose give-back fails, leaves a tick that is
    /// never marked sent. The next session in the bucket takes it over once it is a minute old
    /// ([`idv_model::TICK_ORPHANED_AFTER`]) and sends it again, and the watcher takes a repeated
    /// message in its stride.
    pub async fn ensure_ticks(
        &self,
        buckets: &[ExpiryBucket],
        now: DateTime<Utc>,
    ) -> Result<usize, ScheduleError> {
        let mut sent = 0;
        for bucket in buckets {
            if self.is_known(bucket) {
                continue;
            }
            let error = |reason: String| ScheduleError {
                bucket: bucket.key(),
                reason,
            };
            let claim = self
                .index
                .claim_tick(bucket, now)
                .await
                .map_err(|e| error(e.to_string()))?;
            match claim {
                TickClaim::Claimed => {
                    let delay = (bucket.due_at() - now).to_std().unwrap_or(Duration::ZERO);
                    if let Err(e) = self.queue.send_tick(bucket, delay).await {
                        let _ = self.index.delete_tick(bucket).await;
                        return Err(error(e.to_string()));
                    }
                    sent += 1;
                    if let Err(e) = self.index.mark_tick_sent(bucket, now).await {
                        // The message was sent all the same, and a later session may send it again.
                        tracing::warn!(bucket = %bucket, error = %e, "tick sent but not marked");
                    }
                    self.remember(bucket);
                }
                TickClaim::Sent => self.remember(bucket),
                // The bucket is not remembered, so that if its claimer died, a later session here
                // takes it over.
                TickClaim::Pending => {}
            }
        }
        Ok(sent)
    }
}
