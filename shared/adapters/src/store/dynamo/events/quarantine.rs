//! This module reads the quarantine back for a replay and marks what a replay did.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::store::dynamo::errors::conditional;
use crate::store::dynamo::items::{Key, QuarantineItem, Ts, from_item, to_value};
use crate::store::dynamo::updates::{Cond, Expression};
use crate::store::dynamo::{DynamoStore, schema};
use crate::store::{QuarantineEntry, QuarantineReader, Replayed, StoreResult};

#[async_trait]
impl QuarantineReader for DynamoStore {
    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>> {
        self.query_partition(schema::quarantine_pk(day))
            .await?
            .iter()
            .map(|item| Ok(from_item::<QuarantineItem>(item)?.into()))
            .collect()
    }

    async fn mark_replayed(&self, entry: &QuarantineEntry, replayed: &Replayed) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.set(schema::attr::REPLAYED_AT, to_value(&Ts(replayed.at))?)
            .set(schema::attr::REPLAY_OUTCOME, to_value(&replayed.outcome)?)
            .condition(&Cond::Present(schema::attr::PK));
        let key = Key::new(
            schema::quarantine_pk(entry.day()),
            schema::quarantine_sk(entry),
        );
        let result = self.update_item_of(&key, &expr)?.send().await;
        // If the entry is gone meanwhile (its retention ran out), there is nothing to mark.
        conditional("UpdateItem", result).map(|_| ())
    }
}
