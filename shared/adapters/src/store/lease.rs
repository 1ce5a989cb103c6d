//! The per-user session-creation lease, as the store keeps it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{
    Erasure, ExpiryBucket, LeaseHold, LeaseRelease, LeaseToken, SessionRecord, StoredSession, Uid,
};

use super::StoreResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The lease was taken. When `after_lapsed` is set, a previous holder never gave it back, so a
    /// session it may have created is at Ralio and must be looked for before creating.
    Acquired {
        token: LeaseToken,
        after_lapsed: Option<LeaseHold>,
    },
    /// Another request is creating a session for this user until then.
    Held { until: DateTime<Utc> },
    /// A session was stored since the caller read the user, so the caller must read again.
    Stale,
    /// The user was erased since the caller read them, so no session is created.
    Erased(Erasure),
}

/// A short per-user lease makes concurrent requests create at most one Ralio session.
#[async_trait]
pub trait CreationLease: Send + Sync {
    /// Takes the lease unless it is held, or a session was stored since the caller read
    /// `seen_version` ([`idv_model::UserSnapshot::sessions_version`]).
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        seen_version: u64,
    ) -> StoreResult<Lease>;

    /// Records that the attempts before this holder's settled unseen at Ralio, and that its own
    /// attempt begins `at` (a holder after it looks for sessions from then on, and settles from
    /// then). Returns false when the lease is no longer `token`'s, and then the caller must not
    /// create.
    async fn restart_creation_attempt(
        &self,
        uid: Uid,
        token: LeaseToken,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Gives the lease back early (after a failure) if it is still ours. The lease is removed, or
    /// left lapsed when Ralio may hold a session that the store lacks ([`LeaseRelease`]).
    async fn release_creation_lease(
        &self,
        uid: Uid,
        token: LeaseToken,
        how: LeaseRelease,
    ) -> StoreResult<()>;

    /// Stores a session just created at Ralio (as [`super::SessionWriter::store_session`]) and gives the
    /// lease back, in one write when the session is new.
    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession>;
}
