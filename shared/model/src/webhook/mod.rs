//! This is the one tolerant parser for every documented Ralio webhook shape (REFERENCE §4).
//!
//! Envelopes come as `id`/`event` or `eventId`/`eventType` on any event, and data comes in two
//! generations with camelCase or snake_case keys. Unknown fields are ignored and unknown event
//! types are kept with their raw JSON. What cannot be interpreted is an error, so that the
//! caller can quarantine the signed body verbatim instead of guessing.
//!
//! | file | what |
//! |---|---|
//! | `parse` | the envelope, and why a body is refused |
//! | `data` | the data section of each event type acted on |
//! | `event` | the event the rest of the model reads |
//! | `vocabulary` | event type names, aliases and learnt spellings |
//! | `render` | the canonical wire form, read back by the parser |
//! | `reason` | why a signed payload was kept instead of applied |
//! | `envelope` | what can be read of a body that did not parse, or was kept |

mod data;

pub use data::failure_reasons_of_checks;
mod envelope;
mod event;
mod parse;
mod reason;
mod render;
mod vocabulary;

pub use envelope::{envelope_hints, named_user};
pub use event::{
    EventBody, ExpirationWarningEvent, KycStateEvent, MAX_CLOCK_SKEW, RelatedPartySessionCreated,
    SessionEvent, SessionOutcome, Subject, WebhookEvent,
};
pub use parse::{ParseError, parse_timestamp, parse_webhook, parse_webhook_with};
pub use reason::QuarantineReason;
pub use vocabulary::{LearntSpellings, canonical_event_type, event_types, is_acted_on};
