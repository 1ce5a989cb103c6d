//! The pure domain model of the Ralio IDV integration.
//!
//! Every rule lives here: identifiers that cannot be malformed, Ralio's vocabularies, the
//! session lifecycle and KYC level ordering, the webhook wire format, signature checks, and the
//! decisions shown to the merchant. No I/O, no async runtime, no AWS: the adapters translate and
//! the functions compose.

pub mod accounts;
pub mod activation;
pub mod audit;
pub mod change;
pub mod decisions;
pub mod domain_events;
pub mod expiry;
pub mod ids;
pub mod intake;
pub mod leases;
pub mod ledger;
pub mod lifecycle;
pub mod records;
pub mod signature;
pub mod states;
pub mod webhook;
pub mod writes;

pub use accounts::{
    AccountGuard, AccountId, AccountRecord, AccountRefusal, AccountReservation, AccountStatus,
    AccountWrite, RalioAccount, ReservationToken,
};
pub use activation::{ACTIVATION_RETENTION, AccountIdentity, Activation, WaitingActivation};
pub use audit::{AuditEntry, AuditOutcome};
pub use change::{
    ATTRIBUTION_RETRY_WINDOW, ApplyOutcome, Attribution, Change, EventApplication, RECONCILED,
    Unattributed,
};
pub use decisions::{
    ListedSession, NextAction, NextActionCode, UnusableListing, can_create_account,
    needs_verification, next_action, reusable_session, session_left_by_attempt, settled,
    unusable_may_be_left_by_attempt,
};
pub use expiry::{
    BucketKind, ExpiryBucket, ExpirySchedule, InvalidSchedule, TICK_ORPHANED_AFTER, TickClaim,
    TickState,
};
pub use ids::{EventId, InvalidId, Owner, RelatedPartyId, SessionId, Uid};
pub use leases::{LeaseGuard, LeaseHold, LeaseRefusal, LeaseRelease, LeaseToken};
pub use ledger::{
    AccountWritten, ActivationDecision, Commit, EventDecision, Ledger, OwnerRecords, StoredSession,
    UserSnapshot, WatchDecision, WatchOutcome,
};
pub use lifecycle::{EventStamp, ExpirySource, LevelStamp, Move, Phase};
pub use records::{
    FailureReason, HostedUrl, IncompleteSession, KycRecord, ReverifyNotice, SESSION_LIFETIME,
    SessionFields, SessionRecord, UserProfile,
};
pub use signature::{SignatureError, WebhookSecret, WebhookSecrets};
pub use states::{CheckState, Currency, EntityType, KycLevel, SessionState};
pub use webhook::{
    EventBody, LearntSpellings, ParseError, WebhookEvent, parse_webhook, parse_webhook_with,
};
pub use writes::{KycGuard, KycPatch, SessionGuard, SessionPatch, WatchAction, Write};
