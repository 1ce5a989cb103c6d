//! Ralio's account id arrives in webhooks and in Ralio's answers, and it is checked once here.

use serde::{Deserialize, Serialize};

/// Ralio's id of an account. It is opaque and bounded, so that it is usable in keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an account id is 1 to 128 ASCII letters, digits, '-' or '_'")]
pub struct InvalidAccountId;

impl AccountId {
    pub fn parse(value: &str) -> Result<Self, InvalidAccountId> {
        let value = value.trim();
        let fine = !value.is_empty()
            && value.len() <= 128
            // It goes into a URL path and a key, so it may hold nothing that could change
            // either's shape.
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        fine.then(|| Self(value.to_owned())).ok_or(InvalidAccountId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = InvalidAccountId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
