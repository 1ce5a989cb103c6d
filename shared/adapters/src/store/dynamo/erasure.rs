//! Erasure in DynamoDB. The tombstone and the erasure's audit entry are written first, in one
//! transaction, so that from then on every event about the user is refused (the webhook's
//! transaction checks the tombstone) and `User Erased` is published once. The user's items are
//! then redacted in bounded transactions, each idempotent: every call redoes the whole pass, which
//! changes nothing already done, so a call cut short is finished by the next.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use idv_model::erasure::{
    Subject, audit_needs_redaction, redact_audit, redact_ralio_account, redact_reason,
};
use idv_model::{AccountId, Erasure, EventOutcome, Owner, Uid};

use super::errors::{Cancellation, Slot, Transaction, sdk_error};
use super::items::{
    AccountItem, AuditItem, Identity, Item, Key, KycOwnerItem, ProfileItem, QuarantineItem,
    SessionItem, TombstoneItem, Ts, from_item, to_item, to_value,
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

/// Returns the tombstone a refused write's profile item holds, if it holds one.
pub(super) fn tombstone_in(profile: Option<&Item>) -> Option<Erasure> {
    from_item::<TombstoneItem>(profile?).ok()?.erasure()
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

    /// Returns the redactions of the user's partition (sessions and accounts) that are not done
    /// yet, and whom Ralio's payloads may name the user by: the sessions, the `kycId`, the Ralio
    /// accounts.
    async fn redact_records(
        &self,
        uid: Uid,
        until: i64,
    ) -> StoreResult<(Vec<TransactWriteItem>, Subject)> {
        let (mut writes, mut subject) = (Vec::new(), Subject::of(uid));
        for item in self.query_partition(schema::user_pk(uid)).await? {
            let key: Key = from_item(&item)?;
            let done = ttl_of(&item) == Some(until);
            let mut expr = Expression::default();
            expr.set(attr::TTL, to_value(&until)?)
                .condition(&Cond::Present(attr::PK));
            if key.sk == schema::PROFILE_SK {
                subject.kyc_id = from_item::<ProfileItem>(&item)?.kyc_id;
                continue;
            } else if key.sk.starts_with(schema::SESSION_SK_PREFIX) {
                let session: SessionItem = from_item(&item)?;
                subject.sessions.extend(session.session_id);
                let reasons: Option<Vec<_>> = session
                    .failure_reasons
                    .as_ref()
                    .map(|reasons| reasons.iter().map(redact_reason).collect());
                let gone = [
                    attr::HOSTED_URL,
                    attr::WARN_BUCKET,
                    attr::EXPIRE_BUCKET,
                    attr::SWEEP,
                    attr::SWEEP_AT,
                    attr::SWEEP_VISITS,
                ];
                if done
                    && reasons == session.failure_reasons
                    && gone.iter().all(|a| !item.contains_key(*a))
                {
                    continue;
                }
                expr.set_item(to_item(&SessionItem {
                    failure_reasons: reasons,
                    ..SessionItem::default()
                })?);
                for attribute in gone {
                    expr.remove(attribute);
                }
            } else if key.sk.starts_with(schema::ACCOUNT_SK_PREFIX) {
                let account: AccountItem = from_item(&item)?;
                let redacted = account.ralio_account.clone().map(|mut ralio| {
                    redact_ralio_account(&mut ralio);
                    ralio
                });
                subject
                    .accounts
                    .extend(account.ralio_account.iter().map(|a| a.id.clone()));
                if done && account.alias.is_empty() && redacted == account.ralio_account {
                    continue;
                }
                expr.remove(attr::ALIAS);
                if let Some(ralio) = redacted {
                    expr.set(attr::RALIO_ACCOUNT, to_value(&ralio)?);
                }
            } else {
                continue;
            }
            writes.push(self.update(&key, &expr)?);
        }
        Ok((writes, subject))
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
        subject: &Subject,
        stamp: &Erasure,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let until = stamp.retained_until.timestamp();
        let mut writes = Vec::new();
        if let Some(kyc_id) = subject.kyc_id {
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
        for id in &subject.accounts {
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

    /// Deletes the payloads kept since `since` that name the subject, a day at a time.
    async fn forget_payloads(
        &self,
        subject: &Subject,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut day = since.date_naive();
        while day <= now.date_naive() {
            let mut deletes = Vec::new();
            for item in self.query_partition(schema::quarantine_pk(day)).await? {
                let kept: QuarantineItem = from_item(&item)?;
                let key = Key::new(kept.pk.clone(), kept.sk.clone());
                if subject.named_in(&QuarantineEntry::from(kept).body) {
                    deletes.push(self.delete(&key, None)?);
                }
            }
            self.send_batches(deletes).await?;
            day = day.succ_opt().unwrap_or(day + chrono::Days::new(1));
        }
        Ok(())
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
        // Each part is sent as soon as it is read, the user's own records first, so that a call
        // cut short by its deadline has still done what it reached, and the next call skips it.
        let (writes, subject) = self.redact_records(uid, until).await?;
        self.send_batches(writes).await?;
        self.send_batches(self.redact_trail(owner, until).await?)
            .await?;
        self.send_batches(self.redact_pointers(owner, &subject, &stamp).await?)
            .await?;
        self.forget_payloads(&subject, quarantined_since, erasure.erased_at)
            .await?;
        Ok(stamp)
    }
}

/// Returns an item's TTL, when it has one.
fn ttl_of(item: &Item) -> Option<i64> {
    item.get(attr::TTL)?.as_n().ok()?.parse().ok()
}
