use super::*;
use crate::EventId;
use crate::audit::AuditOutcome;
use crate::audit::actions;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn uid() -> Uid {
    Uid::parse("4f9d6c3e-0d51-4c8e-9d35-4c3f4b1c9a10").unwrap()
}

fn session() -> SessionId {
    SessionId::parse("7e1c0f4a-2b8d-4e7a-9c1d-3f5a6b7c8d9e").unwrap()
}

fn moved(phase: Phase, when: &str) -> AuditEntry {
    AuditEntry::new(at(when), "kyc_session_verified", AuditOutcome::Applied)
        .about_session(session())
        .with_applied(AppliedChange::session_move(phase, Vec::new()))
}

fn level(name: &str, when: &str) -> AuditEntry {
    let stamp = EventStamp {
        at: at(when),
        event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
    };
    AuditEntry::new(at(when), "kyc_state_updated", AuditOutcome::Applied).with_applied(
        AppliedChange::Level {
            level: KycLevel::parse(name),
            stamp,
        },
    )
}

#[test]
fn the_state_before_is_the_latest_allowed_prior_whatever_order_the_trail_is_in() {
    let inferred = Phase::Expired(ExpirySource::Inferred);
    let trail = vec![
        moved(Phase::Started, "2026-05-01T10:00:00Z"),
        moved(inferred, "2026-05-08T10:00:00Z"),
        moved(Phase::Review, "2026-05-08T10:00:01Z"),
    ];
    let mut reversed = trail.clone();
    reversed.reverse();
    for trail in [&trail, &reversed] {
        assert_eq!(
            previous_phase(session(), Phase::Verified, trail),
            Some(Phase::Review)
        );
        assert_eq!(
            previous_phase(session(), Phase::Review, trail),
            Some(inferred)
        );
        assert_eq!(
            previous_phase(session(), inferred, trail),
            Some(Phase::Started)
        );
    }
    // A refused move and another session's move do not count as the previous phase.
    let mut refused = moved(Phase::Review, "2026-05-01T10:00:00Z");
    refused.outcome = AuditOutcome::Stale;
    let other = AuditEntry {
        session_id: Some(SessionId::parse("00000000-0000-4000-8000-000000000001").unwrap()),
        ..moved(Phase::Review, "2026-05-01T10:00:00Z")
    };
    assert_eq!(
        previous_phase(session(), Phase::Verified, &[refused, other]),
        Some(Phase::NotStarted),
        "nothing recorded: every session starts NOT_STARTED"
    );
    assert_eq!(previous_phase(session(), Phase::NotStarted, &[]), None);
}

#[test]
fn the_level_before_is_the_newest_stamped_earlier() {
    let light = level("LIGHT", "2026-05-01T10:00:00Z");
    let regular = level("REGULAR", "2026-05-02T10:00:00Z");
    let Some(AppliedChange::Level { stamp, .. }) = regular.applied.clone() else {
        unreachable!()
    };
    let later = level("LIGHT", "2026-05-03T10:00:00Z");
    assert_eq!(
        previous_level(stamp, &[later.clone(), regular.clone(), light.clone()]),
        Some(KycLevel::Light)
    );
    assert_eq!(previous_level(stamp, &[later, regular]), None);
}

#[test]
fn only_applied_changes_of_users_make_events_and_their_ids_are_stable() {
    let entry = moved(Phase::Verified, "2026-05-02T10:00:00Z");
    let owner = Owner::User(uid());
    let event = domain_event(owner, &entry, OwnerHistory::default()).unwrap();
    assert_eq!(event.detail_type, "Session State Changed");
    assert_eq!(event.source, SOURCE);
    assert_eq!(event.detail["eventId"], event.id.to_string());
    assert_eq!(event.detail["state"], "VERIFIED");
    assert_eq!(event.detail["stateCode"], 3);
    assert_eq!(event.detail["previousState"], "NOT_STARTED");
    assert_eq!(event.detail["schemaVersion"], SCHEMA_VERSION);
    assert!(event.detail.get("failureReasons").is_none());
    let again = domain_event(owner, &entry.clone(), OwnerHistory::default()).unwrap();
    assert_eq!(again.id, event.id, "the same entry makes the same id");
    let other = domain_event(
        owner,
        &moved(Phase::Verified, "2026-05-02T10:00:01Z"),
        OwnerHistory::default(),
    )
    .unwrap();
    assert_ne!(other.id, event.id);

    let mut stale = entry.clone();
    stale.outcome = AuditOutcome::Stale;
    assert!(domain_event(owner, &stale, OwnerHistory::default()).is_none());
    let refusal = AuditEntry::new(
        at("2026-05-02T10:00:00Z"),
        actions::ACCOUNT_REFUSED,
        AuditOutcome::Refused,
    );
    assert!(domain_event(owner, &refusal, OwnerHistory::default()).is_none());
    let party = Owner::RelatedParty(
        crate::RelatedPartyId::parse("0b6f9b4e-2d7c-4c55-9d8b-3f1c3b1f7d10").unwrap(),
    );
    assert!(domain_event(party, &entry, OwnerHistory::default()).is_none());
}

#[test]
fn a_regular_level_says_accounts_may_be_opened() {
    let light = level("LIGHT", "2026-05-01T10:00:00Z");
    let regular = level("REGULAR", "2026-05-02T10:00:00Z");
    let trail = [light.clone(), regular.clone()];
    let history = OwnerHistory {
        trail: &trail,
        snapshot: None,
    };
    let event = domain_event(Owner::User(uid()), &regular, history).unwrap();
    assert_eq!(event.detail_type, "KYC Level Changed");
    assert_eq!(event.detail["level"], "REGULAR");
    assert_eq!(event.detail["previousLevel"], "LIGHT");
    assert_eq!(event.detail["canCreateAccount"], true);
    assert_eq!(event.detail["nextAction"]["code"], "create_account");
    let event = domain_event(Owner::User(uid()), &light, history).unwrap();
    assert_eq!(event.detail["canCreateAccount"], false);
    assert_eq!(event.detail["previousLevel"], serde_json::Value::Null);
}

#[test]
fn a_rejection_carries_its_reasons_and_an_expiry_its_source() {
    let reason = FailureReason {
        check: "document".into(),
        code: "DOCUMENT_EXPIRED".into(),
        message: "The document has expired".into(),
        category: None,
    };
    let rejected = AuditEntry::new(
        at("2026-05-02T10:00:00Z"),
        "kyc_session_failed",
        AuditOutcome::Applied,
    )
    .about_session(session())
    .with_applied(AppliedChange::session_move(Phase::Rejected, vec![reason]));
    let event = domain_event(Owner::User(uid()), &rejected, OwnerHistory::default()).unwrap();
    assert_eq!(
        event.detail["failureReasons"][0]["code"],
        "DOCUMENT_EXPIRED"
    );
    let expired = crate::WatchAction::ExpireInferred.audit(session(), at("2026-05-09T10:00:00Z"));
    let event = domain_event(Owner::User(uid()), &expired, OwnerHistory::default()).unwrap();
    assert_eq!(event.detail["state"], "EXPIRED");
    assert_eq!(event.detail["expirySource"], "inferred");
    assert!(event.detail.get("failureReasons").is_none());
}

#[test]
fn every_detail_type_names_its_schema() {
    for t in DetailType::ALL {
        assert_eq!(DetailType::parse(t.name()), Some(t));
    }
    assert_eq!(
        DetailType::KycLevelChanged.schema_file(),
        "kyc-level-changed.json"
    );
}
