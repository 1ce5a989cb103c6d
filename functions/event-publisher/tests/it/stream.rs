//! These tests feed the publisher real stream records, read from moto's DynamoDB Streams API,
//! and it sends to a real EventBridge bus on moto whose rule forwards to an SQS queue we read
//! back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use chrono::Duration;
use idv_adapters::aws::{dynamodb_client, dynamodb_streams_client, eventbridge_client, sqs_client};
use idv_adapters::publish::{EventBridgeSink, EventSink, PublishError};
use idv_adapters::store::{DynamoStore, EventStore};
use idv_adapters::stream::StreamReader;
use idv_adapters::testing::fixtures::{level_event, session_event, t0};
use idv_adapters::testing::{self, RequestCounter};
use idv_event_publisher::{EventPublisher, Parts};
use idv_model::Plan;
use idv_model::domain_events::PublishedEvent;
use idv_model::{KycLevel, Owner, Phase, SessionId, Uid};
use serde_json::Value;

const FUNCTION: &str = "event-publisher";

/// A bus on moto and the queue its one rule forwards `ralio.idv` events to.
struct Bus {
    name: String,
    queue_url: String,
}

async fn bus() -> Bus {
    let config = testing::emulator_config().await;
    let events = eventbridge_client(&config, &[]);
    let sqs = sqs_client(&config, &[]);
    let name = format!("idv-test-{}", uuid::Uuid::new_v4().simple());
    events.create_event_bus().name(&name).send().await.unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("all")
        .event_bus_name(&name)
        .event_pattern(r#"{"source":["ralio.idv"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("all")
        .event_bus_name(&name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Bus { name, queue_url }
}

/// Returns everything the bus delivered to the queue so far.
async fn delivered_by_bus(bus: &Bus) -> Vec<Value> {
    let sqs = sqs_client(&testing::emulator_config().await, &[]);
    let mut all = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&bus.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return all;
        }
        for m in messages {
            all.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(&bus.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The real bus, except that it refuses the entries `refuse` picks, `times` sends in a row.
struct Refusing {
    bus: EventBridgeSink,
    refuse: fn(&PublishedEvent) -> bool,
    times: Mutex<u32>,
    seen: Mutex<Vec<PublishedEvent>>,
}

#[async_trait]
impl EventSink for Refusing {
    async fn put(&self, events: &[PublishedEvent]) -> Result<Vec<usize>, PublishError> {
        self.seen.lock().unwrap().extend_from_slice(events);
        let refusing = {
            let mut times = self.times.lock().unwrap();
            let refusing = *times > 0 && events.iter().any(self.refuse);
            if refusing {
                *times -= 1;
            }
            refusing
        };
        if !refusing {
            return self.bus.put(events).await;
        }
        let (refused, sent): (Vec<usize>, Vec<usize>) =
            (0..events.len()).partition(|&i| (self.refuse)(&events[i]));
        let to_send: Vec<PublishedEvent> = sent.iter().map(|&i| events[i].clone()).collect();
        let also_refused = self.bus.put(&to_send).await?;
        let mut all: Vec<usize> = refused;
        all.extend(also_refused.iter().map(|&i| sent[i]));
        all.sort_unstable();
        Ok(all)
    }
}

/// Plays a user's life on a table with a stream: LIGHT, a verified session, REGULAR, then a
/// repeat and a late LIGHT (neither is a change). Returns the table and the stream records.
async fn a_users_life() -> (String, Owner, Vec<EventRecord>) {
    let table = testing::new_table().await;
    let store = testing::dynamo_on(&table, &[]).await;
    let owner = Owner::User(Uid::from_uuid(uuid::Uuid::new_v4()));
    let session = SessionId::from_uuid(uuid::Uuid::new_v4());
    let regular = level_event(owner, KycLevel::Regular, t0() + Duration::hours(1));
    for event in [
        level_event(owner, KycLevel::Light, t0()),
        session_event(
            owner,
            session,
            Phase::Verified,
            t0() + Duration::minutes(30),
        ),
        regular.clone(),
        regular,
        level_event(owner, KycLevel::Light, t0() - Duration::hours(1)),
    ] {
        store.execute(&Plan::new(&event, t0())).await.unwrap();
    }
    let config = testing::emulator_config().await;
    let mut reader = StreamReader::open(
        &dynamodb_client(&config, &[]),
        dynamodb_streams_client(&config, &[]),
        &table,
    )
    .await
    .unwrap();
    let records = reader.poll_committed().await.unwrap();
    (table, owner, records)
}

async fn publisher(table: &str, sink: Arc<dyn EventSink>) -> Arc<EventPublisher> {
    let recorder = RequestCounter::for_function(FUNCTION).interceptor();
    let store = Arc::new(testing::dynamo_on(table, &[recorder]).await);
    let mut publisher = EventPublisher::new(Parts {
        trail: store.clone(),
        users: store,
        sink,
    });
    Arc::get_mut(&mut publisher)
        .expect("not shared yet")
        .publisher
        .retry_pause = std::time::Duration::from_millis(1);
    publisher
}

async fn real_bus(bus: &Bus) -> EventBridgeSink {
    let recorder = RequestCounter::for_function(FUNCTION).interceptor();
    EventBridgeSink::new(
        eventbridge_client(&testing::emulator_config().await, &[recorder]),
        &bus.name,
    )
}

fn batch(records: &[EventRecord]) -> Event {
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn is_regular(event: &PublishedEvent) -> bool {
    event.detail["level"] == "REGULAR"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_applied_change_reaches_the_bus_once_though_one_entry_was_refused() {
    let (table, owner, records) = a_users_life().await;
    assert!(records.len() > 3, "the stream holds markers and audits too");
    let bus = bus().await;
    let sink = Arc::new(Refusing {
        bus: real_bus(&bus).await,
        refuse: is_regular,
        times: Mutex::new(1),
        seen: Mutex::default(),
    });
    let publisher = publisher(&table, sink.clone()).await;
    let response = publisher.handle(batch(&records)).await;
    assert!(response.batch_item_failures.is_empty());
    let sends = sink.seen.lock().unwrap().clone();
    assert_eq!(sends.len(), 4, "3 events, then the refused one alone");
    assert!(is_regular(&sends[3]));
    testing::record_domain_events(&sends);

    let arrived = delivered_by_bus(&bus).await;
    let kinds: Vec<(String, String)> = arrived
        .iter()
        .map(|e| {
            let d = &e["detail"];
            let what = d["level"].as_str().or(d["state"].as_str()).unwrap();
            (
                e["detail-type"].as_str().unwrap().to_owned(),
                what.to_owned(),
            )
        })
        .collect();
    assert_eq!(arrived.len(), 3, "{kinds:?}");
    for expected in [
        ("KYC Level Changed", "LIGHT"),
        ("Session State Changed", "VERIFIED"),
        ("KYC Level Changed", "REGULAR"),
    ] {
        assert!(
            kinds.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {kinds:?}"
        );
    }
    let Owner::User(uid) = owner else {
        unreachable!()
    };
    for event in &arrived {
        assert_eq!(event["source"], "ralio.idv");
        assert_eq!(event["detail"]["uid"], uid.to_string());
        assert_eq!(event["detail"]["schemaVersion"], 1);
    }
    let regular = arrived
        .iter()
        .find(|e| e["detail"]["level"] == "REGULAR")
        .unwrap();
    assert_eq!(regular["detail"]["previousLevel"], "LIGHT");
    assert_eq!(regular["detail"]["canCreateAccount"], true);
    let verified = arrived
        .iter()
        .find(|e| e["detail"]["state"] == "VERIFIED")
        .unwrap();
    assert_eq!(verified["detail"]["previousState"], "NOT_STARTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_the_bus_keeps_refusing_is_delivered_again_from_its_record() {
    let (table, _, records) = a_users_life().await;
    let bus = bus().await;
    let stubborn = Arc::new(Refusing {
        bus: real_bus(&bus).await,
        refuse: is_regular,
        times: Mutex::new(u32::MAX),
        seen: Mutex::default(),
    });
    let response = publisher(&table, stubborn)
        .await
        .handle(batch(&records))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    let from = response.batch_item_failures[0]
        .item_identifier
        .clone()
        .unwrap();
    let at = records
        .iter()
        .position(|r| r.change.sequence_number.as_deref() == Some(from.as_str()))
        .expect("the failure names a record of the batch");
    let first = delivered_by_bus(&bus).await;
    assert_eq!(first.len(), 2, "what came before REGULAR was published");

    // The stream delivers the failed record and all after it again.
    let healthy = Arc::new(real_bus(&bus).await);
    let response = publisher(&table, healthy)
        .await
        .handle(batch(&records[at..]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let second = delivered_by_bus(&bus).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["detail"]["level"], "REGULAR");
    let mut ids: Vec<&Value> = first
        .iter()
        .chain(&second)
        .map(|e| &e["detail"]["eventId"])
        .collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn a_missing_bus_name_fails_at_start_naming_it() {
    let env = testing::fixtures::env(&[("TABLE_NAME", "t")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(async {
        let config = testing::emulator_config().await;
        let wiring = idv_adapters::wiring::Wiring::with_config(&env, config, Vec::new());
        EventPublisher::from_env(&wiring)
            .await
            .err()
            .unwrap()
            .to_string()
    });
    assert!(err.contains("EVENT_BUS_NAME"), "{err}");
    let _: Option<DynamoStore> = None;
}
