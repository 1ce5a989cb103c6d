//! This module builds the deliveries of a load run. Each user's events are rendered and signed
//! as Ralio sends them, in the order they happened, then duplicated and shuffled within each
//! user, and the users are interleaved.

use chrono::{DateTime, Duration, Utc};
use idv_model::webhook::{
    EventBody, ExpirationWarningEvent, KycStateEvent, SessionEvent, SessionOutcome, Subject,
};
use idv_model::{
    EventId, FailureReason, KycLevel, Owner, SessionId, Uid, WebhookEvent, WebhookSecret,
};

/// Says what to send.
#[derive(Debug, Clone)]
pub struct Plan {
    /// It counts the deliveries in all, duplicates included.
    pub deliveries: usize,
    pub users: usize,
    /// It is the share of deliveries that repeat an earlier one.
    pub duplicate_share: f64,
    /// It counts the deliveries in flight at once.
    pub concurrency: usize,
    pub seed: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            deliveries: 20_000,
            users: 1_000,
            duplicate_share: 0.3,
            concurrency: 32,
            seed: 2026,
        }
    }
}

/// One signed webhook, as Ralio sends it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub user: usize,
    pub event_id: EventId,
    pub body: Vec<u8>,
    pub signature: String,
}

#[derive(Debug)]
pub struct Workload {
    pub users: Vec<Uid>,
    /// These are each user's distinct events, in the order they happened.
    pub in_order: Vec<Vec<Signed>>,
    /// These are the deliveries as sent: indices (user, event) with repeats, reordered within
    /// each user.
    pub deliveries: Vec<(usize, usize)>,
}

impl Workload {
    pub fn unique(&self) -> usize {
        self.in_order.iter().map(Vec::len).sum()
    }
}

/// Returns what happens to one session, as Ralio tells it: a manual review or not, then at most
/// one outcome. Ralio never reports two outcomes for one session, and a session in review does
/// not expire. Only such stories end the same whatever the delivery order.
fn session_story(rng: &mut fastrand::Rng) -> Vec<SessionOutcome> {
    let review = rng.bool();
    let outcome = match rng.u8(0..4) {
        0 => Some(SessionOutcome::Verified),
        1 => Some(SessionOutcome::Failed {
            reasons: vec![FailureReason {
                check: "document-verification".into(),
                code: "EXPIRED_DOCUMENT".into(),
                message: "The identity document is past its expiry date".into(),
                category: Some("DOC".into()),
            }],
        }),
        2 if !review => Some(SessionOutcome::Expired),
        _ => None,
    };
    let mut story = Vec::new();
    if review {
        story.push(SessionOutcome::ManualReview);
    }
    story.extend(outcome);
    if story.is_empty() {
        story.push(SessionOutcome::Verified);
    }
    story
}

/// Returns one user's `count` events in the order they happen. Up to half of them are session
/// stories, and the rest are level changes and document-expiry warnings.
fn user_events(
    rng: &mut fastrand::Rng,
    uid: Uid,
    count: usize,
    mut at: DateTime<Utc>,
) -> Vec<WebhookEvent> {
    let mut stories: Vec<(SessionId, std::collections::VecDeque<SessionOutcome>)> = Vec::new();
    let mut session_events = 0;
    while session_events < count.div_ceil(2) {
        let mut story = session_story(rng);
        story.truncate(count.div_ceil(2) - session_events);
        session_events += story.len();
        let id = SessionId::from_uuid(uuid::Uuid::from_u128(rng.u128(..)));
        stories.push((id, story.into()));
    }
    // Sessions come one after another, as a user goes through them, and the level changes and
    // warnings fall anywhere in between.
    let mut slots: Vec<Option<usize>> = stories
        .iter()
        .enumerate()
        .flat_map(|(i, (_, story))| std::iter::repeat_n(Some(i), story.len()))
        .collect();
    for _ in session_events..count {
        slots.insert(rng.usize(..=slots.len()), None);
    }
    slots
        .into_iter()
        .map(|slot| {
            at += Duration::seconds(rng.i64(1..600));
            let id = EventId::from_uuid(uuid::Uuid::from_u128(rng.u128(..)));
            let (event_type, body) = match slot {
                Some(i) => {
                    let (session_id, story) = &mut stories[i];
                    let outcome = story.pop_front().expect("a step per slot");
                    let name = match outcome {
                        SessionOutcome::Verified => "kyc_session_verified",
                        SessionOutcome::ManualReview => "kyc_session_manual_review",
                        SessionOutcome::Failed { .. } => "kyc_session_failed",
                        SessionOutcome::Expired => "kyc_session_expired",
                    };
                    let event = SessionEvent {
                        session_id: *session_id,
                        subject: Subject::User(Some(uid)),
                        outcome,
                    };
                    (name, EventBody::Session(event))
                }
                None if rng.u8(0..10) < 8 => {
                    let level = if rng.bool() {
                        KycLevel::Regular
                    } else {
                        KycLevel::Light
                    };
                    let event = KycStateEvent {
                        owner: Some(Owner::User(uid)),
                        kyc_id: Some(40_000 + i64::from(rng.u16(..))),
                        level,
                    };
                    ("kyc_state_updated", EventBody::KycStateUpdated(event))
                }
                None => {
                    let days = rng.u8(1..60);
                    let event = ExpirationWarningEvent {
                        owner: Some(Owner::User(uid)),
                        kyc_id: Some(40_000 + i64::from(rng.u16(..))),
                        expiration_date: (at + Duration::days(i64::from(days))).date_naive(),
                        days_remaining: i64::from(days),
                    };
                    (
                        "kyc_expiration_warning",
                        EventBody::ExpirationWarning(event),
                    )
                }
            };
            WebhookEvent {
                id,
                event_type: event_type.into(),
                occurred_at: at,
                stamped_at: None,
                body,
            }
        })
        .collect()
}

/// Builds the run: `plan.deliveries` in all, of which the duplicate share repeats events.
pub fn build(plan: &Plan, secret: &str, now: DateTime<Utc>) -> Workload {
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let secret = WebhookSecret::new(secret);
    let users: Vec<Uid> = (0..plan.users.max(1))
        .map(|_| Uid::from_uuid(uuid::Uuid::from_u128(rng.u128(..))))
        .collect();
    let duplicates = (plan.deliveries as f64 * plan.duplicate_share).round() as usize;
    let unique = plan.deliveries.saturating_sub(duplicates).max(users.len());
    let mut in_order: Vec<Vec<Signed>> = Vec::with_capacity(users.len());
    for (u, uid) in users.iter().enumerate() {
        let count = unique / users.len() + usize::from(u < unique % users.len());
        // Every story happened within the last week, with a few minutes between events.
        let start = now - Duration::days(7) + Duration::seconds(rng.i64(0..86_400));
        let events = user_events(&mut rng, *uid, count, start)
            .into_iter()
            .map(|event| {
                let body = serde_json::to_vec(&event.to_wire()).expect("an event renders");
                Signed {
                    user: u,
                    event_id: event.id,
                    signature: secret.sign_hex(&body),
                    body,
                }
            })
            .collect();
        in_order.push(events);
    }

    // Each user's deliveries hold every event once, plus the repeats, shuffled.
    let mut per_user: Vec<Vec<(usize, usize)>> = in_order
        .iter()
        .enumerate()
        .map(|(u, events)| (0..events.len()).map(|e| (u, e)).collect())
        .collect();
    for _ in 0..duplicates {
        let u = rng.usize(..users.len());
        let e = rng.usize(..in_order[u].len().max(1));
        per_user[u].push((u, e));
    }
    for deliveries in &mut per_user {
        rng.shuffle(deliveries);
    }
    // Users are interleaved at random: each delivery gets a slot, the slots are shuffled, and
    // each slot takes its user's next delivery.
    let mut slots: Vec<usize> = per_user
        .iter()
        .enumerate()
        .flat_map(|(u, d)| std::iter::repeat_n(u, d.len()))
        .collect();
    rng.shuffle(&mut slots);
    let mut next = vec![0usize; users.len()];
    let deliveries = slots
        .into_iter()
        .map(|u| {
            next[u] += 1;
            per_user[u][next[u] - 1]
        })
        .collect();
    Workload {
        users,
        in_order,
        deliveries,
    }
}
