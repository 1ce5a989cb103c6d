//! This module serves `POST /users/{uid}/idv-sessions`. It hands out the open session again, or
//! creates a new one at Ralio under the user's creation lease.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use idv_adapters::http::{CallDeadline, LOOK_AGAIN, UserId};
use idv_adapters::ralio::{CreatedSession, Deadline};
use idv_adapters::store::Lease;
use idv_model::{
    HostedUrl, LeaseHold, LeaseRelease, LeaseToken, Owner, SessionRecord, StoredSession, Uid,
    UserSnapshot, needs_verification, reusable_session,
};

use crate::CreateSession;
use crate::answers::answer;
use crate::error::CreateError;

pub(crate) async fn create(
    State(app): State<Arc<CreateSession>>,
    UserId(uid): UserId,
    CallDeadline(deadline): CallDeadline,
) -> Result<Response, CreateError> {
    app.create(uid, deadline).await
}

/// One creation under the lease.
pub(crate) struct Attempt<'a> {
    pub(crate) uid: Uid,
    pub(crate) token: LeaseToken,
    pub(crate) snapshot: &'a UserSnapshot,
    pub(crate) after_lapsed: Option<LeaseHold>,
    pub(crate) deadline: Deadline,
    pub(crate) now: DateTime<Utc>,
}

impl CreateSession {
    /// Returns the open session worth handing out again, if any.
    pub(crate) fn reusable<'a>(
        &self,
        snapshot: &'a UserSnapshot,
        now: DateTime<Utc>,
    ) -> Option<(&'a SessionRecord, &'a HostedUrl)> {
        reusable_session(
            &snapshot.profile,
            &snapshot.sessions,
            now,
            self.parts.settings.reuse_margin,
        )
    }

    async fn create(&self, uid: Uid, deadline: Deadline) -> Result<Response, CreateError> {
        let now = self.parts.clock.now();
        let mut snapshot = self.parts.users.load_user(uid).await?;
        if let Some(erasure) = snapshot.erased {
            return Err(CreateError::Erased(erasure));
        }
        // The loop runs at most twice, because the user is read a second time only when a
        // session was stored since the first read.
        for _ in 0..2 {
            if !needs_verification(&snapshot.profile) {
                return Err(CreateError::AlreadyVerified);
            }
            if let Some((record, url)) = self.reusable(&snapshot, now) {
                return Ok(answer(StatusCode::OK, record, url, true));
            }
            let until = now + self.parts.settings.lease;
            let version = snapshot.sessions_version;
            match self
                .parts
                .leases
                .acquire_creation_lease(uid, until, now, version)
                .await?
            {
                Lease::Acquired {
                    token,
                    after_lapsed,
                } => {
                    let attempt = Attempt {
                        uid,
                        token,
                        snapshot: &snapshot,
                        after_lapsed,
                        deadline,
                        now,
                    };
                    let result = self.create_with_lease(attempt).await;
                    if let Err(error) = &result {
                        // The lease is released so the merchant can retry at once instead of
                        // waiting it out. When Ralio may hold a session the store lacks, the
                        // lease is left lapsed so the next holder looks at Ralio's list before
                        // creating.
                        let how = if after_lapsed.is_none() && error.nothing_left_at_ralio() {
                            LeaseRelease::Clean
                        } else {
                            LeaseRelease::Uncertain
                        };
                        if let Err(e) = self
                            .parts
                            .leases
                            .release_creation_lease(uid, token, how)
                            .await
                        {
                            tracing::warn!(error = %e, "could not release the creation lease; it expires by itself");
                        }
                    }
                    return result;
                }
                Lease::Held { .. } => return self.wait_for_peer(uid).await,
                Lease::Erased(erasure) => return Err(CreateError::Erased(erasure)),
                Lease::Stale => snapshot = self.parts.users.load_user(uid).await?,
            }
        }
        Err(CreateError::InProgress)
    }

    /// Creates a session while holding the lease. After a holder that died or gave up
    /// uncertain, the session it may have left at Ralio is adopted. If Ralio shows none, a
    /// session is created only once that has settled.
    async fn create_with_lease(&self, attempt: Attempt<'_>) -> Result<Response, CreateError> {
        let call = self.parts.ralio.within(attempt.deadline);
        let known: HashSet<_> = attempt
            .snapshot
            .sessions
            .iter()
            .map(|s| s.session_id)
            .collect();
        if let Some(previous) = &attempt.after_lapsed
            && let Some(adopted) = self.take_over(&call, &attempt, previous, &known).await?
        {
            return Ok(adopted);
        }
        let created = call
            .create_session(attempt.uid, &known)
            .await
            .map_err(CreateError::from_ralio)?;
        self.store(attempt.uid, created, attempt.token, attempt.now, false)
            .await
    }

    /// Stores a session Ralio has, schedules its expiry and answers with it.
    pub(crate) async fn store(
        &self,
        uid: Uid,
        created: CreatedSession,
        lease: LeaseToken,
        now: DateTime<Utc>,
        adopted: bool,
    ) -> Result<Response, CreateError> {
        let session = created.session;
        let record = SessionRecord::announced(
            Owner::User(uid),
            session.id,
            session.hosted_url.clone(),
            session.created_at,
            session.expires_at,
            session.state.known(),
            now,
        );
        let buckets: Vec<_> = record
            .expires_at
            .map(|at| self.parts.scheduler.buckets(at).to_vec())
            .unwrap_or_default();
        let stored = match self
            .parts
            .leases
            .store_created_session(&record, &buckets, lease)
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                // Ralio has the session, but we could not keep it. Its webhooks will still
                // apply, and the next holder of the lease finds it in Ralio's list.
                tracing::error!(uid = %uid, session_id = %session.id, error = %e, "session created at Ralio but not stored");
                return Err(CreateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                });
            }
        };
        if let StoredSession::Erased(erasure) = stored {
            // The user was erased while Ralio created the session, which Ralio keeps (no API
            // erases it) and this service does not.
            tracing::warn!(uid = %uid, session_id = %session.id, "session created at Ralio for a user erased meanwhile: not stored");
            return Err(CreateError::Erased(erasure));
        }
        if let Err(e) = self.parts.scheduler.ensure_ticks(&buckets, now).await {
            // The session exists and is usable, so only the early warning may be missed.
            tracing::error!(error = %e, session_id = %session.id, "expiry tick not scheduled");
        }
        tracing::info!(session_id = %session.id, reconciled = created.reconciled, "IDV session created");
        Ok(match stored {
            StoredSession::Stored(record) if !adopted => {
                answer(StatusCode::CREATED, &record, &session.hosted_url, false)
            }
            StoredSession::Stored(record) | StoredSession::AlreadyStored(record) => {
                let url = record.hosted_url.clone().unwrap_or(session.hosted_url);
                answer(StatusCode::OK, &record, &url, true)
            }
            StoredSession::Erased(erasure) => return Err(CreateError::Erased(erasure)),
        })
    }
}
