//! This module feeds due ticks to the expiry watcher, as Lambda's SQS event source mapping
//! would.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use idv_adapters::clock::Clock;
use idv_adapters::queue::{MemoryQueue, SqsVisibility};
use idv_adapters::store::ExpiryIndex;
use idv_expiry_watcher::{Parts, TickOutcome, Watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The queue the ticks wait in.
pub(crate) enum Pump {
    Memory(Arc<MemoryQueue>),
    Sqs(aws_sdk_sqs::Client, String),
}

/// Runs the reconciler's sweep every `every`, as the template's schedule does in AWS.
pub(crate) fn spawn_sweeps(
    reconciler: Arc<idv_reconciler::Reconciler>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !pause(&mut stopped, every).await {
            if let Err(e) = reconciler
                .run_once(idv_adapters::ralio::Deadline::none())
                .await
            {
                tracing::warn!(error = %e, "the sweep failed; the next one tries again");
            }
        }
    })
}

/// Sleeps `every`, and returns true when asked to stop instead.
async fn pause(stopped: &mut watch::Receiver<bool>, every: Duration) -> bool {
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => true,
        _ = tokio::time::sleep(every) => false,
    }
}

/// Runs the watcher over `index` on the ticks of `pump`, looking every `every`.
pub(crate) fn spawn(
    pump: Pump,
    index: Arc<dyn ExpiryIndex>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match pump {
            Pump::Memory(queue) => {
                // The in-process queue has no visibility to change, because its loop puts
                // ticks back.
                let watcher = Watcher::new(Parts {
                    index,
                    visibility: None,
                    clock,
                });
                while !pause(&mut stopped, every).await {
                    pump_memory_queue(&watcher, &queue).await;
                }
            }
            Pump::Sqs(client, url) => {
                let watcher = Watcher::new(Parts {
                    index,
                    visibility: Some(Arc::new(SqsVisibility::new(client.clone(), url.clone()))),
                    clock,
                });
                while !pause(&mut stopped, every).await {
                    poll_sqs(&client, &url, &watcher).await;
                }
            }
        }
    })
}

async fn poll_sqs(client: &aws_sdk_sqs::Client, url: &str, watcher: &Watcher) {
    let received = match client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %DisplayErrorContext(e), "cannot read the tick queue");
            return;
        }
    };
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return;
    }
    let response = watcher
        .handle(idv_expiry_watcher::sqs_event(&messages))
        .await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    // The messages that succeeded are deleted, as the Lambda event source mapping does.
    for m in messages {
        let (Some(id), Some(receipt)) = (m.message_id, m.receipt_handle) else {
            continue;
        };
        if !failed.contains(&id) {
            let _ = client
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await;
        }
    }
}

/// Runs one pass of the in-process queue's loop. It delivers visible ticks, hides those not yet
/// due, and puts failed ones back after a short pause, as SQS would.
async fn pump_memory_queue(watcher: &Watcher, queue: &MemoryQueue) -> usize {
    let now = watcher.now();
    let mut processed = 0;
    for tick in queue.take_visible(now) {
        match watcher.handle_tick(&tick.bucket).await {
            Ok(TickOutcome::Processed(_)) => processed += 1,
            Ok(TickOutcome::NotDue { hide_for }) => {
                let hide = chrono::Duration::from_std(hide_for).unwrap_or_default();
                queue.requeue(tick.bucket, now + hide);
            }
            Err(err) => {
                tracing::warn!(bucket = %tick.bucket, error = %err, "tick failed; retrying shortly");
                queue.requeue(tick.bucket, now + chrono::Duration::seconds(5));
            }
        }
    }
    processed
}
