use chrono::{DateTime, Utc};
use idv_model::audit::AppliedChange;
use idv_model::{AuditOutcome, EventId, Phase, SessionId, Uid};

use super::*;
use crate::store::MemoryStore;
use crate::testing::bus::{Send, TestBus};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn verified(uid: Uid, n: u32) -> Delivered {
    let session = SessionId::from_uuid(uuid::Uuid::new_v4());
    Delivered {
        owner: Owner::User(uid),
        entry: AuditEntry::new(
            at("2026-05-02T10:00:00Z"),
            "kyc_session_verified",
            AuditOutcome::Applied,
        )
        .about_session(session)
        .with_applied(AppliedChange::session_move(Phase::Verified, Vec::new())),
        position: format!("{n:05}"),
    }
}

fn publisher(sink: Arc<TestBus>) -> Publisher {
    let store = Arc::new(MemoryStore::new());
    Publisher {
        retry_pause: Duration::ZERO,
        ..Publisher::new(store.clone(), store, sink)
    }
}

#[tokio::test]
async fn refused_entries_are_sent_again_alone_and_published_once() {
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let records: Vec<Delivered> = (0..13).map(|n| verified(uid, n)).collect();
    // The first batch of 10 loses its 4th entry once.
    let sink = Arc::new(TestBus::planned([Send::Refuse(vec![3])]));
    let sent = publisher(sink.clone()).publish(&records).await.unwrap();
    assert_eq!(sent, 13);
    let accepted = sink.accepted();
    assert_eq!(accepted.len(), 13, "each event arrived once");
    let mut ids: Vec<_> = accepted.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 13);
    assert_eq!(sink.sends(), 3, "10, the one refused, then 3");
}

#[tokio::test]
async fn an_entry_refused_every_time_is_given_back_with_all_after_it() {
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let records: Vec<Delivered> = (0..5).map(|n| verified(uid, n)).collect();
    let sink = Arc::new(TestBus::planned([
        Send::Refuse(vec![2]),
        Send::Refuse(vec![0]),
        Send::Refuse(vec![0]),
    ]));
    let failure = publisher(sink.clone()).publish(&records).await.unwrap_err();
    assert_eq!(
        failure.index, 2,
        "the stream delivers again from the refused record"
    );
    assert!(matches!(failure.error, PublishError::Refused(_)));
    assert_eq!(sink.accepted().len(), 4);
}

#[test]
fn stream_records_carry_audit_entries_of_applied_changes_only() {
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let record = verified(uid, 1);
    let item = AuditItem::new(record.owner, &record.entry);
    let image: serde_dynamo::Item = serde_dynamo::to_item(&item).unwrap();
    let event = |name: &str, image: &serde_dynamo::Item| -> EventRecord {
        serde_json::from_value(serde_json::json!({
            "awsRegion": "eu-west-1",
            "eventID": "1",
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "NewImage": image,
                "SequenceNumber": "42",
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"
            }
        }))
        .unwrap()
    };
    let found = delivered(&event("INSERT", &image)).unwrap().unwrap();
    assert_eq!(found.owner, record.owner);
    assert_eq!(found.entry, record.entry);
    assert_eq!(found.position, "42");
    assert!(delivered(&event("MODIFY", &image)).unwrap().is_none());
    let mut refused = record.entry.clone();
    refused.outcome = AuditOutcome::Stale;
    refused.applied = None;
    let stale: serde_dynamo::Item =
        serde_dynamo::to_item(AuditItem::new(record.owner, &refused)).unwrap();
    assert!(delivered(&event("INSERT", &stale)).unwrap().is_none());
    let mut other = image.clone();
    other.insert(
        "entity".into(),
        serde_dynamo::AttributeValue::S("session".into()),
    );
    assert!(delivered(&event("INSERT", &other)).unwrap().is_none());
    let _ = EventId::from_uuid(uuid::Uuid::new_v4());
}

#[tokio::test]
async fn a_republished_trail_makes_the_same_events_again() {
    use crate::store::AuditLog;
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(TestBus::default());
    let publisher = Publisher {
        retry_pause: Duration::ZERO,
        ..Publisher::new(store.clone(), store.clone(), sink.clone())
    };
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let records: Vec<Delivered> = (0..3).map(|n| verified(uid, n)).collect();
    for record in &records {
        store
            .append_audit(record.owner, &record.entry)
            .await
            .unwrap();
    }
    let refusal = AuditEntry::new(
        at("2026-05-02T11:00:00Z"),
        "account_refused",
        AuditOutcome::Refused,
    );
    store
        .append_audit(Owner::User(uid), &refusal)
        .await
        .unwrap();
    publisher.publish(&records).await.unwrap();
    let first: Vec<uuid::Uuid> = sink.accepted().iter().map(|e| e.id).collect();
    sink.forget_accepted();

    assert_eq!(
        publisher.republish(Owner::User(uid), None).await.unwrap(),
        3
    );
    let again: Vec<uuid::Uuid> = sink.accepted().iter().map(|e| e.id).collect();
    assert_eq!(
        again, first,
        "same events, same ids, nothing for the refusal"
    );
    let later = at("2026-05-03T00:00:00Z");
    assert_eq!(
        publisher
            .republish(Owner::User(uid), Some(later))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_level_update_that_repeats_the_level_is_not_an_event() {
    use idv_model::{EventStamp, KycLevel};
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let level = |at_: &str| {
        let stamp = EventStamp {
            at: at(at_),
            event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
        };
        AuditEntry::new(at(at_), "kyc_state_updated", AuditOutcome::Applied).with_applied(
            AppliedChange::Level {
                level: KycLevel::Regular,
                stamp,
            },
        )
    };
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(TestBus::default());
    let publisher = Publisher::new(store.clone(), store.clone(), sink.clone());
    let (first, repeat) = (level("2026-05-02T10:00:00Z"), level("2026-05-02T11:00:00Z"));
    for entry in [&first, &repeat] {
        store.append_audit(Owner::User(uid), entry).await.unwrap();
    }
    let records: Vec<Delivered> = [first, repeat]
        .into_iter()
        .enumerate()
        .map(|(n, entry)| Delivered {
            owner: Owner::User(uid),
            entry,
            position: n.to_string(),
        })
        .collect();
    assert_eq!(publisher.publish(&records).await.unwrap(), 1);
}

/// The bus took the batch but the answer was lost (5xx, reset), so the batch is sent again, and
/// every repeat carries the id that consumers de-duplicate on.
#[tokio::test]
async fn a_batch_the_bus_took_but_did_not_confirm_is_sent_again_under_the_same_ids() {
    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let records: Vec<Delivered> = (0..3).map(|n| verified(uid, n)).collect();
    let sink = Arc::new(TestBus::planned([Send::AcceptThenFail]));
    assert_eq!(publisher(sink.clone()).publish(&records).await.unwrap(), 3);
    let accepted = sink.accepted();
    assert_eq!(accepted.len(), 6, "taken twice");
    let mut ids: Vec<uuid::Uuid> = accepted.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "the repeats are the same events");
}
