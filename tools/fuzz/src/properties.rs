//! This module checks the properties every input must keep. Each runs the production code of
//! the webhook path (the signature check, the parser, the model's apply as the stores drive it),
//! called as the webhook function calls it. A broken property panics, which the runner records
//! and shrinks.

use chrono::{DateTime, Duration, Utc};
use idv_model::webhook::{EventBody, KycStateEvent, MAX_CLOCK_SKEW};
use idv_model::{
    KycLevel, Ledger, Owner, OwnerRecords, Plan, Uid, UserSnapshot, WebhookEvent, WebhookSecret,
    WebhookSecrets, can_create_account, parse_webhook,
};

use crate::inputs::{Delivery, Header, USERS, base_time};

/// The secret the service holds; `OLD_SECRET` is one it used to hold (a rotation in
/// progress).
pub const SECRET: &str = "whsec_fuzz_current_secret_0123456789";
const OLD_SECRET: &str = "whsec_fuzz_previous_secret_987654321";

fn receipt() -> DateTime<Utc> {
    base_time() + Duration::hours(6)
}

/// Runs one delivery through the webhook's pure path: signature, parse, round trip, decision.
pub fn delivery(secrets: &WebhookSecrets, delivery: &Delivery) {
    let secret = WebhookSecret::new(SECRET);
    let header = match &delivery.header {
        Header::Missing => None,
        Header::SignedHex => Some(secret.sign_hex(&delivery.body)),
        Header::SignedBase64 => Some(secret.sign_base64(&delivery.body)),
        Header::SignedPrefixed => Some(format!("sha256={}", secret.sign_hex(&delivery.body))),
        Header::SignedWithPrevious => Some(WebhookSecret::new(OLD_SECRET).sign_hex(&delivery.body)),
        Header::Junk(junk) => Some(junk.clone()),
    };
    let verified = secrets.verify(&delivery.body, header.as_deref());
    match &delivery.header {
        Header::Missing | Header::Junk(_) => assert!(
            verified.is_err(),
            "a delivery not signed with a held secret was accepted"
        ),
        Header::SignedWithPrevious => {
            assert_eq!(verified, Ok(1), "the secret being rotated out was refused")
        }
        _ => assert_eq!(verified, Ok(0), "Ralio's own signature was refused"),
    }
    if let Ok(event) = parse_webhook(&delivery.body) {
        round_trip(&event);
        decide_twice(event);
    }
}

/// Returns the secrets the service holds during a rotation.
pub fn secrets() -> WebhookSecrets {
    WebhookSecrets::from_csv(&format!("{SECRET},{OLD_SECRET}")).expect("two secrets")
}

/// Checks that every event the parser accepts reads back to itself from its canonical
/// rendering.
pub fn round_trip(event: &WebhookEvent) {
    let wire = serde_json::to_vec(&event.to_wire()).expect("a rendering serialises");
    match parse_webhook(&wire) {
        Ok(again) => assert_eq!(&again, event, "parse(render(event)) differs from the event"),
        Err(e) => panic!("the rendering of an accepted event does not parse: {e}"),
    }
}

/// Returns the owner of an event as the webhook finds it: named, or by the owners its session
/// is stored for (as the memory store looks them up).
fn owner_in(ledger: &Ledger, event: &WebhookEvent) -> Option<Owner> {
    let stored = match event.attribution().session_to_look_up() {
        Some(session_id) => ledger.session_owners(session_id),
        None => Vec::new(),
    };
    event.attribution().owner(&stored).ok()
}

/// Decides one event, and checks that the same event applied again changes nothing more.
fn decide_twice(event: WebhookEvent) {
    let event = event.received(receipt(), MAX_CLOCK_SKEW);
    let Some(owner) = event.attribution().owner(&[]).ok() else {
        return;
    };
    let Some(attributed) = event.attributed(owner) else {
        return;
    };
    let plan = Plan::new(&attributed, receipt());
    let mut records = OwnerRecords::new(owner);
    if let Some(commit) = plan.run(&records).commit {
        records.commit(commit);
    }
    let once = records.clone();
    let second = plan.run(&records);
    assert!(
        second.commit.is_none(),
        "the same event applied twice changed the records again"
    );
    assert_eq!(records, once);
}

/// Returns the user ids the sequences are about.
fn users() -> impl Iterator<Item = Uid> {
    USERS.iter().map(|u| Uid::parse(u).expect("a UUID"))
}

fn profile(ledger: &Ledger, uid: Uid) -> UserSnapshot {
    ledger
        .owner(Owner::User(uid))
        .map(|records| records.user_snapshot(uid).expect("complete records"))
        .unwrap_or_else(|| UserSnapshot::empty(uid))
}

fn says_regular_for(event: &WebhookEvent, uid: Uid) -> bool {
    matches!(
        &event.body,
        EventBody::KycStateUpdated(KycStateEvent { owner: Some(Owner::User(u)), level: KycLevel::Regular, .. })
            if *u == uid
    )
}

/// Applies one delivery as the webhook does (attribution, then the ledger as the stores drive
/// it) and checks the gate. It returns `false` when its owner is not known yet (the webhook
/// answers 503 and Ralio sends it again).
fn deliver(ledger: &mut Ledger, event: &WebhookEvent, regular_seen: &mut Vec<Uid>) -> bool {
    let event = event.clone().received(receipt(), MAX_CLOCK_SKEW);
    for uid in users() {
        if says_regular_for(&event, uid) && !regular_seen.contains(&uid) {
            regular_seen.push(uid);
        }
    }
    let Some(owner) = owner_in(ledger, &event) else {
        return false;
    };
    if let Some(attributed) = event.attributed(owner) {
        ledger.execute(&Plan::new(&attributed, receipt()));
    }
    for uid in users() {
        if can_create_account(&profile(ledger, uid).profile) {
            assert!(
                regular_seen.contains(&uid),
                "accounts allowed for a user no REGULAR kyc_state_updated named"
            );
        }
    }
    true
}

/// Delivers the events in order. Those whose owner is not known yet come again after the
/// others, as Ralio's retries do, until none can be placed.
fn apply_all(mut ledger: Ledger, events: &[WebhookEvent], regular_seen: &mut Vec<Uid>) -> Ledger {
    let mut waiting: Vec<&WebhookEvent> = Vec::new();
    for event in events {
        if !deliver(&mut ledger, event, regular_seen) {
            waiting.push(event);
        }
    }
    loop {
        let before = waiting.len();
        waiting.retain(|event| !deliver(&mut ledger, event, regular_seen));
        if waiting.len() == before {
            return ledger;
        }
    }
}

/// Checks a sequence of well-formed events (parsed from their wire form, as delivered):
/// - No step opens the gate for a user without a REGULAR `kyc_state_updated` for them.
/// - Delivering the whole sequence again changes nothing (de-duplication).
/// - Nor does applying it again with the de-duplication markers gone. The markers expire
///   after 90 days, so the state machine itself must not count an event twice.
pub fn sequence(events: &[WebhookEvent]) {
    let delivered: Vec<WebhookEvent> = events
        .iter()
        .map(|event| {
            let wire = serde_json::to_vec(&event.to_wire()).expect("a rendering serialises");
            let parsed = parse_webhook(&wire).expect("a well-formed event parses");
            assert_eq!(
                &parsed, event,
                "parse(render(event)) differs from the event"
            );
            parsed
        })
        .collect();
    let mut regular_seen = Vec::new();
    let once = apply_all(Ledger::default(), &delivered, &mut regular_seen);
    let twice = apply_all(once.clone(), &delivered, &mut regular_seen);
    assert_eq!(
        twice.owners, once.owners,
        "a second delivery changed the records"
    );

    let mut forgotten = once.clone();
    forgotten.seen.clear();
    forgotten.repeats_audited.clear();
    let again = apply_all(forgotten, &delivered, &mut regular_seen);
    assert_eq!(
        again.owners, once.owners,
        "the same events applied again (markers expired) changed the records"
    );
}
