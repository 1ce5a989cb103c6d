//! Test harness: both stores, built fresh per test (DynamoDB gets its own table on the moto
//! server that `make test` starts).

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use idv_adapters::store::Store;
use idv_model::{
    Change, EventApplication, EventId, FailureReason, KycLevel, LevelStamp, Owner, Phase,
    SessionId, Uid,
};

#[allow(unused_imports)]
pub use idv_adapters::testing::{dynamo, dynamo_with_counter, require_emulator};

pub async fn memory() -> Arc<dyn Store> {
    idv_adapters::testing::memory()
}

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

pub fn t0() -> DateTime<Utc> {
    at("2026-05-04T09:12:03.418Z")
}

pub fn uid() -> Uid {
    Uid::from_uuid(uuid::Uuid::new_v4())
}

pub fn sid() -> SessionId {
    SessionId::from_uuid(uuid::Uuid::new_v4())
}

pub fn eid() -> EventId {
    EventId::from_uuid(uuid::Uuid::new_v4())
}

pub fn session_event(
    owner: Owner,
    session: SessionId,
    target: Phase,
    when: DateTime<Utc>,
) -> EventApplication {
    let event_type = match target {
        Phase::Verified => "kyc_session_verified",
        Phase::Review => "kyc_session_manual_review",
        Phase::Rejected => "kyc_session_failed",
        Phase::Expired(_) => "kyc_session_expired",
        _ => "related_party.kyc_session_created",
    };
    EventApplication {
        event_id: eid(),
        event_type: event_type.into(),
        occurred_at: when,
        owner,
        change: Change::Session {
            session_id: session,
            target,
            failure_reasons: Vec::new(),
            hosted_url: None,
            expires_at: None,
            expiry_buckets: vec![],
        },
    }
}

pub fn rejected_event(
    owner: Owner,
    session: SessionId,
    reasons: Vec<FailureReason>,
) -> EventApplication {
    let mut event = session_event(owner, session, Phase::Rejected, t0());
    if let Change::Session {
        failure_reasons, ..
    } = &mut event.change
    {
        *failure_reasons = reasons;
    }
    event
}

pub fn level_event(owner: Owner, level: KycLevel, when: DateTime<Utc>) -> EventApplication {
    let event_id = eid();
    EventApplication {
        event_id,
        event_type: "kyc_state_updated".into(),
        occurred_at: when,
        owner,
        change: Change::Level {
            stamp: LevelStamp {
                level,
                at: when,
                event_id,
            },
            kyc_id: Some(40817),
        },
    }
}

pub fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}
