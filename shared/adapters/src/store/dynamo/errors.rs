//! This module says what DynamoDB's answers mean. SDK errors become [`StoreError`]s, failed
//! conditions give back the item as it was, and cancelled transactions are read per item.

use std::fmt::Debug;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{CancellationReason, TransactWriteItem};

use super::items::Item;
use crate::store::{StoreError, StoreResult};

/// Returns a store error for a failed request. Validation errors mean that the request itself is
/// wrong, and everything else is worth retrying later.
pub fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    if let Some(service) = err.as_service_error()
        && service.code() == Some("ValidationException")
    {
        return StoreError::Rejected(format!(
            "{operation}: {}",
            service.message().unwrap_or("validation failed")
        ));
    }
    StoreError::Unavailable(format!("{operation}: {}", DisplayErrorContext(&err)))
}

/// Single-item write errors implement this because they may be a failed condition.
pub trait ConditionFailure {
    /// Returns `Some(item as it was)` when the condition failed, where `None` inside means that
    /// there was no item.
    fn refused_item(&self) -> Option<Option<Item>>;
}

macro_rules! condition_failure {
    ($($error:ty),*) => {$(
        impl ConditionFailure for $error {
            fn refused_item(&self) -> Option<Option<Item>> {
                match self {
                    Self::ConditionalCheckFailedException(e) => Some(non_empty(e.item())),
                    _ => None,
                }
            }
        }
    )*};
}

condition_failure!(PutItemError, UpdateItemError, DeleteItemError);

fn non_empty(item: Option<&Item>) -> Option<Item> {
    item.filter(|item| !item.is_empty()).cloned()
}

/// Reads a single-item write's answer: `Ok(Ok(output))` when it applied, `Ok(Err(old item))` when
/// its condition failed, and `Err` for every other failure.
pub fn conditional<O, E, R>(
    operation: &str,
    result: Result<O, SdkError<E, R>>,
) -> StoreResult<Result<O, Option<Item>>>
where
    E: ConditionFailure + ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(output) => Ok(Ok(output)),
        Err(err) => match err.as_service_error().and_then(E::refused_item) {
            Some(item) => Ok(Err(item)),
            None => Err(sdk_error(operation, err)),
        },
    }
}

/// This is the position of one item in a [`Transaction`], by which its cancellation reason is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

/// This is a `TransactWriteItems` request under construction.
#[derive(Debug, Default)]
pub struct Transaction {
    items: Vec<TransactWriteItem>,
}

impl Transaction {
    pub fn push(&mut self, item: TransactWriteItem) -> Slot {
        self.items.push(item);
        Slot(self.items.len() - 1)
    }

    /// Returns `Ok(Ok(()))` when every item was written, and `Ok(Err(_))` when DynamoDB cancelled
    /// it.
    pub async fn send(self, client: &Client) -> StoreResult<Result<(), Cancellation>> {
        match client
            .transact_write_items()
            .set_transact_items(Some(self.items))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Ok(Err(Cancellation::new(e.cancellation_reasons().to_vec())))
                }
                _ => Err(sdk_error("TransactWriteItems", err)),
            },
        }
    }
}

/// Says why DynamoDB cancelled a transaction, item by item.
#[derive(Clone, PartialEq)]
pub struct Cancellation {
    reasons: Vec<CancellationReason>,
}

/// Only the codes are shown, because the old items may hold a hosted page's token.
impl std::fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.reasons.iter().map(|r| r.code().unwrap_or("None")))
            .finish()
    }
}

const CONDITION_FAILED: &str = "ConditionalCheckFailed";
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

impl Cancellation {
    pub fn new(reasons: Vec<CancellationReason>) -> Self {
        Self { reasons }
    }

    fn code(&self, slot: Slot) -> Option<&str> {
        self.reasons.get(slot.0).and_then(CancellationReason::code)
    }

    /// Returns `Some(item as it was)` when the condition of the item in `slot` failed.
    pub fn refused(&self, slot: Slot) -> Option<Option<Item>> {
        (self.code(slot) == Some(CONDITION_FAILED))
            .then(|| non_empty(self.reasons.get(slot.0).and_then(CancellationReason::item)))
    }

    /// Returns whether it raced another transaction on the same item, in which case trying again is
    /// right.
    pub fn conflicted(&self) -> bool {
        self.reasons
            .iter()
            .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
    }

    /// Reports anything else as unexpected, with every item's code.
    pub fn unexpected(&self, what: &str) -> StoreError {
        let codes: Vec<&str> = self
            .reasons
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        StoreError::Unavailable(format!("{what} cancelled: {}", codes.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;

    fn reason(code: &str, item: Option<Item>) -> CancellationReason {
        CancellationReason::builder()
            .code(code)
            .set_item(item)
            .build()
    }

    fn slots(n: usize) -> Vec<Slot> {
        (0..n).map(Slot).collect()
    }

    #[test]
    fn a_failed_condition_names_its_item_and_returns_the_old_one() {
        let old = Item::from([("state".to_owned(), AttributeValue::S("VERIFIED".into()))]);
        let c = Cancellation::new(vec![
            reason("None", None),
            reason(CONDITION_FAILED, Some(old.clone())),
            reason("None", None),
        ]);
        let [marker, change, audit] = slots(3)[..] else {
            unreachable!()
        };
        assert_eq!(c.refused(marker), None);
        assert_eq!(c.refused(change), Some(Some(old)));
        assert_eq!(c.refused(audit), None);
        assert!(!c.conflicted());
    }

    #[test]
    fn a_missing_item_is_told_apart_from_a_refused_one() {
        let c = Cancellation::new(vec![reason(CONDITION_FAILED, Some(Item::new()))]);
        assert_eq!(c.refused(Slot(0)), Some(None));
        let c = Cancellation::new(vec![reason(CONDITION_FAILED, None)]);
        assert_eq!(c.refused(Slot(0)), Some(None));
    }

    #[test]
    fn a_conflict_anywhere_is_a_conflict_and_other_codes_are_reported() {
        let c = Cancellation::new(vec![
            reason("None", None),
            reason(TRANSACTION_CONFLICT, None),
        ]);
        assert!(c.conflicted());
        assert_eq!(c.refused(Slot(1)), None);
        let c = Cancellation::new(vec![reason("ThrottlingError", None)]);
        assert!(!c.conflicted());
        assert!(
            c.unexpected("apply")
                .to_string()
                .contains("apply cancelled: ThrottlingError")
        );
        assert_eq!(c.refused(Slot(5)), None, "a slot past the reasons");
    }
}
