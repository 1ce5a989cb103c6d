//! This module covers the accounts opened through Ralio for a user: the reservation that keeps
//! two requests from opening the same one, the three ways a creation can end, and activation.
//!
//! A creation at Ralio is not known to be idempotent, so its outcome is recorded on the
//! reservation:
//!
//! | outcome | when | what may happen next |
//! |---|---|---|
//! | created | Ralio answered with the account | answered from the store |
//! | failed | certain Ralio did nothing (refused, unreachable, rate limited) | a new request creates |
//! | uncertain | Ralio may have acted (timeout, 5xx, reset, unreadable answer, a holder that died) | resolved from Ralio; created again only once Ralio's list shows nothing and the outcome has settled |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Currency, Uid};

mod id;

pub use id::{AccountId, InvalidAccountId};

/// Holds Ralio's answer to an account creation (or its list), kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RalioAccount {
    pub id: String,
    pub alias: String,
    pub currency: String,
    #[serde(default)]
    pub balance: i64,
    #[serde(default)]
    pub pending_in: i64,
    #[serde(default)]
    pub pending_out: i64,
    #[serde(default)]
    pub state: String,
    #[serde(default, rename = "type")]
    pub account_type: String,
}

/// The state Ralio gives an account that is ready for use.
pub const ACTIVE: &str = "ACTIVE";

impl RalioAccount {
    /// Returns a user's account as Ralio answers its creation. It is empty, and it is not
    /// active (`PENDING`) until Ralio's `account_activated` event.
    pub fn opened(id: impl Into<String>, alias: &str, currency: Currency) -> Self {
        Self {
            id: id.into(),
            alias: alias.to_owned(),
            currency: currency.as_str().to_owned(),
            balance: 0,
            pending_in: 0,
            pending_out: 0,
            state: "PENDING".to_owned(),
            account_type: "USER".to_owned(),
        }
    }
}

/// Proves that a request holds a reservation, because only its holder may record what became
/// of the creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReservationToken(pub uuid::Uuid);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    /// A request is creating the account at Ralio until `lease_until`.
    Pending {
        token: ReservationToken,
        lease_until: DateTime<Utc>,
    },
    /// Ralio may have created it, as of `since`. It is resolved from Ralio, and never by
    /// creating again before the outcome settles.
    Uncertain {
        token: ReservationToken,
        since: DateTime<Utc>,
    },
    /// Nothing happened at Ralio, for certain.
    Failed,
    Created {
        account: RalioAccount,
        /// It is when Ralio said the account is ready for use (`account_activated`).
        activated_at: Option<DateTime<Utc>>,
    },
}

/// One account of a user, keyed by `(alias, currency)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub uid: Uid,
    pub alias: String,
    pub currency: Currency,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a request finds when it asks to create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountReservation {
    /// This request holds the reservation and must create the account at Ralio.
    Reserved(ReservationToken),
    /// The account is already created, so the request answers with it.
    Existing(Box<AccountRecord>),
    /// Another request is creating it until `lease_until`.
    InProgress { lease_until: DateTime<Utc> },
    /// An earlier creation may have happened at Ralio, so the request looks there before
    /// anything else. The token lets this request resolve it.
    Uncertain {
        token: ReservationToken,
        since: DateTime<Utc>,
    },
    /// The user's level was not REGULAR when the reservation would have taken effect (a
    /// downgrade landed after the request read it), so nothing was reserved.
    NotRegular,
    /// The user was erased after the request read them, so nothing was reserved.
    Erased(crate::records::Erasure),
}

/// Says when a write to an account record may take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountGuard {
    /// Nothing is stored, or an earlier creation certainly failed.
    Reservable,
    /// The reservation is still `token`'s and its outcome is not recorded yet (pending or
    /// uncertain). Completing, failing, marking uncertain and taking over after it settled
    /// use it.
    HeldBy(ReservationToken),
    /// The account is created; activation uses it.
    Created,
}

impl AccountGuard {
    pub fn allows(self, stored: Option<&AccountRecord>) -> bool {
        let status = stored.map(|r| &r.status);
        match self {
            AccountGuard::Reservable => matches!(status, None | Some(AccountStatus::Failed)),
            AccountGuard::HeldBy(token) => matches!(
                status,
                Some(AccountStatus::Pending { token: held, .. } | AccountStatus::Uncertain { token: held, .. })
                    if *held == token
            ),
            AccountGuard::Created => matches!(status, Some(AccountStatus::Created { .. })),
        }
    }
}

/// One conditional write of a whole account record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWrite {
    pub guard: AccountGuard,
    pub record: AccountRecord,
    /// It is set when the write leads to a creation at Ralio (a reservation, or a retry after
    /// settling). Such a write takes effect only while the user's KYC level is REGULAR, checked
    /// in the same atomic write, so that a downgrade that lands first wins.
    pub requires_regular: bool,
}

/// Says why an account write did not take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRefusal {
    /// The guard refused; it holds what is stored instead (nothing, if nothing is).
    Guarded(Option<Box<AccountRecord>>),
    /// The write needed the user at REGULAR, and the stored level is not REGULAR.
    NotRegular,
    /// The user was erased, so nothing about them is written again.
    Erased(crate::records::Erasure),
}

impl AccountRecord {
    fn new(
        uid: Uid,
        alias: &str,
        currency: Currency,
        status: AccountStatus,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            uid,
            alias: alias.to_owned(),
            currency,
            status,
            created_at: now,
            updated_at: now,
        }
    }

    /// Returns the write that reserves `(alias, currency)` for a creation at Ralio.
    pub fn reserve(
        uid: Uid,
        alias: &str,
        currency: Currency,
        token: ReservationToken,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AccountWrite {
        AccountWrite {
            guard: AccountGuard::Reservable,
            record: Self::new(
                uid,
                alias,
                currency,
                AccountStatus::Pending { token, lease_until },
                now,
            ),
            requires_regular: true,
        }
    }

    /// Returns the write that replaces a settled uncertain reservation, held by `old`, with a
    /// new creation.
    pub fn retry(
        uid: Uid,
        alias: &str,
        currency: Currency,
        old: ReservationToken,
        token: ReservationToken,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AccountWrite {
        AccountWrite {
            guard: AccountGuard::HeldBy(old),
            record: Self::new(
                uid,
                alias,
                currency,
                AccountStatus::Pending { token, lease_until },
                now,
            ),
            requires_regular: true,
        }
    }

    /// Returns a short name of `(alias, currency)` for logs, which holds no personal data.
    pub fn key_hint(currency: Currency, alias: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(alias.as_bytes());
        format!("{}#{}", currency.as_str(), hex::encode(&digest[..6]))
    }

    /// Returns the write with which the reservation's holder records the account Ralio created
    /// (or that was found there). It is dated from its creation at Ralio, not from the
    /// reservation.
    pub fn complete(
        uid: Uid,
        alias: &str,
        currency: Currency,
        token: ReservationToken,
        account: RalioAccount,
        now: DateTime<Utc>,
    ) -> AccountWrite {
        let status = AccountStatus::Created {
            account,
            activated_at: None,
        };
        AccountWrite {
            guard: AccountGuard::HeldBy(token),
            record: Self::new(uid, alias, currency, status, now),
            requires_regular: false,
        }
    }

    /// Records that Ralio certainly did nothing, so that a new request may create the account.
    pub fn fail(
        uid: Uid,
        alias: &str,
        currency: Currency,
        token: ReservationToken,
        now: DateTime<Utc>,
    ) -> AccountWrite {
        AccountWrite {
            guard: AccountGuard::HeldBy(token),
            record: Self::new(uid, alias, currency, AccountStatus::Failed, now),
            requires_regular: false,
        }
    }

    /// Records that Ralio may have acted, so that the outcome is resolved from Ralio from now
    /// on.
    pub fn mark_uncertain(
        uid: Uid,
        alias: &str,
        currency: Currency,
        token: ReservationToken,
        now: DateTime<Utc>,
    ) -> AccountWrite {
        AccountWrite {
            guard: AccountGuard::HeldBy(token),
            record: Self::new(
                uid,
                alias,
                currency,
                AccountStatus::Uncertain { token, since: now },
                now,
            ),
            requires_regular: false,
        }
    }

    /// Records that Ralio said the account is ready, so that it is ACTIVE from `at`.
    pub fn activate(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> Option<AccountWrite> {
        let AccountStatus::Created {
            account,
            activated_at,
        } = &self.status
        else {
            return None;
        };
        if activated_at.is_some() {
            return None;
        }
        let account = RalioAccount {
            state: ACTIVE.to_owned(),
            ..account.clone()
        };
        Some(AccountWrite {
            guard: AccountGuard::Created,
            record: Self {
                status: AccountStatus::Created {
                    account,
                    activated_at: Some(at),
                },
                updated_at: now,
                ..self.clone()
            },
            requires_regular: false,
        })
    }

    /// Returns what a request finds, given what is stored. A pending reservation whose lease
    /// ran out belongs to a holder that died. Its creation may have happened, so it is
    /// uncertain.
    pub fn reservation_found(
        stored: Option<&AccountRecord>,
        now: DateTime<Utc>,
    ) -> Option<AccountReservation> {
        match stored.map(|record| (record, &record.status)) {
            None | Some((_, AccountStatus::Failed)) => None,
            Some((record, AccountStatus::Created { .. })) => {
                Some(AccountReservation::Existing(Box::new(record.clone())))
            }
            Some((_, AccountStatus::Pending { lease_until, .. })) if *lease_until >= now => {
                Some(AccountReservation::InProgress {
                    lease_until: *lease_until,
                })
            }
            Some((_, AccountStatus::Pending { token, lease_until })) => {
                Some(AccountReservation::Uncertain {
                    token: *token,
                    since: *lease_until,
                })
            }
            Some((_, AccountStatus::Uncertain { token, since })) => {
                Some(AccountReservation::Uncertain {
                    token: *token,
                    since: *since,
                })
            }
        }
    }

    /// Returns the created account, if this record holds one.
    pub fn created(&self) -> Option<&RalioAccount> {
        match &self.status {
            AccountStatus::Created { account, .. } => Some(account),
            _ => None,
        }
    }

    /// Orders accounts as they are listed, oldest first.
    pub fn oldest_first(a: &AccountRecord, b: &AccountRecord) -> std::cmp::Ordering {
        (a.created_at, &a.alias, a.currency).cmp(&(b.created_at, &b.alias, b.currency))
    }
}

/// Returns whether an account Ralio lists is the one `(uid, alias, currency)` asked for.
/// Ralio's filter is only a hint, so the match is made here, on all three.
pub fn is_requested_account(
    listed_user: &str,
    listed_alias: &str,
    listed_currency: &str,
    uid: Uid,
    alias: &str,
    currency: Currency,
) -> bool {
    Uid::parse(listed_user).is_ok_and(|u| u == uid)
        && listed_alias.trim() == alias
        && listed_currency.trim() == currency.as_str()
}

#[cfg(test)]
mod tests;
