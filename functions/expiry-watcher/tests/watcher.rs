//! These tests run the expiry watcher against both stores, moto SQS, and a fake clock over
//! real-length days.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use idv_adapters::clock::{Clock, ManualClock, SystemClock};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::{
    ExpiryQueue, MemoryQueue, QueueError, SqsQueue, SqsVisibility, TickMessage, Visibility,
};
use idv_adapters::store::{ExpiryIndex, Store};
use idv_adapters::testing;
use idv_adapters::testing::fixtures::{session_event, t0};
use idv_expiry_watcher::{Parts, TickOutcome, Watcher};
use idv_model::{
    ExpiryBucket, ExpirySchedule, ExpirySource, HostedUrl, Owner, Phase, Plan, SessionId,
    SessionRecord, Uid,
};

/// This function's name in the recorded permissions.
const FUNCTION: &str = "expiry-watcher";

/// Returns the watcher's view of `store`, whose requests are recorded as this function's.
fn watched(store: &Arc<dyn Store>) -> Arc<dyn ExpiryIndex> {
    testing::as_function(store, FUNCTION)
}

fn new_owner() -> Owner {
    Owner::User(Uid::from_uuid(uuid::Uuid::new_v4()))
}

/// Stores an open session expiring at `expires_at`, indexed under its buckets.
async fn open_session(
    store: &Arc<dyn Store>,
    scheduler: &ExpiryScheduler,
    owner: Owner,
    created: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> SessionId {
    let session = SessionId::from_uuid(uuid::Uuid::new_v4());
    let record = SessionRecord::created(
        owner,
        session,
        HostedUrl::new("https://verify.example/x"),
        created,
        expires_at,
    );
    store
        .store_session(&record, &scheduler.buckets(expires_at))
        .await
        .unwrap();
    session
}

async fn report(
    store: &Arc<dyn Store>,
    owner: Owner,
    session: SessionId,
    target: Phase,
    now: DateTime<Utc>,
) {
    let event = session_event(owner, session, target, now);
    store.execute(&Plan::new(&event, now)).await.unwrap();
}

async fn session_state(store: &Arc<dyn Store>, owner: Owner, session: SessionId) -> (Phase, bool) {
    let Owner::User(uid) = owner else {
        unreachable!()
    };
    let snapshot = store.load_user(uid).await.unwrap();
    let record = snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == session)
        .unwrap();
    (record.phase, record.expiring_soon)
}

fn message(id: &str, body: &str) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_owned());
    message.receipt_handle = Some(format!("receipt-{id}"));
    message
}

idv_adapters::both_stores!(
    a_tick_processed_twice_changes_nothing,
    review_and_final_sessions_are_left_alone,
    an_orphaned_tick_is_taken_over_by_the_next_session,
);

/// Says how a bucket's first session loses its tick message.
#[derive(Debug, Clone, Copy)]
enum Orphaning {
    /// The function dies between the tick write and the send (its future is dropped).
    CrashBeforeSend,
    /// The send fails, and so does giving the tick back.
    FailedCleanup,
}

/// A queue whose sends never finish, or fail.
struct BrokenQueue {
    hang: bool,
    /// It is told each time a send begins, so that a test can kill the sender exactly there.
    sending: tokio::sync::Notify,
}

impl BrokenQueue {
    fn new(hang: bool) -> Self {
        Self {
            hang,
            sending: tokio::sync::Notify::new(),
        }
    }
}

#[async_trait::async_trait]
impl ExpiryQueue for BrokenQueue {
    async fn send_tick(&self, _: &ExpiryBucket, _: Duration) -> Result<(), QueueError> {
        self.sending.notify_one();
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(QueueError("SQS refused".into()))
    }
}

/// The store, except that giving a tick back fails.
struct FailingCleanup(Arc<dyn Store>);

#[async_trait::async_trait]
impl ExpiryIndex for FailingCleanup {
    async fn claim_tick(
        &self,
        bucket: &ExpiryBucket,
        now: DateTime<Utc>,
    ) -> idv_adapters::store::StoreResult<idv_model::TickClaim> {
        self.0.claim_tick(bucket, now).await
    }
    async fn mark_tick_sent(
        &self,
        bucket: &ExpiryBucket,
        now: DateTime<Utc>,
    ) -> idv_adapters::store::StoreResult<()> {
        self.0.mark_tick_sent(bucket, now).await
    }
    async fn delete_tick(&self, _: &ExpiryBucket) -> idv_adapters::store::StoreResult<()> {
        Err(idv_adapters::store::StoreError::Unavailable(
            "throttled".into(),
        ))
    }
    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> idv_adapters::store::StoreResult<idv_adapters::store::BucketPage> {
        self.0.list_bucket(bucket, limit, page).await
    }
    async fn watch(
        &self,
        action: idv_model::WatchAction,
        member: &idv_adapters::store::BucketMember,
        now: DateTime<Utc>,
    ) -> idv_adapters::store::StoreResult<idv_model::WatchOutcome> {
        self.0.watch(action, member, now).await
    }
}

/// A bucket's first session claims its tick and never sends the message. The next session in
/// the bucket, a few minutes later in another container, takes the orphaned tick over, and the
/// bucket is processed for both.
async fn an_orphaned_tick_is_taken_over_by_the_next_session(store: Arc<dyn Store>) {
    for orphaning in [Orphaning::CrashBeforeSend, Orphaning::FailedCleanup] {
        let clock = ManualClock::at(t0());
        let expires = t0()
            + chrono::Duration::days(7)
            + chrono::Duration::seconds((uuid::Uuid::new_v4().as_u128() % 100_000) as i64 * 900);
        let schedule = ExpirySchedule::default();
        let buckets = schedule.buckets(expires);

        let first = new_owner();
        let (index, hang): (Arc<dyn ExpiryIndex>, bool) = match orphaning {
            Orphaning::CrashBeforeSend => (store.clone(), true),
            Orphaning::FailedCleanup => (Arc::new(FailingCleanup(store.clone())), false),
        };
        let queue = Arc::new(BrokenQueue::new(hang));
        let broken = ExpiryScheduler::new(index, queue.clone(), schedule);
        let first_session = open_session(&store, &broken, first, t0(), expires).await;
        // Both of its buckets lose their message, with one attempt each, because the first
        // failure ends a scheduling pass.
        for bucket in &buckets {
            let attempt = broken.ensure_ticks(std::slice::from_ref(bucket), clock.now());
            match orphaning {
                // The function dies once the send has begun, however long the claim took.
                Orphaning::CrashBeforeSend => tokio::select! {
                    finished = attempt => panic!("the send never finishes: {finished:?}"),
                    () = queue.sending.notified() => {}
                },
                Orphaning::FailedCleanup => {
                    let attempt = attempt.await;
                    assert!(attempt.is_err(), "{attempt:?}")
                }
            }
        }

        // Two minutes later, in another container, a second session lands in the bucket.
        clock.advance(chrono::Duration::minutes(2));
        let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
        let working = ExpiryScheduler::new(store.clone(), queue.clone(), schedule);
        let second = new_owner();
        let second_session = open_session(&store, &working, second, clock.now(), expires).await;
        assert_eq!(
            working.ensure_ticks(&buckets, clock.now()).await.unwrap(),
            2,
            "{orphaning:?}: both orphaned ticks sent"
        );
        let sent: Vec<ExpiryBucket> = queue.sent().into_iter().map(|t| t.bucket).collect();
        assert_eq!(sent, buckets, "{orphaning:?}");
        // A third session finds them sent.
        let third = ExpiryScheduler::new(store.clone(), queue.clone(), schedule);
        assert_eq!(third.ensure_ticks(&buckets, clock.now()).await.unwrap(), 0);

        // Both buckets are processed, so both sessions are flagged, then expire.
        let watcher = Watcher::new(Parts {
            index: watched(&store),
            visibility: None,
            clock: Arc::new(clock.clone()),
        });
        clock.set(buckets[0].due_at());
        let TickOutcome::Processed(tally) = watcher.handle_tick(&buckets[0]).await.unwrap() else {
            panic!("due tick not processed")
        };
        assert_eq!(tally.changed, 2, "{orphaning:?}: flagged");
        clock.set(buckets[1].due_at());
        let TickOutcome::Processed(tally) = watcher.handle_tick(&buckets[1]).await.unwrap() else {
            panic!("due tick not processed")
        };
        assert_eq!(tally.changed, 2, "{orphaning:?}");
        for (owner, session) in [(first, first_session), (second, second_session)] {
            assert_eq!(
                session_state(&store, owner, session).await.0,
                Phase::Expired(ExpirySource::Inferred),
                "{orphaning:?}"
            );
        }
    }
}

async fn a_tick_processed_twice_changes_nothing(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let queue: Arc<dyn ExpiryQueue> = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), queue, ExpirySchedule::default());
    let expires = t0()
        + chrono::Duration::days(7)
        + chrono::Duration::seconds((uuid::Uuid::new_v4().as_u128() % 100_000) as i64 * 900);
    let owners: Vec<Owner> = (0..3).map(|_| new_owner()).collect();
    for owner in &owners {
        open_session(&store, &scheduler, *owner, t0(), expires).await;
    }
    let watcher = Watcher::new(Parts {
        index: watched(&store),
        visibility: None,
        clock: Arc::new(clock.clone()),
    });
    let warn = scheduler.buckets(expires)[0];
    clock.set(warn.due_at());
    let first = watcher.handle_tick(&warn).await.unwrap();
    let TickOutcome::Processed(tally) = first else {
        panic!("due tick not processed")
    };
    assert_eq!((tally.changed, tally.unchanged), (3, 0));
    let audit_before: usize = futures_count(&store, &owners).await;
    let TickOutcome::Processed(again) = watcher.handle_tick(&warn).await.unwrap() else {
        panic!()
    };
    assert_eq!((again.changed, again.unchanged), (0, 3));
    assert_eq!(
        futures_count(&store, &owners).await,
        audit_before,
        "no new audit entries"
    );

    let expire = scheduler.buckets(expires)[1];
    clock.set(expire.due_at());
    let TickOutcome::Processed(tally) = watcher.handle_tick(&expire).await.unwrap() else {
        panic!()
    };
    assert_eq!(tally.changed, 3);
    let TickOutcome::Processed(again) = watcher.handle_tick(&expire).await.unwrap() else {
        panic!()
    };
    assert_eq!((again.changed, again.unchanged), (0, 3));
}

async fn futures_count(store: &Arc<dyn Store>, owners: &[Owner]) -> usize {
    let mut total = 0;
    for owner in owners {
        total += store.audit_trail(*owner).await.unwrap().len();
    }
    total
}

async fn review_and_final_sessions_are_left_alone(store: Arc<dyn Store>) {
    let clock = ManualClock::at(t0());
    let queue: Arc<dyn ExpiryQueue> = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), queue, ExpirySchedule::default());
    let expires = t0()
        + chrono::Duration::days(20)
        + chrono::Duration::seconds((uuid::Uuid::new_v4().as_u128() % 100_000) as i64 * 900);
    let (silent, review, verified, rejected) = (new_owner(), new_owner(), new_owner(), new_owner());
    let s_silent = open_session(&store, &scheduler, silent, t0(), expires).await;
    let s_review = open_session(&store, &scheduler, review, t0(), expires).await;
    let s_verified = open_session(&store, &scheduler, verified, t0(), expires).await;
    let s_rejected = open_session(&store, &scheduler, rejected, t0(), expires).await;
    report(&store, review, s_review, Phase::Review, t0()).await;
    report(&store, verified, s_verified, Phase::Verified, t0()).await;
    report(&store, rejected, s_rejected, Phase::Rejected, t0()).await;
    let watcher = Watcher::new(Parts {
        index: watched(&store),
        visibility: None,
        clock: Arc::new(clock.clone()),
    });
    for bucket in scheduler.buckets(expires) {
        clock.set(bucket.due_at());
        let TickOutcome::Processed(tally) = watcher.handle_tick(&bucket).await.unwrap() else {
            panic!()
        };
        assert_eq!((tally.changed, tally.skipped), (1, 3), "{bucket}");
    }
    assert_eq!(
        session_state(&store, silent, s_silent).await,
        (Phase::Expired(ExpirySource::Inferred), true)
    );
    assert_eq!(
        session_state(&store, review, s_review).await,
        (Phase::Review, false)
    );
    assert_eq!(
        session_state(&store, verified, s_verified).await,
        (Phase::Verified, false)
    );
    assert_eq!(
        session_state(&store, rejected, s_rejected).await,
        (Phase::Rejected, false)
    );
}

/// A visibility that must not be used, because all ticks in this batch are due and nothing
/// is hidden.
struct NoVisibility;

#[async_trait::async_trait]
impl Visibility for NoVisibility {
    async fn hide(&self, _: &str, _: Duration) -> Result<(), QueueError> {
        panic!("a due tick must not be hidden")
    }
}

#[tokio::test]
async fn a_poison_message_fails_alone() {
    let store = testing::memory();
    let clock = ManualClock::at(t0());
    let queue: Arc<dyn ExpiryQueue> = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), queue, ExpirySchedule::default());
    let expires = t0() + chrono::Duration::days(7);
    let owner = new_owner();
    let session = open_session(&store, &scheduler, owner, t0(), expires).await;
    let [warn, expire] = scheduler.buckets(expires)[..] else {
        panic!()
    };
    clock.set(expire.due_at());
    let watcher = Watcher::new(Parts {
        index,
        visibility: Some(Arc::new(NoVisibility)),
        clock: Arc::new(clock.clone()),
    });
    let mut event = SqsEvent::default();
    event.records = vec![
        message("warn", &TickMessage::for_bucket(&warn).body()),
        message("poison", "{\"bucket\":\"someday\"}"),
        message("garbage", "\u{0}not json"),
        message("expire", &TickMessage::for_bucket(&expire).body()),
    ];
    let response = watcher.handle(event).await;
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(failed, ["garbage", "poison"]);
    assert_eq!(
        session_state(&store, owner, session).await,
        (Phase::Expired(ExpirySource::Inferred), true)
    );
}

#[tokio::test]
async fn a_thousand_sessions_in_one_bucket_send_one_message_and_are_all_handled() {
    // Ten containers schedule a hundred sessions each, and the conditional tick item lets only
    // the first send, whatever each container remembers.
    let store = testing::dynamo().await;
    let (queue, sqs_requests) = testing::sqs_queue_with_counter().await;
    let queue: Arc<dyn ExpiryQueue> = Arc::new(queue);
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let expires = t0() + chrono::Duration::days(7);
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (store, index, queue) = (store.clone(), index.clone(), queue.clone());
        handles.push(tokio::spawn(async move {
            let scheduler = ExpiryScheduler::new(index, queue, ExpirySchedule::default());
            let mut sent = 0;
            for _ in 0..100 {
                open_session(&store, &scheduler, new_owner(), t0(), expires).await;
                sent += scheduler
                    .ensure_ticks(&scheduler.buckets(expires), t0())
                    .await
                    .unwrap();
            }
            sent
        }));
    }
    let mut sent = 0;
    for handle in handles {
        sent += handle.await.unwrap();
    }
    assert_eq!(sent, 2, "one message per bucket (warn and expire)");
    assert_eq!(sqs_requests.operations(), ["SendMessage", "SendMessage"]);

    // Every one of them is listed once, page by page, as the watcher reads them.
    let warn = ExpirySchedule::default().warn_bucket(expires);
    let mut listed = std::collections::HashSet::new();
    let mut page: Option<String> = None;
    loop {
        let result = index
            .list_bucket(&warn, idv_expiry_watcher::PAGE_SIZE, page.as_deref())
            .await
            .unwrap();
        for member in result.members {
            assert!(listed.insert(member.session_id), "listed twice");
        }
        match result.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1000);
}

/// Processing a full bucket flags every session, across pages. The test runs in memory, because
/// moto copies a table on every transaction, which makes a thousand of them slow without
/// testing more.
#[tokio::test]
async fn a_due_tick_handles_every_session_of_a_large_bucket() {
    let store = testing::memory();
    let clock = ManualClock::at(t0());
    let queue: Arc<dyn ExpiryQueue> = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), queue, ExpirySchedule::default());
    let expires = t0() + chrono::Duration::days(7);
    for _ in 0..1000 {
        open_session(&store, &scheduler, new_owner(), t0(), expires).await;
    }
    let watcher = Watcher::new(Parts {
        index,
        visibility: None,
        clock: Arc::new(clock.clone()),
    });
    let warn = scheduler.buckets(expires)[0];
    clock.set(warn.due_at());
    let TickOutcome::Processed(tally) = watcher.handle_tick(&warn).await.unwrap() else {
        panic!()
    };
    assert_eq!(tally.changed, 1000);
}

#[tokio::test]
async fn over_seven_real_days_each_tick_is_received_at_most_sixteen_times() {
    let store = testing::memory();
    let clock = ManualClock::at(t0());
    let queue = Arc::new(MemoryQueue::new(Arc::new(clock.clone())));
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), queue.clone(), ExpirySchedule::default());
    let owner = new_owner();
    let expires = t0() + chrono::Duration::days(7);
    let session = open_session(&store, &scheduler, owner, t0(), expires).await;
    assert_eq!(
        scheduler
            .ensure_ticks(&scheduler.buckets(expires), t0())
            .await
            .unwrap(),
        2
    );
    let watcher = Watcher::new(Parts {
        index,
        visibility: None,
        clock: Arc::new(clock.clone()),
    });

    let mut receives: HashMap<String, u32> = HashMap::new();
    let mut done = 0;
    while done < 2 {
        // The clock jumps to the next moment a message becomes visible, as SQS would deliver
        // it.
        let next = queue
            .sent()
            .iter()
            .map(|t| t.visible_at)
            .min()
            .expect("a tick is pending");
        clock.set(next);
        for tick in queue.take_visible(next) {
            *receives.entry(tick.bucket.key()).or_default() += 1;
            match watcher.handle_tick(&tick.bucket).await.unwrap() {
                TickOutcome::Processed(_) => done += 1,
                TickOutcome::NotDue { hide_for } => {
                    assert!(hide_for <= idv_expiry_watcher::MAX_HIDE);
                    queue.requeue(
                        tick.bucket,
                        next + chrono::Duration::from_std(hide_for).unwrap(),
                    );
                }
            }
        }
    }
    for (bucket, count) in &receives {
        assert!(*count <= 16, "{bucket} received {count} times");
    }
    assert_eq!(
        session_state(&store, owner, session).await,
        (Phase::Expired(ExpirySource::Inferred), true)
    );
    println!("receives per tick over 7 days: {receives:?}");
}

#[tokio::test]
async fn a_whole_lifecycle_in_seconds_on_moto_sqs_and_dynamodb() {
    // The durations are compressed: expiry 16 s after creation, warn 8 s before, grace 2 s,
    // and 1 s buckets. The warning and the expiry are 10 s apart, so that a busy machine cannot
    // make them arrive together.
    let schedule = ExpirySchedule::new(
        chrono::Duration::seconds(8),
        chrono::Duration::seconds(2),
        chrono::Duration::seconds(1),
    )
    .unwrap();
    let store = testing::dynamo().await;
    let (client, url) = testing::sqs_queue_on(&[]).await;
    let queue = SqsQueue::new(client.clone(), url.clone());
    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = ExpiryScheduler::new(index.clone(), Arc::new(queue), schedule);
    let now = SystemClock.now();
    let expires = now + chrono::Duration::seconds(16);
    let (silent, verified_late, in_review) = (new_owner(), new_owner(), new_owner());
    let s_silent = open_session(&store, &scheduler, silent, now, expires).await;
    let s_late = open_session(&store, &scheduler, verified_late, now, expires).await;
    let s_review = open_session(&store, &scheduler, in_review, now, expires).await;
    report(&store, in_review, s_review, Phase::Review, now).await;
    assert_eq!(
        scheduler
            .ensure_ticks(&scheduler.buckets(expires), now)
            .await
            .unwrap(),
        2
    );
    let [warn, expire] = scheduler.buckets(expires)[..] else {
        panic!()
    };

    let watcher = Watcher::new(Parts {
        index: watched(&store),
        visibility: Some(Arc::new(SqsVisibility::new(
            testing::sqs_client_for(FUNCTION).await,
            url.clone(),
        ))),
        clock: Arc::new(SystemClock),
    });
    let mut processed: Vec<(ExpiryBucket, DateTime<Utc>)> = Vec::new();
    // The loop is bounded only so that a lost tick fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while processed.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "ticks not processed; got {processed:?}"
        );
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let response = watcher
            .handle(idv_expiry_watcher::sqs_event(&messages))
            .await;
        let failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for m in messages {
            let (id, receipt, body) = (
                m.message_id.unwrap(),
                m.receipt_handle.unwrap(),
                m.body.unwrap(),
            );
            if failed.contains(&id) {
                continue;
            }
            // The test deletes a successful message, as Lambda does.
            client
                .delete_message()
                .queue_url(&url)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
            let bucket = idv_expiry_watcher::parse_tick(&body).unwrap();
            processed.push((bucket, SystemClock.now()));
            if bucket == warn {
                // The session is flagged once the lead is reached, and review is left alone.
                assert_eq!(
                    session_state(&store, silent, s_silent).await,
                    (Phase::NotStarted, true)
                );
                assert_eq!(
                    session_state(&store, verified_late, s_late).await,
                    (Phase::NotStarted, true)
                );
                assert_eq!(
                    session_state(&store, in_review, s_review).await,
                    (Phase::Review, false)
                );
                // Ralio verifies one of them between the warning and the expiry.
                report(
                    &store,
                    verified_late,
                    s_late,
                    Phase::Verified,
                    SystemClock.now(),
                )
                .await;
            }
        }
    }
    assert_eq!(
        processed.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
        [warn, expire]
    );
    for (bucket, at) in &processed {
        assert!(
            *at >= bucket.due_at(),
            "{bucket} processed before it was due"
        );
    }
    assert_eq!(
        session_state(&store, silent, s_silent).await.0,
        Phase::Expired(ExpirySource::Inferred)
    );
    assert_eq!(
        session_state(&store, verified_late, s_late).await.0,
        Phase::Verified
    );
    assert_eq!(
        session_state(&store, in_review, s_review).await.0,
        Phase::Review
    );
}

/// A tick that arrives before its bucket is due (a redelivery, or a delay cut at SQS's 15
/// minutes) is hidden on the real queue until it is due, and comes back failed, not deleted.
#[tokio::test]
async fn an_early_tick_is_hidden_on_moto_sqs_until_due() {
    let store = testing::dynamo().await;
    let (client, url) = testing::sqs_queue_on(&[]).await;
    let bucket =
        ExpirySchedule::default().warn_bucket(SystemClock.now() + chrono::Duration::days(3));
    client
        .send_message()
        .queue_url(&url)
        .message_body(TickMessage::for_bucket(&bucket).body())
        .send()
        .await
        .unwrap();
    let received = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let watcher = Watcher::new(Parts {
        index: watched(&store),
        visibility: Some(Arc::new(SqsVisibility::new(
            testing::sqs_client_for(FUNCTION).await,
            url.clone(),
        ))),
        clock: Arc::new(SystemClock),
    });
    let response = watcher
        .handle(idv_expiry_watcher::sqs_event(&received))
        .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "not due: handed back"
    );
    // The tick is hidden for hours, so it is not visible again now.
    let again = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(again.is_empty(), "the early tick was hidden");
}
