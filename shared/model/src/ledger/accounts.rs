//! This module applies account writes and `account_activated` over a whole store.

use chrono::{DateTime, Utc};

use super::Ledger;
use crate::accounts::{AccountId, AccountRecord, AccountRefusal, AccountWrite};
use crate::activation::{AccountIdentity, Activation, WaitingActivation};
use crate::audit::AuditEntry;
use crate::change::EventOutcome;
use crate::ids::Owner;
use crate::states::KycLevel;

/// Says what an activation came to, with the audit entry of the account it activated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationDecision {
    /// It is `Applied`, `Unchanged` (already active), `Deferred` (kept until the account is
    /// recorded) or `Duplicate`.
    pub outcome: EventOutcome,
    pub audit: Option<(Owner, AuditEntry)>,
}

/// Holds the audit entries of an account write that took effect.
pub type AccountAudits = Vec<AuditEntry>;

/// An account write that took effect, with the record as stored and its audit entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWritten {
    pub record: AccountRecord,
    pub audits: AccountAudits,
}

impl Ledger {
    /// Returns the activations received since `since` whose account is not recorded, newest
    /// first.
    pub fn activations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<WaitingActivation> {
        let mut waiting: Vec<WaitingActivation> = self
            .activations
            .values()
            .filter(|w| w.received >= since && !w.expired(now))
            .cloned()
            .collect();
        waiting.sort_by_key(|w| std::cmp::Reverse(w.received));
        waiting
    }

    /// Notes whose account a lookup read a waiting activation to be.
    pub fn note_activation_identity(&mut self, id: &AccountId, identity: AccountIdentity) {
        if let Some(waiting) = self.activations.get_mut(id) {
            waiting.seen_as = Some(identity);
        }
    }

    /// Writes an account record if its guard (and the user's level, when the write needs
    /// REGULAR) allows, returning its audit entries. A created account is indexed by its Ralio
    /// id, and takes an activation that arrived before it.
    pub fn write_account(
        &mut self,
        write: &AccountWrite,
        now: DateTime<Utc>,
    ) -> Result<AccountWritten, AccountRefusal> {
        let record = &write.record;
        let key = (record.currency, record.alias.clone());
        let owner = self.owner(Owner::User(record.uid));
        if let Some(erasure) = owner.and_then(|r| r.erased) {
            return Err(AccountRefusal::Erased(erasure));
        }
        let stored = owner.and_then(|r| r.accounts.get(&key));
        if !write.guard.allows(stored) {
            return Err(AccountRefusal::Guarded(stored.cloned().map(Box::new)));
        }
        let level = owner.and_then(|r| r.kyc.level.as_ref()).map(|l| &l.level);
        if write.requires_regular && level != Some(&KycLevel::Regular) {
            return Err(AccountRefusal::NotRegular);
        }
        let absorbed = write
            .account_id()
            .and_then(|id| self.activations.remove(&id))
            .filter(|waiting| !waiting.expired(now))
            .map(|waiting| waiting.activation);
        let write = match &absorbed {
            Some(activation) => write.absorbing(activation, now),
            None => write.clone(),
        };
        if let Some(id) = write.account_id() {
            let owner = (
                write.record.uid,
                write.record.currency,
                write.record.alias.clone(),
            );
            self.account_owners.insert(id, owner);
        }
        let audits = AuditEntry::of_account_write(&write, absorbed.as_ref());
        self.owner_mut(Owner::User(write.record.uid))
            .accounts
            .insert(key, write.record.clone());
        Ok(AccountWritten {
            record: write.record,
            audits,
        })
    }

    /// Applies an activation once. It goes to its account when that is recorded, and is kept
    /// until it is otherwise.
    pub fn apply_activation(
        &mut self,
        activation: &Activation,
        now: DateTime<Utc>,
    ) -> ActivationDecision {
        let whose = self.account_owners.get(&activation.account_id).map(|w| w.0);
        if let Some(records) = whose.and_then(|uid| self.owners.get_mut(&Owner::User(uid)))
            && records.erased.is_some()
        {
            records.erased_deliveries += 1;
            return ActivationDecision {
                outcome: EventOutcome::Erased,
                audit: None,
            };
        }
        if !self.seen.insert(activation.event_id) {
            return ActivationDecision {
                outcome: EventOutcome::Duplicate,
                audit: None,
            };
        }
        let Some((uid, currency, alias)) = self.account_owners.get(&activation.account_id).cloned()
        else {
            self.activations
                .entry(activation.account_id.clone())
                .or_insert_with(|| WaitingActivation {
                    activation: activation.clone(),
                    received: now,
                    seen_as: None,
                });
            return ActivationDecision {
                outcome: EventOutcome::Deferred,
                audit: None,
            };
        };
        let records = self.owner_mut(Owner::User(uid));
        let Some(account) = records.accounts.get_mut(&(currency, alias)) else {
            return ActivationDecision {
                outcome: EventOutcome::Deferred,
                audit: None,
            };
        };
        match account.activate(activation.stamp.at, now) {
            Some(active) => {
                *account = active.record;
                ActivationDecision {
                    outcome: EventOutcome::Applied,
                    audit: Some((
                        Owner::User(uid),
                        AuditEntry::account_activated(account, activation.stamp),
                    )),
                }
            }
            None => ActivationDecision {
                outcome: EventOutcome::Unchanged,
                audit: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{ACTIVE, RalioAccount, ReservationToken};
    use crate::ids::EventId;
    use crate::lifecycle::EventStamp;
    use crate::{Currency, Uid};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn activation(id: &str) -> Activation {
        Activation {
            event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
            event_type: "account_activated".into(),
            stamp: EventStamp {
                at: at("2026-05-08T10:45:02Z"),
                event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
            },
            account_id: AccountId::parse(id).unwrap(),
        }
    }

    /// Returns a ledger whose user `uid` is at `level`.
    fn ledger_at(uid: Uid, level: KycLevel) -> Ledger {
        let mut ledger = Ledger::default();
        ledger.owner_mut(Owner::User(uid)).kyc.level = Some(crate::LevelStamp {
            level,
            stamp: EventStamp {
                at: at("2026-05-08T09:00:00Z"),
                event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
            },
        });
        ledger
    }

    fn created(uid: Uid, token: ReservationToken) -> AccountWrite {
        let account = RalioAccount::opened("acc-1", "Main", Currency::Eur);
        AccountRecord::complete(
            uid,
            "Main",
            Currency::Eur,
            token,
            account,
            at("2026-05-08T10:00:00Z"),
        )
    }

    #[test]
    fn an_activation_finds_its_account_whichever_comes_first() {
        let now = at("2026-05-08T11:00:00Z");
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        for activation_first in [false, true] {
            let mut ledger = ledger_at(uid, KycLevel::Regular);
            let token = ReservationToken(uuid::Uuid::new_v4());
            let reserve = AccountRecord::reserve(uid, "Main", Currency::Eur, token, now, now);
            ledger.write_account(&reserve, now).unwrap();
            let event = activation("acc-1");
            if activation_first {
                assert_eq!(
                    ledger.apply_activation(&event, now).outcome,
                    EventOutcome::Deferred
                );
                let written = ledger.write_account(&created(uid, token), now).unwrap();
                assert_eq!(written.audits.len(), 2, "created, then activated");
                assert_eq!(written.record.created().unwrap().state, ACTIVE);
            } else {
                ledger.write_account(&created(uid, token), now).unwrap();
                let applied = ledger.apply_activation(&event, now);
                assert_eq!(applied.outcome, EventOutcome::Applied);
                assert!(applied.audit.is_some());
            }
            let record = &ledger.owner(Owner::User(uid)).unwrap().accounts
                [&(Currency::Eur, "Main".to_owned())];
            assert_eq!(record.created().unwrap().state, ACTIVE);
            assert!(ledger.activations.is_empty());
            assert_eq!(
                ledger.apply_activation(&event, now).outcome,
                EventOutcome::Duplicate
            );
            let again = activation("acc-1");
            assert_eq!(
                ledger.apply_activation(&again, now).outcome,
                EventOutcome::Unchanged
            );
        }
    }

    #[test]
    fn only_writes_that_lead_to_a_creation_need_the_user_at_regular() {
        let now = at("2026-05-08T11:00:00Z");
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let token = ReservationToken(uuid::Uuid::new_v4());
        let reserve = AccountRecord::reserve(uid, "Main", Currency::Eur, token, now, now);
        for level in [
            None,
            Some(KycLevel::Light),
            Some(KycLevel::Other("ADVANCED".into())),
        ] {
            let mut ledger = match level {
                Some(level) => ledger_at(uid, level),
                None => Ledger::default(),
            };
            assert_eq!(
                ledger.write_account(&reserve, now).unwrap_err(),
                AccountRefusal::NotRegular
            );
            assert!(
                ledger
                    .owner(Owner::User(uid))
                    .is_none_or(|r| r.accounts.is_empty())
            );
        }
        let mut ledger = ledger_at(uid, KycLevel::Regular);
        ledger.write_account(&reserve, now).unwrap();
        // A downgrade lands while Ralio creates, and what Ralio did is still recorded.
        ledger = {
            let mut lowered = ledger.clone();
            lowered
                .owner_mut(Owner::User(uid))
                .kyc
                .level
                .as_mut()
                .unwrap()
                .level = KycLevel::Light;
            lowered
        };
        let uncertain = AccountRecord::mark_uncertain(uid, "Main", Currency::Eur, token, now);
        ledger.write_account(&uncertain, now).unwrap();
        let retry = ReservationToken(uuid::Uuid::new_v4());
        let again = AccountRecord::retry(uid, "Main", Currency::Eur, token, retry, now, now);
        assert_eq!(
            ledger.write_account(&again, now).unwrap_err(),
            AccountRefusal::NotRegular,
            "no creation again below REGULAR"
        );
        ledger.write_account(&created(uid, token), now).unwrap();
    }
}
