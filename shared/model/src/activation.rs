//! This module models Ralio's `account_activated`, and what is kept of one until its account is
//! recorded.
//!
//! Ralio's activation names only the account, so it is matched to a record through the
//! account's Ralio id, which is recorded when the account is. An activation that arrives before
//! its account is recorded is kept and applied when the account is; whichever comes second
//! finds the first (see [`crate::ledger`]).

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::accounts::{AccountId, AccountWrite};
use crate::ids::EventId;
use crate::lifecycle::EventStamp;

/// Ralio's `account_activated`, which says the account is ready for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub event_id: EventId,
    pub event_type: String,
    pub stamp: EventStamp,
    pub account_id: AccountId,
}

/// How long an activation whose account is never recorded is kept. It is as long as an event
/// marker and far longer than an uncertain creation waits for its operator (its alarm repeats
/// on every request meanwhile). It is not for ever, because the merchant's accounts opened
/// elsewhere would pile up.
pub const ACTIVATION_RETENTION: Duration = Duration::days(90);

/// Says whose an account is, as Ralio read it back (owner, alias, currency). It is kept as a
/// digest, so that what one lookup learnt spares the next a GET and no alias is stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountIdentity(String);

impl AccountIdentity {
    /// Returns the identity of an account read from Ralio, normalised as `is_requested_account`
    /// compares it.
    pub fn read(owner: &str, alias: &str, currency: &str) -> Self {
        let owner = crate::Uid::parse(owner).map_or_else(|_| "-".to_owned(), |u| u.to_string());
        Self::digest(&owner, alias.trim(), currency.trim())
    }

    /// Returns the identity a request's account would have.
    pub fn wanted(uid: crate::Uid, alias: &str, currency: crate::Currency) -> Self {
        Self::digest(&uid.to_string(), alias, currency.as_str())
    }

    fn digest(owner: &str, alias: &str, currency: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [owner, alias, currency] {
            hash.update(part.len().to_be_bytes());
            hash.update(part.as_bytes());
        }
        Self(hex::encode(hash.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// An activation waiting for its account, as a lookup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingActivation {
    pub activation: Activation,
    /// It is when this service received the activation. A lookup reads only those received
    /// after its request could have been acted on.
    pub received: DateTime<Utc>,
    /// It is whose account a lookup read it to be, once one has.
    pub seen_as: Option<AccountIdentity>,
}

impl WaitingActivation {
    /// Returns whether a lookup for `wanted` must read this activation's account at Ralio. It
    /// need not when an earlier lookup read it to be someone else's.
    pub fn may_be(&self, wanted: &AccountIdentity) -> bool {
        self.seen_as.as_ref().is_none_or(|seen| seen == wanted)
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        self.received + ACTIVATION_RETENTION
    }

    /// Returns whether it is past its retention. It counts as gone whether or not a store has
    /// removed it yet.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at() <= now
    }
}

impl AccountWrite {
    /// Returns Ralio's id of the account this write records as created, if it is one.
    pub fn account_id(&self) -> Option<AccountId> {
        AccountId::parse(&self.record.created()?.id).ok()
    }

    /// Returns the same write with an activation that arrived before it applied.
    pub fn absorbing(&self, activation: &Activation, now: DateTime<Utc>) -> AccountWrite {
        match self.record.activate(activation.stamp.at, now) {
            Some(active) => AccountWrite {
                guard: self.guard,
                record: active.record,
                requires_regular: self.requires_regular,
            },
            None => self.clone(),
        }
    }
}
