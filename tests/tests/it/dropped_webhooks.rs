//! These tests check what a sweep will read when Ralio's webhooks are lost: the simulator drops
//! the deliveries it is told to, while its sessions still change, and Ralio's checks and state
//! history, read by our client, say what the lost webhooks would have said.

use std::collections::HashSet;
use std::time::Duration;

use idv_adapters::ralio::{Deadline, RalioClient, RalioConfig, RalioCredentials, ReportedState};
use idv_model::{SessionState, Uid};
use ralio_sim::{Fault, Operation, SimConfig, Simulator};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

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
