//! These tests check exactly once at Ralio over random schedules of merchant requests for an
//! account and a session. Each request meets a Ralio fault mode or none, some are killed at a
//! random await point (their future dropped, as a Lambda killed mid-request), some are
//! concurrent, and time jumps past leases and settle delays in between. The production
//! functions run over the chosen store with the simulator as Ralio and the webhook function
//! receiving its `account_activated` and level webhooks.
//!
//! After each schedule the merchant retries until answered, and these invariants must hold:
//! - Ralio holds at most one account per (uid, alias, currency), and the answer names it;
//! - Ralio holds at most one open session per user, and the answer names it;
//! - no reservation is left pending past its lease without being resolvable: the retries
//!   end in the account.
//!
//! `EXACTLY_ONCE_SCHEDULES` sets how many schedules run per store (default 64 in memory, 24
//! on DynamoDB).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use idv_adapters::clock::{Clock, ManualClock};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::MemoryQueue;
use idv_adapters::ralio::{RalioClient, RalioConfig, RalioCredentials};
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::Store;
use idv_adapters::testing::{self, fixtures};
use idv_model::{ExpirySchedule, Uid, WebhookSecrets, can_create_account};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ralio_sim::{Fault, Operation, SimClock, SimConfig, Simulator};
use serde_json::{Value, json};

const SECRET: &str = "whsec_schedules";
/// No healthy answer on a busy machine reaches this timeout, so only the hangs, which never
/// answer, do.
const RALIO_TIMEOUT: Duration = fixtures::RALIO_TIMEOUT;
/// How much later than its answer a late-acting Ralio creates. Time on the manual clock
/// jumps, and every jump waits until Ralio's late creations have happened, so that a settle
/// delay on the clock is never shorter than Ralio's real lag.
const LATE_BY: Duration = Duration::from_millis(150);

/// The whole service over one store, with the simulator as Ralio, all on one manual clock.
struct World {
    app: Router,
    sim: Arc<Simulator>,
    store: Arc<dyn Store>,
    clock: ManualClock,
    gate: idv_account_gate::Settings,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

fn serve(listener: tokio::net::TcpListener, app: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn world(store: Arc<dyn Store>) -> World {
    let clock = ManualClock::at(chrono::Utc::now());
    let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());

    let queue = Arc::new(MemoryQueue::new(clock_arc.clone()));
    let scheduler = Arc::new(ExpiryScheduler::new(
        store.clone(),
        queue,
        ExpirySchedule::default(),
    ));
    let webhook = idv_webhook::Webhook::new(idv_webhook::Parts {
        store: store.clone(),
        keys: SigningKeys::fixed(WebhookSecrets::from_csv(SECRET).unwrap()),
        origin: None,
        clock: clock_arc.clone(),
        scheduler: Some(scheduler.clone()),
        settings: Default::default(),
        spellings: Default::default(),
    });
    let (webhook_listener, webhook_url) = listen().await;
    let mut servers = vec![serve(webhook_listener, idv_webhook::router(webhook))];

    // The simulator's address is known only once it listens, and its router needs its config,
    // so the listener comes first.
    let (listener, sim_url) = listen().await;
    let mut config = SimConfig::new(sim_url.clone(), Some(webhook_url), SECRET);
    let sim_clock = clock.clone();
    config.clock = SimClock::from_fn(move || sim_clock.now());
    let credentials = RalioCredentials {
        api_code: config.api_code.clone(),
        api_key: config.api_key.clone().into(),
    };
    let sim = Simulator::new(config);
    servers.push(serve(listener, ralio_sim::router(sim.clone())));

    let ralio = Arc::new(
        RalioClient::new(RalioConfig {
            request_timeout: RALIO_TIMEOUT,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..RalioConfig::new(sim_url, credentials)
        })
        .unwrap(),
    );
    // The simulator's list shows users' accounts (its default mode), so re-creating after the
    // settle delay is safe here, and the property needs it for creations that never acted.
    let gate = idv_account_gate::Settings {
        wait_for_peer: Duration::from_millis(50),
        recreate: idv_account_gate::Recreate::AfterSettle,
        ..Default::default()
    };
    let create = idv_create_session::CreateSession::new(idv_create_session::Parts {
        users: store.clone(),
        leases: store.clone(),
        scheduler,
        ralio: ralio.clone(),
        clock: clock_arc.clone(),
        settings: idv_create_session::Settings {
            wait_for_peer: Duration::from_millis(50),
            ..Default::default()
        },
    });
    let accounts = idv_account_gate::AccountGate::new(idv_account_gate::Parts {
        users: store.clone(),
        accounts: store.clone(),
        audit: store.clone(),
        eraser: store.clone(),
        ralio,
        clock: clock_arc,
        settings: gate,
    });
    let app = Router::new()
        .merge(idv_create_session::router(create))
        .merge(idv_account_gate::router(accounts));
    World {
        app,
        sim,
        store,
        clock,
        gate,
        servers,
    }
}

/// Says what a request asks to create.
#[derive(Debug, Clone, Copy)]
enum Creation {
    Account,
    Session,
}

#[derive(Debug, Clone)]
struct Request {
    wanted: Creation,
    /// Says what Ralio does on the creating call this request may make.
    fault: Option<Fault>,
    /// Kills the request (drops its future) after this many polls that did not finish it.
    killed_after: Option<u8>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Runs one request, or two at once.
    Requests(Vec<Request>),
    /// Lets time pass, so that leases lapse and creations settle.
    Wait(chrono::Duration),
}

fn fault() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Fault::ActThen5xx)),
        1 => Just(Some(Fault::ActThenReset)),
        1 => Just(Some(Fault::ActThenHang(fixtures::NEVER))),
        1 => Just(Some(Fault::FailBeforeActing)),
        1 => Just(Some(Fault::ActLate(LATE_BY))),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop_oneof![Just(Creation::Account), Just(Creation::Session)],
        fault(),
        prop_oneof![2 => Just(None), 1 => (0u8..8).prop_map(Some)],
    )
        .prop_map(|(wanted, fault, killed_after)| Request {
            wanted,
            fault,
            killed_after,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(request(), 1..=2).prop_map(Step::Requests),
        1 => (0i64..200).prop_map(|s| Step::Wait(chrono::Duration::seconds(s))),
    ]
}

fn schedule() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..8)
}

/// A future dropped after `polls` polls that left it pending, like a function killed
/// mid-request.
struct Killed<F: Future> {
    inner: Pin<Box<F>>,
    polls: Option<u8>,
}

impl<F: Future> Future for Killed<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(out) = self.inner.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match self.polls {
            Some(0) => Poll::Ready(None),
            Some(n) => {
                self.polls = Some(n - 1);
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }
}

/// Counts how many requests ran, were killed and met a fault, over all schedules.
#[derive(Default)]
struct Counts {
    schedules: AtomicUsize,
    requests: AtomicUsize,
    killed: AtomicUsize,
    faulted: AtomicUsize,
}

const ALIAS: &str = "Main";

/// Holds the schedule's two users: one REGULAR opening an account, and one verifying.
#[derive(Debug, Clone, Copy)]
struct Users {
    regular: Uid,
    verifying: Uid,
}

impl Users {
    fn for_request(self, wanted: Creation) -> Uid {
        match wanted {
            Creation::Account => self.regular,
            Creation::Session => self.verifying,
        }
    }
}

async fn send(world: &World, users: Users, wanted: Creation) -> fixtures::Answer {
    let uid = users.for_request(wanted);
    let request = match wanted {
        Creation::Account => fixtures::request(
            "POST",
            &format!("/users/{uid}/accounts"),
            Some(&json!({ "alias": ALIAS, "currency": "EUR" })),
        ),
        Creation::Session => fixtures::request("POST", &format!("/users/{uid}/idv-sessions"), None),
    };
    fixtures::call(&world.app, request).await
}

async fn run(world: &World, users: Users, request: Request, counts: &Counts) {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(fault) = request.fault {
        counts.faulted.fetch_add(1, Ordering::Relaxed);
        let operation = match request.wanted {
            Creation::Account => Operation::CreateAccount,
            Creation::Session => Operation::CreateSession,
        };
        world.sim.fail_next(operation, fault, 1);
    }
    let killed = Killed {
        inner: Box::pin(send(world, users, request.wanted)),
        polls: request.killed_after,
    };
    if killed.await.is_none() {
        counts.killed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Lets the merchant retry after time has passed until the answer is 200 or 201.
async fn answered(world: &World, users: Users, wanted: Creation) -> Result<Value, TestCaseError> {
    let mut seen = Vec::new();
    for _ in 0..6 {
        pass_time(
            world,
            world.gate.lease + world.gate.settle + chrono::Duration::seconds(1),
        )
        .await;
        let answer = send(world, users, wanted).await;
        if matches!(answer.status, 200 | 201) {
            return Ok(answer.body);
        }
        seen.push(format!("{} {}", answer.status, answer.body["code"]));
    }
    Err(TestCaseError::fail(format!(
        "{wanted:?} never answered: {seen:?}"
    )))
}

async fn pass_time(world: &World, span: chrono::Duration) {
    world.clock.advance(span);
    // A killed request may have left its bytes for the simulator. Its handler, woken by them,
    // runs when the runtime next gets to it, and registers any late action at once, so the
    // test yields before waiting for late actions.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    world.sim.late_actions_done().await;
}

async fn check(world: &World, users: Users) -> Result<(), TestCaseError> {
    // Faults not consumed by a creating call must not leak into the retries.
    world.sim.clear_faults();
    let uid = users.regular;
    let account = answered(world, users, Creation::Account).await?;
    let at_ralio: Vec<_> = world
        .sim
        .accounts()
        .into_iter()
        .filter(|a| a.uid == uid.to_string() && a.alias == ALIAS && a.currency == "EUR")
        .collect();
    prop_assert_eq!(at_ralio.len(), 1, "Ralio accounts: {:?}", at_ralio);
    prop_assert_eq!(account["accountId"].as_str(), Some(at_ralio[0].id.as_str()));

    let session = answered(world, users, Creation::Session).await?;
    let sessions = world.sim.sessions_of(&users.verifying.to_string());
    prop_assert_eq!(sessions.len(), 1, "Ralio sessions: {:?}", sessions);
    prop_assert_eq!(session["sessionId"].as_str(), Some(sessions[0].0.as_str()));

    let stored = world.store.load_user(uid).await.unwrap();
    prop_assert_eq!(stored.accounts.len(), 1);
    prop_assert_eq!(
        stored.accounts[0].created().map(|a| a.id.clone()),
        Some(at_ralio[0].id.clone())
    );
    Ok(())
}

async fn regular_user(world: &World) -> Uid {
    let uid = fixtures::uid();
    world.sim.set_level(&uid.to_string(), "REGULAR").unwrap();
    // The loop is bounded only so that a lost webhook fails the test instead of hanging it.
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < give_up {
        let snapshot = world.store.load_user(uid).await.unwrap();
        if can_create_account(&snapshot.profile) {
            return uid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the level webhook never arrived");
}

async fn play(world: &World, steps: Vec<Step>, counts: &Counts) -> Result<(), TestCaseError> {
    counts.schedules.fetch_add(1, Ordering::Relaxed);
    let users = Users {
        regular: regular_user(world).await,
        verifying: fixtures::uid(),
    };
    for step in steps {
        match step {
            Step::Wait(span) => pass_time(world, span).await,
            Step::Requests(requests) => {
                let runs = requests
                    .into_iter()
                    .map(|request| run(world, users, request, counts));
                futures_util::future::join_all(runs).await;
            }
        }
    }
    check(world, users).await
}

fn schedules(default: u32) -> u32 {
    std::env::var("EXACTLY_ONCE_SCHEDULES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

type MakeStore = fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>>>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn explore(store_name: &str, default_cases: u32, store: MakeStore) {
    let runtime = runtime();
    let counts = Counts::default();
    let cases = schedules(default_cases);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    // Each schedule runs on its own store and Ralio, so what one leaves cannot help or hinder
    // another.
    let result = runner.run(&schedule(), |steps| {
        runtime.block_on(async {
            let world = world(store().await).await;
            play(&world, steps, &counts).await
        })
    });
    eprintln!(
        "{store_name}: {} schedules, {} requests, {} met a Ralio fault, {} killed mid-request",
        counts.schedules.load(Ordering::Relaxed),
        counts.requests.load(Ordering::Relaxed),
        counts.faulted.load(Ordering::Relaxed),
        counts.killed.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn memory_schedules_leave_one_account_and_one_session() {
    explore("memory", 64, || Box::pin(async { testing::memory() }));
}

#[test]
fn dynamodb_schedules_leave_one_account_and_one_session() {
    testing::require_emulator();
    explore("dynamodb", 24, || Box::pin(testing::dynamo()));
}

/// The exploration found this: two concurrent requests, the lease holder's first create failing
/// before acting and its second creating then answering 502. The lease was given back clean,
/// and the merchant's retry created a second session.
#[test]
fn a_lease_given_back_after_an_uncertain_retry_sends_the_next_request_to_ralio() {
    let request = |fault| Request {
        wanted: Creation::Session,
        fault: Some(fault),
        killed_after: None,
    };
    let steps = vec![Step::Requests(vec![
        request(Fault::FailBeforeActing),
        request(Fault::ActThen5xx),
    ])];
    let runtime = runtime();
    runtime.block_on(async {
        let world = world(testing::memory()).await;
        play(&world, steps, &Counts::default()).await.unwrap();
    });
}
