//! The service's state: one trait per capability, implemented over DynamoDB and in memory.
//!
//! Each function takes only the capabilities it uses, and the SAM template grants each
//! function only the DynamoDB actions those capabilities call.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use idv_model::{
    ApplyOutcome, Currency, EventApplication, EventId, ExpiryBucket, Owner, SessionId,
    SessionRecord, Uid, UserProfile,
};
use serde::{Deserialize, Serialize};

pub mod dynamo;
pub mod memory;

/// The identity of a quarantined payload: identical bytes are kept once a day.
pub(crate) fn body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// Audit-trail notes, written the same way by both stores. A store that applies in one
/// blind write does not know the previous state, so applied moves name only their target.
pub(crate) mod describe {
    use idv_model::lifecycle::Move;
    use idv_model::{ExpirySource, LevelStamp, Phase, ReverifyNotice};

    pub fn phase(p: Phase) -> String {
        match p {
            Phase::Expired(ExpirySource::Inferred) => "EXPIRED(inferred)".to_owned(),
            other => other.state().name().to_owned(),
        }
    }

    pub fn session(decision: Move, current: Option<Phase>, target: Phase) -> String {
        match (decision, current) {
            (Move::Apply, _) => format!("now {}", phase(target)),
            (_, Some(current)) => format!("kept {}, not {}", phase(current), phase(target)),
            (_, None) => format!("no session, not {}", phase(target)),
        }
    }

    pub fn level(decision: Move, current: Option<&LevelStamp>, stamp: &LevelStamp) -> String {
        match (decision, current) {
            (Move::Apply, _) => format!("now {}", stamp.level),
            (_, Some(current)) => format!("kept {}, not {}", current.level, stamp.level),
            (_, None) => format!("not {}", stamp.level),
        }
    }

    pub fn reverify(notice: &ReverifyNotice) -> String {
        format!("document expires {}", notice.expiration_date)
    }
}

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

/// A store fault. Every variant is worth retrying later except `Corrupt`, which means an item
/// in the table does not decode and needs a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store refused the request: {0}")]
    Rejected(String),
    #[error("stored item does not decode: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service knows about one user, read in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSnapshot {
    pub profile: UserProfile,
    /// Newest first.
    pub sessions: Vec<SessionRecord>,
    pub accounts: Vec<AccountRecord>,
}

impl UserSnapshot {
    pub fn empty(uid: Uid) -> Self {
        Self {
            profile: UserProfile::unknown(uid),
            sessions: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

/// The result of applying one webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub outcome: ApplyOutcome,
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// What happened: an event type (`kyc_session_verified`), a watcher action
    /// (`session_flagged_expiring`) or a gate decision (`account_refused`).
    pub action: String,
    /// `applied`, `duplicate`, `stale`, `unchanged`, `refused`, …
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// A short, personal-data-free note (for example `REVIEW -> VERIFIED`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A signed payload that could not be interpreted, or an event type not acted on, kept
/// verbatim so nothing Ralio sent is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    pub received_at: DateTime<Utc>,
    /// Stable code: `not_json`, `missing_field`, `unknown_event_type`, …
    pub reason_code: String,
    pub reason: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub body: Vec<u8>,
}

/// A session listed in an expiry bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketMember {
    pub owner: Owner,
    pub session_id: SessionId,
}

/// One page of a bucket listing; `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPage {
    pub members: Vec<BucketMember>,
    pub next: Option<String>,
}

/// What a watcher action did to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    Changed,
    /// Already flagged, or already expired.
    Unchanged,
    /// Not open any more (an outcome arrived, or it is in review): left alone.
    Skipped,
    /// No such session.
    Missing,
}

impl From<idv_model::Move> for WatchOutcome {
    fn from(decision: idv_model::Move) -> Self {
        match decision {
            idv_model::Move::Apply => WatchOutcome::Changed,
            idv_model::Move::Unchanged => WatchOutcome::Unchanged,
            idv_model::Move::Stale => WatchOutcome::Skipped,
        }
    }
}

/// How storing a newly created session went.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredSession {
    /// Stored, possibly merged into a record a webhook created first.
    Stored(SessionRecord),
    /// This session was stored before; here it is.
    AlreadyStored(SessionRecord),
}

/// Ralio's answer to an account creation, kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RalioAccount {
    pub id: String,
    pub alias: String,
    pub currency: String,
    #[serde(default)]
    pub balance: i64,
    #[serde(default)]
    pub pending_in: i64,
    #[serde(default)]
    pub pending_out: i64,
    #[serde(default)]
    pub state: String,
    #[serde(default, rename = "type")]
    pub account_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    /// Creation at Ralio is under way; another request may take over after `lease_until`.
    Pending {
        lease_until: DateTime<Utc>,
    },
    Created(RalioAccount),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub uid: Uid,
    pub alias: String,
    pub currency: Currency,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How reserving an account creation went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountReservation {
    /// This request holds the lease and must create the account at Ralio.
    Reserved,
    /// Already created: answer with it.
    Existing(Box<AccountRecord>),
    /// Another request holds the lease until then.
    InProgress { lease_until: DateTime<Utc> },
}

/// Reads one user's records.
#[async_trait]
pub trait UserReader: Send + Sync {
    /// Profile, sessions and accounts in one request. A user never heard of is empty.
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot>;
}

/// Applies webhook events and keeps what cannot be applied.
#[async_trait]
pub trait EventLedger: Send + Sync {
    /// Event marker, change and audit entry in one atomic write. A repeat of the same event id
    /// is `Duplicate`; a change the lifecycle refuses is recorded as `Stale` or `Unchanged`.
    async fn apply_event(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied>;

    /// The owner of a stored session, for events that do not name one.
    async fn find_session_owner(&self, session_id: SessionId) -> StoreResult<Option<Owner>>;

    /// Keeps a signed payload verbatim. The same bytes received twice on one day are kept once.
    async fn quarantine(&self, entry: &QuarantineEntry) -> StoreResult<()>;

    /// What was quarantined on `day` (UTC), for operators and tests.
    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>>;
}

/// Stores sessions created at Ralio.
#[async_trait]
pub trait SessionWriter: Send + Sync {
    /// Stores a session and indexes it under its expiry buckets. When a webhook created the
    /// record first, fills in the page and dates without touching a newer state.
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession>;
}

/// The expiry watcher's view: ticks, bucket listings and conditional updates.
#[async_trait]
pub trait ExpiryIndex: Send + Sync {
    /// Creates the bucket's tick item. True only for the first caller.
    async fn create_tick(&self, bucket: &ExpiryBucket, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Removes a tick whose queue message could not be sent, so the next session in the
    /// bucket tries again.
    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()>;

    /// Sessions indexed under `bucket`, at most `limit` per page.
    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage>;

    /// Flags an open session as expiring soon.
    async fn flag_expiring(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome>;

    /// Marks an open session expired, inferred: a later real outcome still wins.
    async fn mark_expired(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome>;
}

/// Accounts and gate decisions.
#[async_trait]
pub trait AccountLedger: Send + Sync {
    /// Takes the lease to create `(uid, alias, currency)` at Ralio, unless it exists or another
    /// request holds an unexpired lease.
    async fn reserve_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountReservation>;

    /// Records the account Ralio created and its audit entry.
    async fn complete_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        account: &RalioAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountRecord>;

    /// Gives up a lease after Ralio refused or failed, so a retry is not blocked.
    async fn release_account(&self, uid: Uid, alias: &str, currency: Currency) -> StoreResult<()>;
}

/// Append-only audit trail.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()>;
    /// Oldest first.
    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>>;
}

/// Proof of holding a user's session-creation lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub uuid::Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    Acquired(LeaseToken),
    /// Another request is creating a session for this user until then.
    Held {
        until: DateTime<Utc>,
    },
}

/// A short per-user lease so concurrent requests create at most one Ralio session.
#[async_trait]
pub trait CreationLease: Send + Sync {
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease>;

    /// Gives the lease back early (after a failure), if still ours.
    async fn release_creation_lease(&self, uid: Uid, token: LeaseToken) -> StoreResult<()>;

    /// Stores a session just created at Ralio (as [`SessionWriter::store_session`]) and gives
    /// the lease back, in one write when the session is new.
    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession>;
}

/// Every capability: what the local runner and the contract suite use.
pub trait Store:
    UserReader + EventLedger + SessionWriter + ExpiryIndex + AccountLedger + AuditLog + CreationLease
{
}

impl<T> Store for T where
    T: UserReader
        + EventLedger
        + SessionWriter
        + ExpiryIndex
        + AccountLedger
        + AuditLog
        + CreationLease
{
}
