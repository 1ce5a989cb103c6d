//! Random operation sequences applied to both stores must give the same answers and leave the same
//! records, because the in-memory store is indistinguishable from DynamoDB.

use std::sync::Arc;

use chrono::Duration;
use idv_adapters::store::{BucketMember, Store};
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{dynamo, memory};
use idv_model::{
    AttributedEvent, AuditEntry, Change, ExpirySchedule, ExpirySource, FailureReason, HostedUrl,
    KycLevel, Owner, Phase, Plan, SessionId, SessionRecord, Uid, WatchAction,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Report(usize, Phase),
    Redeliver(usize),
    Level(bool, i64),
    Flag(usize),
    Expire(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let session = 0..3usize;
    prop_oneof![
        session.clone().prop_map(Op::Create),
        (
            session.clone(),
            prop_oneof![
                Just(Phase::Review),
                Just(Phase::Verified),
                Just(Phase::Rejected),
                Just(Phase::Expired(ExpirySource::Ralio)),
            ]
        )
            .prop_map(|(s, p)| Op::Report(s, p)),
        (0..8usize).prop_map(Op::Redeliver),
        (any::<bool>(), -5..5i64).prop_map(|(r, m)| Op::Level(r, m)),
        session.clone().prop_map(Op::Flag),
        session.prop_map(Op::Expire),
    ]
}

/// This is a concrete step, and the same events (same ids) go to both stores.
#[derive(Debug, Clone)]
enum Step {
    Create(SessionRecord),
    Apply(AttributedEvent),
    Flag(SessionId),
    Expire(SessionId),
}

fn plan(owner: Owner, sessions: &[SessionId], ops: &[Op]) -> Vec<Step> {
    let mut sent: Vec<AttributedEvent> = Vec::new();
    let mut steps = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let now = t0() + Duration::seconds(i as i64);
        steps.push(match op {
            Op::Create(s) => Step::Create(SessionRecord::created(
                owner,
                sessions[*s],
                HostedUrl::new(format!("https://h/{s}")),
                t0(),
                t0() + Duration::days(7),
            )),
            Op::Report(s, phase) => {
                let mut event = session_event(owner, sessions[*s], *phase, now);
                if let (
                    Phase::Rejected,
                    Change::Session {
                        failure_reasons, ..
                    },
                ) = (phase, &mut event.change)
                {
                    failure_reasons.push(FailureReason {
                        check: "doc".into(),
                        code: "X".into(),
                        message: "m".into(),
                        category: None,
                    });
                }
                sent.push(event.clone());
                Step::Apply(event)
            }
            Op::Redeliver(k) => match sent.get(*k) {
                Some(event) => Step::Apply(event.clone()),
                None => continue,
            },
            Op::Level(regular, minutes) => {
                let level = if *regular {
                    KycLevel::Regular
                } else {
                    KycLevel::Light
                };
                let event = level_event(owner, level, t0() + Duration::minutes(*minutes));
                sent.push(event.clone());
                Step::Apply(event)
            }
            Op::Flag(s) => Step::Flag(sessions[*s]),
            Op::Expire(s) => Step::Expire(sessions[*s]),
        });
    }
    steps
}

/// Runs the steps against a store and returns every answer plus the final records, normalised
/// for comparison.
async fn run(store: &Arc<dyn Store>, uid: Uid, steps: &[Step]) -> (Vec<String>, String) {
    let owner = Owner::User(uid);
    let schedule = ExpirySchedule::default();
    let mut answers = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let now = t0() + Duration::seconds(i as i64);
        let member = |session_id| BucketMember { owner, session_id };
        answers.push(match step {
            Step::Create(record) => {
                let expires = record.expires_at.unwrap();
                let buckets = schedule.buckets(expires);
                format!("{:?}", store.store_session(record, &buckets).await.unwrap())
            }
            Step::Apply(event) => {
                format!("{:?}", store.execute(&Plan::new(event, now)).await.unwrap())
            }
            Step::Flag(s) => format!(
                "{:?}",
                store
                    .watch(WatchAction::Flag, &member(*s), now)
                    .await
                    .unwrap()
            ),
            Step::Expire(s) => format!(
                "{:?}",
                store
                    .watch(WatchAction::ExpireInferred, &member(*s), now)
                    .await
                    .unwrap()
            ),
        });
    }
    let snapshot = store.load_user(uid).await.unwrap();
    let mut trail: Vec<AuditEntry> = store.audit_trail(owner).await.unwrap();
    trail.sort_by(|a, b| {
        (a.at, &a.action, &a.outcome, a.event_id, &a.detail)
            .cmp(&(b.at, &b.action, &b.outcome, b.event_id, &b.detail))
    });
    (answers, format!("{snapshot:?}\n{trail:?}"))
}

#[test]
fn memory_and_dynamodb_answer_alike() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dynamo = runtime.block_on(dynamo());
    let config = ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in prop::collection::vec(op(), 1..14))| {
        // A fresh user per case keeps cases apart in the shared table.
        let uid = uid();
        let steps = plan(Owner::User(uid), &[sid(), sid(), sid()], &ops);
        let memory = memory();
        let (memory_answers, memory_state) = runtime.block_on(run(&memory, uid, &steps));
        let (dynamo_answers, dynamo_state) = runtime.block_on(run(&dynamo, uid, &steps));
        prop_assert_eq!(memory_answers, dynamo_answers);
        prop_assert_eq!(memory_state, dynamo_state);
    });
}
