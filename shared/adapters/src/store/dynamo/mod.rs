//! The DynamoDB store uses one table, conditional writes and transactions. It executes the model's
//! writes ([`idv_model::Write`]) and asks the model what a refusal means, so it decides nothing
//! itself.
//!
//! | file | what |
//! |---|---|
//! | `schema` | key formats, indexes, attribute names |
//! | `items` | the items as serde structs, both ways |
//! | `updates` | update and condition expressions, guards written out |
//! | `errors` | SDK errors, failed conditions, cancelled transactions |
//! | `events` | webhook events, owners, quarantine |
//! | `users` | reading a user, storing sessions, the creation lease |
//! | `expiry` | ticks, bucket listings, watcher actions |
//! | `accounts` | accounts and the audit trail |
//! | `table` | creating the table |

use std::time::Duration as StdDuration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, Utc};
use idv_model::{AuditEntry, Owner, OwnerRecords, SessionGuard, SessionId, SessionPatch, Write};
use serde::Serialize;

/// Puts an [`updates::Expression`]'s condition, names and values on any of the SDK's request
/// builders, which share these setters but not a trait.
macro_rules! with_condition {
    ($builder:expr, $expr:expr) => {
        $builder
            .set_condition_expression($expr.condition_expression())
            .set_expression_attribute_names($expr.names())
            .set_expression_attribute_values($expr.values())
    };
}

/// Puts an expression's update clauses, condition, names and values on an update builder.
macro_rules! with_update {
    ($builder:expr, $expr:expr) => {
        with_condition!(
            $builder.set_update_expression($expr.update_expression()),
            $expr
        )
    };
}

mod accounts;
mod erasure;
mod errors;
mod events;
mod expiry;
pub mod items;
pub mod schema;
mod sweep;
pub mod table;
mod updates;
mod users;

pub use erasure::ERASURE_BATCH;
pub use errors::Cancellation;

use errors::sdk_error;
use items::{Identity, Item, Key, ProfileItem, SessionItem, from_item, to_item, to_value};
use schema::{attr, entity};
use updates::{Cond, Expression, kyc_condition, session_condition};

use crate::aws::OnFirstUse;
use crate::store::{StoreError, StoreResult};

/// Event markers are kept this long for de-duplication.
pub const MARKER_TTL: Duration = Duration::days(90);

/// Transactions that raced another on the same item are tried this many more times.
const CONFLICT_RETRIES: u32 = 3;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: OnFirstUse<Client>,
    table: String,
    /// How long a user's records are kept after their last change (`COMPLIANCE_RETENTION`).
    retention: Duration,
}

impl DynamoStore {
    pub fn new(client: impl Into<OnFirstUse<Client>>, table: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            table: table.into(),
            retention: idv_model::erasure::DEFAULT_RETENTION,
        }
    }

    /// Keeps a user's records for `retention` after each change to them, instead of the default
    /// five years.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Returns the TTL (epoch seconds) of a user's record changed at `at`. It is written in the
    /// same request as the change, so that retention costs no round trip.
    fn retained(&self, at: DateTime<Utc>) -> i64 {
        (at + self.retention).timestamp()
    }

    /// Returns an owner's audit entry as stored, kept as long as the records it is about.
    fn audit_item(&self, owner: Owner, entry: &AuditEntry) -> items::AuditItem {
        items::AuditItem {
            ttl: Some(self.retained(entry.at)),
            ..items::AuditItem::new(owner, entry)
        }
    }

    /// Makes one cheap request that opens the connection (TLS included) during INIT, so that the
    /// first invocation does not pay for it. It reads the table's description, never an item.
    pub async fn prime(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("DescribeTable", e))
    }

    /// Pauses before retrying a conflicted transaction, longer with each attempt.
    async fn back_off(attempt: u32) {
        tokio::time::sleep(StdDuration::from_millis(20 << attempt)).await;
    }

    /// Returns a put of a whole item, for a transaction.
    fn put(
        &self,
        item: &impl Serialize,
        condition: Option<&Cond>,
    ) -> StoreResult<TransactWriteItem> {
        let mut expr = Expression::default();
        if let Some(condition) = condition {
            expr.condition(condition);
        }
        let put = with_condition!(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(item)?)),
            expr
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Builds a single `UpdateItem` of `key` with `expr`'s update, condition, names and values.
    fn update_item_of(
        &self,
        key: &Key,
        expr: &Expression,
    ) -> StoreResult<aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder>
    {
        Ok(with_update!(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.item()?)),
            expr
        ))
    }

    /// Returns an update of one item, for a transaction.
    fn update(&self, key: &Key, expr: &Expression) -> StoreResult<TransactWriteItem> {
        let update = with_update!(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key.item()?)),
            expr
        )
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Returns the key and expression of a model write to `owner`'s records, with the record's
    /// retention counted from `now`.
    fn write_expression(
        &self,
        owner: Owner,
        write: &Write,
        now: DateTime<Utc>,
    ) -> StoreResult<(Key, Expression)> {
        let (key, mut expr) = Self::change_expression(owner, write, now)?;
        expr.set(attr::TTL, to_value(&self.retained(now))?);
        Ok((key, expr))
    }

    fn change_expression(
        owner: Owner,
        write: &Write,
        now: DateTime<Utc>,
    ) -> StoreResult<(Key, Expression)> {
        match write {
            Write::Session {
                session_id,
                guard,
                patch,
            } => Self::session_expression(owner, *session_id, *guard, patch),
            Write::Kyc { guard, patch } => {
                let mut expr = Expression::default();
                expr.set_item(to_item(&Identity::new(entity::PROFILE, owner))?)
                    .set_item(to_item(&ProfileItem::from(&patch.set))?)
                    .set("updatedAt", to_value(&items::Ts(now))?)
                    .condition(&kyc_condition(*guard)?);
                Ok((Key::profile(owner), expr))
            }
        }
    }

    /// Returns the key and expression of a model write to one session.
    fn session_expression(
        owner: Owner,
        session_id: SessionId,
        guard: SessionGuard,
        patch: &SessionPatch,
    ) -> StoreResult<(Key, Expression)> {
        let mut expr = Expression::default();
        expr.set_item(to_item(&Identity::new(entity::SESSION, owner))?)
            .set_item(to_item(&SessionItem {
                session_id: Some(session_id),
                ..SessionItem::from(&patch.set)
            })?)
            .fill_item(to_item(&SessionItem::from(&patch.fill))?)
            .condition(&session_condition(guard)?);
        if patch.unsweep {
            expr.remove(attr::SWEEP)
                .remove(attr::SWEEP_AT)
                .remove(attr::SWEEP_VISITS);
        }
        Ok((Key::session(owner, session_id), expr))
    }

    /// Returns the owner's records as far as the item that a write was refused on tells, which is
    /// enough for the model to say what the refusal means.
    fn records_from(owner: Owner, write: &Write, old: Option<Item>) -> StoreResult<OwnerRecords> {
        let mut records = OwnerRecords::new(owner);
        let Some(old) = old else {
            return Ok(records);
        };
        match write {
            Write::Session { session_id, .. } => {
                let fields = from_item::<SessionItem>(&old)?.fields()?;
                records.sessions.insert(*session_id, fields);
            }
            Write::Kyc { .. } => records.kyc = from_item::<ProfileItem>(&old)?.kyc(),
        }
        Ok(records)
    }

    /// Returns every item of a partition, following pages.
    async fn query_partition(&self, pk: String) -> StoreResult<Vec<Item>> {
        self.query_keys(&Cond::Eq(schema::attr::PK, to_value(&pk)?))
            .await
    }

    /// Returns every item whose key meets `condition` (a partition, optionally a sort-key range),
    /// following pages.
    async fn query_keys(&self, condition: &Cond) -> StoreResult<Vec<Item>> {
        let mut expr = Expression::default();
        expr.condition(condition);
        self.client
            .query()
            .table_name(&self.table)
            .set_key_condition_expression(expr.condition_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error("Query", e))
    }
}

/// Reports that DynamoDB refused a write on an item that the model says it may apply to. The item
/// returned with a refusal is the one the condition was checked on, so this is not a race: the
/// stored item holds something that the model does not read the way the condition does. A person
/// must look.
fn disagreement(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{what}: the stored item refused a write the model allows"
    ))
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Rejected(err.to_string())
}
