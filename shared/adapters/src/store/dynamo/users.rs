//! This module handles a user's partition: reading it in one query, storing created sessions, and
//! the lease that keeps two requests from creating two sessions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use idv_model::{
    ExpiryBucket, LeaseGuard, LeaseHold, LeaseRefusal, LeaseRelease, LeaseToken, Owner,
    SessionRecord, StoredSession, Uid, UserProfile, UserSnapshot, Write,
};

use super::erasure::{not_erased, tombstone_in};
use super::errors::{Transaction, conditional};
use super::items::{
    AccountItem, Identity, Key, LeaseItem, ProfileItem, SessionItem, TombstoneItem, Ts, from_item,
    to_item, to_value,
};
use super::schema::{self, attr, entity};
use super::updates::{Cond, Expression, lease_condition};
use super::{DynamoStore, disagreement};
use crate::store::{CreationLease, Lease, SessionWriter, StoreError, StoreResult, UserReader};

impl DynamoStore {
    /// Sends one model write as a single `UpdateItem`. Returns the record as it is after the write,
    /// or the item that the write was refused on.
    async fn update_item(
        &self,
        owner: Owner,
        write: &Write,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<super::Item, Option<super::Item>>> {
        let (key, expr) = self.write_expression(owner, write, now)?;
        let result = self
            .update_item_of(&key, &expr)?
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        Ok(conditional("UpdateItem", result)?.map(|output| output.attributes.unwrap_or_default()))
    }

    fn lease_release(
        &self,
        uid: Uid,
        token: LeaseToken,
        how: LeaseRelease,
    ) -> StoreResult<(Key, Expression)> {
        let mut expr = Expression::default();
        match how {
            LeaseRelease::Clean => expr
                .remove(attr::CREATION_LEASE_UNTIL)
                .remove(attr::CREATION_LEASE_TOKEN)
                .remove(attr::CREATION_LEASE_SINCE),
            LeaseRelease::Uncertain => {
                let lapsed = LeaseItem {
                    creation_lease_until: Some(Ts(DateTime::<Utc>::UNIX_EPOCH)),
                    ..LeaseItem::default()
                };
                expr.set_item(to_item(&lapsed)?)
            }
        }
        .condition(&lease_condition(LeaseGuard::HeldBy(token))?);
        Ok((Key::profile(Owner::User(uid)), expr))
    }

    /// Counts one more session stored for `owner`, so that a lease taken on an older count is
    /// refused.
    async fn count_stored_session(&self, owner: Owner) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.add(attr::SESSIONS_VERSION, to_value(&1u64)?);
        self.update_item_of(&Key::profile(owner), &expr)?
            .send()
            .await
            .map_err(|e| super::errors::sdk_error("UpdateItem", e))?;
        Ok(())
    }
}

#[async_trait]
impl UserReader for DynamoStore {
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot> {
        let owner = Owner::User(uid);
        let mut profile = UserProfile::unknown(uid);
        let (mut sessions, mut accounts, mut sessions_version) = (Vec::new(), Vec::new(), 0);
        let mut erased = None;
        for item in self.query_partition(schema::user_pk(uid)).await? {
            let key: Key = from_item(&item)?;
            if key.sk == schema::PROFILE_SK {
                profile.kyc = from_item::<ProfileItem>(&item)?.kyc();
                sessions_version = from_item::<LeaseItem>(&item)?.sessions_version();
                erased = from_item::<TombstoneItem>(&item)?.erasure();
            } else if key.sk.starts_with(schema::SESSION_SK_PREFIX) {
                let session: SessionItem = from_item(&item)?;
                let id = session
                    .session_id
                    .ok_or_else(|| StoreError::Corrupt(format!("{} has no sessionId", key.sk)))?;
                sessions.push(session.fields()?.record(owner, id)?);
            } else if key.sk.starts_with(schema::ACCOUNT_SK_PREFIX) {
                accounts.push(from_item::<AccountItem>(&item)?.record()?);
            }
        }
        Ok(UserSnapshot::new(profile, sessions, accounts, sessions_version).with_erasure(erased))
    }
}

#[async_trait]
impl SessionWriter for DynamoStore {
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession> {
        let id = record.session_id;
        let stored = |item: &super::Item| -> StoreResult<SessionRecord> {
            Ok(from_item::<SessionItem>(item)?
                .fields()?
                .record(record.owner, id)?)
        };
        let write = Write::creation(record, buckets);
        Ok(
            match self.update_item(record.owner, &write, Utc::now()).await? {
                Ok(item) => {
                    if let Owner::User(_) = record.owner {
                        self.count_stored_session(record.owner).await?;
                    }
                    StoredSession::Stored(stored(&item)?)
                }
                // DynamoDB refuses the write only when the session is stored with its page already.
                Err(Some(item)) => StoredSession::AlreadyStored(stored(&item)?),
                Err(None) => {
                    return Err(StoreError::Corrupt(format!(
                        "session {id} refused without an item"
                    )));
                }
            },
        )
    }
}

#[async_trait]
impl CreationLease for DynamoStore {
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        seen_version: u64,
    ) -> StoreResult<Lease> {
        let hold = LeaseHold::taken(now, until);
        let owner = Owner::User(uid);
        let guard = LeaseGuard::Free { now, seen_version };
        // The beginning of an attempt that died or gave up uncertain is kept until it is resolved.
        let lease = LeaseItem {
            creation_lease_since: None,
            ..LeaseItem::from(&hold)
        };
        let mut expr = Expression::default();
        expr.set_item(to_item(&Identity::new(entity::PROFILE, owner))?)
            .set_item(to_item(&lease)?)
            .fill(attr::CREATION_LEASE_SINCE, to_value(&Ts(now))?)
            .set(attr::TTL, to_value(&self.retained(now))?)
            .condition(&lease_condition(guard)?)
            .condition(&not_erased());
        let result = self
            .update_item_of(&Key::profile(owner), &expr)?
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        // Only the lease and the version are read, because nothing else on the profile may stand in
        // its way.
        let lease_of = |item: Option<super::Item>| -> StoreResult<LeaseItem> {
            Ok(item
                .map(|item| from_item::<LeaseItem>(&item))
                .transpose()?
                .unwrap_or_default())
        };
        Ok(match conditional("UpdateItem", result)? {
            Ok(output) => Lease::Acquired {
                token: hold.token,
                after_lapsed: lease_of(output.attributes)?.lease(),
            },
            Err(old) => {
                if let Some(erasure) = tombstone_in(old.as_ref()) {
                    return Ok(Lease::Erased(erasure));
                }
                let old = lease_of(old)?;
                match guard.check(old.lease().as_ref(), old.sessions_version()) {
                    Err(LeaseRefusal::Held { until }) => Lease::Held { until },
                    Err(LeaseRefusal::Stale) => Lease::Stale,
                    Err(LeaseRefusal::Erased(erasure)) => Lease::Erased(erasure),
                    Ok(()) => return Err(disagreement("creation lease")),
                }
            }
        })
    }

    async fn restart_creation_attempt(
        &self,
        uid: Uid,
        token: LeaseToken,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut expr = Expression::default();
        expr.set(attr::CREATION_LEASE_SINCE, to_value(&Ts(at))?)
            .condition(&lease_condition(LeaseGuard::HeldBy(token))?);
        let result = self
            .update_item_of(&Key::profile(Owner::User(uid)), &expr)?
            .send()
            .await;
        Ok(conditional("UpdateItem", result)?.is_ok())
    }

    async fn release_creation_lease(
        &self,
        uid: Uid,
        token: LeaseToken,
        how: LeaseRelease,
    ) -> StoreResult<()> {
        let (key, expr) = self.lease_release(uid, token, how)?;
        let result = self.update_item_of(&key, &expr)?.send().await;
        // The lease is someone else's now, or gone, so there is nothing of ours to release.
        conditional("UpdateItem", result).map(|_| ())
    }

    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession> {
        let Owner::User(uid) = record.owner else {
            return self.store_session(record, buckets).await;
        };
        // In the usual case, a session that nobody has heard of yet, the session is stored and the
        // lease freed in one transaction. What the model stores for a creation on nothing is
        // exactly the record. A webhook that got there first, or a lease taken over meanwhile,
        // sends us the long way round, which reports the stored state exactly.
        let write = Write::creation(record, buckets);
        let (key, mut expr) = self.write_expression(record.owner, &write, Utc::now())?;
        expr.condition(&Cond::Absent(attr::PK));
        let (lease_key, mut lease_expr) = self.lease_release(uid, lease, LeaseRelease::Clean)?;
        lease_expr.add(attr::SESSIONS_VERSION, to_value(&1u64)?);
        let mut tx = Transaction::default();
        tx.push(self.update(&key, &expr)?);
        let lease_slot = tx.push(self.update(&lease_key, &lease_expr)?);
        match tx.send(&self.client).await? {
            Ok(()) => Ok(StoredSession::Stored(record.clone())),
            // The transaction was refused or cancelled (a conflict with a webhook on the same
            // items, say). The long way round is safe to repeat, and Ralio's session must not be
            // lost, unless the user was erased meanwhile: the erasure took the lease with it, and
            // the session is not stored.
            Err(cancellation) => {
                let lease_refused = cancellation.refused(lease_slot);
                if let Some(erasure) = lease_refused
                    .as_ref()
                    .and_then(|old| tombstone_in(old.as_ref()))
                {
                    return Ok(StoredSession::Erased(erasure));
                }
                let stored = self.store_session(record, buckets).await?;
                if lease_refused.is_none()
                    && let Err(e) = self
                        .release_creation_lease(uid, lease, LeaseRelease::Clean)
                        .await
                {
                    // The session is stored, and the lease runs out by itself.
                    tracing::warn!(error = %e, "creation lease not released");
                }
                Ok(stored)
            }
        }
    }
}
