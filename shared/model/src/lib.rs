//! The pure domain model of the Ralio IDV integration.
//!
//! Every rule lives here: identifiers that cannot be malformed, Ralio's vocabularies, the
//! session lifecycle and KYC level ordering, the webhook wire format, signature checks, and the
//! decisions shown to the merchant. No I/O, no async runtime, no AWS: the adapters translate and
//! the functions compose.

pub mod accounts;
pub mod apply;
pub mod audit;
pub mod change;
pub mod decisions;
pub mod expiry;
pub mod ids;
pub mod lifecycle;
pub mod records;
pub mod signature;
pub mod states;
pub mod webhook;
pub mod writes;

pub use accounts::{AccountRecord, AccountReservation, AccountStatus, RalioAccount};
pub use apply::{
    Commit, EventDecision, LeaseHold, LeaseToken, OwnerRecords, StoredSession, UserSnapshot,
    WatchDecision, WatchOutcome,
};
pub use audit::AuditEntry;
pub use change::{ApplyOutcome, Attribution, Change, EventApplication, RECONCILED, Unattributed};
pub use decisions::{
    NextAction, NextActionCode, can_create_account, needs_verification, next_action,
    reusable_session,
};
pub use expiry::{BucketKind, ExpiryBucket, ExpirySchedule, InvalidSchedule};
pub use ids::{EventId, InvalidId, Owner, RelatedPartyId, SessionId, Uid};
pub use lifecycle::{EventStamp, ExpirySource, LevelStamp, Move, Phase};
pub use records::{
    FailureReason, HostedUrl, IncompleteSession, KycRecord, ReverifyNotice, SESSION_LIFETIME,
    SessionFields, SessionRecord, UserProfile,
};
pub use signature::{SignatureError, WebhookSecret, WebhookSecrets};
pub use states::{CheckState, Currency, EntityType, KycLevel, SessionState};
pub use webhook::{EventBody, ParseError, WebhookEvent, parse_webhook};
pub use writes::{KycGuard, KycPatch, SessionGuard, SessionPatch, WatchAction, Write};
