//! This module publishes domain events. Audit entries of applied changes, as the table's stream
//! delivers them (or the memory store announces them locally), are mapped by the model and sent to
//! a sink (EventBridge in AWS; a list and an optional forward in `idv-local`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use idv_model::domain_events::{OwnerHistory, PublishedEvent, domain_event, needs_history};
use idv_model::{AuditEntry, Owner, UserSnapshot};

use crate::aws::OnFirstUse;
use crate::store::dynamo::items::AuditItem;
use crate::store::dynamo::schema::entity;
use crate::store::{AuditLog, StoreError, UserReader};

/// One `PutEvents` call takes this many entries.
pub const PUT_EVENTS_BATCH: usize = 10;
/// A sink's refused entries are sent this many times before the record is reported failed (and
/// retried by the stream).
pub const SEND_ATTEMPTS: u32 = 3;

/// A sink is where events go.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Sends at most [`PUT_EVENTS_BATCH`] events. `Ok` holds the indices of those refused (worth
    /// sending again), and `Err` means that none is known to have arrived.
    async fn put(&self, events: &[PublishedEvent]) -> Result<Vec<usize>, PublishError>;
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the event bus refused the request: {0}")]
    Sink(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("entries still refused after {SEND_ATTEMPTS} sends: {0}")]
    Refused(String),
}

/// This is one audit entry as delivered, with its place in the delivery (a stream sequence number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub owner: Owner,
    pub entry: AuditEntry,
    pub position: String,
}

/// Returns the audit entry that a stream record carries, or `None` for any other item or change.
/// The mapping's filter passes only audit items of applied changes, but this check stands even
/// without it.
pub fn delivered(record: &EventRecord) -> Result<Option<Delivered>, StoreError> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let image = &record.change.new_image;
    let is_audit = matches!(
        image.get("entity"),
        Some(serde_dynamo::AttributeValue::S(kind)) if kind == entity::AUDIT
    );
    if !is_audit {
        return Ok(None);
    }
    let item: AuditItem = serde_dynamo::from_item(image.clone())
        .map_err(|e| StoreError::Corrupt(format!("audit item in the stream: {e}")))?;
    let owner = item
        .owner()
        .ok_or_else(|| StoreError::Corrupt(format!("audit item of no owner: {}", item.pk)))?;
    let entry = item.entry();
    if !entry.is_publishable() {
        return Ok(None);
    }
    Ok(Some(Delivered {
        owner,
        entry,
        position: record.change.sequence_number.clone().unwrap_or_default(),
    }))
}

/// Names the first record not published, and why; it and everything after it are delivered again.
#[derive(Debug)]
pub struct Unpublished {
    pub index: usize,
    pub error: PublishError,
}

/// Maps entries to events and sends them, in order.
#[derive(Clone)]
pub struct Publisher {
    pub trail: Arc<dyn AuditLog>,
    pub users: Arc<dyn UserReader>,
    pub sink: Arc<dyn EventSink>,
    /// The publisher pauses this long before sending refused entries again, doubling it each time.
    pub retry_pause: Duration,
}

impl Publisher {
    pub fn new(
        trail: Arc<dyn AuditLog>,
        users: Arc<dyn UserReader>,
        sink: Arc<dyn EventSink>,
    ) -> Self {
        Self {
            trail,
            users,
            sink,
            retry_pause: Duration::from_millis(100),
        }
    }

    /// Publishes what `records` make, in order. `Ok` holds how many events were sent, and `Err`
    /// holds the first record not published (the ones before it were).
    pub async fn publish(&self, records: &[Delivered]) -> Result<usize, Unpublished> {
        let mut histories: HashMap<Owner, (Vec<AuditEntry>, Option<UserSnapshot>)> = HashMap::new();
        let mut events: Vec<(usize, PublishedEvent)> = Vec::new();
        let mut unreadable = None;
        for (index, record) in records.iter().enumerate() {
            // Only users' changes are published, because a related party's trail is never read.
            if !matches!(record.owner, Owner::User(_)) {
                continue;
            }
            if needs_history(&record.entry) && !histories.contains_key(&record.owner) {
                match self.history(record.owner).await {
                    Ok(history) => {
                        histories.insert(record.owner, history);
                    }
                    // A user whose records do not decode will not decode on a retry either, so
                    // their changes are announced without the state before, rather than holding
                    // back everyone else's.
                    Err(error @ StoreError::Corrupt(_)) => {
                        tracing::error!(
                            kind = error.kind(),
                            "a user's trail cannot be read; events go out without the state before"
                        );
                        histories.insert(record.owner, (Vec::new(), None));
                    }
                    Err(error) => {
                        unreadable = Some(Unpublished {
                            index,
                            error: error.into(),
                        });
                        break;
                    }
                }
            }
            let history = histories
                .get(&record.owner)
                .map(|(trail, snapshot)| OwnerHistory {
                    trail,
                    snapshot: snapshot.as_ref(),
                })
                .unwrap_or_default();
            if let Some(event) = domain_event(record.owner, &record.entry, history) {
                events.push((index, event));
            }
        }
        let mut sent = 0;
        for chunk in events.chunks(PUT_EVENTS_BATCH) {
            let batch: Vec<PublishedEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
            if let Err((first_refused, error)) = self.send(&batch).await {
                crate::metrics::events("EventsUnpublished", events.len() - sent);
                return Err(Unpublished {
                    index: chunk[first_refused].0,
                    error,
                });
            }
            sent += batch.len();
            crate::metrics::events("EventsPublished", batch.len());
        }
        match unreadable {
            Some(failure) => Err(failure),
            None => Ok(sent),
        }
    }

    /// Sends a user's events again from their trail (`idv-admin republish`), for changes whose
    /// stream records were given up on. Each event has the id it had the first time, so consumers
    /// drop the ones they already have. With `since`, only changes applied from then on are sent.
    pub async fn republish(
        &self,
        owner: Owner,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<usize, Unpublished> {
        let trail = self
            .trail
            .audit_trail(owner)
            .await
            .map_err(|error| Unpublished {
                index: 0,
                error: error.into(),
            })?;
        let records: Vec<Delivered> = trail
            .into_iter()
            .filter(|entry| entry.is_publishable() && since.is_none_or(|since| entry.at >= since))
            .enumerate()
            .map(|(n, entry)| Delivered {
                owner,
                entry,
                position: n.to_string(),
            })
            .collect();
        self.publish(&records).await
    }

    async fn history(
        &self,
        owner: Owner,
    ) -> Result<(Vec<AuditEntry>, Option<UserSnapshot>), StoreError> {
        let trail = self.trail.audit_trail(owner).await?;
        let snapshot = match owner {
            Owner::User(uid) => Some(self.users.load_user(uid).await?),
            Owner::RelatedParty(_) => None,
        };
        Ok((trail, snapshot))
    }

    /// Sends one batch, sending refused entries again. `Err` holds the first entry still refused.
    async fn send(&self, batch: &[PublishedEvent]) -> Result<(), (usize, PublishError)> {
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut pause = self.retry_pause;
        let mut last_error = None;
        for attempt in 0..SEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            let events: Vec<PublishedEvent> = pending.iter().map(|&i| batch[i].clone()).collect();
            match self.sink.put(&events).await {
                Ok(refused) if refused.is_empty() => return Ok(()),
                Ok(refused) => {
                    let ids: Vec<String> = refused
                        .iter()
                        .filter_map(|&i| events.get(i).map(|e| e.id.to_string()))
                        .collect();
                    tracing::warn!(refused = ?ids, attempt, "the event bus refused entries");
                    pending = refused
                        .iter()
                        .filter_map(|&i| pending.get(i).copied())
                        .collect();
                    last_error = Some(PublishError::Refused(ids.join(", ")));
                }
                Err(error) => {
                    tracing::warn!(error = %error, attempt, "cannot send events");
                    last_error = Some(error);
                }
            }
        }
        let first = pending.iter().copied().min().unwrap_or_default();
        Err((
            first,
            last_error.unwrap_or_else(|| PublishError::Sink("no attempt made".into())),
        ))
    }
}

/// This sink calls EventBridge `PutEvents` on the service's own bus.
pub struct EventBridgeSink {
    client: OnFirstUse<aws_sdk_eventbridge::Client>,
    bus: String,
}

impl EventBridgeSink {
    pub fn new(
        client: impl Into<OnFirstUse<aws_sdk_eventbridge::Client>>,
        bus: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn put(&self, events: &[PublishedEvent]) -> Result<Vec<usize>, PublishError> {
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let entries = events
            .iter()
            .map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(&event.source)
                    .detail_type(&event.detail_type)
                    .detail(event.detail.to_string())
                    .time(aws_smithy_types::DateTime::from_millis(
                        event.time.timestamp_millis(),
                    ))
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                PublishError::Sink(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
            })?;
        Ok(output
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, entry)| entry.error_code().is_some())
            .map(|(index, _)| index)
            .collect())
    }
}

#[cfg(test)]
mod tests;
