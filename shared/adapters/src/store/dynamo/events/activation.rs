//! An account's activation is applied to the recorded account, or kept until the account is
//! recorded, because an activation can arrive before the account it names.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use idv_model::{
    AccountGuard, AccountId, Activation, AuditEntry, EventOutcome, Owner, WaitingActivation,
};

use crate::store::StoreResult;
use crate::store::dynamo::erasure::not_erased;
use crate::store::dynamo::errors::{Transaction, sdk_error};
use crate::store::dynamo::items::{
    AccountItem, AccountOwnerItem, ActivationItem, Item, Key, Ts, from_item, to_item, to_value,
};
use crate::store::dynamo::updates::{Cond, Expression, account_condition};
use crate::store::dynamo::{DynamoStore, disagreement, schema};

impl DynamoStore {
    /// Returns whose the Ralio account `id` is, if it is recorded.
    pub(super) async fn account_owner(
        &self,
        id: &AccountId,
    ) -> StoreResult<Option<AccountOwnerItem>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Key::account_owner(id).item()?))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        output.item().map(from_item).transpose()
    }

    /// Activates a recorded account: the marker, `activatedAt` on the account and the audit entry,
    /// in one transaction.
    pub(super) async fn activate_recorded(
        &self,
        activation: &Activation,
        owner: &AccountOwnerItem,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EventOutcome>> {
        let (uid, event_id, event_type) =
            (owner.owner_id, activation.event_id, &activation.event_type);
        if owner.erased_at.is_some() {
            return self.count_erased(Owner::User(uid)).await.map(Some);
        }
        let mut expr = Expression::default();
        expr.set(
            schema::attr::ACTIVATED_AT,
            to_value(&Ts(activation.stamp.at))?,
        )
        .set("updatedAt", to_value(&Ts(now))?)
        .condition(&Cond::And(vec![
            account_condition(AccountGuard::Created)?,
            Cond::Absent(schema::attr::ACTIVATED_AT),
        ]));
        let audit = AuditEntry::activation(
            activation.account_id.as_str(),
            owner.currency,
            activation.stamp,
            now,
        );
        let mut tx = Transaction::default();
        let marker = tx.push(self.marker_of(event_id, event_type, EventOutcome::Applied, now)?);
        let account =
            tx.push(self.update(&Key::account(uid, &owner.alias, owner.currency), &expr)?);
        tx.push(self.audit_put(Owner::User(uid), &audit)?);
        let tombstone = tx.push(self.check(&Key::profile(Owner::User(uid)), &not_erased())?);
        let cancellation = match tx.send(&self.client).await? {
            Ok(()) => return Ok(Some(EventOutcome::Applied)),
            Err(c) => c,
        };
        if cancellation.refused(tombstone).is_some() {
            return self.count_erased(Owner::User(uid)).await.map(Some);
        }
        if cancellation.refused(marker).is_some() {
            return Ok(Some(EventOutcome::Duplicate));
        }
        let Some(old) = cancellation.refused(account) else {
            return Err(cancellation.unexpected("activating an account"));
        };
        let record = old
            .map(|item| from_item::<AccountItem>(&item)?.record())
            .transpose()?;
        // If the account is already active, the event is remembered and nothing else changes.
        match record.and_then(|r| r.activate(activation.stamp.at, now)) {
            None => {
                let mut tx = Transaction::default();
                let marker =
                    tx.push(self.marker_of(event_id, event_type, EventOutcome::Unchanged, now)?);
                match tx.send(&self.client).await? {
                    Ok(()) => Ok(Some(EventOutcome::Unchanged)),
                    Err(c) if c.refused(marker).is_some() => Ok(Some(EventOutcome::Duplicate)),
                    Err(c) => Err(c.unexpected("recording an activation")),
                }
            }
            Some(_) => Err(disagreement("account activation")),
        }
    }

    /// Keeps an activation whose account is not recorded, unless the account appeared meanwhile, in
    /// which case it returns `None` and the caller looks again.
    pub(super) async fn keep_activation(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EventOutcome>> {
        let outcome = EventOutcome::Deferred;
        let mut tx = Transaction::default();
        let marker =
            tx.push(self.marker_of(activation.event_id, &activation.event_type, outcome, now)?);
        let waiting = WaitingActivation {
            activation: activation.clone(),
            received: now,
            seen_as: None,
        };
        // The first announcement is kept. A later one of the same account changes nothing under its
        // id, and its copy by day is one more entry that a lookup reads at most once.
        let copy = ActivationItem::by_day(&waiting);
        let copy_key = Key::new(copy.pk.clone(), copy.sk.clone());
        let mut keep = Expression::default();
        keep.fill_item(without_key(to_item(&ActivationItem::by_account(&waiting))?))
            .add(
                schema::attr::COPIES,
                AttributeValue::Ss(vec![copy_key.sk.clone()]),
            );
        tx.push(self.update(&Key::activation(&activation.account_id), &keep)?);
        let mut file = Expression::default();
        file.fill_item(without_key(to_item(&copy)?));
        tx.push(self.update(&copy_key, &file)?);
        let unknown = tx.push(self.check(
            &Key::account_owner(&activation.account_id),
            &Cond::Absent(schema::attr::PK),
        )?);
        match tx.send(&self.client).await? {
            Ok(()) => Ok(Some(outcome)),
            Err(c) if c.refused(marker).is_some() => Ok(Some(EventOutcome::Duplicate)),
            Err(c) if c.refused(unknown).is_some() => Ok(None),
            Err(c) => Err(c.unexpected("keeping an activation")),
        }
    }
}

/// Returns an item's attributes without its key, to fill in by an update.
fn without_key(mut item: Item) -> Item {
    item.remove(schema::attr::PK);
    item.remove(schema::attr::SK);
    item
}
