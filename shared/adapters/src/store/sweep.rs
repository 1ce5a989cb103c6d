//! The sweep's view of the store: the marked sessions that are due, and the visits it records.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{Owner, SessionId, SweepGroup, SweepMark};

use super::{EventStore, StoreResult, UserReader};

/// This is a session that carries the sweep's mark, as the index lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    pub owner: Owner,
    pub session_id: SessionId,
    pub mark: SweepMark,
}

/// Lists the sessions the sweep looks at, and records its visits.
#[async_trait]
pub trait SweepIndex: Send + Sync {
    /// Returns at most `limit` sessions of `group` whose mark dates from `marked_by` or earlier,
    /// oldest mark first. The listing comes from an index, so a mark written a moment ago may be
    /// missing and one just replaced may still show: a visit's write is guarded by the mark it
    /// read ([`idv_model::Write::sweep_visit`]).
    async fn marked_before(
        &self,
        group: SweepGroup,
        marked_by: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Marked>>;

    /// Replaces a session's mark after a visit that found nothing to apply, or removes it (`next`
    /// is `None`), unless the mark is no longer `seen`. Returns whether it was written.
    async fn record_visit(
        &self,
        owner: Owner,
        session_id: SessionId,
        seen: SweepMark,
        next: Option<SweepMark>,
    ) -> StoreResult<bool>;
}

/// This is what the sweep uses: it reads users, lists and visits marked sessions, and applies
/// what it learns as events.
pub trait SweepStore: UserReader + EventStore + SweepIndex {}

impl<T: UserReader + EventStore + SweepIndex + ?Sized> SweepStore for T {}
