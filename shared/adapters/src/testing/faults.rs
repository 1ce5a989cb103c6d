//! DynamoDB produces faults that the emulator does not. This interceptor answers the next
//! transactions with `TransactionConflict`, as DynamoDB does when two transactions race on one
//! item. The conflicting transaction never reaches the emulator, exactly as a cancelled one never
//! takes effect.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{Value, json};

/// Answers the next `n` `TransactWriteItems` requests with a `TransactionCanceledException`
/// whose first item raced another transaction.
#[derive(Debug, Clone, Default)]
pub struct TransactionConflicts {
    /// Counts the transactions let through before the first conflict.
    passing: Arc<AtomicUsize>,
    remaining: Arc<AtomicUsize>,
    injected: Arc<AtomicUsize>,
}

/// Marks a request that this interceptor answers itself, with its transaction's item count.
#[derive(Debug, Clone)]
struct Answered(usize);

impl Storable for Answered {
    type Storer = StoreReplace<Self>;
}

impl TransactionConflicts {
    pub fn next(n: usize) -> Self {
        Self::after(0, n)
    }

    /// Lets `passing` transactions through, then answers the `n` after them with a conflict, as
    /// when a function dies part of the way through a sequence of transactions.
    pub fn after(passing: usize, n: usize) -> Self {
        Self {
            passing: Arc::new(AtomicUsize::new(passing)),
            remaining: Arc::new(AtomicUsize::new(n)),
            injected: Arc::default(),
        }
    }

    /// Returns how many conflicts were answered so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    pub fn interceptor(&self) -> SharedInterceptor {
        SharedInterceptor::new(self.clone())
    }

    fn take_one(&self) -> bool {
        let passed = self
            .passing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if passed {
            return false;
        }
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl Intercept for TransactionConflicts {
    fn name(&self) -> &'static str {
        "TransactionConflicts"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let is_transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"));
        if !is_transaction || !self.take_one() {
            return Ok(());
        }
        let items = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .and_then(|body| body["TransactItems"].as_array().map(Vec::len))
            .unwrap_or(1);
        // The transaction is kept away from the table: a harmless read is sent in its place and
        // answered for below.
        let harmless = "{}";
        request
            .headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.ListTables");
        request
            .headers_mut()
            .insert("content-length", harmless.len().to_string());
        *request.body_mut() = SdkBody::from(harmless);
        cfg.interceptor_state().store_put(Answered(items));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Answered(items)) = cfg.load::<Answered>().cloned() else {
            return Ok(());
        };
        let mut reasons = vec![
            json!({ "Code": "TransactionConflict", "Message": "Transaction is ongoing for the item" }),
        ];
        reasons.resize(items.max(1), json!({ "Code": "None" }));
        let body = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        })
        .to_string();
        let mut response = Response::new(StatusCode::try_from(400)?, SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        self.injected.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
