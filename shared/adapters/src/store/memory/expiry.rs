//! This module keeps expiry ticks, bucket listings and the watcher's actions, on the model's
//! ledger.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{ExpiryBucket, SessionId, TickClaim, TickState, WatchAction, WatchOutcome};

use super::MemoryStore;
use crate::store::{BucketMember, BucketPage, ExpiryIndex, StoreError, StoreResult};

#[async_trait]
impl ExpiryIndex for MemoryStore {
    async fn claim_tick(
        &self,
        bucket: &ExpiryBucket,
        now: DateTime<Utc>,
    ) -> StoreResult<TickClaim> {
        let mut state = self.lock()?;
        let claim = TickState::claim(state.ticks.get(bucket), now);
        if claim == TickClaim::Claimed {
            state.ticks.insert(
                *bucket,
                TickState {
                    claimed_at: now,
                    sent_at: None,
                },
            );
        }
        Ok(claim)
    }

    async fn mark_tick_sent(&self, bucket: &ExpiryBucket, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(tick) = self.lock()?.ticks.get_mut(bucket) {
            tick.sent_at = Some(now);
        }
        Ok(())
    }

    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()> {
        self.lock()?.ticks.remove(bucket);
        Ok(())
    }

    /// Pages are ordered by session id, like the DynamoDB index's range key, and the token is the
    /// last id of the page.
    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage> {
        let after = page
            .map(|token| {
                SessionId::parse(token).map_err(|_| StoreError::Rejected("bad page token".into()))
            })
            .transpose()?;
        let state = self.lock()?;
        let mut members: Vec<BucketMember> = state
            .ledger
            .owners
            .values()
            .flat_map(|records| {
                records
                    .sessions
                    .iter()
                    .filter(|(_, fields)| fields.bucket(bucket.kind) == Some(*bucket))
                    .map(|(id, _)| BucketMember {
                        owner: records.owner,
                        session_id: *id,
                    })
            })
            .filter(|m| after.is_none_or(|after| m.session_id > after))
            .collect();
        members.sort_by_key(|m| m.session_id);
        let limit = limit.max(1) as usize;
        let next = (members.len() > limit).then(|| members[limit - 1].session_id.to_string());
        members.truncate(limit);
        Ok(BucketPage { members, next })
    }

    async fn watch(
        &self,
        action: WatchAction,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let mut state = self.lock()?;
        let decision = state
            .ledger
            .watch(action, member.owner, member.session_id, now);
        if let Some(entry) = decision.audit {
            state.audit(member.owner, entry);
        }
        Ok(decision.outcome)
    }
}
