//! One contract suite runs against both stores, because the in-memory store must be
//! indistinguishable from the DynamoDB one (on moto). Every test below runs twice, as
//! `memory::name` and `dynamodb::name`.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use idv_adapters::store::{BucketMember, Lease, QuarantineEntry, Replayed, Store};
use idv_adapters::testing::fixtures::*;
use idv_adapters::testing::{dynamo, memory};
use idv_model::{
    AccountId, AccountRecord, AccountRefusal, AccountReservation, AccountStatus, Activation,
    AttributedEvent, AuditEntry, AuditOutcome, BucketKind, Change, Currency, EventOutcome,
    EventStamp, ExpiryBucket, ExpirySchedule, ExpirySource, FailureReason, HostedUrl, KycLevel,
    LeaseRelease, Owner, Phase, Plan, RalioAccount, RelatedPartyId, ReservationToken,
    ReverifyNotice, SessionRecord, StoredSession, TickClaim, WatchAction, WatchOutcome,
    parse_webhook,
};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::memory()).await })*
        }
        mod dynamodb {
            $(#[tokio::test] async fn $name() { super::$name(super::dynamo().await).await })*
        }
    };
}

contract!(
    unknown_user_reads_as_empty_light,
    created_session_reads_back_exactly,
    webhook_first_then_creation_merges_without_touching_state,
    lifecycle_review_then_verified,
    duplicate_event_changes_nothing_and_is_audited_once,
    late_review_after_verified_is_stale_and_remembered,
    same_state_from_another_event_is_unchanged,
    rejection_keeps_failure_reasons,
    kyc_level_follows_event_time_not_arrival,
    equal_timestamps_are_ordered_by_event_id,
    reverify_notice_keeps_the_newest,
    related_party_records_never_touch_the_user,
    session_owner_found_by_session_id,
    a_tick_is_claimed_once_and_taken_over_when_orphaned,
    bucket_listing_pages_through_every_session_once,
    flagging_touches_only_open_sessions_once,
    inferred_expiry_yields_to_a_later_real_outcome,
    accounts_reserve_complete_and_answer_once,
    a_dead_holder_leaves_an_uncertain_creation_never_a_free_one,
    an_activation_finds_its_account_whichever_comes_first,
    a_reservation_takes_effect_only_while_the_user_is_regular,
    a_kyc_id_names_the_owners_events_paired_it_with,
    quarantine_keeps_bytes_verbatim_once,
    the_first_receipt_of_an_event_is_kept,
    audit_trail_is_append_only_and_ordered,
    audit_pages_run_newest_first_and_resume_where_they_stopped,
    fixtures_apply_end_to_end,
    creation_lease_is_exclusive_until_released_or_expired,
    a_deleted_tick_can_be_created_again,
    a_lease_on_a_stale_read_is_refused_and_a_dead_holder_is_named,
    a_lease_given_up_uncertain_sends_the_next_holder_to_ralio,
    storing_a_created_session_gives_the_lease_back,
);

fn created(uid: idv_model::Uid, session: idv_model::SessionId) -> SessionRecord {
    SessionRecord::created(
        Owner::User(uid),
        session,
        HostedUrl::new(format!("https://verify.example/session/{session}")),
        t0(),
        t0() + Duration::days(7),
    )
}

fn buckets(record: &SessionRecord) -> [ExpiryBucket; 2] {
    ExpirySchedule::default().buckets(record.expires_at.unwrap())
}

async fn outcome(store: &Arc<dyn Store>, event: &AttributedEvent) -> EventOutcome {
    store
        .execute(&Plan::new(event, t0() + Duration::minutes(1)))
        .await
        .unwrap()
}

async fn phase(
    store: &Arc<dyn Store>,
    uid: idv_model::Uid,
    session: idv_model::SessionId,
) -> Option<Phase> {
    let snapshot = store.load_user(uid).await.unwrap();
    snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == session)
        .map(|s| s.phase)
}

async fn unknown_user_reads_as_empty_light(store: Arc<dyn Store>) {
    let uid = uid();
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Light);
    assert!(snapshot.sessions.is_empty() && snapshot.accounts.is_empty());
    assert_eq!(store.audit_trail(Owner::User(uid)).await.unwrap(), vec![]);
}

async fn created_session_reads_back_exactly(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let record = created(uid, session);
    let stored = store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap();
    assert_eq!(stored, StoredSession::Stored(record.clone()));
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.sessions, vec![record.clone()]);
    // Storing the same session again returns what is stored and changes nothing.
    let again = store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap();
    assert_eq!(again, StoredSession::AlreadyStored(record));
}

async fn webhook_first_then_creation_merges_without_touching_state(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    let verified = session_event(owner, session, Phase::Verified, t0());
    assert_eq!(outcome(&store, &verified).await, EventOutcome::Applied);
    let record = created(uid, session);
    let StoredSession::Stored(merged) = store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap()
    else {
        panic!("the first store of a session must store it");
    };
    assert_eq!(
        merged.phase,
        Phase::Verified,
        "creation must not reset a newer state"
    );
    assert_eq!(merged.hosted_url, record.hosted_url);
    assert_eq!(merged.expires_at, record.expires_at);
    assert_eq!(merged.created_at, record.created_at);
    assert_eq!(phase(&store, uid, session).await, Some(Phase::Verified));
    let StoredSession::AlreadyStored(again) = store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap()
    else {
        panic!("a second store must report the stored session");
    };
    assert_eq!(again, merged);
}

async fn lifecycle_review_then_verified(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    let record = created(uid, session);
    store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap();
    assert_eq!(
        outcome(&store, &session_event(owner, session, Phase::Review, t0())).await,
        EventOutcome::Applied
    );
    assert_eq!(phase(&store, uid, session).await, Some(Phase::Review));
    assert_eq!(
        outcome(
            &store,
            &session_event(owner, session, Phase::Verified, t0())
        )
        .await,
        EventOutcome::Applied
    );
    let snapshot = store.load_user(uid).await.unwrap();
    let stored = &snapshot.sessions[0];
    assert_eq!(stored.phase, Phase::Verified);
    assert_eq!(
        stored.hosted_url, record.hosted_url,
        "a webhook keeps the hosted page"
    );
    assert_eq!(stored.updated_at, t0() + Duration::minutes(1));
    assert_eq!(
        snapshot.profile.kyc_level(),
        KycLevel::Light,
        "a verified session is not a level"
    );
}

async fn duplicate_event_changes_nothing_and_is_audited_once(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    let review = session_event(owner, session, Phase::Review, t0());
    assert_eq!(outcome(&store, &review).await, EventOutcome::Applied);
    for _ in 0..3 {
        assert_eq!(outcome(&store, &review).await, EventOutcome::Duplicate);
    }
    assert_eq!(phase(&store, uid, session).await, Some(Phase::Review));
    let outcomes: Vec<String> = store
        .audit_trail(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome.to_string())
        .collect();
    let mut sorted = outcomes.clone();
    sorted.sort();
    // However often it is replayed, a repeat is audited once.
    assert_eq!(sorted, ["applied", "duplicate"]);
}

async fn late_review_after_verified_is_stale_and_remembered(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    let review = session_event(owner, session, Phase::Review, t0());
    let verified = session_event(owner, session, Phase::Verified, t0() + Duration::minutes(5));
    assert_eq!(outcome(&store, &verified).await, EventOutcome::Applied);
    assert_eq!(outcome(&store, &review).await, EventOutcome::Stale);
    assert_eq!(phase(&store, uid, session).await, Some(Phase::Verified));
    // The stale event is remembered, so its redelivery is a duplicate.
    assert_eq!(outcome(&store, &review).await, EventOutcome::Duplicate);
    let trail = store.audit_trail(owner).await.unwrap();
    let stale: Vec<&AuditEntry> = trail.iter().filter(|a| a.outcome == "stale").collect();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].event_id, Some(review.event_id));
    assert_eq!(stale[0].session_id, Some(session));
    assert_eq!(stale[0].detail, "kept VERIFIED, not REVIEW");
}

async fn same_state_from_another_event_is_unchanged(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let owner = Owner::User(uid);
    assert_eq!(
        outcome(&store, &session_event(owner, session, Phase::Review, t0())).await,
        EventOutcome::Applied
    );
    assert_eq!(
        outcome(&store, &session_event(owner, session, Phase::Review, t0())).await,
        EventOutcome::Unchanged
    );
    assert_eq!(phase(&store, uid, session).await, Some(Phase::Review));
}

async fn rejection_keeps_failure_reasons(store: Arc<dyn Store>) {
    let (uid, session) = (uid(), sid());
    let reasons = vec![
        FailureReason {
            check: "document-verification".into(),
            code: "EXPIRED_DOCUMENT".into(),
            message: "The identity document is past its expiry date".into(),
            category: None,
        },
        FailureReason {
            check: "manual_review".into(),
            code: "KYC.DOC.DETERIORATED".into(),
            message: "Document is damaged or unreadable.".into(),
            category: Some("DOC".into()),
        },
    ];
    let rejected = rejected_event(Owner::User(uid), session, reasons.clone());
    assert_eq!(outcome(&store, &rejected).await, EventOutcome::Applied);
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.sessions[0].phase, Phase::Rejected);
    assert_eq!(snapshot.sessions[0].failure_reasons, reasons);
}

async fn kyc_level_follows_event_time_not_arrival(store: Arc<dyn Store>) {
    let uid = uid();
    let owner = Owner::User(uid);
    let regular = level_event(owner, KycLevel::Regular, t0());
    let older_light = level_event(owner, KycLevel::Light, t0() - Duration::minutes(10));
    let newer_light = level_event(owner, KycLevel::Light, t0() + Duration::days(28));
    assert_eq!(outcome(&store, &regular).await, EventOutcome::Applied);
    assert_eq!(outcome(&store, &older_light).await, EventOutcome::Stale);
    let profile = store.load_user(uid).await.unwrap().profile;
    assert_eq!(profile.kyc_level(), KycLevel::Regular);
    assert_eq!(profile.kyc.kyc_id, Some(40817));
    assert_eq!(profile.kyc.level.as_ref().unwrap().stamp.at, t0());
    assert_eq!(
        outcome(&store, &newer_light).await,
        EventOutcome::Applied,
        "downgrades are real"
    );
    assert_eq!(
        store.load_user(uid).await.unwrap().profile.kyc_level(),
        KycLevel::Light
    );
    assert_eq!(outcome(&store, &regular).await, EventOutcome::Duplicate);
}

async fn equal_timestamps_are_ordered_by_event_id(store: Arc<dyn Store>) {
    let uid = uid();
    let owner = Owner::User(uid);
    let mut a = level_event(owner, KycLevel::Regular, t0());
    let mut b = level_event(owner, KycLevel::Light, t0());
    // b's id is made the greater one, whatever was generated.
    let (low, high) = if a.event_id < b.event_id {
        (a.event_id, b.event_id)
    } else {
        (b.event_id, a.event_id)
    };
    for (event, id) in [(&mut a, low), (&mut b, high)] {
        event.event_id = id;
        if let Change::Level { stamp, .. } = &mut event.change {
            stamp.stamp.event_id = id;
        }
    }
    assert_eq!(outcome(&store, &b).await, EventOutcome::Applied);
    assert_eq!(outcome(&store, &a).await, EventOutcome::Stale);
    assert_eq!(
        store.load_user(uid).await.unwrap().profile.kyc_level(),
        KycLevel::Light
    );
}

async fn reverify_notice_keeps_the_newest(store: Arc<dyn Store>) {
    let uid = uid();
    let owner = Owner::User(uid);
    let notice = |days: i64, when| {
        let event_id = eid();
        AttributedEvent {
            event_id,
            event_type: "kyc_expiration_warning".into(),
            occurred_at: when,
            stamped_at: None,
            owner,
            change: Change::Reverify(ReverifyNotice {
                expiration_date: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
                days_remaining: days,
                stamp: EventStamp { at: when, event_id },
            }),
        }
    };
    let newer = notice(14, t0() + Duration::minutes(5));
    let older = notice(20, t0());
    assert_eq!(outcome(&store, &newer).await, EventOutcome::Applied);
    assert_eq!(outcome(&store, &older).await, EventOutcome::Stale);
    let profile = store.load_user(uid).await.unwrap().profile;
    let stored = profile.kyc.reverify.unwrap();
    assert_eq!(stored.days_remaining, 14);
    assert_eq!(
        stored.expiration_date,
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    );
    assert_eq!(stored.stamp.event_id, newer.event_id);
}

async fn related_party_records_never_touch_the_user(store: Arc<dyn Store>) {
    // The same UUID as a user and as a related party still makes two separate records.
    let uid = uid();
    let party = Owner::RelatedParty(RelatedPartyId::from_uuid(uid.as_uuid()));
    let session = sid();
    assert_eq!(
        outcome(&store, &level_event(party, KycLevel::Regular, t0())).await,
        EventOutcome::Applied
    );
    assert_eq!(
        outcome(
            &store,
            &session_event(party, session, Phase::Verified, t0())
        )
        .await,
        EventOutcome::Applied
    );
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Light);
    assert!(snapshot.sessions.is_empty());
    assert_eq!(
        store.find_session_owners(session).await.unwrap(),
        vec![party]
    );
}

async fn session_owner_found_by_session_id(store: Arc<dyn Store>) {
    let (uid, stored, reported) = (uid(), sid(), sid());
    let record = created(uid, stored);
    store
        .store_session(&record, &buckets(&record))
        .await
        .unwrap();
    outcome(
        &store,
        &session_event(Owner::User(uid), reported, Phase::Review, t0()),
    )
    .await;
    assert_eq!(
        store.find_session_owners(stored).await.unwrap(),
        vec![Owner::User(uid)]
    );
    assert_eq!(
        store.find_session_owners(reported).await.unwrap(),
        vec![Owner::User(uid)]
    );
    assert_eq!(store.find_session_owners(sid()).await.unwrap(), vec![]);

    // Events of another user name the same session, so both owners are reported, never one picked
    // at random.
    let other = self::uid();
    outcome(
        &store,
        &session_event(Owner::User(other), reported, Phase::Verified, t0()),
    )
    .await;
    let mut both = vec![Owner::User(uid), Owner::User(other)];
    both.sort();
    assert_eq!(store.find_session_owners(reported).await.unwrap(), both);
}

async fn a_tick_is_claimed_once_and_taken_over_when_orphaned(store: Arc<dyn Store>) {
    let bucket = ExpirySchedule::default().warn_bucket(
        t0() + Duration::days(7)
            + Duration::minutes(uuid::Uuid::new_v4().as_u128() as i64 % 100_000),
    );
    let claim = |bucket, at| {
        let store = store.clone();
        async move { store.claim_tick(&bucket, at).await.unwrap() }
    };
    assert_eq!(claim(bucket, t0()).await, TickClaim::Claimed);
    assert_eq!(claim(bucket, t0()).await, TickClaim::Pending);
    let other = ExpiryBucket {
        kind: BucketKind::Expire,
        ..bucket
    };
    assert_eq!(claim(other, t0()).await, TickClaim::Claimed);
    // A tick never marked sent is taken over by another session after a minute, once.
    let later = t0() + Duration::seconds(61);
    assert_eq!(claim(bucket, later).await, TickClaim::Claimed);
    assert_eq!(claim(bucket, later).await, TickClaim::Pending);
    // Once the tick is marked sent, nobody claims it again.
    store.mark_tick_sent(&bucket, later).await.unwrap();
    assert_eq!(
        claim(bucket, later + Duration::days(1)).await,
        TickClaim::Sent
    );
}

async fn bucket_listing_pages_through_every_session_once(store: Arc<dyn Store>) {
    // The session gets a bucket of its own, far from other tests' buckets.
    let expires = t0() + Duration::days(400 + (uuid::Uuid::new_v4().as_u128() % 10_000) as i64);
    let schedule = ExpirySchedule::default();
    let mut expected = Vec::new();
    for _ in 0..25 {
        let (uid, session) = (uid(), sid());
        let mut record = created(uid, session);
        record.expires_at = Some(expires);
        store
            .store_session(
                &record,
                &[
                    schedule.warn_bucket(expires),
                    schedule.expire_bucket(expires),
                ],
            )
            .await
            .unwrap();
        expected.push(BucketMember {
            owner: Owner::User(uid),
            session_id: session,
        });
    }
    // A session in a neighbouring bucket must not show up.
    let mut other = created(uid(), sid());
    other.expires_at = Some(expires + Duration::hours(2));
    store.store_session(&other, &buckets(&other)).await.unwrap();

    for bucket in [
        schedule.warn_bucket(expires),
        schedule.expire_bucket(expires),
    ] {
        let mut seen = Vec::new();
        let mut page = None;
        let mut pages = 0;
        loop {
            let result = store
                .list_bucket(&bucket, 7, page.as_deref())
                .await
                .unwrap();
            assert!(result.members.len() <= 7);
            seen.extend(result.members);
            pages += 1;
            match result.next {
                Some(next) => page = Some(next),
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        seen.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(seen, want, "{bucket}");
    }
}

async fn flagging_touches_only_open_sessions_once(store: Arc<dyn Store>) {
    let uid = uid();
    let owner = Owner::User(uid);
    let (open, in_review) = (sid(), sid());
    for session in [open, in_review] {
        let record = created(uid, session);
        store
            .store_session(&record, &buckets(&record))
            .await
            .unwrap();
    }
    outcome(
        &store,
        &session_event(owner, in_review, Phase::Review, t0()),
    )
    .await;
    let member = |session_id| BucketMember { owner, session_id };
    let now = t0() + Duration::days(6);
    assert_eq!(
        store
            .watch(WatchAction::Flag, &member(open), now)
            .await
            .unwrap(),
        WatchOutcome::Changed
    );
    assert_eq!(
        store
            .watch(WatchAction::Flag, &member(open), now)
            .await
            .unwrap(),
        WatchOutcome::Unchanged
    );
    assert_eq!(
        store
            .watch(WatchAction::Flag, &member(in_review), now)
            .await
            .unwrap(),
        WatchOutcome::Skipped
    );
    assert_eq!(
        store
            .watch(WatchAction::Flag, &member(sid()), now)
            .await
            .unwrap(),
        WatchOutcome::Missing
    );
    let snapshot = store.load_user(uid).await.unwrap();
    let flagged: Vec<_> = snapshot
        .sessions
        .iter()
        .filter(|s| s.expiring_soon)
        .map(|s| s.session_id)
        .collect();
    assert_eq!(flagged, vec![open]);
    let flags = store
        .audit_trail(owner)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "session_flagged_expiring")
        .count();
    assert_eq!(flags, 1);
}

async fn inferred_expiry_yields_to_a_later_real_outcome(store: Arc<dyn Store>) {
    let uid = uid();
    let owner = Owner::User(uid);
    let (silent, verified) = (sid(), sid());
    for session in [silent, verified] {
        let record = created(uid, session);
        store
            .store_session(&record, &buckets(&record))
            .await
            .unwrap();
    }
    outcome(
        &store,
        &session_event(owner, verified, Phase::Verified, t0()),
    )
    .await;
    let now = t0() + Duration::days(7) + Duration::hours(1);
    let member = |session_id| BucketMember { owner, session_id };
    assert_eq!(
        store
            .watch(WatchAction::ExpireInferred, &member(silent), now)
            .await
            .unwrap(),
        WatchOutcome::Changed
    );
    assert_eq!(
        store
            .watch(WatchAction::ExpireInferred, &member(silent), now)
            .await
            .unwrap(),
        WatchOutcome::Unchanged
    );
    assert_eq!(
        store
            .watch(WatchAction::ExpireInferred, &member(verified), now)
            .await
            .unwrap(),
        WatchOutcome::Skipped
    );
    assert_eq!(
        store
            .watch(WatchAction::ExpireInferred, &member(sid()), now)
            .await
            .unwrap(),
        WatchOutcome::Missing
    );
    assert_eq!(
        phase(&store, uid, silent).await,
        Some(Phase::Expired(ExpirySource::Inferred))
    );
    assert_eq!(phase(&store, uid, verified).await, Some(Phase::Verified));
    // Ralio reports late, and the real outcome wins over our inference.
    assert_eq!(
        outcome(&store, &session_event(owner, silent, Phase::Verified, now)).await,
        EventOutcome::Applied
    );
    assert_eq!(phase(&store, uid, silent).await, Some(Phase::Verified));
}

fn ralio_account(alias: &str) -> RalioAccount {
    RalioAccount {
        state: idv_model::accounts::ACTIVE.into(),
        ..RalioAccount::opened(uuid::Uuid::new_v4().to_string(), alias, Currency::Eur)
    }
}

/// Takes the creation lease as create-session takes it, on the sessions it last read.
async fn take_lease(
    store: &Arc<dyn Store>,
    uid: idv_model::Uid,
    until: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Lease {
    let seen = store.load_user(uid).await.unwrap().sessions_version;
    store
        .acquire_creation_lease(uid, until, now, seen)
        .await
        .unwrap()
}

/// Returns a user at REGULAR, the only level at which an account may be reserved.
async fn regular_user(store: &Arc<dyn Store>) -> idv_model::Uid {
    let uid = uid();
    let regular = level_event(
        Owner::User(uid),
        KycLevel::Regular,
        t0() - Duration::days(1),
    );
    assert_eq!(outcome(store, &regular).await, EventOutcome::Applied);
    uid
}

fn reserved(reservation: AccountReservation) -> ReservationToken {
    match reservation {
        AccountReservation::Reserved(token) => token,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

async fn accounts_reserve_complete_and_answer_once(store: Arc<dyn Store>) {
    let uid = regular_user(&store).await;
    let lease = t0() + Duration::minutes(1);
    let alias = "Main EUR wallet ✓";
    let token = reserved(
        store
            .reserve_account(uid, alias, Currency::Eur, lease, t0())
            .await
            .unwrap(),
    );
    assert_eq!(
        store
            .reserve_account(uid, alias, Currency::Eur, lease, t0())
            .await
            .unwrap(),
        AccountReservation::InProgress { lease_until: lease }
    );
    // Another currency is another account, and a certain failure frees it at once.
    let usd = reserved(
        store
            .reserve_account(uid, alias, Currency::Usd, lease, t0())
            .await
            .unwrap(),
    );
    let failed = AccountRecord::fail(uid, alias, Currency::Usd, usd, t0());
    store.write_account(&failed, t0()).await.unwrap().unwrap();
    reserved(
        store
            .reserve_account(uid, alias, Currency::Usd, lease, t0())
            .await
            .unwrap(),
    );

    let account = ralio_account(alias);
    let done = t0() + Duration::minutes(2);
    let complete = AccountRecord::complete(uid, alias, Currency::Eur, token, account.clone(), done);
    store.write_account(&complete, done).await.unwrap().unwrap();
    let record = complete.record.clone();
    assert_eq!(record.created(), Some(&account));
    assert_eq!(
        store
            .reserve_account(uid, alias, Currency::Eur, lease, done)
            .await
            .unwrap(),
        AccountReservation::Existing(Box::new(record.clone()))
    );
    // The account was completed once, so the same holder can neither record it again nor fail it.
    let again = store.write_account(&complete, done).await.unwrap();
    assert_eq!(
        again,
        Err(AccountRefusal::Guarded(Some(Box::new(record.clone()))))
    );
    let fail = AccountRecord::fail(uid, alias, Currency::Eur, token, done);
    assert!(store.write_account(&fail, done).await.unwrap().is_err());
    let snapshot = store.load_user(uid).await.unwrap();
    let eur: Vec<_> = snapshot
        .accounts
        .iter()
        .filter(|a| a.currency == Currency::Eur)
        .collect();
    assert_eq!(eur, vec![&record]);
    let created = store
        .audit_trail(Owner::User(uid))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "account_created")
        .count();
    assert_eq!(created, 1);
}

async fn a_dead_holder_leaves_an_uncertain_creation_never_a_free_one(store: Arc<dyn Store>) {
    let uid = regular_user(&store).await;
    let lease = t0() + Duration::minutes(1);
    let first = reserved(
        store
            .reserve_account(uid, "a", Currency::Usd, lease, t0())
            .await
            .unwrap(),
    );
    let later = lease + Duration::seconds(1);
    assert_eq!(
        store
            .reserve_account(uid, "a", Currency::Usd, later + Duration::minutes(1), later)
            .await
            .unwrap(),
        AccountReservation::Uncertain {
            token: first,
            since: lease
        }
    );
    // Only the token's holder may take the reservation over, and only once.
    let retry = ReservationToken(uuid::Uuid::new_v4());
    let intruder = ReservationToken(uuid::Uuid::new_v4());
    let takeover = |held, new| {
        AccountRecord::retry(
            uid,
            "a",
            Currency::Usd,
            held,
            new,
            later + Duration::minutes(1),
            later,
        )
    };
    assert!(
        store
            .write_account(&takeover(intruder, intruder), later)
            .await
            .unwrap()
            .is_err()
    );
    store
        .write_account(&takeover(first, retry), later)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .write_account(&takeover(first, retry), later)
            .await
            .unwrap()
            .is_err()
    );
    // The new holder's outcome is uncertain too, and it stays so whatever time passes.
    let uncertain = AccountRecord::mark_uncertain(uid, "a", Currency::Usd, retry, later);
    store
        .write_account(&uncertain, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .reserve_account(uid, "a", Currency::Usd, later, later + Duration::days(30))
            .await
            .unwrap(),
        AccountReservation::Uncertain {
            token: retry,
            since: later
        }
    );
    let audited = store
        .audit_trail(Owner::User(uid))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "account_creation_uncertain")
        .count();
    assert_eq!(audited, 1);
}

/// Returns the account ids of activations waiting since an hour before `t0`.
async fn waiting_ids(store: &Arc<dyn Store>) -> Vec<AccountId> {
    store
        .activations_since(t0() - Duration::hours(1), t0())
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.activation.account_id)
        .collect()
}

async fn an_activation_finds_its_account_whichever_comes_first(store: Arc<dyn Store>) {
    for activation_first in [false, true] {
        let uid = regular_user(&store).await;
        let token = reserved(
            store
                .reserve_account(
                    uid,
                    "Main",
                    Currency::Eur,
                    t0() + Duration::minutes(1),
                    t0(),
                )
                .await
                .unwrap(),
        );
        let account = ralio_account("Main");
        let id = AccountId::parse(&account.id).unwrap();
        let event_id = eid();
        let activation = Activation {
            event_id,
            event_type: "account_activated".into(),
            stamp: EventStamp {
                at: t0() + Duration::minutes(3),
                event_id,
            },
            account_id: id.clone(),
        };
        let complete = AccountRecord::complete(uid, "Main", Currency::Eur, token, account, t0());
        if activation_first {
            assert_eq!(
                store.apply_activation(&activation, t0()).await.unwrap(),
                EventOutcome::Deferred
            );
            assert!(waiting_ids(&store).await.contains(&id));
            // A later announcement of the same account does not move the first one's time.
            let later = eid();
            let repeat = Activation {
                event_id: later,
                stamp: EventStamp {
                    at: t0() + Duration::minutes(9),
                    event_id: later,
                },
                ..activation.clone()
            };
            store.apply_activation(&repeat, t0()).await.unwrap();
            store.write_account(&complete, t0()).await.unwrap().unwrap();
        } else {
            store.write_account(&complete, t0()).await.unwrap().unwrap();
            assert_eq!(
                store.apply_activation(&activation, t0()).await.unwrap(),
                EventOutcome::Applied
            );
        }
        assert!(!waiting_ids(&store).await.contains(&id));
        let stored = store.load_user(uid).await.unwrap().accounts.remove(0);
        assert_eq!(
            stored.created().unwrap().state,
            "ACTIVE",
            "first: {activation_first}"
        );
        assert!(matches!(
            stored.status,
            AccountStatus::Created { activated_at: Some(at), .. } if at == t0() + Duration::minutes(3)
        ));
        assert_eq!(
            store.apply_activation(&activation, t0()).await.unwrap(),
            EventOutcome::Duplicate
        );
        let again = Activation {
            event_id: eid(),
            ..activation.clone()
        };
        assert_eq!(
            store.apply_activation(&again, t0()).await.unwrap(),
            EventOutcome::Unchanged
        );
        let activated = store
            .audit_trail(Owner::User(uid))
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.action == "account_activated")
            .count();
        assert_eq!(activated, 1);
    }
}

async fn a_reservation_takes_effect_only_while_the_user_is_regular(store: Arc<dyn Store>) {
    let lease = t0() + Duration::minutes(1);
    // A user never REGULAR, or lowered to LIGHT after a REGULAR (a downgrade that lands between the
    // gate's read and its reservation), gets nothing reserved.
    let never = uid();
    let lowered = regular_user(&store).await;
    let light = level_event(Owner::User(lowered), KycLevel::Light, t0());
    assert_eq!(outcome(&store, &light).await, EventOutcome::Applied);
    for uid in [never, lowered] {
        assert_eq!(
            store
                .reserve_account(uid, "Main", Currency::Eur, lease, t0())
                .await
                .unwrap(),
            AccountReservation::NotRegular
        );
        assert!(store.load_user(uid).await.unwrap().accounts.is_empty());
    }
    // A creation that went uncertain is not tried again once the user is lowered, and what
    // Ralio did is still recorded.
    let uid = regular_user(&store).await;
    let token = reserved(
        store
            .reserve_account(uid, "Main", Currency::Eur, lease, t0())
            .await
            .unwrap(),
    );
    let uncertain = AccountRecord::mark_uncertain(uid, "Main", Currency::Eur, token, t0());
    store
        .write_account(&uncertain, t0())
        .await
        .unwrap()
        .unwrap();
    let light = level_event(Owner::User(uid), KycLevel::Light, t0());
    assert_eq!(outcome(&store, &light).await, EventOutcome::Applied);
    let later = t0() + Duration::minutes(5);
    let retry = ReservationToken(uuid::Uuid::new_v4());
    let again = AccountRecord::retry(uid, "Main", Currency::Eur, token, retry, later, later);
    assert_eq!(
        store.write_account(&again, later).await.unwrap(),
        Err(AccountRefusal::NotRegular)
    );
    let complete = AccountRecord::complete(
        uid,
        "Main",
        Currency::Eur,
        token,
        ralio_account("Main"),
        later,
    );
    store
        .write_account(&complete, later)
        .await
        .unwrap()
        .unwrap();
}

async fn a_kyc_id_names_the_owners_events_paired_it_with(store: Arc<dyn Store>) {
    let kyc_id = (uuid::Uuid::new_v4().as_u128() % 1_000_000_000) as i64 + 1;
    let paired = |owner, level, at| {
        let mut event = level_event(owner, level, at);
        if let Change::Level { kyc_id: id, .. } = &mut event.change {
            *id = Some(kyc_id);
        }
        event
    };
    assert!(store.find_kyc_id_owners(kyc_id).await.unwrap().is_empty());
    let owner = Owner::User(uid());
    let regular = paired(owner, KycLevel::Regular, t0());
    assert_eq!(outcome(&store, &regular).await, EventOutcome::Applied);
    assert_eq!(store.find_kyc_id_owners(kyc_id).await.unwrap(), vec![owner]);
    // A stale event pairs too, because it still says whose the kycId is, and a repeat changes
    // nothing.
    let older = paired(owner, KycLevel::Light, t0() - Duration::days(1));
    assert_eq!(outcome(&store, &older).await, EventOutcome::Stale);
    assert_eq!(outcome(&store, &regular).await, EventOutcome::Duplicate);
    assert_eq!(store.find_kyc_id_owners(kyc_id).await.unwrap(), vec![owner]);
    // Another owner is named with the same kycId, so both are listed and the kycId alone is
    // contested, never guessed.
    let other = Owner::User(uid());
    assert_eq!(
        outcome(&store, &paired(other, KycLevel::Light, t0())).await,
        EventOutcome::Applied
    );
    let mut both = store.find_kyc_id_owners(kyc_id).await.unwrap();
    both.sort();
    let mut expected = vec![owner, other];
    expected.sort();
    assert_eq!(both, expected);
}

async fn quarantine_keeps_bytes_verbatim_once(store: Arc<dyn Store>) {
    use chrono::SubsecRound;
    let day_offset = (uuid::Uuid::new_v4().as_u128() % 3000) as i64;
    let received = t0() + Duration::days(day_offset);
    let body: Vec<u8> = [
        b"{\"id\":".as_slice(),
        &[0xff, 0x00, 0xfe],
        b" \xe2\x9c\x93 not json",
    ]
    .concat();
    let entry = QuarantineEntry {
        received_at: received,
        reason_code: "not_json".into(),
        reason: "body is not JSON".into(),
        event_id: None,
        event_type: None,
        body: body.clone(),
        expires_at: (received + Duration::days(30)).trunc_subsecs(0),
        replayed: None,
    };
    // The user that a payload names is told on their trail, once, with the payload.
    let owner = Owner::User(uid());
    let note = AuditEntry::quarantined(received, None, None, "not_json");
    store
        .quarantine(&entry, Some((owner, &note)))
        .await
        .unwrap();
    store
        .quarantine(
            &QuarantineEntry {
                received_at: received + Duration::minutes(1),
                ..entry.clone()
            },
            Some((owner, &note)),
        )
        .await
        .unwrap();
    assert_eq!(store.audit_trail(owner).await.unwrap(), vec![note]);
    let other = QuarantineEntry {
        body: b"{}".to_vec(),
        event_id: Some("x".into()),
        event_type: Some("payin_completed".into()),
        reason_code: "unknown_event_type".into(),
        ..entry.clone()
    };
    store.quarantine(&other, None).await.unwrap();
    let mut kept = store.quarantined(received.date_naive()).await.unwrap();
    kept.sort_by(|a, b| a.body.cmp(&b.body));
    let mut want = vec![entry.clone(), other];
    want.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(kept, want);
    // A replay is remembered on the entry.
    let replayed = Replayed {
        at: received + Duration::days(1),
        outcome: AuditOutcome::Applied,
    };
    store.mark_replayed(&entry, &replayed).await.unwrap();
    let kept = store.quarantined(received.date_naive()).await.unwrap();
    let marked = kept.iter().find(|e| e.body == entry.body).unwrap();
    assert_eq!(marked.replayed.as_ref(), Some(&replayed));
}

async fn the_first_receipt_of_an_event_is_kept(store: Arc<dyn Store>) {
    let event = eid();
    let keep = Duration::hours(2);
    assert_eq!(store.first_receipt(event, t0(), keep).await.unwrap(), t0());
    assert_eq!(
        store
            .first_receipt(event, t0() + Duration::minutes(5), keep)
            .await
            .unwrap(),
        t0()
    );
    assert_eq!(
        store
            .first_receipt(eid(), t0() + Duration::minutes(5), keep)
            .await
            .unwrap(),
        t0() + Duration::minutes(5)
    );
}

async fn audit_trail_is_append_only_and_ordered(store: Arc<dyn Store>) {
    let owner = Owner::User(uid());
    let entry = |minute, action: &str| AuditEntry {
        at: t0() + Duration::minutes(minute),
        action: action.into(),
        outcome: AuditOutcome::Refused,
        event_id: None,
        session_id: None,
        detail: "kyc level LIGHT".into(),
        applied: None,
    };
    store
        .append_audit(owner, &entry(2, "second"))
        .await
        .unwrap();
    store.append_audit(owner, &entry(1, "first")).await.unwrap();
    store.append_audit(owner, &entry(3, "third")).await.unwrap();
    let trail = store.audit_trail(owner).await.unwrap();
    assert_eq!(
        trail,
        vec![entry(1, "first"), entry(2, "second"), entry(3, "third")]
    );
}

async fn audit_pages_run_newest_first_and_resume_where_they_stopped(store: Arc<dyn Store>) {
    let owner = Owner::User(uid());
    let session = sid();
    let entry = |minute: i64| {
        AuditEntry::new(
            t0() + Duration::minutes(minute),
            "kyc_session_verified",
            AuditOutcome::Applied,
        )
        .about_session(session)
        .with_applied(idv_model::audit::AppliedChange::session_move(
            idv_model::Phase::Verified,
            Vec::new(),
        ))
    };
    // Two entries in the same instant are both kept and both paged.
    for minute in [3, 1, 4, 1, 5] {
        store.append_audit(owner, &entry(minute)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.audit_page(owner, 2, cursor.as_deref()).await.unwrap();
        pages += 1;
        assert!(page.entries.len() <= 2);
        seen.extend(page.entries.iter().map(|e| e.at));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3, "2, 2 and 1: the last page says it is the last");
    let minutes: Vec<i64> = seen.iter().map(|at| (*at - t0()).num_minutes()).collect();
    assert_eq!(minutes, [5, 4, 3, 1, 1]);
    let full = store.audit_page(owner, 5, None).await.unwrap();
    assert_eq!(full.entries.len(), 5);
    assert_eq!(full.next, None, "exactly a page's worth is one page");
    assert_eq!(full.entries[0], entry(5), "facts are kept as written");
    let nobody = store.audit_page(Owner::User(uid()), 5, None).await.unwrap();
    assert!(nobody.entries.is_empty() && nobody.next.is_none());
}

async fn fixtures_apply_end_to_end(store: Arc<dyn Store>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ralio");
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let uid = idv_model::Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
    // Fixture ids are shared across tests, but on DynamoDB each test has its own table and in
    // memory its own store, so replaying them here is isolated.
    let files = [
        "kyc_session_manual_review.v2.json",
        "kyc_session_verified.v2.json",
        "kyc_state_updated.v2.json",
        "kyc_session_failed.v1.json",
        "kyc_session_expired.v2.json",
        "kyc_session_verified.v1.json",
    ];
    let mut outcomes = Vec::new();
    for file in files {
        let event = parse_webhook(&read(file)).unwrap();
        let owner = event.attribution().owner(&[]).unwrap();
        let attributed = event.attributed(owner).unwrap();
        outcomes.push(store.execute(&Plan::new(&attributed, t0())).await.unwrap());
    }
    use EventOutcome::*;
    assert_eq!(
        outcomes,
        [Applied, Applied, Applied, Applied, Applied, Unchanged]
    );
    let snapshot = store.load_user(uid).await.unwrap();
    assert_eq!(snapshot.profile.kyc_level(), KycLevel::Regular);
    let phases: Vec<(String, Phase)> = snapshot
        .sessions
        .iter()
        .map(|s| (s.session_id.to_string(), s.phase))
        .collect();
    assert_eq!(phases.len(), 3);
    assert!(phases.contains(&(
        "a534c9a9-b4ae-4db5-86c3-9506219e4c36".into(),
        Phase::Verified
    )));
    assert!(phases.contains(&(
        "62a16c76-f166-40ba-9af6-c04c6b217a4b".into(),
        Phase::Rejected
    )));
    assert!(phases.contains(&(
        "26c33b2b-1647-41a5-87a6-456349f30616".into(),
        Phase::Expired(ExpirySource::Ralio)
    )));
}

async fn creation_lease_is_exclusive_until_released_or_expired(store: Arc<dyn Store>) {
    let uid = uid();
    let until = t0() + Duration::seconds(30);
    let Lease::Acquired { token, .. } = take_lease(&store, uid, until, t0()).await else {
        panic!("a free lease must be acquired");
    };
    assert_eq!(
        take_lease(&store, uid, until, t0()).await,
        Lease::Held { until }
    );
    // Another user's lease is independent.
    assert!(matches!(
        take_lease(&store, idv_adapters::testing::fixtures::uid(), until, t0()).await,
        Lease::Acquired { .. }
    ));
    store
        .release_creation_lease(uid, token, LeaseRelease::Clean)
        .await
        .unwrap();
    let Lease::Acquired { token: second, .. } = take_lease(&store, uid, until, t0()).await else {
        panic!("a released lease must be free");
    };
    // Releasing with a stale token does not free someone else's lease.
    store
        .release_creation_lease(uid, token, LeaseRelease::Clean)
        .await
        .unwrap();
    assert_eq!(
        take_lease(&store, uid, until, t0()).await,
        Lease::Held { until }
    );
    // An expired lease can be taken over.
    let later = until + Duration::seconds(1);
    assert!(
        matches!(take_lease(&store, uid, later + Duration::seconds(30), later).await, Lease::Acquired { token: t, .. } if t != second)
    );
    // A lease leaves the user's standing untouched.
    assert_eq!(
        store.load_user(uid).await.unwrap().profile.kyc_level(),
        KycLevel::Light
    );
}

async fn a_lease_on_a_stale_read_is_refused_and_a_dead_holder_is_named(store: Arc<dyn Store>) {
    let uid = uid();
    let until = t0() + Duration::seconds(60);
    let read = store.load_user(uid).await.unwrap().sessions_version;
    // Another request stores a session after this one read the user.
    let Lease::Acquired { token, .. } = take_lease(&store, uid, until, t0()).await else {
        panic!("free")
    };
    let record = created(uid, sid());
    store
        .store_created_session(&record, &buckets(&record), token)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_creation_lease(uid, until, t0(), read)
            .await
            .unwrap(),
        Lease::Stale,
        "a read from before the session was stored gets no lease"
    );
    // A holder that dies never gives its lease back, so the next one is told, with when.
    let Lease::Acquired { token: dead, .. } = take_lease(&store, uid, until, t0()).await else {
        panic!("free again")
    };
    let later = until + Duration::seconds(1);
    match take_lease(&store, uid, later + Duration::seconds(60), later).await {
        Lease::Acquired {
            after_lapsed: Some(hold),
            ..
        } => {
            assert_eq!(hold.token, dead);
            assert_eq!(hold.acquired_at, t0());
        }
        other => panic!("expected the dead holder named, got {other:?}"),
    }
}

async fn a_lease_given_up_uncertain_sends_the_next_holder_to_ralio(store: Arc<dyn Store>) {
    let uid = uid();
    let until = t0() + Duration::seconds(60);
    let Lease::Acquired { token: first, .. } = take_lease(&store, uid, until, t0()).await else {
        panic!("free")
    };
    store
        .release_creation_lease(uid, first, LeaseRelease::Uncertain)
        .await
        .unwrap();
    // The next holder is told at once, not after the lease's length, to look at Ralio. It
    // begins a minute later, so that the third holder below can tell which beginning is kept.
    let Lease::Acquired {
        token: second,
        after_lapsed: Some(hold),
    } = take_lease(&store, uid, until, t0() + Duration::minutes(1)).await
    else {
        panic!("a lease given up uncertain must be taken with its holder named")
    };
    assert_eq!((hold.token, hold.acquired_at), (first, t0()));
    // The second holder gives up uncertain too, later, and the first attempt's beginning is kept.
    store
        .release_creation_lease(uid, second, LeaseRelease::Uncertain)
        .await
        .unwrap();
    let later = t0() + Duration::minutes(30);
    let Lease::Acquired {
        token: third,
        after_lapsed: Some(hold),
    } = take_lease(&store, uid, later + Duration::seconds(60), later).await
    else {
        panic!("named again")
    };
    assert_eq!((hold.token, hold.acquired_at), (second, t0()));
    // The earlier attempts settled unseen, so the third holder's own attempt begins now.
    assert!(
        store
            .restart_creation_attempt(uid, third, later)
            .await
            .unwrap()
    );
    assert!(
        !store
            .restart_creation_attempt(uid, second, later)
            .await
            .unwrap(),
        "only the holder restarts"
    );
    store
        .release_creation_lease(uid, third, LeaseRelease::Uncertain)
        .await
        .unwrap();
    let Lease::Acquired {
        token: third,
        after_lapsed: Some(hold),
    } = take_lease(&store, uid, later + Duration::seconds(60), later).await
    else {
        panic!("named after the restart")
    };
    assert_eq!(hold.acquired_at, later);
    // A lease given back clean is forgotten.
    store
        .release_creation_lease(uid, third, LeaseRelease::Clean)
        .await
        .unwrap();
    assert!(matches!(
        take_lease(&store, uid, later + Duration::seconds(60), later).await,
        Lease::Acquired {
            after_lapsed: None,
            ..
        }
    ));
}

async fn a_deleted_tick_can_be_created_again(store: Arc<dyn Store>) {
    let bucket = ExpirySchedule::default().expire_bucket(
        t0() + Duration::days(900 + (uuid::Uuid::new_v4().as_u128() % 10_000) as i64),
    );
    assert_eq!(
        store.claim_tick(&bucket, t0()).await.unwrap(),
        TickClaim::Claimed
    );
    store.delete_tick(&bucket).await.unwrap();
    assert_eq!(
        store.claim_tick(&bucket, t0()).await.unwrap(),
        TickClaim::Claimed
    );
}

async fn storing_a_created_session_gives_the_lease_back(store: Arc<dyn Store>) {
    let until = t0() + Duration::seconds(60);
    let lease = |store: Arc<dyn Store>, uid| async move {
        match take_lease(&store, uid, until, t0()).await {
            Lease::Acquired { token, .. } => token,
            held => panic!("lease not acquired: {held:?}"),
        }
    };
    // A new session is stored, and the lease is free again.
    let (user, session) = (uid(), sid());
    let token = lease(store.clone(), user).await;
    let record = created(user, session);
    assert_eq!(
        store
            .store_created_session(&record, &buckets(&record), token)
            .await
            .unwrap(),
        StoredSession::Stored(record.clone())
    );
    assert_eq!(store.load_user(user).await.unwrap().sessions, vec![record]);
    lease(store.clone(), user).await;

    // A webhook got there first, so its state is kept and reported, and the lease is freed.
    let (user, session) = (uid(), sid());
    let token = lease(store.clone(), user).await;
    outcome(
        &store,
        &session_event(Owner::User(user), session, Phase::Review, t0()),
    )
    .await;
    let record = created(user, session);
    let StoredSession::Stored(merged) = store
        .store_created_session(&record, &buckets(&record), token)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (merged.phase, merged.hosted_url.clone()),
        (Phase::Review, record.hosted_url.clone())
    );
    lease(store.clone(), user).await;

    // Our lease ran out and another request holds it now, so the session is stored and their lease
    // kept.
    let (user, session) = (uid(), sid());
    let stale = lease(store.clone(), user).await;
    let later = until + Duration::seconds(1);
    let Lease::Acquired { .. } =
        take_lease(&store, user, later + Duration::seconds(60), later).await
    else {
        panic!()
    };
    let record = created(user, session);
    assert!(matches!(
        store
            .store_created_session(&record, &buckets(&record), stale)
            .await
            .unwrap(),
        StoredSession::Stored(_)
    ));
    assert_eq!(store.load_user(user).await.unwrap().sessions.len(), 1);
    assert!(matches!(
        take_lease(&store, user, later + Duration::seconds(60), later).await,
        Lease::Held { .. }
    ));
}
