//! This module lists marked sessions through the sweep's sparse index, and records visits with one
//! conditional update each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{Owner, SessionId, SweepGroup, SweepMark, Write};
use serde::Deserialize;

use super::DynamoStore;
use super::errors::{conditional, sdk_error};
use super::items::{Ts, from_item, sweep_mark, to_value};
use super::schema::{self, attr};
use super::updates::{Cond, Expression};
use crate::store::{Marked, StoreError, StoreResult, SweepIndex};

/// This is an entry of the sweep index: the table's keys and the projected mark.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SweepEntry {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    sweep: String,
    sweep_at: Ts,
    #[serde(default)]
    sweep_visits: Option<u32>,
}

impl SweepEntry {
    fn marked(self) -> StoreResult<Marked> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("sweep index entry: {what}"));
        let owner = schema::parse_owner_pk(&self.pk).ok_or_else(|| corrupt("owner key"))?;
        let session_id = self
            .sk
            .strip_prefix(schema::SESSION_SK_PREFIX)
            .and_then(|id| SessionId::parse(id).ok())
            .ok_or_else(|| corrupt("session key"))?;
        let mark = sweep_mark(Some(&self.sweep), Some(self.sweep_at), self.sweep_visits)?
            .ok_or_else(|| corrupt("mark"))?;
        Ok(Marked {
            owner,
            session_id,
            mark,
        })
    }
}

#[async_trait]
impl SweepIndex for DynamoStore {
    async fn marked_before(
        &self,
        group: SweepGroup,
        marked_by: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Marked>> {
        let mut expr = Expression::default();
        expr.condition(&Cond::And(vec![
            Cond::Eq(attr::SWEEP, to_value(&group.as_str())?),
            Cond::Le(attr::SWEEP_AT, to_value(&Ts(marked_by))?),
        ]));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::index::BY_SWEEP)
            .set_key_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .limit(limit.max(1) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        // An index entry that does not decode is left out, so that it cannot hold up every run.
        Ok(output
            .items()
            .iter()
            .filter_map(
                |item| match from_item::<SweepEntry>(item).and_then(SweepEntry::marked) {
                    Ok(marked) => Some(marked),
                    Err(err) => {
                        tracing::error!(
                            error = err.kind(),
                            "a sweep index entry does not decode: skipped"
                        );
                        None
                    }
                },
            )
            .collect())
    }

    async fn record_visit(
        &self,
        owner: Owner,
        session_id: SessionId,
        seen: SweepMark,
        next: Option<SweepMark>,
    ) -> StoreResult<bool> {
        let Write::Session {
            session_id,
            guard,
            patch,
        } = Write::sweep_visit(session_id, seen, next)
        else {
            unreachable!("a sweep visit writes a session");
        };
        let (key, expr) = Self::session_expression(owner, session_id, guard, &patch)?;
        let result = self.update_item_of(&key, &expr)?.send().await;
        Ok(conditional("UpdateItem", result)?.is_ok())
    }
}
