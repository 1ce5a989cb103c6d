//! These property tests check that delivery order and duplicates never change the outcome, and
//! that nothing but a REGULAR `kyc_state_updated` ever opens account creation.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idv_model::ledger::Ledger;
use idv_model::webhook::EventBody;
use idv_model::{
    HostedUrl, KycLevel, Owner, Phase, Plan, SessionId, SessionRecord, Uid, UserProfile,
    UserSnapshot, WatchAction, WebhookEvent, can_create_account, parse_webhook,
};
use proptest::prelude::*;
use serde_json::json;

const CASES: u32 = 1_000;

fn uid() -> Uid {
    Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()
}

fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T09:00:00Z")
        .unwrap()
        .to_utc()
}

/// It is something that happens to a user: a webhook from Ralio, or the expiry watcher's
/// inference.
#[derive(Debug, Clone)]
enum Happening {
    Webhook(Vec<u8>),
    InferExpiry(SessionId),
}

/// Says how a session's story ends, as Ralio would tell it.
#[derive(Debug, Clone, Copy)]
enum Story {
    Approved { via_review: bool },
    Rejected { via_review: bool },
    ExpiredByRalio,
    StillInReview,
    Silent,
}

fn story() -> impl Strategy<Value = Story> {
    prop_oneof![
        any::<bool>().prop_map(|via_review| Story::Approved { via_review }),
        any::<bool>().prop_map(|via_review| Story::Rejected { via_review }),
        Just(Story::ExpiredByRalio),
        Just(Story::StillInReview),
        Just(Story::Silent),
    ]
}

#[derive(Debug, Clone)]
struct SessionPlan {
    story: Story,
    created_by_us: bool,
    watcher_infers_expiry: bool,
}

fn session_plan() -> impl Strategy<Value = SessionPlan> {
    (story(), any::<bool>(), any::<bool>()).prop_map(|(story, created_by_us, infer)| SessionPlan {
        story,
        created_by_us,
        // The watcher only knows sessions we stored ourselves.
        watcher_infers_expiry: infer && created_by_us,
    })
}

/// Renders a webhook the way Ralio might: either envelope, either key case.
fn webhook(
    seq: u32,
    event_type: &str,
    at: DateTime<Utc>,
    data: serde_json::Value,
    env_b: bool,
) -> Vec<u8> {
    let id = format!("00000000-0000-4000-8000-{seq:012}");
    let envelope = if env_b {
        json!({ "eventId": id, "eventType": event_type, "timestamp": at.to_rfc3339(), "data": data })
    } else {
        json!({ "id": id, "event": event_type, "timestamp": at.to_rfc3339(), "data": data })
    };
    serde_json::to_vec(&envelope).unwrap()
}

struct Scenario {
    in_order: Vec<Happening>,
    pre_created: Vec<SessionId>,
}

fn scenario(plans: &[SessionPlan], levels: &[KycLevel], env_b: bool) -> Scenario {
    let mut in_order = Vec::new();
    let mut pre_created = Vec::new();
    let mut seq = 0u32;
    let mut clock = base_time();
    let mut next = |event_type: &str, data: serde_json::Value, out: &mut Vec<Happening>| {
        seq += 1;
        clock += Duration::minutes(7);
        out.push(Happening::Webhook(webhook(
            seq,
            event_type,
            clock,
            data,
            env_b ^ seq.is_multiple_of(3),
        )));
    };
    for (index, plan) in plans.iter().enumerate() {
        let session = SessionId::parse(&format!("11111111-0000-4000-8000-{index:012}")).unwrap();
        if plan.created_by_us {
            pre_created.push(session);
        }
        let data = json!({ "sessionId": session.to_string(), "userId": uid().to_string() });
        let snake = json!({ "session_id": session.to_string(), "user_id": uid().to_string() });
        if plan.watcher_infers_expiry {
            in_order.push(Happening::InferExpiry(session));
        }
        match plan.story {
            Story::Approved { via_review } | Story::Rejected { via_review } if via_review => {
                next("kyc_session_manual_review", data.clone(), &mut in_order);
            }
            _ => {}
        }
        match plan.story {
            Story::Approved { .. } => next("kyc.session_verified", snake, &mut in_order),
            Story::Rejected { .. } => next("kyc_session_failed", data, &mut in_order),
            Story::ExpiredByRalio => next("kyc_session_expired", data, &mut in_order),
            Story::StillInReview => next("kyc_session_manual_review", data, &mut in_order),
            Story::Silent => {}
        }
    }
    for level in levels {
        next(
            "kyc_state_updated",
            json!({ "kycId": 40817, "userId": uid().to_string(), "entityType": "user", "state": level.name() }),
            &mut in_order,
        );
    }
    Scenario {
        in_order,
        pre_created,
    }
}

/// Holds a user's records as the service keeps them, in the model's own ledger, driven exactly
/// as the stores drive it.
#[derive(Debug, Clone)]
struct UserState {
    ledger: Ledger,
}

impl UserState {
    fn new(pre_created: &[SessionId]) -> Self {
        let mut ledger = Ledger::default();
        for session in pre_created {
            let record = SessionRecord::created(
                Owner::User(uid()),
                *session,
                HostedUrl::new("https://verify.example/s"),
                base_time(),
                base_time() + Duration::days(7),
            );
            ledger.store_created(&record, &[]).unwrap();
        }
        Self { ledger }
    }

    fn happen(&mut self, happening: &Happening) {
        let now = base_time() + Duration::days(30);
        match happening {
            Happening::InferExpiry(session) => {
                self.ledger.watch(
                    WatchAction::ExpireInferred,
                    Owner::User(uid()),
                    *session,
                    now,
                );
            }
            Happening::Webhook(body) => {
                let event: WebhookEvent = parse_webhook(body).expect("generated webhooks parse");
                let owner = event
                    .attribution()
                    .owner(&[])
                    .expect("every event names the user");
                assert_eq!(owner, Owner::User(uid()));
                let attributed = event.attributed(owner).expect("an event we act on");
                self.ledger.execute(&Plan::new(&attributed, now));
            }
        }
    }

    fn snapshot(&self) -> UserSnapshot {
        self.ledger
            .owner(Owner::User(uid()))
            .map(|records| records.user_snapshot(uid()).unwrap())
            .unwrap_or_else(|| UserSnapshot::empty(uid()))
    }

    fn profile(&self) -> UserProfile {
        self.snapshot().profile
    }

    fn outcome(&self) -> (BTreeMap<SessionId, Phase>, KycLevel) {
        let snapshot = self.snapshot();
        let phases = snapshot
            .sessions
            .iter()
            .map(|s| (s.session_id, s.phase))
            .collect();
        (phases, snapshot.profile.kyc_level())
    }
}

/// Returns an ordering of the scenario with some deliveries repeated.
fn delivered(
    in_order: Vec<Happening>,
    dupes: Vec<prop::sample::Index>,
    order: Vec<usize>,
) -> Vec<Happening> {
    let mut all = in_order.clone();
    for d in dupes {
        all.push(in_order[d.index(in_order.len())].clone());
    }
    // `order` is a permutation of 0..n for the first n slots, and the rest follow in place.
    let mut permuted: Vec<Happening> = order.iter().filter_map(|i| all.get(*i).cloned()).collect();
    permuted.extend(all.into_iter().skip(order.len()));
    permuted
}

fn any_level() -> impl Strategy<Value = KycLevel> {
    prop_oneof![
        Just(KycLevel::Regular),
        Just(KycLevel::Light),
        Just(KycLevel::Other("PLUS".into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_order_with_duplicates_ends_where_in_order_delivery_ends(
        plans in prop::collection::vec(session_plan(), 1..4),
        levels in prop::collection::vec(any_level(), 0..4),
        env_b in any::<bool>(),
        dupes in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        seed in prop::collection::vec(any::<u32>(), 32),
    ) {
        let Scenario { in_order, pre_created } = scenario(&plans, &levels, env_b);
        prop_assume!(!in_order.is_empty());

        let mut expected = UserState::new(&pre_created);
        for h in &in_order {
            expected.happen(h);
        }

        let total = in_order.len() + dupes.len();
        let mut order: Vec<usize> = (0..total).collect();
        // The shuffle is a seeded Fisher-Yates, so that proptest can shrink the seed.
        for i in (1..total).rev() {
            let j = seed[i % seed.len()] as usize % (i + 1);
            order.swap(i, j);
        }
        let mut actual = UserState::new(&pre_created);
        for h in delivered(in_order, dupes, order) {
            actual.happen(&h);
        }
        prop_assert_eq!(actual.outcome(), expected.outcome());
    }

    #[test]
    fn no_ordering_opens_accounts_without_a_regular_level_event(
        plans in prop::collection::vec(session_plan(), 1..4),
        levels in prop::collection::vec(any_level(), 0..4),
        env_b in any::<bool>(),
        seed in prop::collection::vec(any::<u32>(), 32),
    ) {
        let Scenario { in_order, pre_created } = scenario(&plans, &levels, env_b);
        let total = in_order.len();
        let mut order: Vec<usize> = (0..total).collect();
        for i in (1..total).rev() {
            let j = seed[i % seed.len()] as usize % (i + 1);
            order.swap(i, j);
        }
        let mut state = UserState::new(&pre_created);
        let mut regular_delivered = false;
        for i in order {
            let h = &in_order[i];
            if let Happening::Webhook(body) = h {
                let event = parse_webhook(body).unwrap();
                if matches!(&event.body, EventBody::KycStateUpdated(k) if k.level == KycLevel::Regular) {
                    regular_delivered = true;
                }
            }
            state.happen(h);
            let profile = state.profile();
            if can_create_account(&profile) {
                prop_assert!(regular_delivered, "account allowed before any REGULAR level event");
                let stamp = profile.kyc.level.as_ref().unwrap();
                prop_assert_eq!(&stamp.level, &KycLevel::Regular);
            }
        }
        // At the end, accounts are open exactly when the newest level event says REGULAR.
        prop_assert_eq!(can_create_account(&state.profile()), levels.last() == Some(&KycLevel::Regular));
    }
}

#[test]
fn a_verified_session_alone_never_opens_accounts() {
    let mut state = UserState::new(&[]);
    let Scenario { in_order, .. } = scenario(
        &[SessionPlan {
            story: Story::Approved { via_review: true },
            created_by_us: false,
            watcher_infers_expiry: false,
        }],
        &[],
        false,
    );
    for h in &in_order {
        state.happen(h);
    }
    let snapshot = state.snapshot();
    assert_eq!(snapshot.sessions[0].phase, Phase::Verified);
    assert!(!can_create_account(&snapshot.profile));
    let action = idv_model::next_action(&snapshot.profile, &snapshot.sessions, base_time());
    assert_eq!(action.code, idv_model::NextActionCode::AwaitKycUpdate);
}

/// Found by `make load`: a session first heard of from a webhook was dated by the receipt, so
/// which of a user's sessions was the newest (and so the next action) depended on which
/// webhook arrived first. It is dated by the event now.
#[test]
fn the_newest_session_is_the_one_ralio_reported_last_whatever_arrives_first() {
    let session = |n: u32| SessionId::parse(&format!("22222222-0000-4000-8000-{n:012}")).unwrap();
    let data = |s: SessionId| json!({ "sessionId": s.to_string(), "userId": uid().to_string() });
    // An older session is refused, then a newer one goes into review.
    let refused = Happening::Webhook(webhook(
        1,
        "kyc_session_failed",
        base_time(),
        data(session(2)),
        false,
    ));
    let in_review = Happening::Webhook(webhook(
        2,
        "kyc_session_manual_review",
        base_time() + Duration::hours(2),
        data(session(1)),
        false,
    ));
    for order in [
        [refused.clone(), in_review.clone()],
        [in_review.clone(), refused.clone()],
    ] {
        let mut state = UserState::new(&[]);
        for h in &order {
            state.happen(h);
        }
        let snapshot = state.snapshot();
        let action = idv_model::next_action(&snapshot.profile, &snapshot.sessions, base_time());
        assert_eq!(action.code, idv_model::NextActionCode::AwaitReview);
    }
}
