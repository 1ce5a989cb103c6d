//! Webhook events: one transaction of marker, change and audit entry; the owner of a session
//! for events that name none; quarantine.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use idv_model::{ApplyOutcome, AuditEntry, EventApplication, Owner, SessionId};

use super::errors::{Transaction, conditional, sdk_error};
use super::items::{AuditItem, MarkerItem, QuarantineItem, from_item, to_item, to_value};
use super::updates::{Cond, Expression};
use super::{CONFLICT_RETRIES, DynamoStore, MARKER_TTL, disagreement, schema};
use crate::store::{
    Applied, EventLedger, QuarantineEntry, QuarantineReader, StoreError, StoreResult,
};

impl DynamoStore {
    /// The marker of a handled event: written only if the event was never handled before.
    fn marker(
        &self,
        event: &EventApplication,
        outcome: ApplyOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<aws_sdk_dynamodb::types::TransactWriteItem> {
        let marker = MarkerItem::new(event, outcome, now, MARKER_TTL);
        self.put(&marker, Some(&Cond::Absent(schema::attr::PK)))
    }

    fn audit_put(
        &self,
        owner: Owner,
        entry: &AuditEntry,
    ) -> StoreResult<aws_sdk_dynamodb::types::TransactWriteItem> {
        self.put(&AuditItem::new(owner, entry), None)
    }

    /// A repeat of a handled event: only its audit entry is written.
    async fn record_duplicate(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let outcome = ApplyOutcome::Duplicate;
        let entry = AuditEntry::for_event(event, outcome, String::new(), now);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&AuditItem::new(event.owner, &entry))?))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(Applied { outcome })
    }

    /// An event the model refused (stale or unchanged): remembered, so a repeat is a
    /// duplicate, and audited with the reason. A second request, only on this path.
    async fn record_refused(
        &self,
        event: &EventApplication,
        outcome: ApplyOutcome,
        entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let mut tx = Transaction::default();
        let marker = tx.push(self.marker(event, outcome, now)?);
        tx.push(self.audit_put(event.owner, entry)?);
        match tx.send(&self.client).await? {
            Ok(()) => Ok(Applied { outcome }),
            Err(c) if c.refused(marker).is_some() => self.record_duplicate(event, now).await,
            Err(c) => Err(c.unexpected("recording a refused event")),
        }
    }
}

#[async_trait]
impl EventLedger for DynamoStore {
    async fn apply_event(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let write = event.write(now);
        let (key, expr) = Self::write_expression(event.owner, &write, now)?;
        for attempt in 0..=CONFLICT_RETRIES {
            let mut tx = Transaction::default();
            let marker = tx.push(self.marker(event, ApplyOutcome::Applied, now)?);
            let change = tx.push(self.update(&key, &expr)?);
            tx.push(self.audit_put(event.owner, &event.applied_audit(now))?);
            let cancellation = match tx.send(&self.client).await? {
                Ok(()) => {
                    return Ok(Applied {
                        outcome: ApplyOutcome::Applied,
                    });
                }
                Err(cancellation) => cancellation,
            };
            if cancellation.refused(marker).is_some() {
                return self.record_duplicate(event, now).await;
            }
            if cancellation.conflicted() {
                Self::back_off(attempt).await;
                continue;
            }
            let Some(old) = cancellation.refused(change) else {
                return Err(cancellation.unexpected("applying an event"));
            };
            let records = Self::records_from(event.owner, &write, old)?;
            let decision = records.decide_event(event, now);
            if decision.outcome == ApplyOutcome::Applied {
                // The item returned is the one the condition refused: the condition and the
                // model disagree about it, and trying again would only repeat that.
                return Err(disagreement(&event.event_type));
            }
            return self
                .record_refused(event, decision.outcome, &decision.audit, now)
                .await;
        }
        Err(StoreError::Unavailable(
            "transaction kept conflicting".into(),
        ))
    }

    async fn find_session_owner(&self, session_id: SessionId) -> StoreResult<Option<Owner>> {
        let mut expr = Expression::default();
        expr.condition(&Cond::Eq(schema::attr::SESSION_ID, to_value(&session_id)?));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::index::BY_SESSION)
            .set_key_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        // The index projects keys only: the owner is the partition's.
        Ok(output.items().iter().find_map(|item| {
            let key: super::items::Key = from_item(item).ok()?;
            schema::parse_owner_pk(&key.pk)
        }))
    }

    async fn quarantine(&self, entry: &QuarantineEntry) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.condition(&Cond::Absent(schema::attr::PK));
        let result = with_condition!(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&QuarantineItem::from(entry))?)),
            expr
        )
        .send()
        .await;
        // The first copy wins; a repeat is not an error.
        conditional("PutItem", result).map(|_| ())
    }
}

#[async_trait]
impl QuarantineReader for DynamoStore {
    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>> {
        self.query_partition(schema::quarantine_pk(day))
            .await?
            .iter()
            .map(|item| Ok(from_item::<QuarantineItem>(item)?.into()))
            .collect()
    }
}
