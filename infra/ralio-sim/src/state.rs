//! This module holds what the simulator holds: its configuration, its clock, and the sessions,
//! users, tokens, accounts and faults that the Ralio API, the hosted page and the control API
//! all share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::accounts::{AccountList, SimAccount};
use crate::delivery::{self, Chaos, Signature};
use crate::faults::{Fault, FaultPlan, Operation};
use crate::payloads::Generation;
use crate::ralio_api::FinalListing;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub api_code: String,
    pub api_key: String,
    /// Where webhooks go (the service's webhook URL). When it is `None`, none are sent.
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// This simulator's own address, for hosted page links.
    pub public_url: String,
    pub generation: Generation,
    pub signature: Signature,
    pub chaos: Chaos,
    /// Says what the merchant account list shows, which Ralio does not document.
    pub account_list: AccountList,
    /// Says whether the session list keeps an ended session's `hostedUrl`, which Ralio does
    /// not document.
    pub final_listing: FinalListing,
    /// Says whether an opened account is announced with `account_activated`, because a
    /// merchant that never subscribed to it gets none.
    pub announce_accounts: bool,
    /// How long a session lives (7 days at Ralio).
    pub session_life: chrono::Duration,
    /// Lists the faults every call of an operation meets, for a whole run.
    pub faults: Vec<(Operation, Fault)>,
    /// Tells what time it is at Ralio, from the system clock or a test's.
    pub clock: SimClock,
}

/// The simulator's clock, shared with a test's manual clock so that session creation times
/// and the service's own times agree.
#[derive(Clone)]
pub struct SimClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl SimClock {
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::from_fn(Utc::now)
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimClock({})", self.now())
    }
}

impl SimConfig {
    pub fn new(
        public_url: impl Into<String>,
        webhook_url: Option<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        Self {
            api_code: "local-api-code".into(),
            api_key: "local-api-key".into(),
            webhook_url,
            webhook_secret: webhook_secret.into(),
            public_url: public_url.into(),
            generation: Generation::Mixed,
            signature: Signature::Hex,
            chaos: Chaos::default(),
            account_list: AccountList::default(),
            final_listing: FinalListing::default(),
            announce_accounts: true,
            session_life: chrono::Duration::days(7),
            faults: Vec::new(),
            clock: SimClock::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SimSession {
    pub(crate) id: String,
    pub(crate) uid: String,
    pub(crate) state: &'static str,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    /// Every state the session was in, and when it got there (the state-history endpoint).
    pub(crate) history: Vec<(&'static str, DateTime<Utc>)>,
    /// Why it was rejected, when it was (the checks endpoint).
    pub(crate) refused: Option<&'static crate::payloads::Reason>,
}

impl SimSession {
    /// Says whether the session may still change (it has no outcome yet).
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, "NOT_STARTED" | "STARTED" | "REVIEW")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SimUser {
    pub(crate) level: &'static str,
    pub(crate) kyc_id: i64,
}

#[derive(Default)]
pub(crate) struct SimState {
    pub(crate) tokens: Vec<String>,
    pub(crate) sessions: HashMap<String, SimSession>,
    pub(crate) order: Vec<String>,
    pub(crate) users: HashMap<String, SimUser>,
    pub(crate) accounts: Vec<SimAccount>,
    pub(crate) faults: FaultPlan,
}

pub struct Simulator {
    pub(crate) config: SimConfig,
    state: Mutex<SimState>,
    pub(crate) sender: Arc<delivery::Sender>,
    /// Counts the creations answered already that have not taken effect yet (`act-late`).
    late: tokio::sync::watch::Sender<usize>,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Arc<Self> {
        let sender = Arc::new(delivery::Sender {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            url: config.webhook_url.clone(),
            secret: config.webhook_secret.clone(),
            signature: config.signature,
            chaos: config.chaos,
            max_attempts: 6,
            log: Arc::new(Mutex::new(Vec::new())),
            dropped: Arc::new(Mutex::new(Vec::new())),
        });
        let state = SimState {
            faults: FaultPlan::standing(config.faults.clone()),
            ..SimState::default()
        };
        Arc::new(Self {
            config,
            state: Mutex::new(state),
            sender,
            late: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Runs `act` `after` this long, as an upstream that commits after its caller gave up.
    pub(crate) fn act_late(
        self: &Arc<Self>,
        after: Duration,
        act: impl FnOnce(&Self) + Send + 'static,
    ) {
        /// Counts a late action as pending until it is done, or its task ends some other way.
        struct Pending(Arc<Simulator>);
        impl Drop for Pending {
            fn drop(&mut self) {
                self.0.late.send_modify(|pending| *pending -= 1);
            }
        }
        self.late.send_modify(|pending| *pending += 1);
        let pending = Pending(self.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            act(&pending.0);
        });
    }

    /// Waits until every creation answered with `act-late` has taken effect, so that a test
    /// never depends on how soon a busy machine runs it.
    pub async fn late_actions_done(&self) {
        let mut pending = self.late.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Sends webhooks as Ralio does, except those a `deliver-webhooks:drop` fault drops. Ralio's
    /// own records (sessions, levels, accounts) have changed either way.
    pub(crate) fn send(&self, events: Vec<serde_json::Value>) {
        let mut sent = Vec::new();
        let now = self
            .config
            .clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for mut event in events {
            // Ralio stamps an event by its own clock, the one its state history keeps, so that
            // a test's manual clock moves both.
            if let Some(stamp) = event.get_mut("timestamp") {
                *stamp = serde_json::Value::String(now.clone());
            }
            if self.take_fault(Operation::DeliverWebhooks) == Some(Fault::Drop) {
                self.sender.record_dropped(&event);
            } else {
                sent.push(event);
            }
        }
        if !sent.is_empty() {
            self.sender.emit(sent);
        }
    }

    pub(crate) fn take_fault(&self, operation: Operation) -> Option<Fault> {
        self.state().faults.take(operation)
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn user<'a>(state: &'a mut SimState, uid: &str) -> &'a mut SimUser {
        let next_id = 40_000 + state.users.len() as i64;
        state.users.entry(uid.to_owned()).or_insert(SimUser {
            level: "LIGHT",
            kyc_id: next_id,
        })
    }
}
