//! Webhook events are written as one transaction of marker, change and audit entry. This module
//! also finds the owner of a session for events that name none, and keeps quarantined payloads.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use idv_model::{
    Activation, AuditEntry, Disagreement, EventId, EventOutcome, Owner, Plan, Refusal, SessionId,
};

use super::erasure::{erased, not_erased};
use super::errors::{Transaction, conditional, sdk_error};
use super::items::{
    Key, KycOwnerItem, MarkerItem, QuarantineItem, Ts, from_item, to_item, to_value,
};
use super::updates::{Cond, Expression};
use super::{CONFLICT_RETRIES, DynamoStore, MARKER_TTL, disagreement, schema};
use crate::store::{EventStore, QuarantineEntry, StoreError, StoreResult};

mod activation;
mod quarantine;

impl DynamoStore {
    /// Returns the marker of a handled event, which is written only if the event was never handled
    /// before.
    fn marker_of(
        &self,
        event_id: EventId,
        event_type: &str,
        outcome: EventOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        let marker = MarkerItem::new(event_id, event_type, outcome, now, MARKER_TTL);
        self.put(&marker, Some(&Cond::Absent(schema::attr::PK)))
    }

    fn marker(&self, plan: &Plan<'_>, outcome: EventOutcome) -> StoreResult<TransactWriteItem> {
        self.marker_of(plan.event_id(), &plan.event.event_type, outcome, plan.now)
    }

    fn audit_put(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<TransactWriteItem> {
        self.put(&self.audit_item(owner, entry), None)
    }

    /// Records a repeat of a handled event. It is audited the first time only, so that replays do
    /// not swell the trail, and the marker remembers that the repeat was audited.
    async fn record_duplicate(&self, plan: &Plan<'_>) -> StoreResult<EventOutcome> {
        let mut flag = Expression::default();
        flag.set(schema::attr::REPEAT_AUDITED_AT, to_value(&Ts(plan.now))?)
            .condition(&Cond::And(vec![
                Cond::Present(schema::attr::PK),
                Cond::Absent(schema::attr::REPEAT_AUDITED_AT),
            ]));
        let mut tx = Transaction::default();
        let flagged = tx.push(self.update(&Key::event(plan.event_id()), &flag)?);
        tx.push(self.audit_put(plan.owner(), &plan.repeat_audit())?);
        let tombstone = tx.push(self.check(&Key::profile(plan.owner()), &not_erased())?);
        match tx.send(&self.client).await? {
            Ok(()) => {}
            Err(c) if c.refused(tombstone).is_some() => {
                return self.count_erased(plan.owner()).await;
            }
            // The repeat was audited before, or another repeat is being audited right now.
            Err(c) if c.refused(flagged).is_some() || c.conflicted() => {}
            Err(c) => return Err(c.unexpected("auditing a repeated event")),
        }
        Ok(EventOutcome::Duplicate)
    }

    /// Writes the `kycId` that the plan pairs with its owner, with its marker. It is idempotent,
    /// because the same pairing is the same item.
    fn pair_kyc_id(&self, tx: &mut Transaction, plan: &Plan<'_>) -> StoreResult<()> {
        if let Some(kyc_id) = plan.kyc_pairing() {
            tx.push(self.put(
                &KycOwnerItem {
                    ttl: Some(self.retained(plan.now)),
                    ..KycOwnerItem::new(kyc_id, plan.owner())
                },
                None,
            )?);
        }
        Ok(())
    }

    /// Remembers an event whose write was refused (stale or unchanged), so that a repeat is a
    /// duplicate, and audits it with the reason. This second request is made only on this path.
    async fn record_refused(
        &self,
        plan: &Plan<'_>,
        refusal: &Refusal,
    ) -> StoreResult<EventOutcome> {
        let mut tx = Transaction::default();
        let marker = tx.push(self.marker(plan, refusal.outcome)?);
        tx.push(self.audit_put(plan.owner(), &refusal.audit)?);
        self.pair_kyc_id(&mut tx, plan)?;
        let tombstone = tx.push(self.check(&Key::profile(plan.owner()), &not_erased())?);
        match tx.send(&self.client).await? {
            Ok(()) => Ok(refusal.outcome),
            Err(c) if c.refused(tombstone).is_some() => self.count_erased(plan.owner()).await,
            Err(c) if c.refused(marker).is_some() => self.record_duplicate(plan).await,
            Err(c) => Err(c.unexpected("recording a refused event")),
        }
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn execute(&self, plan: &Plan<'_>) -> StoreResult<EventOutcome> {
        let (key, mut expr) = self.write_expression(plan.owner(), &plan.write, plan.now)?;
        // An erased owner's tombstone is on the profile: a write to the profile checks it itself,
        // and any other write checks it beside, in the same request.
        let on_profile = key == Key::profile(plan.owner());
        if on_profile {
            expr.condition(&not_erased());
        }
        for attempt in 0..=CONFLICT_RETRIES {
            let mut tx = Transaction::default();
            let marker = tx.push(self.marker(plan, EventOutcome::Applied)?);
            let change = tx.push(self.update(&key, &expr)?);
            tx.push(self.audit_put(plan.owner(), &plan.audit)?);
            self.pair_kyc_id(&mut tx, plan)?;
            let tombstone = if on_profile {
                change
            } else {
                tx.push(self.check(&Key::profile(plan.owner()), &not_erased())?)
            };
            let cancellation = match tx.send(&self.client).await? {
                Ok(()) => return Ok(EventOutcome::Applied),
                Err(cancellation) => cancellation,
            };
            if erased(&cancellation, tombstone, on_profile) {
                return self.count_erased(plan.owner()).await;
            }
            if cancellation.refused(marker).is_some() {
                return self.record_duplicate(plan).await;
            }
            if cancellation.conflicted() {
                Self::back_off(attempt).await;
                continue;
            }
            let Some(old) = cancellation.refused(change) else {
                return Err(cancellation.unexpected("applying an event"));
            };
            let records = Self::records_from(plan.owner(), &plan.write, old)?;
            let refusal = plan
                .explain_refusal(&records)
                .map_err(|Disagreement| disagreement(&plan.event.event_type))?;
            return self.record_refused(plan, &refusal).await;
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
        // The index projects keys only, so the owner is the partition's.
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
        audited: Option<(Owner, &AuditEntry)>,
    ) -> StoreResult<()> {
        if let Some((owner, note)) = audited {
            for attempt in 0..=CONFLICT_RETRIES {
                let mut tx = Transaction::default();
                let kept = tx.push(self.put(
                    &QuarantineItem::from(entry),
                    Some(&Cond::Absent(schema::attr::PK)),
                )?);
                tx.push(self.audit_put(owner, note)?);
                let tombstone = tx.push(self.check(&Key::profile(owner), &not_erased())?);
                match tx.send(&self.client).await? {
                    Ok(()) => return Ok(()),
                    // A payload naming an erased user is not kept: only its count is.
                    Err(c) if c.refused(tombstone).is_some() => {
                        return self.count_erased(owner).await.map(|_| ());
                    }
                    // The payload was kept (and audited) before, and the first copy wins.
                    Err(c) if c.refused(kept).is_some() => return Ok(()),
                    // A concurrent delivery is keeping the same payload.
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
        // The first copy wins, so a repeat is not an error.
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
        let output = self
            .update_item_of(&Key::receipt(event_id), &expr)?
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
    ) -> StoreResult<EventOutcome> {
        // The account is recorded, or the activation is kept until it is. An account recorded
        // between the two looks is found on the next.
        for _ in 0..3 {
            let applied = match self.account_owner(&activation.account_id).await? {
                Some(owner) => self.activate_recorded(activation, &owner, now).await?,
                None => self.keep_activation(activation, now).await?,
            };
            if let Some(outcome) = applied {
                return Ok(outcome);
            }
        }
        Err(StoreError::Unavailable(
            "an account kept appearing while its activation was kept".into(),
        ))
    }
}
