//! This module publishes domain events locally. The same publisher as in AWS runs over the
//! memory store's audit feed, or over the table's DynamoDB stream with `--store dynamodb`. What
//! it would send to EventBridge is kept here, served at `GET /events`, shown live by the event
//! console at `GET /`, and forwarded to the merchant's app with `--events-to URL`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use idv_adapters::publish::{Delivered, EventSink, PublishError, Publisher};
use idv_adapters::stream::StreamReader;
use idv_event_publisher::EventPublisher;
use idv_model::domain_events::PublishedEvent;
use idv_model::{AuditEntry, Owner};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Keeps every event the service would have put on its bus, oldest first.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<PublishedEvent>>,
    forward: Option<Forward>,
}

struct Forward {
    client: reqwest::Client,
    url: String,
}

impl EventLog {
    /// Returns a log that also POSTs each new event, as EventBridge's JSON, to `url`.
    pub fn forwarding_to(url: Option<String>) -> Self {
        Self {
            events: Mutex::default(),
            forward: url.map(|url| Forward {
                client: reqwest::Client::new(),
                url,
            }),
        }
    }

    /// Returns the events oldest first, only `uid`'s when it is given.
    pub fn events(&self, uid: Option<&str>) -> Vec<PublishedEvent> {
        let events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events
            .into_iter()
            .filter(|e| uid.is_none_or(|uid| e.uid() == Some(uid)))
            .collect()
    }
}

#[async_trait]
impl EventSink for EventLog {
    async fn put(&self, events: &[PublishedEvent]) -> Result<Vec<usize>, PublishError> {
        let fresh: Vec<PublishedEvent> = {
            let mut log = self
                .events
                .lock()
                .map_err(|_| PublishError::Sink("event log poisoned".into()))?;
            // A record delivered again makes the same event, and a consumer de-duplicates on
            // the id, so this log does too.
            let fresh: Vec<PublishedEvent> = events
                .iter()
                .filter(|e| !log.iter().any(|kept| kept.id == e.id))
                .cloned()
                .collect();
            log.extend(fresh.iter().cloned());
            fresh
        };
        if let Some(forward) = &self.forward {
            for event in fresh {
                let (client, url) = (forward.client.clone(), forward.url.clone());
                // The forward is not awaited, because the merchant's app being down loses
                // nothing here: the log keeps the event.
                tokio::spawn(async move {
                    if let Err(e) = client.post(&url).json(&event).send().await {
                        tracing::warn!(error = %e, url, "cannot forward an event");
                    }
                });
            }
        }
        Ok(Vec::new())
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    uid: Option<String>,
}

async fn list(State(log): State<Arc<EventLog>>, Query(query): Query<EventsQuery>) -> Response {
    axum::Json(log.events(query.uid.as_deref())).into_response()
}

async fn console() -> Html<&'static str> {
    Html(include_str!("console.html"))
}

/// Serves `GET /events` and the console at `GET /`.
pub fn router(log: Arc<EventLog>) -> Router {
    Router::new()
        .route("/", get(console))
        .route("/events", get(list))
        .with_state(log)
}

/// Publishes the memory store's audit entries as they are written.
pub fn spawn_memory_feed(
    mut feed: mpsc::UnboundedReceiver<(Owner, AuditEntry)>,
    publisher: Publisher,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut written = 0u64;
        loop {
            let next = tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                next = feed.recv() => next,
            };
            let Some((owner, entry)) = next else { return };
            written += 1;
            if !entry.is_publishable() {
                continue;
            }
            let record = Delivered {
                owner,
                entry,
                position: written.to_string(),
            };
            // The same record is published again until it goes through, as the stream would
            // deliver it.
            while let Err(failure) = publisher.publish(std::slice::from_ref(&record)).await {
                tracing::warn!(error = %failure.error, "an event is not published yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
}

/// Reads the table's stream as the Lambda event source mapping does and hands each batch to
/// the event publisher's own handler, delivering again from the record it reports failed.
pub fn spawn_stream_pump(
    mut reader: StreamReader,
    publisher: Arc<EventPublisher>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pending: Vec<EventRecord> = Vec::new();
        loop {
            match reader.poll_committed().await {
                Ok(records) => pending.extend(records),
                Err(e) => tracing::warn!(error = %e, "cannot read the table's stream"),
            }
            if !pending.is_empty() {
                let batch: Event =
                    match serde_json::from_value(serde_json::json!({ "Records": &pending })) {
                        Ok(batch) => batch,
                        Err(e) => {
                            tracing::error!(error = %e, "stream records do not make a batch");
                            pending.clear();
                            continue;
                        }
                    };
                let response = publisher.handle(batch).await;
                let failed = response
                    .batch_item_failures
                    .first()
                    .and_then(|f| f.item_identifier.clone());
                let from = failed.and_then(|position| {
                    pending.iter().position(|r| {
                        r.change.sequence_number.as_deref() == Some(position.as_str())
                    })
                });
                match from {
                    Some(at) => {
                        pending.drain(..at);
                    }
                    None => pending.clear(),
                }
            }
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}
