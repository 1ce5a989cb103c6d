//! This module holds Ralio's vocabularies: session states, KYC levels, entity types and check
//! states.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// These are Ralio's IDV session states with their documented codes (REFERENCE §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionState {
    NotStarted = 1,
    Started = 2,
    Verified = 3,
    Review = 4,
    Rejected = 5,
    Expired = 6,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown session state {0:?}")]
pub struct UnknownSessionState(pub String);

impl SessionState {
    pub const ALL: [SessionState; 6] = [
        SessionState::NotStarted,
        SessionState::Started,
        SessionState::Verified,
        SessionState::Review,
        SessionState::Rejected,
        SessionState::Expired,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            SessionState::NotStarted => "NOT_STARTED",
            SessionState::Started => "STARTED",
            SessionState::Verified => "VERIFIED",
            SessionState::Review => "REVIEW",
            SessionState::Rejected => "REJECTED",
            SessionState::Expired => "EXPIRED",
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| i64::from(s.code()) == code)
    }

    /// Accepts the name (any case) or the numeric code written as a string, because Ralio's
    /// REST responses do not document which one they carry (REFERENCE §5.4).
    pub fn parse(value: &str) -> Result<Self, UnknownSessionState> {
        let trimmed = value.trim();
        if let Ok(code) = trimmed.parse::<i64>() {
            return Self::from_code(code).ok_or_else(|| UnknownSessionState(value.to_owned()));
        }
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnknownSessionState(value.to_owned()))
    }

    /// Returns whether the user can still open the hosted page, because nothing has been
    /// decided yet.
    pub fn is_open(self) -> bool {
        matches!(self, SessionState::NotStarted | SessionState::Started)
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for SessionState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for SessionState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i64),
            Name(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Code(code) => Self::from_code(code)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown session state {code}"))),
            Raw::Name(name) => Self::parse(&name).map_err(serde::de::Error::custom),
        }
    }
}

/// A user's KYC level. Ralio numbers REGULAR 1 and LIGHT 2 (1 is the higher level) and says
/// other values may exist, so levels are never compared as numbers and unknown names are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KycLevel {
    Regular,
    Light,
    Other(String),
}

impl KycLevel {
    pub fn parse(value: &str) -> Self {
        let trimmed = value.trim();
        if trimmed.eq_ignore_ascii_case("REGULAR") || trimmed == "1" {
            KycLevel::Regular
        } else if trimmed.eq_ignore_ascii_case("LIGHT") || trimmed == "2" {
            KycLevel::Light
        } else {
            KycLevel::Other(trimmed.to_owned())
        }
    }

    pub fn name(&self) -> &str {
        match self {
            KycLevel::Regular => "REGULAR",
            KycLevel::Light => "LIGHT",
            KycLevel::Other(name) => name,
        }
    }

    /// Returns Ralio's code for the level, where it has one.
    pub fn code(&self) -> Option<u8> {
        match self {
            KycLevel::Regular => Some(1),
            KycLevel::Light => Some(2),
            KycLevel::Other(_) => None,
        }
    }

    pub fn is_regular(&self) -> bool {
        matches!(self, KycLevel::Regular)
    }
}

impl fmt::Display for KycLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for KycLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for KycLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// Says who a KYC event is about. G1 payloads carry no `entityType`, so an absent one means
/// user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityType {
    User,
    RelatedParty,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity type {0:?}")]
pub struct UnknownEntityType(pub String);

impl EntityType {
    /// An unknown entity type is an error rather than a default: guessing "user" could let
    /// some other entity's verification unlock a user's account.
    pub fn parse(value: Option<&str>) -> Result<Self, UnknownEntityType> {
        match value.map(str::trim) {
            None => Ok(EntityType::User),
            Some(v) if v.eq_ignore_ascii_case("user") => Ok(EntityType::User),
            Some(v)
                if v.eq_ignore_ascii_case("related-party")
                    || v.eq_ignore_ascii_case("related_party") =>
            {
                Ok(EntityType::RelatedParty)
            }
            Some(other) => Err(UnknownEntityType(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::User => "user",
            EntityType::RelatedParty => "related-party",
        }
    }
}

/// These are the account currencies Ralio offers (`POST .../accounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "EUR")]
    Eur,
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    /// Accepts exactly `EUR` or `USD`, because a currency is not guessed from a near miss.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "EUR" => Some(Currency::Eur),
            "USD" => Some(Currency::Usd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
        }
    }
}

/// The outcome of one check inside a session: `"Validated"`/`"Refused"` in G1, `1`/`2` in
/// G2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckState {
    Validated,
    Refused,
    Unknown(String),
}

impl CheckState {
    pub fn from_json(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(1) => CheckState::Validated,
                Some(2) => CheckState::Refused,
                _ => CheckState::Unknown(n.to_string()),
            },
            serde_json::Value::String(s) => {
                let t = s.trim();
                if t.eq_ignore_ascii_case("validated") || t == "1" {
                    CheckState::Validated
                } else if t.eq_ignore_ascii_case("refused") || t == "2" {
                    CheckState::Refused
                } else {
                    CheckState::Unknown(t.to_owned())
                }
            }
            other => CheckState::Unknown(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_parses_names_and_codes() {
        for state in SessionState::ALL {
            assert_eq!(SessionState::parse(state.name()), Ok(state));
            assert_eq!(SessionState::parse(&state.code().to_string()), Ok(state));
            assert_eq!(SessionState::parse(&state.name().to_lowercase()), Ok(state));
            let from_number: SessionState =
                serde_json::from_value(serde_json::json!(state.code())).unwrap();
            assert_eq!(from_number, state);
        }
        assert_eq!(SessionState::Review.code(), 4);
        assert!(SessionState::parse("0").is_err());
        assert!(SessionState::parse("7").is_err());
        assert!(SessionState::parse("DONE").is_err());
    }

    #[test]
    fn kyc_level_keeps_unknown_names_and_never_orders_numerically() {
        assert_eq!(KycLevel::parse("REGULAR"), KycLevel::Regular);
        assert_eq!(KycLevel::parse("light"), KycLevel::Light);
        assert_eq!(KycLevel::parse("PLUS"), KycLevel::Other("PLUS".into()));
        assert_eq!(KycLevel::Regular.code(), Some(1));
        assert_eq!(KycLevel::Light.code(), Some(2));
        assert!(!KycLevel::Other("0".into()).is_regular());
    }

    #[test]
    fn entity_type_defaults_to_user_and_refuses_unknowns() {
        assert_eq!(EntityType::parse(None), Ok(EntityType::User));
        assert_eq!(EntityType::parse(Some("user")), Ok(EntityType::User));
        assert_eq!(
            EntityType::parse(Some("related-party")),
            Ok(EntityType::RelatedParty)
        );
        assert!(EntityType::parse(Some("business")).is_err());
    }

    #[test]
    fn check_state_accepts_strings_and_integers() {
        use serde_json::json;
        assert_eq!(
            CheckState::from_json(&json!("Validated")),
            CheckState::Validated
        );
        assert_eq!(
            CheckState::from_json(&json!("Refused")),
            CheckState::Refused
        );
        assert_eq!(CheckState::from_json(&json!(1)), CheckState::Validated);
        assert_eq!(CheckState::from_json(&json!(2)), CheckState::Refused);
        assert_eq!(
            CheckState::from_json(&json!("Pending")),
            CheckState::Unknown("Pending".into())
        );
    }
}
