//! This module is the expiry watcher's view: one tick item per bucket, sessions listed by bucket
//! index, and the watcher's actions as one transaction of change and audit entry.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};
use idv_model::{
    BucketKind, ExpiryBucket, SessionId, TICK_ORPHANED_AFTER, TickClaim, TickState, WatchAction,
    WatchOutcome,
};

use super::erasure::not_erased;
use super::errors::{Transaction, conditional, sdk_error};
use super::items::{IndexPosition, Key, TickItem, Ts, from_item, to_item, to_value};
use super::schema::{self, attr};
use super::updates::{Cond, Expression};
use super::{CONFLICT_RETRIES, DynamoStore, disagreement};
use crate::store::{BucketMember, BucketPage, ExpiryIndex, StoreError, StoreResult};

fn bucket_index(kind: BucketKind) -> (&'static str, &'static str) {
    match kind {
        BucketKind::Warn => (schema::index::BY_WARN_BUCKET, attr::WARN_BUCKET),
        BucketKind::Expire => (schema::index::BY_EXPIRE_BUCKET, attr::EXPIRE_BUCKET),
    }
}

#[async_trait]
impl ExpiryIndex for DynamoStore {
    async fn claim_tick(
        &self,
        bucket: &ExpiryBucket,
        now: DateTime<Utc>,
    ) -> StoreResult<TickClaim> {
        // The claim succeeds when there is no tick, or one claimed over a minute ago whose message
        // was never marked sent.
        let mut expr = Expression::default();
        expr.condition(&Cond::Or(vec![
            Cond::Absent(attr::PK),
            Cond::And(vec![
                Cond::Absent(attr::SENT_AT),
                Cond::Lt(attr::CREATED_AT, to_value(&Ts(now - TICK_ORPHANED_AFTER))?),
            ]),
        ]));
        let result = with_condition!(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&TickItem::new(bucket, now))?)),
            expr
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
        Ok(match conditional("PutItem", result)? {
            Ok(_) => TickClaim::Claimed,
            Err(old) => {
                let old = old
                    .map(|item| from_item::<TickItem>(&item))
                    .transpose()?
                    .map(|tick| tick.state());
                match TickState::claim(old.as_ref(), now) {
                    TickClaim::Claimed => return Err(disagreement("tick claim")),
                    other => other,
                }
            }
        })
    }

    async fn mark_tick_sent(&self, bucket: &ExpiryBucket, now: DateTime<Utc>) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.set(attr::SENT_AT, to_value(&Ts(now))?)
            .condition(&Cond::Present(attr::PK));
        let result = self.update_item_of(&Key::tick(bucket), &expr)?.send().await;
        // If the tick is gone (given back meanwhile), there is nothing to mark.
        conditional("UpdateItem", result).map(|_| ())
    }

    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Key::tick(bucket).item()?))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage> {
        let (index, attribute) = bucket_index(bucket.kind);
        let start = page
            .map(|token| {
                let position: IndexPosition = serde_json::from_str(token)
                    .map_err(|_| StoreError::Rejected("bad page token".into()))?;
                to_item(&position)
            })
            .transpose()?;
        let mut expr = Expression::default();
        expr.condition(&Cond::Eq(attribute, to_value(&bucket.key())?));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .set_key_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .limit(limit.max(1) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        // The indexes project keys only, so the owner comes from the table key.
        let members = output
            .items()
            .iter()
            .map(|item| {
                let position: IndexPosition = from_item(item)?;
                Ok(BucketMember {
                    owner: schema::parse_owner_pk(&position.pk)
                        .ok_or_else(|| StoreError::Corrupt("session key".into()))?,
                    session_id: SessionId::parse(&position.session_id)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let next = match output.last_evaluated_key() {
            Some(last) if !last.is_empty() => {
                let position: IndexPosition = from_item(last)?;
                Some(
                    serde_json::to_string(&position)
                        .map_err(|e| StoreError::Rejected(e.to_string()))?,
                )
            }
            _ => None,
        };
        Ok(BucketPage { members, next })
    }

    async fn watch(
        &self,
        action: WatchAction,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let write = action.write(member.session_id, now);
        let (key, expr) = self.write_expression(member.owner, &write, now)?;
        let audit = self.audit_item(member.owner, &action.audit(member.session_id, now));
        for attempt in 0..=CONFLICT_RETRIES {
            let mut tx = Transaction::default();
            let change = tx.push(self.update(&key, &expr)?);
            tx.push(self.put(&audit, None)?);
            let tombstone = tx.push(self.check(&Key::profile(member.owner), &not_erased())?);
            let cancellation = match tx.send(&self.client).await? {
                Ok(()) => return Ok(WatchOutcome::Changed),
                Err(cancellation) => cancellation,
            };
            // An erased user's session is not the watcher's any more.
            if cancellation.refused(tombstone).is_some() {
                return Ok(WatchOutcome::Skipped);
            }
            if cancellation.conflicted() {
                Self::back_off(attempt).await;
                continue;
            }
            let Some(old) = cancellation.refused(change) else {
                return Err(cancellation.unexpected(&audit.action));
            };
            let records = Self::records_from(member.owner, &write, old)?;
            return match records.watch(action, member.session_id, now).outcome {
                WatchOutcome::Changed => Err(disagreement(&audit.action)),
                outcome => Ok(outcome),
            };
        }
        Err(StoreError::Unavailable(
            "watcher transaction kept conflicting".into(),
        ))
    }
}
