use super::*;
use crate::{RelatedPartyId, Uid};

#[test]
fn an_unattributed_event_is_retried_while_young() {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let unknown = Unattributed {
        code: QuarantineReason::UnknownSession,
        reason: "",
    };
    let mismatch = Unattributed {
        code: QuarantineReason::OwnerMismatch,
        reason: "",
    };
    let window = ATTRIBUTION_RETRY_WINDOW;
    let stamped = at("2026-05-04T09:00:00Z");
    let first = at("2026-05-04T09:10:00Z");
    // The window is measured from the first receipt, which is later than the stamp.
    assert_eq!(
        unknown.retry_left(
            stamped,
            first,
            window,
            first + chrono::Duration::minutes(50)
        ),
        Some(chrono::Duration::minutes(10))
    );
    assert_eq!(
        unknown.retry_left(stamped, first, window, first + window),
        None
    );
    // An old event that is first received now is young, because it is measured from its
    // receipt.
    assert!(
        unknown
            .retry_left(stamped - chrono::Duration::days(3), first, window, first)
            .is_some()
    );
    assert_eq!(mismatch.retry_left(stamped, first, window, first), None);
}

#[test]
fn a_session_found_for_an_unnamed_owner_must_be_of_the_named_kind() {
    let session_id = SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap();
    let user = Owner::User(Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap());
    let party =
        Owner::RelatedParty(RelatedPartyId::parse("0b6f9b4e-2d7c-4c55-9d8b-3f1c3b1f7d10").unwrap());
    let by_session = Attribution::BySession {
        session_id,
        entity: EntityType::User,
    };
    assert_eq!(by_session.session_to_look_up(), Some(session_id));
    assert_eq!(by_session.owner(&[user]), Ok(user));
    assert_eq!(
        by_session.owner(&[party]).unwrap_err().code,
        "owner_mismatch"
    );
    assert_eq!(by_session.owner(&[]).unwrap_err().code, "unknown_session");
    assert_eq!(
        by_session.owner(&[user, party]).unwrap_err().code,
        "contested_session"
    );
    assert_eq!(Attribution::Named(party).owner(&[]), Ok(party));
    assert_eq!(
        Attribution::Unattributable.owner(&[user]).unwrap_err().code,
        "unknown_owner"
    );
}

#[test]
fn a_reconciled_state_has_one_id_and_not_started_needs_none() {
    let owner = Owner::User(Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap());
    let session = SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap();
    let now = DateTime::parse_from_rfc3339("2026-05-04T09:00:00Z")
        .unwrap()
        .to_utc();
    let state = crate::SessionState::Verified;
    let once = AttributedEvent::reconciled(owner, session, state, now).unwrap();
    let again = AttributedEvent::reconciled(owner, session, state, now).unwrap();
    assert_eq!(once.event_id, again.event_id);
    let review = AttributedEvent::reconciled(owner, session, crate::SessionState::Review, now);
    assert_ne!(review.unwrap().event_id, once.event_id);
    let fresh = AttributedEvent::reconciled(owner, session, crate::SessionState::NotStarted, now);
    assert!(fresh.is_none());
}

#[test]
fn outcomes_follow_moves() {
    assert_eq!(EventOutcome::from(Verdict::Apply), EventOutcome::Applied);
    assert_eq!(
        EventOutcome::from(Verdict::Unchanged),
        EventOutcome::Unchanged
    );
    assert_eq!(EventOutcome::from(Verdict::Stale), EventOutcome::Stale);
}
