use super::*;
use crate::EventId;

#[test]
fn hosted_url_is_redacted_in_debug_and_stored_as_a_string() {
    let url = HostedUrl::new("https://verify.example/session/secret-token");
    let printed = format!("{url:?}");
    assert!(printed.starts_with("HostedUrl(") && !printed.contains("secret-token"));
    // It is stored and sent as the plain string it always was, so stored records still read.
    let json = serde_json::to_string(&url).unwrap();
    assert_eq!(json, r#""https://verify.example/session/secret-token""#);
    assert_eq!(serde_json::from_str::<HostedUrl>(&json).unwrap(), url);
    assert!(!format!("{:?}", Some(url.clone())).contains("secret-token"));
    assert_eq!(url.expose(), "https://verify.example/session/secret-token");
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn stamp(at_: &str, id: &str) -> EventStamp {
    EventStamp {
        at: at(at_),
        event_id: EventId::parse(id).unwrap(),
    }
}

fn uid() -> Uid {
    Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()
}

fn session_id() -> SessionId {
    SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap()
}

#[test]
fn a_newer_level_answers_a_reverify_warning() {
    let mut kyc = KycRecord {
        level: Some(LevelStamp {
            level: KycLevel::Regular,
            stamp: stamp(
                "2026-05-04T14:05:11Z",
                "997b6324-03d5-417e-aea4-4523f2c41b94",
            ),
        }),
        kyc_id: Some(40817),
        reverify: None,
    };
    let warning = ReverifyNotice {
        expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
        days_remaining: 14,
        stamp: stamp(
            "2026-05-18T03:00:00Z",
            "db0e8a75-832f-467a-b981-24587b57d005",
        ),
    };
    kyc.reverify = Some(warning.clone());
    assert_eq!(kyc.pending_reverify(), Some(&warning));
    kyc.level = Some(LevelStamp {
        level: KycLevel::Regular,
        stamp: stamp(
            "2026-05-20T10:00:00Z",
            "11111111-1111-4111-8111-111111111111",
        ),
    });
    assert_eq!(kyc.pending_reverify(), None);
}

#[test]
fn lapsed_open_session_is_not_active() {
    let record = SessionRecord::created(
        Owner::User(uid()),
        session_id(),
        HostedUrl::new("https://x"),
        at("2026-05-04T09:12:03Z"),
        at("2026-05-11T09:12:03Z"),
    );
    assert!(record.is_active(at("2026-05-11T09:12:02Z")));
    assert!(!record.is_active(at("2026-05-11T09:12:03Z")));
    assert!(record.has_lapsed(at("2026-05-11T09:12:03Z")));
}

#[test]
fn the_sweep_gives_up_a_week_after_expiry_or_after_verification() {
    let created = at("2026-05-04T09:12:03Z");
    let mut record = SessionRecord::created(
        Owner::User(uid()),
        session_id(),
        HostedUrl::new("https://x"),
        created,
        at("2026-05-10T00:00:00Z"),
    );
    assert_eq!(
        record.sweep_gives_up_at(),
        at("2026-05-17T00:00:00Z"),
        "an open session: a week after its expiry"
    );
    record.expires_at = None;
    assert_eq!(
        record.sweep_gives_up_at(),
        created + SESSION_LIFETIME + Duration::days(7),
        "without an expiry: a week after Ralio's lifetime"
    );
    record.phase = Phase::Verified;
    record.updated_at = at("2026-05-05T00:00:00Z");
    assert_eq!(
        record.sweep_gives_up_at(),
        at("2026-05-12T00:00:00Z"),
        "a verified session: a week after the verification"
    );
}

#[test]
fn an_announced_session_gets_the_documented_defaults_and_only_open_states() {
    let now = at("2026-05-04T09:12:03Z");
    let announce = |created, expires, state| {
        SessionRecord::announced(
            Owner::User(uid()),
            session_id(),
            HostedUrl::new("https://x"),
            created,
            expires,
            state,
            now,
        )
    };
    let bare = announce(None, None, None);
    assert_eq!(bare.created_at, now);
    assert_eq!(bare.expires_at, Some(now + SESSION_LIFETIME));
    assert_eq!(bare.phase, Phase::NotStarted);
    let earlier = at("2026-05-01T00:00:00Z");
    assert_eq!(
        announce(Some(earlier), None, None).expires_at,
        Some(earlier + SESSION_LIFETIME)
    );
    let started = announce(None, None, Some(SessionState::Started));
    assert_eq!(started.phase, Phase::Started);
    let verified = announce(None, None, Some(SessionState::Verified));
    assert_eq!(verified.phase, Phase::NotStarted, "outcomes come as events");
}

#[test]
fn fields_of_a_record_read_back_as_that_record() {
    let record = SessionRecord::created(
        Owner::User(uid()),
        session_id(),
        HostedUrl::new("https://x"),
        at("2026-05-04T09:12:03Z"),
        at("2026-05-11T09:12:03Z"),
    );
    let fields = SessionFields::of(&record, &[]);
    assert_eq!(fields.record(record.owner, record.session_id), Ok(record));
    let err = SessionFields::default()
        .record(Owner::User(uid()), session_id())
        .unwrap_err();
    assert_eq!(err.missing, "creation time");
}
