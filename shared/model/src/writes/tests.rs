use super::*;
use crate::{HostedUrl, Owner, Uid};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn record() -> SessionRecord {
    SessionRecord::created(
        Owner::User(Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()),
        SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap(),
        HostedUrl::new("https://verify.example/s"),
        at("2026-05-04T09:12:03Z"),
        at("2026-05-11T09:12:03Z"),
    )
}

#[test]
fn a_creation_on_nothing_stores_exactly_the_record() {
    let record = record();
    let schedule = crate::ExpirySchedule::default();
    let buckets = schedule.buckets(record.expires_at.unwrap());
    let stored = SessionPatch::creation(&record, &buckets).applied_to(None);
    assert_eq!(stored, SessionFields::of(&record, &buckets));
}

#[test]
fn a_creation_after_a_webhook_keeps_the_reported_state() {
    let now = at("2026-05-04T09:12:04Z");
    let reported = SessionPatch::reported(
        Phase::Review,
        Vec::new(),
        SessionFields::default(),
        now,
        now,
    )
    .applied_to(None);
    let record = record();
    let merged = SessionPatch::creation(&record, &[]).applied_to(Some(&reported));
    assert_eq!(merged.phase, Some(Phase::Review));
    assert_eq!(merged.hosted_url, record.hosted_url);
    assert_eq!(merged.created_at, Some(record.created_at));
    assert_eq!(merged.updated_at, Some(now));
    assert_eq!(
        SessionGuard::Creation.verdict(Some(&merged)),
        Verdict::Unchanged
    );
}

#[test]
fn a_report_never_undoes_what_creation_stored() {
    let record = record();
    let stored = SessionFields::of(&record, &[]);
    let announced = SessionFields {
        hosted_url: Some(HostedUrl::new("https://other")),
        expires_at: Some(at("2030-01-01T00:00:00Z")),
        ..SessionFields::default()
    };
    let now = at("2026-05-05T00:00:00Z");
    let after = SessionPatch::reported(Phase::Started, Vec::new(), announced, now, now)
        .applied_to(Some(&stored));
    assert_eq!(after.hosted_url, record.hosted_url);
    assert_eq!(after.expires_at, record.expires_at);
    assert_eq!(after.created_at, Some(record.created_at));
    assert_eq!(after.phase, Some(Phase::Started));
    assert_eq!(after.updated_at, Some(now));
}

#[test]
fn only_open_unflagged_sessions_are_flagged() {
    let mut stored = SessionFields::of(&record(), &[]);
    assert_eq!(SessionGuard::Flag.verdict(None), Verdict::Stale);
    assert_eq!(SessionGuard::Flag.verdict(Some(&stored)), Verdict::Apply);
    stored.expiring_soon = Some(true);
    assert_eq!(
        SessionGuard::Flag.verdict(Some(&stored)),
        Verdict::Unchanged
    );
    stored.expiring_soon = None;
    stored.phase = Some(Phase::Review);
    assert_eq!(SessionGuard::Flag.verdict(Some(&stored)), Verdict::Stale);
}
