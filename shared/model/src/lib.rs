//! The pure domain model of the Ralio IDV integration.
//!
//! Every rule lives here: identifiers that cannot be malformed, Ralio's vocabularies, the
//! session lifecycle and KYC level ordering, the webhook wire format, signature checks, and the
//! decisions shown to the merchant. No I/O, no async runtime, no AWS: the adapters translate and
//! the functions compose.

pub mod change;
pub mod decisions;
pub mod expiry;
pub mod ids;
pub mod lifecycle;
pub mod records;
pub mod signature;
pub mod states;
pub mod webhook;

pub use change::{ApplyOutcome, Change, EventApplication};
pub use decisions::{NextAction, NextActionCode, can_create_account, next_action};
pub use expiry::{BucketKind, ExpiryBucket, ExpirySchedule};
pub use ids::{EventId, InvalidId, Owner, RelatedPartyId, SessionId, Uid};
pub use lifecycle::{ExpirySource, LevelStamp, Move, Phase};
pub use records::{FailureReason, HostedUrl, ReverifyNotice, SessionRecord, UserProfile};
pub use signature::{SignatureError, WebhookSecret, WebhookSecrets};
pub use states::{CheckState, Currency, EntityType, KycLevel, SessionState};
pub use webhook::{EventBody, ParseError, WebhookEvent, parse_webhook};
