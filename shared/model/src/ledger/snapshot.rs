//! A user's records as one request reads them, for the decisions and the merchant's answers.

use crate::Uid;
use crate::accounts::AccountRecord;
use crate::records::{Erasure, SessionRecord, UserProfile};

/// Holds everything the service knows about one user, read in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSnapshot {
    pub profile: UserProfile,
    /// The sessions are ordered newest first.
    pub sessions: Vec<SessionRecord>,
    /// The accounts are ordered oldest first.
    pub accounts: Vec<AccountRecord>,
    /// It counts the sessions created and stored for the user, because a creation lease is
    /// given only to a request that saw the current count.
    pub sessions_version: u64,
    /// It is set once the user was erased, and then the merchant's routes answer 410.
    pub erased: Option<Erasure>,
}

impl UserSnapshot {
    pub fn empty(uid: Uid) -> Self {
        Self {
            profile: UserProfile::unknown(uid),
            sessions: Vec::new(),
            accounts: Vec::new(),
            sessions_version: 0,
            erased: None,
        }
    }

    /// Returns the snapshot with the tombstone read with it.
    #[must_use]
    pub fn with_erasure(mut self, erased: Option<Erasure>) -> Self {
        self.erased = erased;
        self
    }

    /// Returns a snapshot from its parts, in the documented order.
    pub fn new(
        profile: UserProfile,
        mut sessions: Vec<SessionRecord>,
        mut accounts: Vec<AccountRecord>,
        sessions_version: u64,
    ) -> Self {
        sessions.sort_by(SessionRecord::newest_first);
        accounts.sort_by(AccountRecord::oldest_first);
        Self {
            profile,
            sessions,
            accounts,
            sessions_version,
            erased: None,
        }
    }
}
