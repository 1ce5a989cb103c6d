//! This module decides what happens to a creation whose outcome at Ralio is uncertain and that
//! Ralio's account list does not show once it has settled.
//!
//! That the merchant list shows the users' accounts, and how it applies its filter, are
//! inferred (REFERENCE §2.8), not documented, so an empty list proves nothing until someone has
//! verified its meaning in Ralio's sandbox. By default (`ACCOUNT_RECREATE=never`) such a
//! creation therefore waits for a person: the gate answers 409 `creation_uncertain`, counts
//! `AccountCreationUnresolved` (alarmed), and an operator settles it with
//! `idv-admin accounts resolve UID ALIAS CURRENCY (--found ACCOUNT_ID | --absent)`, audited.
//! `ACCOUNT_RECREATE=after-settle` lets the gate create again once the list has shown nothing
//! for `ACCOUNT_SETTLE`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use idv_adapters::ralio::{Deadline, RalioError};
use idv_adapters::store::StoreError;
use idv_model::audit::{AuditEntry, AuditOutcome};
use idv_model::settled;
use idv_model::{
    AccountId, AccountRecord, AccountRefusal, AccountReservation, Currency, Owner, Uid,
};

use crate::AccountGate;
use crate::create::AccountRequest;
use crate::lookup::Lookup;

/// The audit action of an operator's resolution.
pub const ACCOUNT_RESOLVED: &str = "account_resolved";

/// Says whether the gate may create again when Ralio's list shows nothing (`ACCOUNT_RECREATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// The gate never creates again on the list's word, so an operator resolves the creation.
    #[default]
    Never,
    /// The gate creates again once the creation has settled unseen (`ACCOUNT_SETTLE`). It is
    /// meant for a deployment that has verified what the list shows.
    AfterSettle,
}

impl FromStr for Recreate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "never" => Ok(Self::Never),
            "after-settle" => Ok(Self::AfterSettle),
            other => Err(format!("{other:?} is neither never nor after-settle")),
        }
    }
}

/// Says what an operator found at Ralio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Ralio holds this account for this request. It is read from Ralio and checked to be the
    /// user's, with the alias and currency asked for.
    Found(AccountId),
    /// Ralio holds no account, so a new request creates it.
    Absent,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("nothing to resolve: {0}")]
    NotUncertain(&'static str),
    #[error("account {0} at Ralio is not this user's {1} account with that alias")]
    NotTheRequested(AccountId, &'static str),
    #[error("Ralio: {0}")]
    Ralio(#[from] RalioError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the reservation changed meanwhile, or could not be looked at fully; try again")]
    Changed,
    #[error("the creation has not settled yet: try again in {0} s")]
    NotSettled(i64),
    #[error("Ralio shows account {0} for this request: resolve it with --found {0}")]
    ShownAtRalio(String),
}

impl AccountGate {
    /// Settles an uncertain creation as an operator found it at Ralio, and audits it.
    pub async fn resolve_by_operator(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        resolution: Resolution,
    ) -> Result<String, ResolveError> {
        let now = self.parts.clock.now();
        let snapshot = self.parts.users.load_user(uid).await?;
        let stored = snapshot
            .accounts
            .iter()
            .find(|a| a.alias == alias && a.currency == currency);
        let (token, since) = match AccountRecord::reservation_found(stored, now) {
            Some(AccountReservation::Uncertain { token, since }) => (token, since),
            Some(AccountReservation::Existing(_)) => {
                return Err(ResolveError::NotUncertain("the account is recorded"));
            }
            Some(AccountReservation::InProgress { .. }) => {
                return Err(ResolveError::NotUncertain("a request is creating it now"));
            }
            Some(
                AccountReservation::Reserved(_)
                | AccountReservation::NotRegular
                | AccountReservation::Erased(_),
            )
            | None => {
                return Err(ResolveError::NotUncertain("no creation is recorded"));
            }
        };
        let (write, detail) = match &resolution {
            Resolution::Found(id) => {
                let read = self
                    .parts
                    .ralio
                    .within(Deadline::none())
                    .get_account(id)
                    .await?;
                let wanted = AccountRequest::new(uid, alias, currency);
                if !wanted.is(&read) || read.account.id != id.as_str() {
                    return Err(ResolveError::NotTheRequested(id.clone(), currency.as_str()));
                }
                let write = AccountRecord::complete(uid, alias, currency, token, read.account, now);
                (write, format!("found at Ralio by an operator: {id}"))
            }
            Resolution::Absent => {
                // Ralio may still show the account, so the operator's word frees the
                // reservation only once the creation has settled and nothing the service can
                // see says otherwise.
                if let Err(left) = settled(since, self.parts.settings.settle, now) {
                    return Err(ResolveError::NotSettled(left.num_seconds()));
                }
                let wanted = AccountRequest::new(uid, alias, currency);
                match self.look_at_ralio(wanted, since, Deadline::none()).await? {
                    Lookup::Found(account) => return Err(ResolveError::ShownAtRalio(account.id)),
                    Lookup::Unread => return Err(ResolveError::Changed),
                    // The operator has looked past an inconclusive list.
                    Lookup::Absent | Lookup::Inconclusive(_) => {}
                }
                (
                    AccountRecord::fail(uid, alias, currency, token, now),
                    "absent at Ralio, by an operator: the next request creates it".to_owned(),
                )
            }
        };
        match self.parts.accounts.write_account(&write, now).await? {
            Ok(_) => {}
            Err(AccountRefusal::Guarded(_) | AccountRefusal::NotRegular) => {
                return Err(ResolveError::Changed);
            }
            Err(AccountRefusal::Erased(_)) => {
                return Err(ResolveError::NotUncertain(
                    "the user was erased: nothing is recorded for them",
                ));
            }
        }
        let entry = resolved_audit(currency, detail.clone(), now);
        if let Err(e) = self
            .parts
            .audit
            .append_audit(Owner::User(uid), &entry)
            .await
        {
            return Ok(format!(
                "{detail} (recorded; the audit entry was not written: {e})"
            ));
        }
        Ok(detail)
    }
}

fn resolved_audit(currency: Currency, detail: String, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry::new(at, ACCOUNT_RESOLVED, AuditOutcome::Resolved)
        .with_detail(format!("{} account {detail}", currency.as_str()))
}
