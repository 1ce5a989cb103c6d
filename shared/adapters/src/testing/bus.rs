//! This event bus for tests keeps what it accepted and, send by send, refuses entries or accepts
//! them all and then fails (as a `PutEvents` whose answer is lost).

use std::sync::Mutex;

use async_trait::async_trait;
use idv_model::domain_events::PublishedEvent;

use crate::publish::{EventSink, PUT_EVENTS_BATCH, PublishError};

/// Says what one send does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// Refuses the entries at these indices (within that send) and accepts the others.
    Refuse(Vec<usize>),
    /// Accepts every entry and then answers with an error, so the caller cannot tell.
    AcceptThenFail,
}

#[derive(Default)]
pub struct TestBus {
    /// Sends past the plan accept everything.
    pub plan: Mutex<Vec<Send>>,
    accepted: Mutex<Vec<PublishedEvent>>,
    sends: Mutex<usize>,
}

impl TestBus {
    pub fn planned(plan: impl IntoIterator<Item = Send>) -> Self {
        Self {
            plan: Mutex::new(plan.into_iter().collect()),
            ..Self::default()
        }
    }

    /// Returns every entry accepted, in order, repeats included.
    pub fn accepted(&self) -> Vec<PublishedEvent> {
        self.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn forget_accepted(&self) {
        if let Ok(mut accepted) = self.accepted.lock() {
            accepted.clear();
        }
    }

    pub fn sends(&self) -> usize {
        self.sends.lock().map(|s| *s).unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for TestBus {
    async fn put(&self, events: &[PublishedEvent]) -> Result<Vec<usize>, PublishError> {
        assert!(
            events.len() <= PUT_EVENTS_BATCH,
            "PutEvents takes 10 at most"
        );
        *self.sends.lock().unwrap() += 1;
        let send = {
            let mut plan = self.plan.lock().unwrap();
            if plan.is_empty() {
                Send::Refuse(Vec::new())
            } else {
                plan.remove(0)
            }
        };
        let refuse = match &send {
            Send::Refuse(indices) => indices.clone(),
            Send::AcceptThenFail => Vec::new(),
        };
        let mut accepted = self.accepted.lock().unwrap();
        for (i, event) in events.iter().enumerate() {
            if !refuse.contains(&i) {
                accepted.push(event.clone());
            }
        }
        match send {
            Send::Refuse(_) => Ok(refuse),
            Send::AcceptThenFail => Err(PublishError::Sink("connection reset".into())),
        }
    }
}
