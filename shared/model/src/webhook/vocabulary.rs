//! This module names event types: the canonical names, Ralio's dotted spellings and the
//! spellings a person taught a replay. The parser and the webhook's quarantine rule read the
//! same list.

/// These are the canonical names of the event types this service acts on.
pub mod event_types {
    pub const SESSION_VERIFIED: &str = "kyc_session_verified";
    pub const SESSION_MANUAL_REVIEW: &str = "kyc_session_manual_review";
    pub const SESSION_FAILED: &str = "kyc_session_failed";
    pub const SESSION_EXPIRED: &str = "kyc_session_expired";
    pub const KYC_STATE_UPDATED: &str = "kyc_state_updated";
    pub const KYC_EXPIRATION_WARNING: &str = "kyc_expiration_warning";
    pub const RELATED_PARTY_SESSION_CREATED: &str = "related_party.kyc_session_created";
    pub const ACCOUNT_ACTIVATED: &str = "account_activated";
}

/// Maps the dotted names from Ralio's welcome page explicitly, because a blanket `.` → `_`
/// would break `related_party.kyc_session_created`, which really has a dot.
const EVENT_TYPE_ALIASES: &[(&str, &str)] = &[
    ("kyc.session_verified", event_types::SESSION_VERIFIED),
    (
        "kyc.session_manual_review",
        event_types::SESSION_MANUAL_REVIEW,
    ),
    ("kyc.session_failed", event_types::SESSION_FAILED),
    ("kyc.session_expired", event_types::SESSION_EXPIRED),
    ("kyc.state_updated", event_types::KYC_STATE_UPDATED),
    (
        "kyc.expiration_warning",
        event_types::KYC_EXPIRATION_WARNING,
    ),
    ("kyb.state_updated", "kyb_state_updated"),
    ("account.activated", "account_activated"),
    ("payin.processing", "payin_processing"),
    ("payin.completed", "payin_completed"),
    ("payin.failed", "payin_failed"),
    ("payout.processing", "payout_processing"),
    ("payout.completed", "payout_completed"),
    ("transfer.processing", "transfer_processing"),
    ("transfer.completed", "transfer_completed"),
];

/// Returns whether this service acts on an event type (as it may arrive on the wire), because
/// only such payloads are kept verbatim when they cannot be applied.
pub fn is_acted_on(raw: &str) -> bool {
    use event_types::*;
    matches!(
        canonical_event_type(raw).as_str(),
        SESSION_VERIFIED
            | SESSION_MANUAL_REVIEW
            | SESSION_FAILED
            | SESSION_EXPIRED
            | KYC_STATE_UPDATED
            | KYC_EXPIRATION_WARNING
            | RELATED_PARTY_SESSION_CREATED
            | ACCOUNT_ACTIVATED
    )
}

/// Returns the canonical (underscored) name of an event type as it may arrive on the wire.
pub fn canonical_event_type(raw: &str) -> String {
    let lowered = raw.trim().to_ascii_lowercase();
    EVENT_TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == lowered)
        .map_or(lowered, |(_, canonical)| (*canonical).to_owned())
}

/// Holds spellings of event types that Ralio was seen to send and this release does not know,
/// each mapped by a person to the type it means. Only a replay takes them (`idv-admin
/// replay-quarantine --spelling`), because live deliveries are never interpreted on a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LearntSpellings(std::collections::BTreeMap<String, String>);

impl LearntSpellings {
    /// Learns `spelling` as `meaning`, which must be a type this service acts on.
    pub fn learn(&mut self, spelling: &str, meaning: &str) -> Result<(), String> {
        // A spelling this release already reads keeps its meaning, because a mapping only names
        // what was unknown.
        if is_acted_on(spelling) {
            return Err(format!(
                "{spelling} is already read as {}",
                canonical_event_type(spelling)
            ));
        }
        let meaning = canonical_event_type(meaning);
        if !is_acted_on(&meaning) {
            return Err(format!(
                "{meaning} is not an event type this service acts on"
            ));
        }
        self.0.insert(spelling.trim().to_ascii_lowercase(), meaning);
        Ok(())
    }

    /// Learns a `SPELLING=TYPE` pair, as given on the command line.
    pub fn learn_pair(&mut self, pair: &str) -> Result<(), String> {
        let (spelling, meaning) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not SPELLING=TYPE"))?;
        self.learn(spelling, meaning)
    }

    pub(super) fn meaning(&self, raw: &str) -> Option<&str> {
        self.0
            .get(&raw.trim().to_ascii_lowercase())
            .map(String::as_str)
    }
}
