//! This module lets an operator settle a session creation that stays `creation_uncertain`
//! (alarm `SessionCreationUnresolved`), because Ralio's list cannot be read, or lists a session
//! the attempt may have left in a form this service cannot use. `idv-admin sessions resolve`
//! calls it.
//!
//! The operator's word is taken only under the user's creation lease, so no request creates
//! meanwhile, and only where Ralio's list does not contradict it.

use chrono::{DateTime, Utc};
use idv_adapters::ralio::{CreatedSession, Deadline, LeftByAttempt, RalioError};
use idv_adapters::store::{AuditLog, Lease, StoreError};
use idv_model::{
    AuditEntry, AuditOutcome, LeaseHold, LeaseRelease, LeaseToken, Owner, SessionId, Uid, settled,
};

use crate::CreateSession;

/// The audit action of an operator's resolution.
pub const SESSION_RESOLVED: &str = "session_creation_resolved";

/// Says what an operator found at Ralio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionResolution {
    /// Ralio lists this session, with its hosted page, as the one the uncertain creation made.
    Found(SessionId),
    /// Ralio holds no session this service can use, so the next request creates one.
    Absent,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("nothing to resolve: {0}")]
    NotUncertain(&'static str),
    #[error("a request is creating a session for this user until {0}: try again after it")]
    Held(DateTime<Utc>),
    #[error("Ralio does not list session {0} for this user with a hosted page")]
    NotListed(SessionId),
    #[error(
        "Ralio shows session {0}, which the creation may have left: resolve it with --found {0}"
    )]
    ShownAtRalio(SessionId),
    #[error("the creation has not settled yet: try again in {0} s")]
    NotSettled(i64),
    #[error("the session could not be stored: {0}")]
    NotStored(String),
    #[error("Ralio: {0}")]
    Ralio(#[from] RalioError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl CreateSession {
    /// Settles an uncertain session creation as an operator found it at Ralio, and audits it.
    pub async fn resolve_by_operator(
        &self,
        audit: &dyn AuditLog,
        uid: Uid,
        resolution: SessionResolution,
    ) -> Result<String, ResolveError> {
        let now = self.parts.clock.now();
        let snapshot = self.parts.users.load_user(uid).await?;
        let until = now + self.parts.settings.lease;
        let lease = self
            .parts
            .leases
            .acquire_creation_lease(uid, until, now, snapshot.sessions_version)
            .await?;
        let (token, previous) = match lease {
            Lease::Acquired {
                token,
                after_lapsed: Some(previous),
            } => (token, previous),
            Lease::Acquired {
                token,
                after_lapsed: None,
            } => {
                self.parts
                    .leases
                    .release_creation_lease(uid, token, LeaseRelease::Clean)
                    .await?;
                return Err(ResolveError::NotUncertain(
                    "no session creation is uncertain for this user",
                ));
            }
            Lease::Held { until } => return Err(ResolveError::Held(until)),
            Lease::Erased(_) => {
                return Err(ResolveError::NotUncertain(
                    "the user was erased: nothing is created or stored for them",
                ));
            }
            Lease::Stale => {
                return Err(ResolveError::NotUncertain(
                    "a session was stored meanwhile: look at the user again",
                ));
            }
        };
        let known = snapshot.sessions.iter().map(|s| s.session_id).collect();
        let holding = Holding {
            uid,
            token,
            previous,
            known,
            now,
        };
        let detail = match self.resolve_holding(&holding, resolution).await {
            Ok(detail) => detail,
            Err(error) => {
                // The lease is left as it was, uncertain, so the next request or operator
                // looks again.
                if let Err(e) = self
                    .parts
                    .leases
                    .release_creation_lease(uid, token, LeaseRelease::Uncertain)
                    .await
                {
                    tracing::warn!(error = %e.kind(), "creation lease not given back; it lapses by itself");
                }
                return Err(error);
            }
        };
        let entry = AuditEntry::new(now, SESSION_RESOLVED, AuditOutcome::Resolved)
            .with_detail(detail.clone());
        if let Err(e) = audit.append_audit(Owner::User(uid), &entry).await {
            return Ok(format!(
                "{detail} (recorded; the audit entry was not written: {e})"
            ));
        }
        Ok(detail)
    }

    async fn resolve_holding(
        &self,
        holding: &Holding,
        resolution: SessionResolution,
    ) -> Result<String, ResolveError> {
        let Holding {
            uid,
            token,
            previous,
            known,
            now,
        } = holding;
        // Ralio is called within the lease, because past it a merchant's request could take
        // the lease over.
        let budget = (self.parts.settings.lease / 2).to_std().unwrap_or_default();
        let call = self.parts.ralio.within(Deadline::after(budget));
        match resolution {
            SessionResolution::Found(id) if known.contains(&id) => {
                Err(ResolveError::NotUncertain("that session is stored already"))
            }
            SessionResolution::Found(id) => {
                let listing = call.session_listing(*uid).await?;
                let session = listing
                    .sessions
                    .into_iter()
                    .find(|s| s.id == id)
                    .ok_or(ResolveError::NotListed(id))?;
                let created = CreatedSession {
                    session,
                    reconciled: true,
                };
                self.store(*uid, created, *token, *now, true)
                    .await
                    .map_err(|e| ResolveError::NotStored(format!("{e:?}")))?;
                Ok(format!("session {id} found at Ralio by an operator"))
            }
            SessionResolution::Absent => {
                if let Err(left) = settled(previous.acquired_at, self.parts.settings.settle, *now) {
                    return Err(ResolveError::NotSettled(left.num_seconds()));
                }
                // The operator has looked past an unusable entry, but not past a usable one.
                match call
                    .left_by_attempt(*uid, known, previous.acquired_at)
                    .await?
                {
                    LeftByAttempt::Session(session) => {
                        return Err(ResolveError::ShownAtRalio(session.id));
                    }
                    LeftByAttempt::Unusable | LeftByAttempt::Nothing => {}
                }
                self.parts
                    .leases
                    .release_creation_lease(*uid, *token, LeaseRelease::Clean)
                    .await?;
                Ok("absent at Ralio, by an operator: the next request creates a session".into())
            }
        }
    }
}

/// The creation lease an operator's resolution holds.
struct Holding {
    uid: Uid,
    token: LeaseToken,
    previous: LeaseHold,
    known: std::collections::HashSet<SessionId>,
    now: DateTime<Utc>,
}
