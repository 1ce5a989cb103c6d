//! This module lists marked sessions and records sweep visits, on the model's ledger.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{Owner, SessionId, SweepGroup, SweepMark, Verdict, Write};

use super::MemoryStore;
use crate::store::{Marked, StoreResult, SweepIndex};

#[async_trait]
impl SweepIndex for MemoryStore {
    /// The order is the DynamoDB index's: by the mark's time, then (for equal times) by key.
    async fn marked_before(
        &self,
        group: SweepGroup,
        marked_by: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Marked>> {
        let state = self.lock()?;
        let mut marked: Vec<Marked> = state
            .ledger
            .owners
            .values()
            .flat_map(|records| {
                records.sessions.iter().filter_map(|(id, fields)| {
                    let mark = fields.sweep?;
                    (mark.group == group && mark.since <= marked_by).then_some(Marked {
                        owner: records.owner,
                        session_id: *id,
                        mark,
                    })
                })
            })
            .collect();
        marked.sort_by_key(|m| (m.mark.since, m.owner, m.session_id));
        marked.truncate(limit.max(1) as usize);
        Ok(marked)
    }

    async fn record_visit(
        &self,
        owner: Owner,
        session_id: SessionId,
        seen: SweepMark,
        next: Option<SweepMark>,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        if state.ledger.owner(owner).is_none() {
            return Ok(false);
        }
        let records = state.ledger.owner_mut(owner);
        let (verdict, after) = records.verdict(&Write::sweep_visit(session_id, seen, next));
        if let Some(after) = after {
            records.commit(after);
        }
        Ok(verdict == Verdict::Apply)
    }
}
