//! This module keeps accounts (every write guarded as the model says), activations kept for later,
//! and the audit trail.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use idv_model::lifecycle::sortable_timestamp;
use idv_model::{
    AccountId, AccountIdentity, AccountRecord, AccountRefusal, AccountWrite, AuditEntry, KycLevel,
    Owner, WaitingActivation,
};

use super::erasure::{not_erased, tombstone_in};
use super::errors::{Slot, Transaction, conditional, sdk_error};
use super::items::{
    AccountItem, AccountOwnerItem, ActivationItem, AuditItem, Key, from_item, to_item, to_value,
};
use super::schema::{self, attr};
use super::updates::{Cond, Expression, account_condition};
use super::{CONFLICT_RETRIES, DynamoStore, build_error};
use crate::store::{AccountStore, AuditLog, AuditPage, StoreError, StoreResult};

impl DynamoStore {
    /// Returns a condition check for a transaction, asserting that `condition` holds on the item at
    /// `key`.
    pub(super) fn check(&self, key: &Key, condition: &Cond) -> StoreResult<TransactWriteItem> {
        let mut expr = Expression::default();
        expr.condition(condition);
        let check = with_condition!(
            ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key.item()?)),
            expr
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Returns a delete of the item at `key` for a transaction, if `condition` holds.
    pub(super) fn delete(
        &self,
        key: &Key,
        condition: Option<&Cond>,
    ) -> StoreResult<TransactWriteItem> {
        let mut expr = Expression::default();
        if let Some(condition) = condition {
            expr.condition(condition);
        }
        let delete = with_condition!(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key.item()?)),
            expr
        )
        .build()
        .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Builds one transaction: the account record (guarded), the user's profile (no tombstone, and
    /// REGULAR when the write needs it), its Ralio id's owner when created, and its audit entries. It also asserts that no
    /// activation is waiting for the account, or absorbs (deletes) the one that is.
    async fn account_transaction(
        &self,
        write: &AccountWrite,
        waiting: Option<&Waiting>,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<AccountRecord, Cancelled>> {
        let owner = Owner::User(write.record.uid);
        let absorbed = waiting.map(|w| &w.activation.activation);
        let write = match absorbed {
            Some(activation) => write.absorbing(activation, now),
            None => write.clone(),
        };
        let audits = AuditEntry::of_account_write(&write, absorbed);
        let condition = account_condition(write.guard)?;
        let mut tx = Transaction::default();
        let record = tx.push(self.put(
            &AccountItem {
                ttl: Some(self.retained(now)),
                ..AccountItem::from(&write.record)
            },
            Some(&condition),
        )?);
        // The profile is checked in the same request: for the tombstone always, and for REGULAR
        // when the write needs it.
        let profile = if write.requires_regular {
            Cond::And(vec![
                Cond::Eq(attr::KYC_LEVEL, to_value(&KycLevel::Regular)?),
                not_erased(),
            ])
        } else {
            not_erased()
        };
        let level = tx.push(self.check(&Key::profile(owner), &profile)?);
        let mut waiting_slot = None;
        if let Some(id) = write.account_id() {
            tx.push(self.put(
                &AccountOwnerItem {
                    ttl: Some(self.retained(now)),
                    ..AccountOwnerItem::new(&id, &write.record)
                },
                None,
            )?);
            let key = Key::activation(&id);
            waiting_slot = Some(match waiting {
                // No activation waits, or only one past its TTL that DynamoDB has not removed yet.
                None => tx.push(self.check(
                    &key,
                    &Cond::Or(vec![
                        Cond::Absent(attr::PK),
                        Cond::Lt(attr::TTL, to_value(&(now.timestamp() + 1))?),
                    ]),
                )?),
                Some(kept) => {
                    // The activation's copies by day go with it, whether or not their TTL removed
                    // them.
                    for copy in &kept.copies {
                        tx.push(self.delete(copy, None)?);
                    }
                    tx.push(self.delete(&key, Some(&Cond::Present(attr::PK)))?)
                }
            });
        }
        for entry in audits {
            tx.push(self.put(&self.audit_item(owner, &entry), None)?);
        }
        Ok(match tx.send(&self.client).await? {
            Ok(()) => Ok(write.record),
            Err(c) => {
                let refused = |slot: Option<Slot>| slot.and_then(|slot| c.refused(slot));
                let profile = c.refused(level);
                if let Some(erasure) = profile.as_ref().and_then(|old| tombstone_in(old.as_ref())) {
                    return Ok(Err(Cancelled::Refused(AccountRefusal::Erased(erasure))));
                }
                match (c.refused(record), profile, refused(waiting_slot)) {
                    (Some(old), _, _) => Err(Cancelled::Refused(AccountRefusal::Guarded(
                        old.map(|item| from_item::<AccountItem>(&item)?.record().map(Box::new))
                            .transpose()?,
                    ))),
                    (None, Some(_), _) => Err(Cancelled::Refused(AccountRefusal::NotRegular)),
                    (None, None, Some(_)) => Err(Cancelled::ActivationChanged),
                    (None, None, None) if c.conflicted() => Err(Cancelled::Conflicted),
                    (None, None, None) => return Err(c.unexpected("recording an account")),
                }
            }
        })
    }

    /// Returns the activation kept under `id`, unless it has expired.
    async fn waiting_activation(
        &self,
        id: &AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Waiting>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Key::activation(id).item()?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let item = from_item::<ActivationItem>(item)?;
        if item.expired(now) {
            return Ok(None);
        }
        let copies = item.copy_keys();
        Ok(Some(Waiting {
            activation: WaitingActivation::from(item),
            copies,
        }))
    }
}

/// This is an activation absorbed by an account write, with the keys of its copies by day.
struct Waiting {
    activation: WaitingActivation,
    copies: Vec<Key>,
}

/// Says why an account transaction did not take effect.
enum Cancelled {
    /// The record's guard or the user's level refused the write.
    Refused(AccountRefusal),
    /// An activation arrived (or was absorbed elsewhere) meanwhile, so the caller reads it and
    /// writes again.
    ActivationChanged,
    /// The transaction raced another one on one of its items (a level change, an activation).
    /// Nothing was written, and trying again is right.
    Conflicted,
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn write_account(
        &self,
        write: &AccountWrite,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<AccountRecord, AccountRefusal>> {
        // The usual case assumes that no activation is waiting. One that is costs a read and a
        // second transaction, and at most one more if another activation races in.
        let mut absorbed = None;
        let mut conflicts = 0;
        for _ in 0..3 + CONFLICT_RETRIES {
            match self
                .account_transaction(write, absorbed.as_ref(), now)
                .await?
            {
                Ok(record) => return Ok(Ok(record)),
                Err(Cancelled::Refused(stored)) => return Ok(Err(stored)),
                Err(Cancelled::Conflicted) if conflicts < CONFLICT_RETRIES => {
                    Self::back_off(conflicts).await;
                    conflicts += 1;
                }
                Err(Cancelled::Conflicted) => {
                    return Err(StoreError::Unavailable(
                        "an account write kept conflicting with other writes".into(),
                    ));
                }
                Err(Cancelled::ActivationChanged) => {
                    let id = write.account_id().ok_or_else(|| {
                        StoreError::Corrupt("activation without an account".into())
                    })?;
                    absorbed = self.waiting_activation(&id, now).await?;
                }
            }
        }
        Err(StoreError::Unavailable(
            "an activation kept changing while its account was recorded".into(),
        ))
    }

    async fn activations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<WaitingActivation>> {
        let mut waiting = Vec::new();
        // Tomorrow is read too, because another instance's clock may run a little ahead of this
        // one's at midnight.
        let last = now
            .date_naive()
            .succ_opt()
            .unwrap_or(chrono::NaiveDate::MAX);
        let from = to_value(&sortable_timestamp(since))?;
        for day in since
            .date_naive()
            .iter_days()
            .take_while(|day| *day <= last)
        {
            let pk = to_value(&schema::activations_received_pk(day))?;
            let window = Cond::And(vec![
                Cond::Eq(attr::PK, pk),
                Cond::Ge(attr::SK, from.clone()),
            ]);
            for item in &self.query_keys(&window).await? {
                waiting.push(WaitingActivation::from(from_item::<ActivationItem>(item)?));
            }
        }
        // TTL deletes lazily, so what has expired is dropped whether or not DynamoDB removed it
        // yet.
        waiting.retain(|w| !w.expired(now));
        // A repeated announcement made another copy, so each account is taken once, at its first
        // receipt.
        waiting.sort_by_key(|w| w.received);
        let mut listed = std::collections::HashSet::new();
        waiting.retain(|w| listed.insert(w.activation.account_id.clone()));
        waiting.reverse();
        Ok(waiting)
    }

    async fn note_activation_identity(
        &self,
        waiting: &WaitingActivation,
        identity: &AccountIdentity,
    ) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.set(attr::SEEN_AS, to_value(&identity.as_str())?)
            .condition(&Cond::Present(attr::PK));
        let result = self
            .update_item_of(&Key::received_activation(waiting), &expr)?
            .send()
            .await;
        // The activation was absorbed or expired meanwhile, so nothing is left to note it on.
        conditional("UpdateItem", result)?.ok();
        Ok(())
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&self.audit_item(owner, entry))?))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>> {
        self.query_partition(schema::audit_pk(owner))
            .await?
            .iter()
            .map(|item| Ok(from_item::<AuditItem>(item)?.entry()))
            .collect()
    }

    async fn audit_page(
        &self,
        owner: Owner,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<AuditPage> {
        let pk = schema::audit_pk(owner);
        let mut expr = Expression::default();
        expr.condition(&Cond::Eq(schema::attr::PK, to_value(&pk)?));
        let start = after
            .map(|sk| Key::new(pk.clone(), sk.to_owned()).item())
            .transpose()?;
        // One more item than asked is read, so whether a next page exists is known without a second
        // request.
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_key_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .set_exclusive_start_key(start)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).saturating_add(1))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut items = output
            .items()
            .iter()
            .map(from_item::<AuditItem>)
            .collect::<StoreResult<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|item| item.sk.clone())
        } else {
            // DynamoDB's 1 MB page cut the read short, not the limit, so more may follow.
            output
                .last_evaluated_key()
                .and_then(|key| key.get(schema::attr::SK))
                .and_then(|sk| sk.as_s().ok())
                .cloned()
        };
        Ok(AuditPage {
            entries: items.into_iter().map(AuditItem::entry).collect(),
            next,
        })
    }
}
