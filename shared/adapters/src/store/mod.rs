//! The store holds the service's state, with one trait per capability, implemented over DynamoDB
//! and in memory.
//!
//! Every decision (may this event apply, what does it write, what does a refusal mean) is the
//! model's ([`idv_model::ledger`], [`idv_model::writes`]), and the stores only execute it. Each
//! function takes only the capabilities it uses, so the SAM template grants each function only the
//! DynamoDB actions that those capabilities call.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use idv_model::{
    AccountIdentity, AccountRecord, AccountRefusal, AccountReservation, AccountWrite, Activation,
    AuditEntry, AuditOutcome, Currency, Erasure, EventId, EventOutcome, ExpiryBucket, Owner, Plan,
    QuarantineReason, ReservationToken, SessionId, SessionRecord, StoredSession, TickClaim, Uid,
    UserSnapshot, WaitingActivation, WatchAction, WatchOutcome,
};

pub mod dynamo;
mod lease;
pub mod memory;
mod sweep;

pub use dynamo::DynamoStore;
pub use lease::{CreationLease, Lease};
pub use memory::MemoryStore;
pub use sweep::{Marked, SweepIndex, SweepStore};

/// A store fault tells the caller what to do. `Unavailable` is worth retrying soon, while
/// `Rejected` (the store refused the request as malformed) and `Corrupt` (a stored item does not
/// decode) need a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store refused the request: {0}")]
    Rejected(String),
    #[error("stored item does not decode: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Returns a stable name for logs and metrics, because the message may quote stored values.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Rejected(_) => "rejected",
            StoreError::Corrupt(_) => "corrupt",
        }
    }
}

impl From<idv_model::IncompleteSession> for StoreError {
    fn from(err: idv_model::IncompleteSession) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// This is a signed payload that could not be interpreted, or an event type not acted on. It is
/// kept verbatim so that nothing Ralio sent is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEntry {
    pub received_at: DateTime<Utc>,
    /// The stable code is `not_json`, `missing_field`, `unknown_event_type`, …
    pub reason_code: String,
    pub reason: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// This is the signed payload verbatim. For an event type this service does not act on, only
    /// its id, type, timestamp and the body's SHA-256 are kept, because such payloads carry other
    /// people's data.
    pub body: Vec<u8>,
    /// The store may forget the payload at this time (`QUARANTINE_RETENTION` after receipt). It is
    /// kept to the second because a DynamoDB TTL is whole epoch seconds.
    pub expires_at: DateTime<Utc>,
    /// Records what became of the payload when it was replayed (`idv-admin replay-quarantine`).
    pub replayed: Option<Replayed>,
}

/// This is a quarantined payload run again through the webhook's code path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub at: DateTime<Utc>,
    /// The webhook outcome is `applied`, `duplicate`, `stale`, … or a quarantine reason.
    pub outcome: AuditOutcome,
}

impl QuarantineEntry {
    /// Returns the identity of a quarantined payload within its day. Identical bytes are kept once,
    /// and once more as the copy kept on a first 503 (`attribution_pending`), so that the copy
    /// never stands in for the entry that the payload gets if it is finally kept.
    pub fn key(&self) -> String {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(&self.body));
        if self.reason_code == QuarantineReason::AttributionPending.as_str() {
            format!("pending-{digest}")
        } else {
            digest
        }
    }

    /// Returns the day that the payload is filed under.
    pub fn day(&self) -> NaiveDate {
        self.received_at.date_naive()
    }
}

/// This is a session listed in an expiry bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketMember {
    pub owner: Owner,
    pub session_id: SessionId,
}

/// This is one page of a bucket listing, and `next` continues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPage {
    pub members: Vec<BucketMember>,
    pub next: Option<String>,
}

/// Reads one user's records.
#[async_trait]
pub trait UserReader: Send + Sync {
    /// Loads the profile, sessions and accounts in one request. A user never heard of is empty.
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot>;
}

/// Applies webhook events and keeps what cannot be applied.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Executes an event's plan: the marker, write and audit entry in one atomic request. A repeat
    /// of the same event id is `Duplicate`, and a write that the model's guard refuses is recorded
    /// as `Stale` or `Unchanged`, as [`Plan::explain_refusal`] says.
    async fn execute(&self, plan: &Plan<'_>) -> StoreResult<EventOutcome>;

    /// Returns the owners that a session is stored for (one, unless events of different owners
    /// named it), for events that do not name one.
    async fn find_session_owners(&self, session_id: SessionId) -> StoreResult<Vec<Owner>>;

    /// Returns the owners that events have paired Ralio's `kycId` with (one, unless events of
    /// different owners named it), for KYC events that name only the `kycId`.
    async fn find_kyc_id_owners(&self, kyc_id: i64) -> StoreResult<Vec<Owner>>;

    /// Keeps a signed payload verbatim. The same bytes received twice on one day are kept once.
    /// `audited` names the trail of the user that the payload names and the entry saying it was
    /// kept, which is written with it (once, like the payload).
    async fn quarantine(
        &self,
        entry: &QuarantineEntry,
        audited: Option<(Owner, &AuditEntry)>,
    ) -> StoreResult<()>;

    /// Returns when an event id was first received, recording now if it never was and keeping it
    /// for `keep_for`. How long an event that cannot be attributed yet has been retried is measured
    /// from it.
    async fn first_receipt(
        &self,
        event_id: EventId,
        now: DateTime<Utc>,
        keep_for: chrono::Duration,
    ) -> StoreResult<DateTime<Utc>>;

    /// Applies Ralio's `account_activated` to the account it names, or keeps it until that
    /// account is recorded (`Deferred`). A repeat of the event id is `Duplicate`.
    async fn apply_activation(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
    ) -> StoreResult<EventOutcome>;
}

/// Lists what was quarantined, for operators (`idv-admin quarantined`).
#[async_trait]
pub trait QuarantineReader: Send + Sync {
    /// Returns what was quarantined on `day` (UTC).
    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>>;

    /// Records what replaying `entry` came to.
    async fn mark_replayed(&self, entry: &QuarantineEntry, replayed: &Replayed) -> StoreResult<()>;
}

/// Stores sessions created at Ralio.
#[async_trait]
pub trait SessionWriter: Send + Sync {
    /// Stores a session and indexes it under its expiry buckets. When a webhook created the record
    /// first, it fills in the page and dates without touching a newer state.
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession>;
}

/// This is the expiry watcher's view: ticks, bucket listings and conditional updates.
#[async_trait]
pub trait ExpiryIndex: Send + Sync {
    /// Claims the bucket's tick, to send its one queue message. The tick is created if missing and
    /// taken over if orphaned (claimed over a minute ago, never marked sent), as
    /// [`idv_model::TickState::claim`] decides. It takes one conditional write.
    async fn claim_tick(&self, bucket: &ExpiryBucket, now: DateTime<Utc>)
    -> StoreResult<TickClaim>;

    /// Marks the tick's message sent, so that nobody claims it again.
    async fn mark_tick_sent(&self, bucket: &ExpiryBucket, now: DateTime<Utc>) -> StoreResult<()>;

    /// Removes a tick whose queue message could not be sent, so the next session in the
    /// bucket tries again.
    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()>;

    /// Returns the sessions indexed under `bucket`, at most `limit` per page.
    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage>;

    /// Flags an open session as expiring soon, or marks it expired (inferred), with its audit
    /// entry, as the model decides.
    async fn watch(
        &self,
        action: WatchAction,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome>;
}

/// Keeps accounts: reservations, the outcome of a creation at Ralio, and activations kept for
/// later.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Writes an account record if its guard allows, and makes the user REGULAR when the write
    /// needs it, in one atomic write (with its audit entries, and an activation that arrived
    /// first). It returns the record as stored, and `Ok(Err(_))` says why the write did not take
    /// effect.
    async fn write_account(
        &self,
        write: &AccountWrite,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<AccountRecord, AccountRefusal>>;

    /// Returns the activations kept because their account is not recorded, received since `since`
    /// and not yet expired, newest first. Only that window is read, however many are kept.
    async fn activations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<WaitingActivation>>;

    /// Notes which account a lookup read a waiting activation to be for, so that no later lookup
    /// reads it again. An activation absorbed meanwhile is left alone.
    async fn note_activation_identity(
        &self,
        waiting: &WaitingActivation,
        identity: &AccountIdentity,
    ) -> StoreResult<()>;

    /// Reserves `(uid, alias, currency)` for a creation at Ralio while the user is REGULAR, or says
    /// what stands in the way (an account, a live reservation, an uncertain earlier creation, the
    /// user's level).
    async fn reserve_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountReservation> {
        let token = ReservationToken(uuid::Uuid::new_v4());
        let write = AccountRecord::reserve(uid, alias, currency, token, lease_until, now);
        match self.write_account(&write, now).await? {
            Ok(_) => Ok(AccountReservation::Reserved(token)),
            Err(AccountRefusal::NotRegular) => Ok(AccountReservation::NotRegular),
            Err(AccountRefusal::Erased(erasure)) => Ok(AccountReservation::Erased(erasure)),
            Err(AccountRefusal::Guarded(stored)) => {
                AccountRecord::reservation_found(stored.as_deref(), now).ok_or_else(|| {
                    StoreError::Corrupt("a reservation was refused on a free account".into())
                })
            }
        }
    }
}

/// This is one page of an audit trail, newest first, and `next` continues it with older entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}

/// The audit trail is append-only.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()>;
    /// Returns the trail oldest first (`idv-admin history`, the event publisher).
    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>>;
    /// Returns at most `limit` entries, newest first, older than the page `after` ended with (its
    /// `next`). `next` is `None` on the last page. A cursor is opaque and store-specific.
    async fn audit_page(
        &self,
        owner: Owner,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<AuditPage>;
}

/// Erases users' personal data (`POST /users/{uid}/erasure`, `idv-admin erase`), as
/// [`idv_model::erasure`] says what goes and what stays.
#[async_trait]
pub trait Eraser: Send + Sync {
    /// Erases the user and returns the tombstone. The first call writes it, with the audit entry
    /// that publishes `User Erased`, and every later call answers with that same tombstone and
    /// finishes whatever a call cut short left. Quarantined payloads that name the user are
    /// deleted from `quarantined_since` on (the quarantine's retention: older ones are gone).
    async fn erase_user(
        &self,
        uid: Uid,
        erasure: Erasure,
        quarantined_since: DateTime<Utc>,
    ) -> StoreResult<Erasure>;
}

/// This trait has every capability, for the local runner and the contract suite.
pub trait Store:
    UserReader
    + EventStore
    + QuarantineReader
    + SessionWriter
    + ExpiryIndex
    + AccountStore
    + AuditLog
    + CreationLease
    + SweepStore
    + Eraser
{
}

impl<T> Store for T where
    T: UserReader
        + EventStore
        + QuarantineReader
        + SessionWriter
        + ExpiryIndex
        + AccountStore
        + AuditLog
        + CreationLease
        + SweepStore
        + Eraser
{
}
