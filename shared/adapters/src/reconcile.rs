//! This module reconciles a user's sessions with what Ralio reports through its list endpoint, for
//! when a webhook was lost on Ralio's side or a session was created elsewhere.
//!
//! Sessions we do not have are stored. A state that Ralio reports and we have not applied goes
//! through the same monotonic rules as a webhook, as an event whose id is derived from the session
//! and state, so running it twice changes nothing and everything is audited. The list carries no
//! failure reasons, so a rejection learned this way has none (Ralio's checks endpoint holds them).

use chrono::{DateTime, Utc};
use idv_model::{AttributedEvent, EventOutcome, Owner, Plan, SessionRecord, StoredSession, Uid};

use crate::ralio::{RalioClient, RalioError, ReportedState};
use crate::store::{EventStore, SessionWriter, StoreError, UserReader};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Ralio(#[from] RalioError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records what reconciling did, session by session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Counts the sessions Ralio has that we had not stored.
    pub added: usize,
    /// Pairs each session whose state was applied (or already known) with its outcome.
    pub outcomes: Vec<(String, EventOutcome)>,
    /// Counts the sessions whose reported state this service does not know.
    pub unknown_states: usize,
}

pub async fn reconcile_user<S>(
    uid: Uid,
    ralio: &RalioClient,
    store: &S,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, ReconcileError>
where
    S: UserReader + SessionWriter + EventStore + ?Sized,
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
        let Some(event) = AttributedEvent::reconciled(owner, session.id, state, now) else {
            continue;
        };
        let outcome = store.execute(&Plan::new(&event, now)).await?;
        report.outcomes.push((session.id.to_string(), outcome));
    }
    Ok(report)
}
