//! Reconciling a user's sessions with what Ralio reports through its list endpoint: for when a
//! webhook was lost on Ralio's side or a session was created elsewhere.
//!
//! Sessions we do not have are stored; a state Ralio reports that we have not applied goes
//! through the same monotonic rules as a webhook, as an event whose id is derived from the
//! session and state, so running it twice changes nothing and everything is audited. The list
//! carries no failure reasons: a rejection learned this way has none (Ralio's checks endpoint
//! holds them).

use chrono::{DateTime, Utc};
use idv_model::{
    ApplyOutcome, Change, EventApplication, EventId, Owner, Phase, SessionRecord, StoredSession,
    Uid,
};

use crate::ralio::{RalioClient, RalioError, ReportedState};
use crate::store::{EventLedger, SessionWriter, StoreError, UserReader};

/// Event type recorded in the audit trail for a reconciled state.
pub const RECONCILED: &str = "reconciled_from_ralio";

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Ralio(#[from] RalioError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What reconciling did, session by session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Sessions Ralio has that we had not stored.
    pub added: usize,
    /// States applied (or already known) per outcome.
    pub outcomes: Vec<(String, ApplyOutcome)>,
    /// Sessions whose reported state this service does not know.
    pub unknown_states: usize,
}

/// The id of "Ralio reported `session` in `state`": the same on every run.
fn reconciled_event_id(session: &str, state: &str) -> EventId {
    let name = format!("ralio-idv/reconcile/{session}/{state}");
    EventId::from_uuid(uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        name.as_bytes(),
    ))
}

pub async fn reconcile_user<S>(
    uid: Uid,
    ralio: &RalioClient,
    store: &S,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, ReconcileError>
where
    S: UserReader + SessionWriter + EventLedger + ?Sized,
{
    let owner = Owner::User(uid);
    let listed = ralio.list_sessions(uid).await?;
    let known = store.load_user(uid).await?;
    let mut report = ReconcileReport::default();
    for session in listed {
        let ReportedState::Known(state) = session.state else {
            report.unknown_states += 1;
            continue;
        };
        if !known.sessions.iter().any(|s| s.session_id == session.id) {
            // Its state is applied below, through the lifecycle.
            let record = SessionRecord::announced(
                owner,
                session.id,
                session.hosted_url.clone(),
                session.created_at,
                session.expires_at,
                None,
                now,
            );
            if let StoredSession::Stored(_) = store.store_session(&record, &[]).await? {
                report.added += 1;
            }
        }
        let target = Phase::reported(state);
        if target == Phase::NotStarted {
            continue;
        }
        let event = EventApplication {
            event_id: reconciled_event_id(&session.id.to_string(), state.name()),
            event_type: RECONCILED.into(),
            occurred_at: now,
            owner,
            change: Change::Session {
                session_id: session.id,
                target,
                failure_reasons: Vec::new(),
                hosted_url: None,
                expires_at: None,
                expiry_buckets: Vec::new(),
            },
        };
        let applied = store.apply_event(&event, now).await?;
        report
            .outcomes
            .push((session.id.to_string(), applied.outcome));
    }
    Ok(report)
}
