//! These tests check the handler's answer to the stream, on batches built as Lambda delivers
//! them.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use idv_adapters::store::MemoryStore;
use idv_adapters::store::dynamo::items::AuditItem;
use idv_adapters::testing::bus::TestBus;
use idv_adapters::testing::fixtures::t0;
use idv_event_publisher::{EventPublisher, Parts};
use idv_model::audit::AppliedChange;
use idv_model::{AuditEntry, AuditOutcome, Owner, Phase, SessionId, Uid};
use serde_json::{Value, json};

fn record(sequence: &str, image: Value) -> Value {
    json!({
        "awsRegion": "eu-west-1", "eventID": sequence, "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": { "NewImage": image, "SequenceNumber": sequence, "SizeBytes": 10, "StreamViewType": "NEW_IMAGE" }
    })
}

fn verified_image(owner: Owner) -> Value {
    let entry = AuditEntry::new(t0(), "kyc_session_verified", AuditOutcome::Applied)
        .about_session(SessionId::from_uuid(uuid::Uuid::new_v4()))
        .with_applied(AppliedChange::session_move(Phase::Verified, Vec::new()));
    let item: serde_dynamo::Item = serde_dynamo::to_item(AuditItem::new(owner, &entry)).unwrap();
    serde_json::to_value(item).unwrap()
}

#[tokio::test]
async fn an_audit_item_that_does_not_decode_is_reported_not_skipped() {
    let owner = Owner::User(Uid::from_uuid(uuid::Uuid::new_v4()));
    let mut unknown = verified_image(owner);
    // The fact is of a kind this publisher does not know, as a newer writer would write it.
    unknown["fact"] = json!({ "M": { "kind": { "S": "something_new" } } });
    let batch: Event = serde_json::from_value(json!({ "Records": [
        record("100", verified_image(owner)),
        record("101", unknown),
        record("102", verified_image(owner)),
    ]}))
    .unwrap();
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(TestBus::default());
    let publisher = EventPublisher::new(Parts {
        trail: store.clone(),
        users: store,
        sink: bus.clone(),
    });
    let response = publisher.handle(batch).await;
    let failed: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [Some("101".to_owned())], "delivered again from it");
    assert_eq!(bus.accepted().len(), 1, "what came before it went out");
}
