//! Webhook events: one transaction of marker, change and audit entry; the owner of a session
//! for events that name none; quarantine.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use idv_model::{
    Activation, ApplyOutcome, AuditEntry, EventApplication, EventId, Owner, SessionId,
};

use super::errors::{Transaction, conditional, sdk_error};
use super::items::{
    AuditItem, Key, KycOwnerItem, MarkerItem, QuarantineItem, Ts, from_item, to_item, to_value,
};
use super::updates::{Cond, Expression};
use super::{CONFLICT_RETRIES, DynamoStore, MARKER_TTL, disagreement, schema};
use crate::store::{Applied, EventLedger, QuarantineEntry, StoreError, StoreResult};

mod activation;
mod quarantine;

impl DynamoStore {
    /// The marker of a handled event: written only if the event was never handled before.
    fn marker_of(
        &self,
        event_id: EventId,
        event_type: &str,
        outcome: ApplyOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        let marker = MarkerItem::new(event_id, event_type, outcome, now, MARKER_TTL);
        self.put(&marker, Some(&Cond::Absent(schema::attr::PK)))
    }

    fn marker(
        &self,
        event: &EventApplication,
        outcome: ApplyOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        self.marker_of(event.event_id, &event.event_type, outcome, now)
    }

    fn audit_put(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<TransactWriteItem> {
        self.put(&AuditItem::new(owner, entry), None)
    }

    /// A repeat of a handled event: audited the first time only, so replays do not swell the
    /// trail. The marker remembers that the repeat was audited.
    async fn record_duplicate(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let outcome = ApplyOutcome::Duplicate;
        let entry = AuditEntry::for_event(event, outcome, String::new(), now);
        let mut flag = Expression::default();
        flag.set(schema::attr::REPEAT_AUDITED_AT, to_value(&Ts(now))?)
            .condition(&Cond::And(vec![
                Cond::Present(schema::attr::PK),
                Cond::Absent(schema::attr::REPEAT_AUDITED_AT),
            ]));
        let mut tx = Transaction::default();
        let flagged = tx.push(self.update(&Key::event(event.event_id), &flag)?);
        tx.push(self.audit_put(event.owner, &entry)?);
        match tx.send(&self.client).await? {
            Ok(()) => {}
            // Audited before; or another repeat is being audited right now.
            Err(c) if c.refused(flagged).is_some() || c.conflicted() => {}
            Err(c) => return Err(c.unexpected("auditing a repeated event")),
        }
        Ok(Applied { outcome })
    }

    /// The `kycId` the event pairs with its owner, written with its marker (idempotent: the
    /// same pairing is the same item).
    fn pair_kyc_id(&self, tx: &mut Transaction, event: &EventApplication) -> StoreResult<()> {
        if let Some(kyc_id) = event.kyc_pairing() {
            tx.push(self.put(&KycOwnerItem::new(kyc_id, event.owner), None)?);
        }
        Ok(())
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
        self.pair_kyc_id(&mut tx, event)?;
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
            tx.push(self.audit_put(event.owner, &AuditEntry::applied(event, now))?);
            self.pair_kyc_id(&mut tx, event)?;
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
            let Some(audit) = decision.audit else {
                return Err(disagreement(&event.event_type));
            };
            return self
                .record_refused(event, decision.outcome, &audit, now)
                .await;
        }
        Err(StoreError::Unavailable(
            "transaction kept conflicting".into(),
        ))
    }

    async fn find_session_owners(&self, session_id: SessionId) -> StoreResult<Vec<Owner>> {
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
        let owners: std::collections::BTreeSet<Owner> = output
            .items()
            .iter()
            .filter_map(|item| {
                let key: super::items::Key = from_item(item).ok()?;
                schema::parse_owner_pk(&key.pk)
            })
            .collect();
        Ok(owners.into_iter().collect())
    }

    async fn find_kyc_id_owners(&self, kyc_id: i64) -> StoreResult<Vec<Owner>> {
        Ok(self
            .query_partition(schema::kyc_id_pk(kyc_id))
            .await?
            .iter()
            .map(from_item::<KycOwnerItem>)
            .collect::<StoreResult<Vec<_>>>()?
            .iter()
            .filter_map(KycOwnerItem::owner)
            .collect())
    }

    async fn quarantine(
        &self,
        entry: &QuarantineEntry,
        noted: Option<(Owner, &AuditEntry)>,
    ) -> StoreResult<()> {
        if let Some((owner, note)) = noted {
            for attempt in 0..=CONFLICT_RETRIES {
                let mut tx = Transaction::default();
                let kept = tx.push(self.put(
                    &QuarantineItem::from(entry),
                    Some(&Cond::Absent(schema::attr::PK)),
                )?);
                tx.push(self.audit_put(owner, note)?);
                match tx.send(&self.client).await? {
                    Ok(()) => return Ok(()),
                    // Kept (and noted) before: the first copy wins.
                    Err(c) if c.refused(kept).is_some() => return Ok(()),
                    // The same payload being kept by a concurrent delivery.
                    Err(c) if c.conflicted() => Self::back_off(attempt).await,
                    Err(c) => return Err(c.unexpected("keeping a payload")),
                }
            }
            return Err(StoreError::Unavailable(
                "keeping a payload kept conflicting".into(),
            ));
        }
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

    async fn first_receipt(
        &self,
        event_id: EventId,
        now: DateTime<Utc>,
        keep_for: chrono::Duration,
    ) -> StoreResult<DateTime<Utc>> {
        let mut expr = Expression::default();
        expr.fill(schema::attr::FIRST_RECEIVED_AT, to_value(&Ts(now))?)
            .fill(schema::attr::TTL, to_value(&(now + keep_for).timestamp())?);
        let output = with_update!(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Key::receipt(event_id).item()?)),
            expr
        )
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateItem", e))?;
        #[derive(serde::Deserialize)]
        struct Receipt {
            #[serde(rename = "firstReceivedAt")]
            first_received_at: Ts,
        }
        let first = output.attributes().map(from_item::<Receipt>).transpose()?;
        Ok(first.map_or(now, |r| r.first_received_at.0))
    }

    async fn apply_activation(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        // The account is recorded, or the activation is kept until it is; an account recorded
        // between the two looks is found on the next.
        for _ in 0..3 {
            let applied = match self.account_owner(&activation.account_id).await? {
                Some(owner) => self.activate_recorded(activation, &owner, now).await?,
                None => self.keep_activation(activation, now).await?,
            };
            if let Some(outcome) = applied {
                return Ok(Applied { outcome });
            }
        }
        Err(StoreError::Unavailable(
            "an account kept appearing while its activation was kept".into(),
        ))
    }
}
