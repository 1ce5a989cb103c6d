//! This crate holds the helpers for the end-to-end scenarios: a whole local stack on ephemeral
//! ports (with its own table and queue on the emulator when DynamoDB is asked for), and a small
//! HTTP client for it.

use std::future::Future;
use std::time::{Duration, Instant};

use idv_local::{LocalOptions, RalioMode, Running, StoreKind};
use serde_json::{Value, json};

pub use idv_local::StoreKind as Store;

/// Runs each named `async fn(Store)` once per store, as its own test.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(idv_e2e::Store::Memory).await })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(idv_e2e::Store::Dynamodb).await })*
        }
    };
}

pub struct Stack {
    pub running: Running,
    pub http: reqwest::Client,
    /// The table on the emulator, when the stack runs on DynamoDB.
    pub table_name: String,
}

/// Starts a stack, and `tweak` adjusts the options (compressed time, chaos).
pub async fn start(store: StoreKind, tweak: impl FnOnce(&mut LocalOptions)) -> Stack {
    let mut options = LocalOptions {
        addr: ([127, 0, 0, 1], 0).into(),
        store,
        table_name: format!("idv-e2e-{}", uuid::Uuid::new_v4().simple()),
        poll_every: Duration::from_millis(200),
        // moto on a busy machine needs the SDK's own limits, not AWS's (3 s an attempt).
        aws_timeouts: idv_local::AwsTimeouts::emulator(),
        ..LocalOptions::default()
    };
    if let RalioMode::Simulator { addr, .. } = &mut options.ralio {
        *addr = ([127, 0, 0, 1], 0).into();
    }
    if store == StoreKind::Dynamodb {
        idv_adapters::testing::require_emulator();
    }
    tweak(&mut options);
    let table_name = options.table_name.clone();
    let running = idv_local::start(options).await.expect("local stack starts");
    Stack {
        running,
        http: reqwest::Client::new(),
        table_name,
    }
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

impl Stack {
    /// Runs the sweep now, as the reconciler's schedule would, without a deadline.
    pub async fn sweep_now(&self) -> idv_adapters::sweep::SweepReport {
        self.running
            .reconciler
            .run_once(idv_adapters::ralio::Deadline::none())
            .await
            .expect("the sweep runs")
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.running.api_url)
    }

    pub fn sim(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.running.sim_url.as_deref().expect("the simulator runs")
        )
    }

    pub async fn create_session(&self, uid: &str) -> (u16, Value) {
        answer(
            self.http
                .post(self.api(&format!("/users/{uid}/idv-sessions")))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn kyc(&self, uid: &str) -> Value {
        let (status, body) = answer(
            self.http
                .get(self.api(&format!("/users/{uid}/kyc")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn open_account(&self, uid: &str, alias: &str, currency: &str) -> (u16, Value) {
        let request = self
            .http
            .post(self.api(&format!("/users/{uid}/accounts")))
            .json(&json!({ "alias": alias, "currency": currency }));
        answer(request.send().await.unwrap()).await
    }

    /// Sends a request to the merchant API and returns its answer, whatever the status.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.api(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request.send().await.unwrap()).await
    }

    /// Erases a user (`POST /users/{uid}/erasure`).
    pub async fn erase(&self, uid: &str) -> (u16, Value) {
        self.call("POST", &format!("/users/{uid}/erasure"), None)
            .await
    }

    /// Posts a webhook signed with the local secret, as Ralio would, and returns the answer.
    pub async fn post_webhook(&self, payload: &Value) -> (u16, Value) {
        let body = payload.to_string();
        let signature = idv_model::signature::WebhookSecret::new(idv_local::LOCAL_WEBHOOK_SECRET)
            .sign_hex(body.as_bytes());
        let request = self
            .http
            .post(&self.running.webhook_url)
            .header(idv_model::signature::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body);
        answer(request.send().await.unwrap()).await
    }

    /// Decides a session at the simulator, as a person on the hosted page would.
    pub async fn outcome(&self, session_id: &str, outcome: &str, reason: Option<&str>) {
        let body = json!({ "outcome": outcome, "reason": reason });
        let (status, answer) = answer(
            self.http
                .post(self.sim(&format!("/sim/sessions/{session_id}/outcome")))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{outcome}: {answer}");
    }

    pub async fn set_level(&self, uid: &str, level: &str) {
        let response = self
            .http
            .post(self.sim(&format!("/sim/users/{uid}/level")))
            .json(&json!({ "level": level }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }

    /// Makes the simulator's next call of `operation` fail with `fault`, through its control API.
    pub async fn fail_next(&self, operation: &str, fault: &str) {
        let response = self
            .http
            .post(self.sim("/sim/faults"))
            .json(&json!({ "operation": operation, "fault": fault, "times": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{operation}:{fault}");
    }

    /// Returns the accounts Ralio (the simulator) holds for `uid`.
    pub async fn ralio_accounts(&self, uid: &str) -> Vec<Value> {
        let all: Vec<Value> = self
            .http
            .get(self.sim("/sim/accounts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.into_iter().filter(|a| a["userId"] == uid).collect()
    }

    /// Returns the ids of the IDV sessions Ralio (the simulator) holds for `uid`.
    pub fn ralio_sessions(&self, uid: &str) -> Vec<String> {
        let sim = self.running.simulator.as_ref().expect("the simulator runs");
        sim.sessions_of(uid).into_iter().map(|(id, _)| id).collect()
    }

    /// Raises `uid` to REGULAR at Ralio and waits until the service has heard of it.
    pub async fn make_regular(&self, uid: &str) {
        self.set_level(uid, "REGULAR").await;
        self.kyc_until(uid, "REGULAR", |k| k["canCreateAccount"] == true)
            .await;
    }

    /// Returns the domain events the stack published for `uid`, oldest first
    /// (`GET /events?uid=`).
    pub async fn events(&self, uid: &str) -> Vec<Value> {
        let (status, body) = answer(
            self.http
                .get(self.api(&format!("/events?uid={uid}")))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Waits until `uid`'s events satisfy `done`, and returns them.
    pub async fn events_until(
        &self,
        uid: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        eventually(what, Duration::from_secs(60), || async {
            Some(self.events(uid).await).filter(|events| done(events))
        })
        .await
    }

    /// Has Ralio warn that `uid`'s identity document expires on `date`.
    pub async fn expiration_warning(&self, uid: &str, date: &str, days_remaining: i64) {
        let body = json!({ "expirationDate": date, "daysRemaining": days_remaining });
        let (status, answer) = answer(
            self.http
                .post(self.sim(&format!("/sim/users/{uid}/expiration-warning")))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
    }

    /// Returns the user's whole audit trail, oldest first (`GET /users/{uid}/history`, every
    /// page).
    pub async fn history(&self, uid: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => self.api(&format!("/users/{uid}/history?limit=200&cursor={c}")),
                None => self.api(&format!("/users/{uid}/history?limit=200")),
            };
            let (status, page) = answer(self.http.get(url).send().await.unwrap()).await;
            assert_eq!(status, 200, "{page}");
            entries.extend(page["entries"].as_array().cloned().unwrap_or_default());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        entries.reverse();
        entries
    }

    pub async fn deliveries(&self) -> Vec<Value> {
        self.http
            .get(self.sim("/sim/deliveries"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Polls the user's KYC status until `done` holds, because webhooks and ticks are
    /// asynchronous.
    pub async fn kyc_until(&self, uid: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        eventually(what, Duration::from_secs(60), || async {
            Some(self.kyc(uid).await).filter(|body| done(body))
        })
        .await
    }

    pub async fn stop(self) {
        self.running.stop().await;
    }
}

/// Retries `probe` every 100 ms until it gives a value, and fails the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
