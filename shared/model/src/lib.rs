//! This crate is the pure domain model of the Ralio IDV integration.
//!
//! Every rule lives here: identifiers that cannot be malformed, Ralio's vocabularies, the
//! session lifecycle and KYC level ordering, the webhook wire format, signature checks, and the
//! decisions shown to the merchant. It has no I/O, no async runtime and no AWS, so that the
//! adapters only translate and the functions only compose.
//!
//! # Reading order
//!
//! The modules form layers, and each uses only the ones before it (a test,
//! `shared/model/tests/it/layers.rs`, holds the table): the vocabulary (`states`, `ids`,
//! `lifecycle`, `expiry`, `signature`); records and guards (`records`, `accounts`, `leases`);
//! the wire format (`webhook`); change and intake (`activation`, `change`, `intake`); the
//! audit (`audit`); writes (`writes`); owner decisions (`decisions`); the in-memory ledger
//! (`ledger`); and the read models (`domain_events`).
//!
//! # Glossary
//!
//! Each word below has one meaning in this code base.
//!
//! - An **owner** is whoever's records an event changes: a user (`Uid`) or a related party.
//! - A **session** is one IDV session at Ralio, which the user opens at its hosted URL.
//! - A **phase** is where a session is in its lifecycle, as this service orders it (a session
//!   *state* is Ralio's word for the same thing, on the wire).
//! - A **level** is a user's KYC level (LIGHT, REGULAR); only REGULAR may open an account.
//! - An **event** is a signed webhook from Ralio. Its **stamp** is its place in Ralio's
//!   timeline (timestamp, then event id); its **receipt** is when this service first received
//!   it.
//! - **Intake** is what the model makes of an event before anything is written ([`intake`]).
//! - **Attribution** is how an event's owner is found: named, by its session, or by its
//!   `kycId`.
//! - An **application** is an attributed event with the change it asks for
//!   ([`AttributedEvent`]).
//! - An **outcome** is what came of applying or keeping something ([`EventOutcome`],
//!   [`AuditOutcome`]).
//! - **Quarantine** holds signed payloads that were kept without being applied, with the
//!   reason; a **replay** runs one again through the webhook's own path.
//! - An **activation** is Ralio's `account_activated`, which is kept until its account is
//!   recorded.
//! - A **reservation** is an account creation that a request holds before calling Ralio. It is
//!   **uncertain** when Ralio may have acted without the service knowing, and **settled** once
//!   enough time has passed for Ralio to show what it did.
//! - A **lease** is the per-user hold that keeps two requests from creating two sessions.
//! - The **ledger** is the whole store as the model sees it, in memory ([`ledger::Ledger`]);
//!   the in-memory store is one behind a lock. The adapters' traits are **stores**
//!   (`EventStore`, `AccountStore`), never ledgers.
//! - An **audit entry** is one line of a user's trail; every change and refusal leaves one.
//! - An **applied change** records, as data, what a change that took effect was. It is stored
//!   with its audit entry (under the name `fact`), and domain events are published from it
//!   ([`audit::AppliedChange`]).
//! - A **bucket** is one of the expiry watcher's time slots, and a **tick** is the queue
//!   message that wakes the watcher for one.

pub mod accounts;
pub mod activation;
pub mod audit;
pub mod change;
pub mod decisions;
pub mod domain_events;
pub mod erasure;
pub mod expiry;
pub mod ids;
pub mod intake;
pub mod leases;
pub mod ledger;
pub mod lifecycle;
pub mod records;
pub mod signature;
pub mod states;
pub mod sweep;
pub mod webhook;
pub mod writes;

pub use accounts::{
    AccountGuard, AccountId, AccountRecord, AccountRefusal, AccountReservation, AccountStatus,
    AccountWrite, RalioAccount, ReservationToken,
};
pub use activation::{ACTIVATION_RETENTION, AccountIdentity, Activation, WaitingActivation};
pub use audit::{AuditEntry, AuditOutcome};
pub use change::{
    ATTRIBUTION_RETRY_WINDOW, AttributedEvent, Attribution, Change, EventOutcome, RECONCILED,
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
    AccountWritten, ActivationDecision, Disagreement, Executed, Ledger, OwnerRecords, Plan,
    PlanResult, RecordAfter, Refusal, StoredSession, UserSnapshot, WatchDecision, WatchOutcome,
};
pub use lifecycle::{EventStamp, ExpirySource, LevelStamp, Phase, Verdict};
pub use records::Erasure;
pub use records::{
    FailureReason, HostedUrl, IncompleteSession, KycRecord, ReverifyNotice, SESSION_LIFETIME,
    SessionFields, SessionRecord, UserProfile,
};
pub use signature::{SignatureError, WebhookSecret, WebhookSecrets};
pub use states::{CheckState, Currency, EntityType, KycLevel, SessionState};
pub use sweep::{SweepGroup, SweepMark};
pub use webhook::{
    EventBody, LearntSpellings, ParseError, QuarantineReason, WebhookEvent, parse_webhook,
    parse_webhook_with,
};
pub use writes::{KycGuard, KycPatch, SessionGuard, SessionPatch, WatchAction, Write};
