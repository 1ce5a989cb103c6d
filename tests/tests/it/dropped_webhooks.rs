//! These tests check what happens when Ralio's webhooks are lost. The simulator drops the
//! deliveries it is told to, while its sessions still change; Ralio's checks and state history
//! say what the lost webhooks would have said; and the sweep (the reconciler, run at once)
//! heals each standing on both stores, once, so a late redelivery changes nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use idv_adapters::ralio::{Deadline, RalioClient, RalioConfig, RalioCredentials, ReportedState};
use idv_e2e::{Stack, Store, both_stores, eventually, new_uid, start};
use idv_model::{EventOutcome, SessionState, Uid};
use ralio_sim::{Fault, FinalListing, Operation, SimConfig, Simulator};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

both_stores!(
    every_dropped_outcome_is_healed_once_and_a_late_redelivery_changes_nothing,
    ended_sessions_listed_without_their_links_are_healed_too,
    ended_sessions_left_out_of_the_list_are_healed_from_their_history,
    a_dropped_level_is_overdue_until_a_signed_one_opens_the_gate,
);

/// The waits are seconds, so that a test sweeps at once. A session is looked at a second after
/// its last change, and a verified user without a level is overdue a second after it.
fn quick_sweeps(options: &mut idv_local::LocalOptions) {
    options.sweep.sweep_after = chrono::Duration::seconds(1);
    options.sweep.level_wait = chrono::Duration::seconds(1);
    options.account_gate.level_wait = chrono::Duration::seconds(1);
}

fn simulator(stack: &Stack) -> Arc<Simulator> {
    stack.running.simulator.clone().expect("the simulator runs")
}

async fn new_session(stack: &Stack, uid: &str) -> String {
    let (status, body) = stack.create_session(uid).await;
    assert_eq!(status, 201, "{body}");
    body["sessionId"].as_str().unwrap().to_owned()
}

fn state_changes(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["detail-type"] == "Session State Changed")
        .map(|e| e["detail"]["state"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Waits until the simulator has sent (or dropped) `count` webhooks.
async fn deliveries_reach(sim: &Simulator, count: usize) {
    eventually("deliveries", Duration::from_secs(60), || async {
        (sim.deliveries().iter().filter(|d| !d.dropped).count() >= count).then_some(())
    })
    .await;
}

/// An outcome decided at the simulator, with its reason.
type Decision = (&'static str, Option<&'static str>);

async fn every_dropped_outcome_is_healed_once_and_a_late_redelivery_changes_nothing(store: Store) {
    every_dropped_outcome_is_healed(store, FinalListing::WithHostedUrl).await
}

/// Ralio's example list shows only open sessions, so whether an ended one keeps its `hostedUrl`
/// is unspecified; without it, the entry is still read for its state.
async fn ended_sessions_listed_without_their_links_are_healed_too(store: Store) {
    every_dropped_outcome_is_healed(store, FinalListing::WithoutHostedUrl).await
}

/// The documented example lists only open sessions, so an ended one may not be listed at all;
/// its state is then read from its state history.
async fn ended_sessions_left_out_of_the_list_are_healed_from_their_history(store: Store) {
    every_dropped_outcome_is_healed(store, FinalListing::Omitted).await
}

async fn every_dropped_outcome_is_healed(store: Store, listing: FinalListing) {
    let stack = start(store, |options| {
        quick_sweeps(options);
        if let idv_local::RalioMode::Simulator { final_listing, .. } = &mut options.ralio {
            *final_listing = listing;
        }
    })
    .await;
    let sim = simulator(&stack);
    sim.fail_next(Operation::DeliverWebhooks, Fault::Drop, 1_000);
    let cases: [(&str, &[Decision], &str); 4] = [
        ("approve", &[("approve", None)], "VERIFIED"),
        ("reject", &[("reject", Some("no-match"))], "REJECTED"),
        ("review", &[("review", None), ("approve", None)], "VERIFIED"),
        ("expire", &[("expire", None)], "EXPIRED"),
    ];
    let mut users = Vec::new();
    for (_, outcomes, _) in &cases {
        let uid = new_uid();
        let session = new_session(&stack, &uid).await;
        for (outcome, reason) in *outcomes {
            stack.outcome(&session, outcome, *reason).await;
        }
        users.push((uid, session));
    }
    for (uid, _) in &users {
        let kyc = stack.kyc(uid).await;
        assert_eq!(
            kyc["latestSession"]["state"], "NOT_STARTED",
            "nothing arrived"
        );
    }

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = stack.sweep_now().await;
    assert_eq!(report.healed.len(), 4, "{report:?}");
    assert!(
        report
            .healed
            .iter()
            .all(|(_, o)| *o == EventOutcome::Applied)
    );
    assert_eq!(
        report.ralio_calls,
        4 + 4 + 1,
        "a list and a history per user, and the rejection's checks"
    );

    for ((name, _, state), (uid, session)) in cases.iter().zip(&users) {
        let kyc = stack.kyc(uid).await;
        let latest = &kyc["latestSession"];
        assert_eq!(latest["sessionId"], session.as_str(), "{name}");
        assert_eq!(latest["state"], *state, "{name}: {kyc}");
        assert_eq!(kyc["kycLevel"], "LIGHT", "{name}: no API tells a level");
        if *name == "reject" {
            assert_eq!(latest["failureReasons"][0]["code"], "NO_MATCH", "{kyc}");
            assert_eq!(kyc["nextAction"]["code"], "retry_verification");
        }
        let events = stack
            .events_until(uid, "the healed state's event", |e| {
                state_changes(e).iter().any(|s| s == state)
            })
            .await;
        assert_eq!(state_changes(&events), [*state], "{name}");
    }

    // Ralio redelivers everything it dropped: the outcomes change nothing, and the levels it
    // had lost now arrive.
    sim.clear_faults();
    let already = sim.deliveries().iter().filter(|d| !d.dropped).count();
    let redelivered = sim.redeliver_dropped();
    assert_eq!(
        redelivered,
        2 + 1 + 3 + 1,
        "verified and level, failed, review and both, expired"
    );
    deliveries_reach(&sim, already + redelivered).await;
    assert!(
        sim.deliveries()
            .iter()
            .all(|d| d.dropped || d.status == 200)
    );
    for ((name, _, state), (uid, _)) in cases.iter().zip(&users) {
        let events = stack.events(uid).await;
        assert_eq!(
            state_changes(&events),
            [*state],
            "{name}: nothing published twice"
        );
        let kyc = stack.kyc(uid).await;
        assert_eq!(kyc["latestSession"]["state"], *state, "{name}");
        if *state == "VERIFIED" {
            assert_eq!(kyc["kycLevel"], "REGULAR", "{name}: the redelivered level");
        }
    }
    let trail = stack.history(&users[0].0).await;
    let repeats: Vec<&Value> = trail
        .iter()
        .filter(|e| e["action"] == "kyc_session_verified")
        .collect();
    assert_eq!(repeats.len(), 1, "{trail:#?}");
    assert_eq!(repeats[0]["outcome"], "unchanged");
    stack.stop().await;
}

async fn a_dropped_level_is_overdue_until_a_signed_one_opens_the_gate(store: Store) {
    let stack = start(store, quick_sweeps).await;
    let sim = simulator(&stack);
    let uid = new_uid();
    let session = new_session(&stack, &uid).await;
    // The verification arrives; the level that follows it is lost.
    stack.outcome(&session, "verify-only", None).await;
    stack
        .kyc_until(&uid, "VERIFIED", |k| {
            k["latestSession"]["state"] == "VERIFIED"
        })
        .await;
    sim.fail_next(Operation::DeliverWebhooks, Fault::Drop, 1);
    stack.set_level(&uid, "REGULAR").await;

    let kyc = stack
        .kyc_until(&uid, "level_overdue", |k| {
            k["alerts"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(kyc["alerts"][0]["code"], "level_overdue", "{kyc}");
    assert_eq!(kyc["canCreateAccount"], false);
    let report = stack.sweep_now().await;
    assert_eq!(report.level_overdue, 1, "{report:?}");
    assert_eq!(report.ralio_calls, 0, "no API tells a level");
    assert_eq!(
        stack.kyc(&uid).await["kycLevel"],
        "LIGHT",
        "nothing invents one"
    );

    // A signed level arrives later (Ralio's redelivery): the alert clears and the gate opens.
    assert_eq!(sim.redeliver_dropped(), 1);
    let kyc = stack
        .kyc_until(&uid, "REGULAR", |k| k["canCreateAccount"] == true)
        .await;
    assert_eq!(kyc["alerts"], serde_json::json!([]));
    let (status, account) = stack.open_account(&uid, "Main", "EUR").await;
    assert_eq!(status, 201, "{account}");
    // The next visit is LEVEL_WAIT after the overdue one, and the sweep then lets the session
    // go, since the level came.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let settled = stack.sweep_now().await;
    assert_eq!(
        (settled.level_overdue, settled.released),
        (0, 1),
        "{settled:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_dropped_rejection_is_still_told_by_the_checks_and_the_state_history() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let config = SimConfig::new(sim_url.clone(), Some(receiver.uri()), "whsec_sim_only");
    let credentials = RalioCredentials {
        api_code: config.api_code.clone(),
        api_key: config.api_key.clone().into(),
    };
    let sim = Simulator::new(config);
    tokio::spawn(axum::serve(listener, ralio_sim::router(sim.clone())).into_future());
    let ralio = RalioClient::new(RalioConfig::new(sim_url, credentials)).unwrap();
    let uid = Uid::parse(&uuid::Uuid::new_v4().to_string()).unwrap();

    let rejected = ralio.create_session(uid, &HashSet::new()).await.unwrap();
    let rejected = rejected.session.id;
    sim.fail_next(Operation::DeliverWebhooks, Fault::Drop, 1);
    sim.decide(&rejected.to_string(), "reject", Some("no-match"))
        .unwrap();

    // The next outcome is delivered again: the drop was for one webhook only.
    let approved = ralio.create_session(uid, &HashSet::new()).await.unwrap();
    sim.decide(&approved.session.id.to_string(), "approve", None)
        .unwrap();
    for _ in 0..2000 {
        if sim.deliveries().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let deliveries = sim.deliveries();
    let dropped: Vec<&str> = deliveries
        .iter()
        .filter(|d| d.dropped)
        .map(|d| d.event_type.as_str())
        .collect();
    assert_eq!(dropped, ["kyc_session_failed"], "{deliveries:?}");
    let received = receiver.received_requests().await.unwrap();
    assert_eq!(
        received.len(),
        2,
        "the approval's two webhooks reach the service"
    );
    assert!(
        received
            .iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("kyc_session_failed")),
        "the dropped rejection never reached the service"
    );

    // Ralio's own record says what the lost webhook would have.
    let call = ralio.within(Deadline::none());
    let reasons = call.session_checks(uid, rejected).await.unwrap();
    let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
    let expected = ralio_sim::payloads::reason("no-match").unwrap();
    assert_eq!(codes, [expected.code]);
    assert_eq!(reasons[0].category.as_deref(), Some(expected.category));
    let history = call.state_history(uid, rejected).await.unwrap();
    let states: Vec<ReportedState> = history.iter().map(|c| c.state.clone()).collect();
    assert_eq!(
        states,
        [
            ReportedState::Known(SessionState::NotStarted),
            ReportedState::Known(SessionState::Rejected)
        ]
    );
    assert!(history.iter().all(|c| c.at.is_some()));
}
