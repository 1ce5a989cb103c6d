//! These tests check the items against the names that conditions use, and round trips through
//! DynamoDB's shapes.

use super::*;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use idv_model::{
    AccountRecord, EventId, EventStamp, ExpirySource, HostedUrl, KycLevel, KycRecord, LeaseHold,
    LeaseToken, LevelStamp, Phase, ReverifyNotice, SessionFields,
};

use crate::store::QuarantineEntry;
use crate::store::dynamo::schema::attr;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// The attribute names conditions use are the names serde writes.
#[test]
fn items_spell_the_attribute_names_conditions_use() {
    let schedule = idv_model::ExpirySchedule::default();
    let expires = at("2026-05-11T09:12:03Z");
    let [warn, expire] = schedule.buckets(expires);
    let session = SessionItem {
        session_id: Some(SessionId::from_uuid(uuid::Uuid::new_v4())),
        ..SessionItem::from(&SessionFields {
            phase: Some(Phase::Expired(ExpirySource::Inferred)),
            hosted_url: Some(HostedUrl::new("https://x")),
            expiring_soon: Some(false),
            warn_bucket: Some(warn),
            expire_bucket: Some(expire),
            ..SessionFields::default()
        })
    };
    let item = to_item(&session).unwrap();
    for name in [
        attr::SESSION_ID,
        attr::STATE,
        attr::EXPIRY_SOURCE,
        attr::HOSTED_URL,
        attr::EXPIRING_SOON,
        attr::WARN_BUCKET,
        attr::EXPIRE_BUCKET,
    ] {
        assert!(item.contains_key(name), "{name} in {item:?}");
    }
    assert!(
        !item.contains_key("createdAt"),
        "absent values are left out"
    );

    let stamp = EventStamp {
        at: expires,
        event_id: EventId::from_uuid(uuid::Uuid::new_v4()),
    };
    let profile = ProfileItem {
        ..ProfileItem::from(&KycRecord {
            level: Some(LevelStamp {
                level: KycLevel::Regular,
                stamp,
            }),
            kyc_id: None,
            reverify: Some(ReverifyNotice {
                expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
                days_remaining: 3,
                stamp,
            }),
        })
    };
    let lease = LeaseItem::from(&LeaseHold {
        until: expires,
        acquired_at: expires,
        token: LeaseToken(uuid::Uuid::new_v4()),
    });
    let mut item = to_item(&profile).unwrap();
    item.extend(to_item(&lease).unwrap());
    for name in [
        attr::KYC_AT,
        attr::KYC_EVENT_ID,
        attr::REVERIFY_AT,
        attr::REVERIFY_EVENT_ID,
        attr::CREATION_LEASE_UNTIL,
        attr::CREATION_LEASE_TOKEN,
    ] {
        assert!(item.contains_key(name), "{name} in {item:?}");
    }
    let back: ProfileItem = from_item(&item).unwrap();
    assert_eq!(back.kyc(), profile.kyc());
    let lease_back: LeaseItem = from_item(&item).unwrap();
    assert!(
        lease_back.lease().is_some(),
        "the lease reads alone from the profile item"
    );

    let uid = Uid::from_uuid(uuid::Uuid::new_v4());
    let token = idv_model::ReservationToken(uuid::Uuid::new_v4());
    let account =
        AccountRecord::reserve(uid, "Main", Currency::Eur, token, expires, expires).record;
    let item = to_item(&AccountItem::from(&account)).unwrap();
    for name in [attr::PK, attr::SK, attr::ACCOUNT_STATUS, attr::LEASE_UNTIL] {
        assert!(item.contains_key(name), "{name} in {item:?}");
    }
    let back: AccountItem = from_item(&item).unwrap();
    assert_eq!(back.record().unwrap(), account);
}

#[test]
fn session_fields_round_trip_through_an_item() {
    let fields = SessionFields {
        phase: Some(Phase::Expired(ExpirySource::Inferred)),
        failure_reasons: Some(Vec::new()),
        hosted_url: Some(HostedUrl::new("https://x")),
        created_at: Some(at("2026-05-04T09:12:03.418Z")),
        expires_at: Some(at("2026-05-11T09:12:03Z")),
        expiring_soon: Some(true),
        updated_at: Some(at("2026-05-05T00:00:00Z")),
        warn_bucket: None,
        expire_bucket: None,
        sweep: Some(idv_model::SweepMark {
            group: idv_model::SweepGroup::Open,
            since: at("2026-05-05T00:00:00Z"),
            visits: 2,
        }),
    };
    let item = to_item(&SessionItem::from(&fields)).unwrap();
    assert_eq!(item[attr::SWEEP], AttributeValue::S("OPEN".into()));
    assert_eq!(item[attr::SWEEP_VISITS], AttributeValue::N("2".into()));
    assert_eq!(
        item[attr::STATE],
        AttributeValue::S("EXPIRED".into()),
        "states are stored by name"
    );
    let back: SessionItem = from_item(&item).unwrap();
    assert_eq!(back.fields().unwrap(), fields);
}

#[test]
fn quarantined_bodies_are_binary_and_come_back_verbatim() {
    let entry = QuarantineEntry {
        received_at: at("2026-05-04T09:12:03Z"),
        reason_code: "not_json".into(),
        reason: "r".into(),
        event_id: None,
        event_type: None,
        body: vec![0, 159, 146, 150, b'{'],
        expires_at: at("2026-06-03T09:12:03Z"),
        replayed: Some(crate::store::Replayed {
            at: at("2026-05-05T10:00:00Z"),
            outcome: idv_model::AuditOutcome::Applied,
        }),
    };
    let item = to_item(&QuarantineItem::from(&entry)).unwrap();
    assert!(matches!(item["body"], AttributeValue::B(_)));
    // DynamoDB forgets the entry at its retention's end.
    assert!(
        matches!(&item["ttl"], AttributeValue::N(n) if n == &entry.expires_at.timestamp().to_string())
    );
    let back: QuarantineItem = from_item(&item).unwrap();
    assert_eq!(QuarantineEntry::from(back), entry);
}

/// A stored value that does not decode is reported by the item's type and what is wrong, never by
/// the value, because it may be a hosted page's link.
#[test]
fn an_item_that_does_not_decode_is_described_without_its_values() {
    let secret = "https://verify.example/session/bearer-token-123";
    let mut item = Item::new();
    item.insert(attr::STATE.into(), AttributeValue::S(secret.into()));
    item.insert(attr::HOSTED_URL.into(), AttributeValue::N("7".into()));
    let error = from_item::<SessionItem>(&item).unwrap_err().to_string();
    assert!(error.contains("SessionItem does not decode"), "{error}");
    assert!(!error.contains("bearer-token"), "{error}");

    let mut missing = Item::new();
    missing.insert("PK".into(), AttributeValue::S(secret.into()));
    let error = from_item::<ActivationItem>(&missing)
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field"), "{error}");
    assert!(!error.contains("bearer-token"), "{error}");
}
