use super::*;
use chrono::Duration;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

fn uid() -> Uid {
    Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap()
}

fn token() -> ReservationToken {
    ReservationToken(uuid::Uuid::new_v4())
}

fn account() -> RalioAccount {
    RalioAccount::opened("acc", "Main", Currency::Eur)
}

#[test]
fn a_lapsed_pending_reservation_is_uncertain_never_free() {
    let now = at("2026-05-04T09:00:00Z");
    let t = token();
    let until = now + Duration::seconds(60);
    let pending = AccountRecord::reserve(uid(), "Main", Currency::Eur, t, until, now).record;
    assert_eq!(AccountRecord::reservation_found(None, now), None);
    assert_eq!(
        AccountRecord::reservation_found(Some(&pending), until),
        Some(AccountReservation::InProgress { lease_until: until })
    );
    assert_eq!(
        AccountRecord::reservation_found(Some(&pending), until + Duration::seconds(1)),
        Some(AccountReservation::Uncertain {
            token: t,
            since: until
        })
    );
    assert!(!AccountGuard::Reservable.allows(Some(&pending)));
    assert!(AccountGuard::HeldBy(t).allows(Some(&pending)));
    assert!(!AccountGuard::HeldBy(token()).allows(Some(&pending)));
}

#[test]
fn only_a_certain_failure_frees_the_reservation() {
    let now = at("2026-05-04T09:00:00Z");
    let t = token();
    let failed = AccountRecord::fail(uid(), "Main", Currency::Eur, t, now).record;
    assert!(AccountGuard::Reservable.allows(Some(&failed)));
    assert_eq!(AccountRecord::reservation_found(Some(&failed), now), None);
    let uncertain = AccountRecord::mark_uncertain(uid(), "Main", Currency::Eur, t, now).record;
    assert!(!AccountGuard::Reservable.allows(Some(&uncertain)));
    assert_eq!(
        AccountRecord::reservation_found(Some(&uncertain), now + Duration::days(1)),
        Some(AccountReservation::Uncertain {
            token: t,
            since: now
        })
    );
    let created = AccountRecord::complete(uid(), "Main", Currency::Eur, t, account(), now).record;
    assert!(
        !AccountGuard::HeldBy(t).allows(Some(&created)),
        "completed once"
    );
    assert!(matches!(
        AccountRecord::reservation_found(Some(&created), now),
        Some(AccountReservation::Existing(_))
    ));
}

#[test]
fn activation_marks_a_created_account_active_once() {
    let now = at("2026-05-04T09:00:00Z");
    let created =
        AccountRecord::complete(uid(), "Main", Currency::Eur, token(), account(), now).record;
    let write = created.activate(now, now).unwrap();
    assert_eq!(write.guard, AccountGuard::Created);
    assert_eq!(write.record.created().unwrap().state, ACTIVE);
    assert!(write.record.activate(now, now).is_none(), "once");
    let pending = AccountRecord::reserve(uid(), "Main", Currency::Eur, token(), now, now).record;
    assert!(pending.activate(now, now).is_none());
}

#[test]
fn settling_and_matching() {
    use crate::decisions::settled;
    let since = at("2026-05-04T09:00:00Z");
    let settle = Duration::minutes(2);
    assert_eq!(
        settled(since, settle, since + Duration::seconds(30)),
        Err(Duration::seconds(90))
    );
    assert_eq!(settled(since, settle, since + settle), Ok(()));
    let u = uid().to_string();
    assert!(is_requested_account(
        &u,
        "Main",
        "EUR",
        uid(),
        "Main",
        Currency::Eur
    ));
    assert!(!is_requested_account(
        &u,
        "Main",
        "USD",
        uid(),
        "Main",
        Currency::Eur
    ));
    assert!(!is_requested_account(
        &u,
        "Other",
        "EUR",
        uid(),
        "Main",
        Currency::Eur
    ));
    let other = "00000000-0000-4000-8000-000000000000";
    assert!(!is_requested_account(
        other,
        "Main",
        "EUR",
        uid(),
        "Main",
        Currency::Eur
    ));
    assert!(AccountId::parse("a#b").is_err() && AccountId::parse("").is_err());
    assert!(AccountId::parse("../users").is_err() && AccountId::parse("a/b?c").is_err());
    assert_eq!(AccountId::parse(" acc-1 ").unwrap().as_str(), "acc-1");
}
