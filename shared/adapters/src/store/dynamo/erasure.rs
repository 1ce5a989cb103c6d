//! Erasure in DynamoDB. The tombstone and the erasure's audit entry are written first, in one
//! transaction, so that from then on every event about the user is refused (the webhook's
//! transaction checks the tombstone) and `User Erased` is published once. The user's items are
//! then redacted in bounded transactions, each idempotent: every call redoes the whole pass, which
//! changes nothing already done, so a call cut short is finished by the next.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use idv_model::erasure::{
    audit_needs_redaction, payload_names, redact_audit, redact_ralio_account, redact_reason,
};
use idv_model::{AccountId, Erasure, EventOutcome, Owner, Uid};

use super::errors::{Cancellation, Slot, Transaction, sdk_error};
use super::items::{
    AccountItem, AuditItem, Identity, Key, KycOwnerItem, ProfileItem, QuarantineItem, SessionItem,
    TombstoneItem, Ts, from_item, to_item, to_value,
};
use super::schema::{self, attr, entity};
use super::updates::{Cond, Expression};
use super::{CONFLICT_RETRIES, DynamoStore};
use crate::store::{Eraser, QuarantineEntry, StoreError, StoreResult};

/// A transaction rewrites at most this many items (DynamoDB takes 100), so that each request of an
/// erasure stays small however much the user has.
pub const ERASURE_BATCH: usize = 25;

/// Holds while the owner is not erased: the tombstone is on the profile, and a missing profile is
/// no tombstone.
pub(super) fn not_erased() -> Cond {
    Cond::Absent(attr::ERASED_AT)
}

/// Says whether a cancelled transaction was refused by the owner's tombstone. A write to the
/// profile itself carries the check in its own condition, so only a profile returned with a
/// tombstone says so.
pub(super) fn erased(cancellation: &Cancellation, slot: Slot, on_profile: bool) -> bool {
    match cancellation.refused(slot) {
        None => false,
        Some(_) if !on_profile => true,
        Some(old) => old.is_some_and(|item| item.contains_key(attr::ERASED_AT)),
    }
}

impl DynamoStore {
    /// Counts an event about an erased owner, which is all that is kept of it.
    pub(super) async fn count_erased(&self, owner: Owner) -> StoreResult<EventOutcome> {
        let mut expr = Expression::default();
        expr.add(attr::ERASED_DELIVERIES, to_value(&1u64)?);
        self.update_item_of(&Key::profile(owner), &expr)?
            .send()
            .await
            .map_err(|e| sdk_error("UpdateItem", e))?;
        Ok(EventOutcome::Erased)
    }

    /// Writes the tombstone and the erasure's audit entry, or returns the tombstone written by an
    /// earlier call. The creation lease goes with it, so that no creation in flight stores a
    /// session under it.
    async fn tombstone(&self, owner: Owner, erasure: &Erasure) -> StoreResult<Erasure> {
        let until = erasure.retained_until.timestamp();
        let mut expr = Expression::default();
        expr.set_item(to_item(&Identity::new(entity::PROFILE, owner))?)
            .set_item(to_item(&TombstoneItem::from(erasure))?)
            .set(attr::TTL, to_value(&until)?)
            .remove(attr::CREATION_LEASE_UNTIL)
            .remove(attr::CREATION_LEASE_TOKEN)
            .remove(attr::CREATION_LEASE_SINCE)
            .condition(&not_erased());
        let audit = AuditItem {
            ttl: Some(until),
            ..AuditItem::new(owner, &erasure.audit())
        };
        for attempt in 0..=CONFLICT_RETRIES {
            let mut tx = Transaction::default();
            let profile = tx.push(self.update(&Key::profile(owner), &expr)?);
            tx.push(self.put(&audit, None)?);
            match tx.send(&self.client).await? {
                Ok(()) => return Ok(*erasure),
                Err(c) => match c.refused(profile) {
                    Some(old) => {
                        return old
                            .map(|item| from_item::<TombstoneItem>(&item))
                            .transpose()?
                            .and_then(|t| t.erasure())
                            .ok_or_else(|| {
                                StoreError::Corrupt("a tombstone refused without one".into())
                            });
                    }
                    None if c.conflicted() => Self::back_off(attempt).await,
                    None => return Err(c.unexpected("writing a tombstone")),
                },
            }
        }
        Err(StoreError::Unavailable(
            "writing a tombstone kept conflicting".into(),
        ))
    }

    /// Returns the redactions of the user's partition (sessions and accounts), and what else the
    /// user's items name: the `kycId` and the Ralio accounts.
    async fn redact_records(
        &self,
        uid: Uid,
        until: i64,
    ) -> StoreResult<(Vec<TransactWriteItem>, Option<i64>, Vec<String>)> {
        let (mut writes, mut kyc_id, mut accounts) = (Vec::new(), None, Vec::new());
        for item in self.query_partition(schema::user_pk(uid)).await? {
            let key: Key = from_item(&item)?;
            let mut expr = Expression::default();
            expr.set(attr::TTL, to_value(&until)?)
                .condition(&Cond::Present(attr::PK));
            if key.sk == schema::PROFILE_SK {
                kyc_id = from_item::<ProfileItem>(&item)?.kyc_id;
                continue;
            } else if key.sk.starts_with(schema::SESSION_SK_PREFIX) {
                let session: SessionItem = from_item(&item)?;
                let reasons = session
                    .failure_reasons
                    .map(|reasons| reasons.iter().map(redact_reason).collect());
                expr.set_item(to_item(&SessionItem {
                    failure_reasons: reasons,
                    ..SessionItem::default()
                })?);
                for gone in [
                    attr::HOSTED_URL,
                    attr::WARN_BUCKET,
                    attr::EXPIRE_BUCKET,
                    attr::SWEEP,
                    attr::SWEEP_AT,
                    attr::SWEEP_VISITS,
                ] {
                    expr.remove(gone);
                }
            } else if key.sk.starts_with(schema::ACCOUNT_SK_PREFIX) {
                let account: AccountItem = from_item(&item)?;
                expr.remove(attr::ALIAS);
                if let Some(mut ralio) = account.ralio_account {
                    accounts.push(ralio.id.clone());
                    redact_ralio_account(&mut ralio);
                    expr.set(attr::RALIO_ACCOUNT, to_value(&ralio)?);
                }
            } else {
                continue;
            }
            writes.push(self.update(&key, &expr)?);
        }
        Ok((writes, kyc_id, accounts))
    }

    /// Returns the redactions of the user's audit trail, skipping entries already redacted.
    async fn redact_trail(&self, owner: Owner, until: i64) -> StoreResult<Vec<TransactWriteItem>> {
        let mut writes = Vec::new();
        for item in self.query_partition(schema::audit_pk(owner)).await? {
            let stored: AuditItem = from_item(&item)?;
            let (pk, sk, ttl) = (stored.pk.clone(), stored.sk.clone(), stored.ttl);
            let entry = stored.entry();
            if !audit_needs_redaction(&entry) && ttl == Some(until) {
                continue;
            }
            // A put keeps the entry's key; the stream passes only inserts to the publisher, so a
            // rewritten entry is not published again.
            let redacted = AuditItem {
                pk,
                sk,
                ttl: Some(until),
                ..AuditItem::new(owner, &redact_audit(&entry))
            };
            writes.push(self.put(&redacted, None)?);
        }
        Ok(writes)
    }

    /// Returns the updates that give the items naming the user elsewhere (whose its `kycId` and
    /// its Ralio accounts are) the record's end, without the alias.
    async fn redact_pointers(
        &self,
        owner: Owner,
        kyc_id: Option<i64>,
        accounts: &[String],
        stamp: &Erasure,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let until = stamp.retained_until.timestamp();
        let mut writes = Vec::new();
        if let Some(kyc_id) = kyc_id {
            for item in self.query_partition(schema::kyc_id_pk(kyc_id)).await? {
                let pairing: KycOwnerItem = from_item(&item)?;
                if pairing.owner() == Some(owner) {
                    let mut expr = Expression::default();
                    expr.set(attr::TTL, to_value(&until)?)
                        .condition(&Cond::Present(attr::PK));
                    writes.push(self.update(&Key::kyc_owner(kyc_id, owner), &expr)?);
                }
            }
        }
        for id in accounts {
            let Ok(id) = AccountId::parse(id) else {
                continue;
            };
            let mut expr = Expression::default();
            expr.set(attr::TTL, to_value(&until)?)
                .set(attr::ERASED_AT, to_value(&Ts(stamp.erased_at))?)
                .remove(attr::ALIAS)
                .condition(&Cond::Present(attr::PK));
            writes.push(self.update(&Key::account_owner(&id), &expr)?);
        }
        Ok(writes)
    }

    /// Returns the deletions of the payloads that name the user, kept since `since`.
    async fn forget_payloads(
        &self,
        uid: Uid,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let mut deletes = Vec::new();
        let mut day = since.date_naive();
        while day <= now.date_naive() {
            for item in self.query_partition(schema::quarantine_pk(day)).await? {
                let kept: QuarantineItem = from_item(&item)?;
                let key = Key::new(kept.pk.clone(), kept.sk.clone());
                if payload_names(&QuarantineEntry::from(kept).body, uid) {
                    deletes.push(self.delete(&key, None)?);
                }
            }
            day = day.succ_opt().unwrap_or(day + chrono::Days::new(1));
        }
        Ok(deletes)
    }

    /// Sends writes in transactions of at most [`ERASURE_BATCH`], each retried on a conflict.
    async fn send_batches(&self, writes: Vec<TransactWriteItem>) -> StoreResult<()> {
        for batch in writes.chunks(ERASURE_BATCH) {
            let mut sent = false;
            for attempt in 0..=CONFLICT_RETRIES {
                let mut tx = Transaction::default();
                for write in batch {
                    tx.push(write.clone());
                }
                match tx.send(&self.client).await? {
                    Ok(()) => {
                        sent = true;
                        break;
                    }
                    Err(c) if c.conflicted() => Self::back_off(attempt).await,
                    Err(c) => return Err(c.unexpected("erasing a user's items")),
                }
            }
            if !sent {
                return Err(StoreError::Unavailable(
                    "erasing a user's items kept conflicting".into(),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Eraser for DynamoStore {
    async fn erase_user(
        &self,
        uid: Uid,
        erasure: Erasure,
        quarantined_since: DateTime<Utc>,
    ) -> StoreResult<Erasure> {
        let owner = Owner::User(uid);
        let stamp = self.tombstone(owner, &erasure).await?;
        let until = stamp.retained_until.timestamp();
        let (mut writes, kyc_id, accounts) = self.redact_records(uid, until).await?;
        writes.extend(self.redact_trail(owner, until).await?);
        writes.extend(
            self.redact_pointers(owner, kyc_id, &accounts, &stamp)
                .await?,
        );
        writes.extend(
            self.forget_payloads(uid, quarantined_since, erasure.erased_at)
                .await?,
        );
        self.send_batches(writes).await?;
        Ok(stamp)
    }
}
