//! Accounts (reservation, creation, release) and the audit trail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{
    AccountRecord, AccountReservation, AuditEntry, Currency, Owner, RalioAccount, Uid,
};

use super::errors::{Transaction, conditional, sdk_error};
use super::items::{AccountItem, AuditItem, Key, from_item, to_item, to_value};
use super::schema::{self, attr};
use super::updates::{Cond, Expression, lease_lapsed};
use super::{DynamoStore, disagreement};
use crate::store::{AccountLedger, AuditLog, StoreResult};

#[async_trait]
impl AccountLedger for DynamoStore {
    async fn reserve_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountReservation> {
        let reservation = AccountRecord::reservation(uid, alias, currency, lease_until, now);
        let mut expr = Expression::default();
        expr.condition(&Cond::Or(vec![
            Cond::Absent(attr::PK),
            Cond::And(vec![
                Cond::Eq(attr::ACCOUNT_STATUS, to_value(&schema::ACCOUNT_PENDING)?),
                lease_lapsed(attr::LEASE_UNTIL, now)?,
            ]),
        ]));
        let result = with_condition!(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&AccountItem::from(&reservation))?)),
            expr
        )
        .return_values_on_condition_check_failure(
            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
        )
        .send()
        .await;
        let stored = match conditional("PutItem", result)? {
            Ok(_) => return Ok(AccountReservation::Reserved),
            Err(old) => old
                .map(|item| from_item::<AccountItem>(&item)?.record())
                .transpose()?,
        };
        match AccountRecord::decide_reservation(stored.as_ref(), now) {
            AccountReservation::Reserved => Err(disagreement("account reservation")),
            decision => Ok(decision),
        }
    }

    async fn complete_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        account: &RalioAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountRecord> {
        let record = AccountRecord::created(uid, alias, currency, account.clone(), now);
        let mut tx = Transaction::default();
        tx.push(self.put(&AccountItem::from(&record), None)?);
        tx.push(self.put(
            &AuditItem::new(Owner::User(uid), &record.created_audit()),
            None,
        )?);
        match tx.send(&self.client).await? {
            Ok(()) => Ok(record),
            Err(c) => Err(c.unexpected("recording a created account")),
        }
    }

    async fn release_account(&self, uid: Uid, alias: &str, currency: Currency) -> StoreResult<()> {
        let mut expr = Expression::default();
        expr.condition(&Cond::Eq(
            attr::ACCOUNT_STATUS,
            to_value(&schema::ACCOUNT_PENDING)?,
        ));
        let result = with_condition!(
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Key::account(uid, alias, currency).item()?)),
            expr
        )
        .send()
        .await;
        // Already created, or already gone: nothing to release.
        conditional("DeleteItem", result).map(|_| ())
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&AuditItem::new(owner, entry))?))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>> {
        self.query_partition(schema::audit_pk(owner))
            .await?
            .iter()
            .map(|item| Ok(from_item::<AuditItem>(item)?.entry()))
            .collect()
    }
}
