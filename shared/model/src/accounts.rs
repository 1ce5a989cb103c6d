//! Accounts opened through Ralio for a user, and the reservation that keeps two requests from
//! opening the same one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, actions};
use crate::{Currency, KycLevel, Uid};

/// Ralio's answer to an account creation, kept as it came.
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    /// Creation at Ralio is under way; another request may take over after `lease_until`.
    Pending {
        lease_until: DateTime<Utc>,
    },
    Created(RalioAccount),
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

/// How reserving an account creation went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountReservation {
    /// This request holds the lease and must create the account at Ralio.
    Reserved,
    /// Already created: answer with it.
    Existing(Box<AccountRecord>),
    /// Another request holds the lease until then.
    InProgress { lease_until: DateTime<Utc> },
}

impl AccountRecord {
    /// The reservation a request takes to create this account at Ralio.
    pub fn reservation(
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            uid,
            alias: alias.to_owned(),
            currency,
            status: AccountStatus::Pending { lease_until },
            created_at: now,
            updated_at: now,
        }
    }

    /// The account Ralio created. Dated from its creation at Ralio, not from the reservation.
    pub fn created(
        uid: Uid,
        alias: &str,
        currency: Currency,
        account: RalioAccount,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            status: AccountStatus::Created(account),
            ..Self::reservation(uid, alias, currency, now, now)
        }
    }

    /// Whether a request may reserve the account given what is stored: it may when nothing
    /// is, or when the previous holder's lease has run out.
    pub fn decide_reservation(
        stored: Option<&AccountRecord>,
        now: DateTime<Utc>,
    ) -> AccountReservation {
        match stored.map(|record| (record, &record.status)) {
            Some((record, AccountStatus::Created(_))) => {
                AccountReservation::Existing(Box::new(record.clone()))
            }
            Some((_, AccountStatus::Pending { lease_until })) if *lease_until >= now => {
                AccountReservation::InProgress {
                    lease_until: *lease_until,
                }
            }
            _ => AccountReservation::Reserved,
        }
    }

    /// A reservation can be given back; a created account cannot.
    pub fn is_releasable(&self) -> bool {
        matches!(self.status, AccountStatus::Pending { .. })
    }

    /// The audit entry of an account Ralio created.
    pub fn created_audit(&self) -> AuditEntry {
        AuditEntry::new(self.updated_at, actions::ACCOUNT_CREATED, "applied")
            .with_detail(format!("{} account", self.currency.as_str()))
    }

    /// The audit entry of a creation the gate refused because of the user's level.
    pub fn refusal_audit(level: &KycLevel, now: DateTime<Utc>) -> AuditEntry {
        AuditEntry::new(now, actions::ACCOUNT_REFUSED, "refused")
            .with_detail(format!("kyc level {level}"))
    }

    /// The order accounts are listed in: oldest first.
    pub fn oldest_first(a: &AccountRecord, b: &AccountRecord) -> std::cmp::Ordering {
        (a.created_at, &a.alias, a.currency).cmp(&(b.created_at, &b.alias, b.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_lease_holds_until_it_runs_out_and_a_created_account_is_answered() {
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let now = at("2026-05-04T09:00:00Z");
        let pending = AccountRecord::reservation(
            uid,
            "Main",
            Currency::Eur,
            now + chrono::Duration::seconds(60),
            now,
        );
        assert_eq!(
            AccountRecord::decide_reservation(None, now),
            AccountReservation::Reserved
        );
        assert_eq!(
            AccountRecord::decide_reservation(Some(&pending), now + chrono::Duration::seconds(60)),
            AccountReservation::InProgress {
                lease_until: now + chrono::Duration::seconds(60)
            }
        );
        assert_eq!(
            AccountRecord::decide_reservation(Some(&pending), now + chrono::Duration::seconds(61)),
            AccountReservation::Reserved
        );
        let account = RalioAccount {
            id: "acc".into(),
            alias: "Main".into(),
            currency: "EUR".into(),
            balance: 0,
            pending_in: 0,
            pending_out: 0,
            state: "ACTIVE".into(),
            account_type: "USER".into(),
        };
        let created = AccountRecord::created(uid, "Main", Currency::Eur, account, now);
        assert!(!created.is_releasable() && pending.is_releasable());
        assert_eq!(
            AccountRecord::decide_reservation(Some(&created), now),
            AccountReservation::Existing(Box::new(created.clone()))
        );
    }
}
