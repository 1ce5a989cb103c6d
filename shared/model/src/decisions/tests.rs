use chrono::NaiveDate;

use super::*;
use crate::lifecycle::{EventStamp, ExpirySource, LevelStamp};
use crate::records::{FailureReason, HostedUrl, ReverifyNotice};
use crate::{EventId, SessionId, Uid};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn uid() -> Uid {
    Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()
}

fn session(id: &str, created: &str, phase: Phase) -> SessionRecord {
    let mut s = SessionRecord::created(
        Owner::User(uid()),
        SessionId::parse(id).unwrap(),
        HostedUrl::new("https://verify.example/s"),
        at(created),
        at(created) + chrono::Duration::days(7),
    );
    s.phase = phase;
    s
}

fn with_level(level: KycLevel, at_: &str) -> UserProfile {
    let mut p = UserProfile::unknown(uid());
    p.kyc.level = Some(LevelStamp {
        level,
        stamp: EventStamp {
            at: at(at_),
            event_id: EventId::parse("997b6324-03d5-417e-aea4-4523f2c41b94").unwrap(),
        },
    });
    p
}

const A: &str = "a534c9a9-b4ae-4db5-86c3-9506219e4c36";
const B: &str = "62a16c76-f166-40ba-9af6-c04c6b217a4b";

#[test]
fn unknown_user_starts_verification() {
    let action = next_action(
        &UserProfile::unknown(uid()),
        &[],
        at("2026-05-04T00:00:00Z"),
    );
    assert_eq!(action.code, NextActionCode::StartVerification);
    assert!(!can_create_account(&UserProfile::unknown(uid())));
}

#[test]
fn active_session_says_when_it_expires_and_when_it_is_flagged() {
    let profile = UserProfile::unknown(uid());
    let mut s = session(A, "2026-05-04T09:12:03Z", Phase::Started);
    let now = at("2026-05-05T00:00:00Z");
    let action = next_action(&profile, std::slice::from_ref(&s), now);
    assert_eq!(action.code, NextActionCode::CompleteVerification);
    assert!(
        action.message.contains("2026-05-11 09:12 UTC"),
        "{}",
        action.message
    );
    assert!(!action.message.contains("soon"));
    s.expiring_soon = true;
    let action = next_action(&profile, &[s], now);
    assert!(
        action.message.contains("expires soon"),
        "{}",
        action.message
    );
}

#[test]
fn review_verified_rejected_and_expired() {
    let profile = UserProfile::unknown(uid());
    let now = at("2026-05-05T00:00:00Z");
    let code =
        |phase| next_action(&profile, &[session(A, "2026-05-04T09:12:03Z", phase)], now).code;
    assert_eq!(code(Phase::Review), NextActionCode::AwaitReview);
    assert_eq!(code(Phase::Verified), NextActionCode::AwaitKycUpdate);
    assert_eq!(code(Phase::Rejected), NextActionCode::RetryVerification);
    assert_eq!(
        code(Phase::Expired(ExpirySource::Ralio)),
        NextActionCode::RetryVerification
    );
    assert_eq!(
        code(Phase::Expired(ExpirySource::Inferred)),
        NextActionCode::RetryVerification
    );
    let lapsed = next_action(
        &profile,
        &[session(A, "2026-05-04T09:12:03Z", Phase::NotStarted)],
        at("2026-05-12T00:00:00Z"),
    );
    assert_eq!(lapsed.code, NextActionCode::RetryVerification);
    assert!(lapsed.message.contains("expired"));
}

#[test]
fn rejection_lists_each_reason_once() {
    let mut s = session(B, "2026-05-05T10:58:12Z", Phase::Rejected);
    let reason = |check: &str, code: &str, message: &str| FailureReason {
        check: check.into(),
        code: code.into(),
        message: message.into(),
        category: None,
    };
    s.failure_reasons = vec![
        reason(
            "document-verification",
            "EXPIRED_DOCUMENT",
            "The identity document is past its expiry date",
        ),
        reason(
            "face-matching",
            "NO_MATCH",
            "Selfie does not match the photo on the document.",
        ),
        reason(
            "face-matching",
            "NO_MATCH",
            "Selfie does not match the photo on the document.",
        ),
    ];
    let action = next_action(
        &UserProfile::unknown(uid()),
        &[s],
        at("2026-05-06T00:00:00Z"),
    );
    assert_eq!(action.code, NextActionCode::RetryVerification);
    assert_eq!(
        action.message,
        "Your identity verification was not successful: The identity document is past its expiry date; Selfie does not match the photo on the document. Start a new verification to try again."
    );
}

#[test]
fn the_newest_session_decides() {
    let old = session(B, "2026-05-01T00:00:00Z", Phase::Rejected);
    let new = session(A, "2026-05-04T00:00:00Z", Phase::Review);
    let action = next_action(
        &UserProfile::unknown(uid()),
        &[old, new],
        at("2026-05-05T00:00:00Z"),
    );
    assert_eq!(action.code, NextActionCode::AwaitReview);
}

#[test]
fn only_regular_creates_accounts() {
    let now = at("2026-05-05T00:00:00Z");
    let verified = [session(A, "2026-05-04T09:12:03Z", Phase::Verified)];
    for level in [KycLevel::Light, KycLevel::Other("PLUS".into())] {
        let p = with_level(level, "2026-05-04T14:05:11Z");
        assert!(!can_create_account(&p));
        assert_eq!(
            next_action(&p, &verified, now).code,
            NextActionCode::AwaitKycUpdate
        );
    }
    let p = with_level(KycLevel::Regular, "2026-05-04T14:05:11Z");
    assert!(can_create_account(&p));
    assert_eq!(
        next_action(&p, &verified, now).code,
        NextActionCode::CreateAccount
    );
}

#[test]
fn document_expiry_warning_asks_for_reverification() {
    let mut p = with_level(KycLevel::Regular, "2026-05-04T14:05:11Z");
    p.kyc.reverify = Some(ReverifyNotice {
        expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        days_remaining: 14,
        stamp: EventStamp {
            at: at("2026-05-18T03:00:00Z"),
            event_id: EventId::parse("db0e8a75-832f-467a-b981-24587b57d005").unwrap(),
        },
    });
    let action = next_action(&p, &[], at("2026-05-18T04:00:00Z"));
    assert_eq!(action.code, NextActionCode::ReverifyBefore);
    assert!(action.message.contains("2026-06-01"));
    assert!(
        can_create_account(&p),
        "still REGULAR until Ralio says otherwise"
    );
    assert!(
        needs_verification(&p),
        "the warning asks for a new verification"
    );
    assert!(!needs_verification(&with_level(
        KycLevel::Regular,
        "2026-05-04T14:05:11Z"
    )));
    assert!(needs_verification(&UserProfile::unknown(uid())));
}

#[test]
fn a_session_left_by_an_attempt_is_open_unknown_and_recent() {
    let began = at("2026-05-04T09:00:00Z");
    let listed = |id: &str, created: &str, state| ListedSession {
        id: crate::SessionId::parse(id).unwrap(),
        created_at: Some(at(created)),
        state,
    };
    let open = Some(crate::SessionState::NotStarted);
    let old = listed(A, "2026-05-01T00:00:00Z", open);
    let fresh = listed(B, "2026-05-04T09:00:01Z", open);
    let known = std::collections::HashSet::new();
    assert_eq!(
        session_left_by_attempt(&[old, fresh], &known, began),
        Some(fresh)
    );
    let known_fresh: std::collections::HashSet<_> = [fresh.id].into();
    assert_eq!(
        session_left_by_attempt(&[old, fresh], &known_fresh, began),
        None
    );
    let verified = listed(
        B,
        "2026-05-04T09:00:01Z",
        Some(crate::SessionState::Verified),
    );
    assert_eq!(session_left_by_attempt(&[verified], &known, began), None);
    // A state nobody told us about may be a new session's, so nothing may be created beside it.
    let unheard_of = listed(B, "2026-05-04T09:00:01Z", None);
    assert_eq!(
        session_left_by_attempt(&[unheard_of], &known, began),
        Some(unheard_of)
    );
}

#[test]
fn an_unusable_listing_blocks_only_when_it_may_be_the_attempts() {
    let began = at("2026-05-04T09:00:00Z");
    let known: std::collections::HashSet<_> = [crate::SessionId::parse(A).unwrap()].into();
    let unusable = |id: Option<&str>, created: Option<&str>, state| UnusableListing {
        id: id.map(|id| crate::SessionId::parse(id).unwrap()),
        created_at: created.map(at),
        state,
    };
    let open = Some(crate::SessionState::NotStarted);
    let blocks = |u| unusable_may_be_left_by_attempt(&[u], &known, began);
    assert!(
        !blocks(unusable(None, Some("2026-05-01T00:00:00Z"), open)),
        "older"
    );
    assert!(!blocks(unusable(Some(A), None, open)), "stored here");
    assert!(
        !blocks(unusable(None, None, Some(crate::SessionState::Verified))),
        "finished"
    );
    assert!(blocks(unusable(None, Some("2026-05-04T09:00:01Z"), open)));
    assert!(
        blocks(unusable(Some(B), None, None)),
        "nothing tells it apart"
    );
}

#[test]
fn only_the_newest_open_session_with_time_left_is_reused() {
    let profile = UserProfile::unknown(uid());
    let margin = chrono::Duration::hours(1);
    let open = session(A, "2026-05-04T09:12:03Z", Phase::Started);
    let expires = open.expires_at.unwrap();
    let reused = |sessions: &[SessionRecord], now| {
        reusable_session(&profile, sessions, now, margin).map(|(s, _)| s.session_id)
    };
    let sessions = std::slice::from_ref(&open);
    assert_eq!(
        reused(sessions, expires - chrono::Duration::hours(2)),
        Some(open.session_id)
    );
    assert_eq!(
        reused(sessions, expires - margin),
        None,
        "too close to expiry"
    );
    let newer_rejected = session(B, "2026-05-05T09:12:03Z", Phase::Rejected);
    assert_eq!(
        reused(
            &[open.clone(), newer_rejected],
            expires - chrono::Duration::hours(2)
        ),
        None,
        "only the newest session counts"
    );
}

#[test]
fn codes_are_stable_strings() {
    let json = serde_json::to_string(&NextActionCode::AwaitKycUpdate).unwrap();
    assert_eq!(json, "\"await_kyc_update\"");
    for code in NextActionCode::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

#[test]
fn a_verified_user_without_a_level_is_overdue_after_the_wait_until_a_newer_level_comes() {
    let wait = chrono::Duration::minutes(15);
    let mut verified = session(A, "2026-05-20T10:00:00Z", Phase::Verified);
    verified.updated_at = at("2026-05-20T11:00:00Z");
    let sessions = [verified];
    let light_before = with_level(KycLevel::Light, "2026-05-20T09:00:00Z");
    assert_eq!(
        level_overdue(&light_before, &sessions, wait, at("2026-05-20T11:14:59Z")),
        None
    );
    assert_eq!(
        level_overdue(&light_before, &sessions, wait, at("2026-05-21T00:00:00Z")),
        Some(at("2026-05-20T11:15:00Z"))
    );
    let unknown = UserProfile::unknown(uid());
    assert!(level_overdue(&unknown, &sessions, wait, at("2026-05-21T00:00:00Z")).is_some());
    let regular = with_level(KycLevel::Regular, "2026-05-20T12:00:00Z");
    assert_eq!(
        level_overdue(&regular, &sessions, wait, at("2026-05-21T00:00:00Z")),
        None
    );
    let downgraded_after = with_level(KycLevel::Light, "2026-05-20T12:00:00Z");
    assert_eq!(
        level_overdue(
            &downgraded_after,
            &sessions,
            wait,
            at("2026-05-21T00:00:00Z")
        ),
        None
    );
    let open = [session(A, "2026-05-20T10:00:00Z", Phase::Review)];
    assert_eq!(
        level_overdue(&light_before, &open, wait, at("2026-05-21T00:00:00Z")),
        None
    );
}
