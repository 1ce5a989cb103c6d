//! This module sends webhooks as Ralio does: signed with HMAC-SHA256 over the exact body,
//! retried with exponential backoff on 5xx and connection failures, and never retried on 4xx.
//! Chaos options repeat, reorder and delay deliveries.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signature {
    Hex,
    Base64,
}

/// Holds the misbehaviour to test the receiver with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chaos {
    /// Sends every webhook twice.
    pub duplicates: bool,
    /// Sends a group of webhooks in reverse order.
    pub reorder: bool,
    /// Waits this long before sending.
    pub delay: Duration,
}

/// Records one webhook as sent, for the control API.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    /// The final HTTP status, or 0 when the receiver could not be reached or it was dropped.
    pub status: u16,
    pub attempts: u32,
    /// It is true for a webhook a `deliver-webhooks:drop` fault kept from being sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}

/// Returns an event's id and type, in either envelope.
fn id_and_type(event: &Value) -> (String, String) {
    let field = |a: &str, b: &str| {
        event
            .get(a)
            .or_else(|| event.get(b))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (field("id", "eventId"), field("event", "eventType"))
}

pub struct Sender {
    pub http: reqwest::Client,
    pub url: Option<String>,
    pub secret: String,
    pub signature: Signature,
    pub chaos: Chaos,
    pub max_attempts: u32,
    pub log: Arc<Mutex<Vec<Delivery>>>,
    /// These are the webhooks a drop fault kept, as Ralio would still hold them to redeliver.
    pub dropped: Arc<Mutex<Vec<Value>>>,
}

impl Sender {
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
        mac.update(body);
        let digest = mac.finalize().into_bytes();
        match self.signature {
            Signature::Hex => hex::encode(digest),
            Signature::Base64 => base64::engine::general_purpose::STANDARD.encode(digest),
        }
    }

    /// Sends `events` in the background, in order (unless chaos says otherwise).
    pub fn emit(self: &Arc<Self>, mut events: Vec<Value>) {
        let Some(url) = self.url.clone() else {
            tracing::info!(
                count = events.len(),
                "no webhook URL configured; webhooks not sent"
            );
            return;
        };
        if self.chaos.reorder {
            events.reverse();
        }
        if self.chaos.duplicates {
            events = events.into_iter().flat_map(|e| [e.clone(), e]).collect();
        }
        let sender = self.clone();
        tokio::spawn(async move {
            if !sender.chaos.delay.is_zero() {
                tokio::time::sleep(sender.chaos.delay).await;
            }
            for event in events {
                sender.deliver(&url, &event).await;
            }
        });
    }

    async fn deliver(&self, url: &str, event: &Value) {
        let body = serde_json::to_vec(event).expect("JSON");
        let signature = self.sign(&body);
        let (event_id, event_type) = id_and_type(event);
        let mut attempts = 0;
        let mut backoff = Duration::from_millis(200);
        let status = loop {
            attempts += 1;
            let result = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("x-signature", &signature)
                .body(body.clone())
                .send()
                .await;
            let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(0);
            let retry = status == 0 || status >= 500;
            if !retry || attempts >= self.max_attempts {
                break status;
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        };
        tracing::info!(%event_type, %event_id, status, attempts, "webhook delivered");
        if let Ok(mut log) = self.log.lock() {
            log.push(Delivery {
                event_id,
                event_type,
                status,
                attempts,
                dropped: false,
            });
        }
    }

    /// Records a webhook that was dropped instead of sent.
    pub(crate) fn record_dropped(&self, event: &Value) {
        let (event_id, event_type) = id_and_type(event);
        tracing::info!(%event_type, %event_id, "webhook dropped (deliver-webhooks:drop)");
        if let Ok(mut log) = self.log.lock() {
            log.push(Delivery {
                event_id,
                event_type,
                status: 0,
                attempts: 0,
                dropped: true,
            });
        }
        if let Ok(mut dropped) = self.dropped.lock() {
            dropped.push(event.clone());
        }
    }

    /// Sends every dropped webhook now, as a redelivery Ralio makes when asked. Returns how many.
    pub fn redeliver_dropped(self: &Arc<Self>) -> usize {
        let events = self
            .dropped
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        let count = events.len();
        if count > 0 {
            self.emit(events);
        }
        count
    }
}
