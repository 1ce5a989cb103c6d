//! A Ralio stand-in: the REST endpoints this service calls, the hosted verification page, and
//! the signed webhooks Ralio would send when a person (or a test) decides a session's outcome.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/auth/login` | `{api_code, api_key}` → `{token}` |
//! | `POST /api/v1/account/users/{uid}/identity-verifications` | new session, 201 as documented |
//! | `GET /api/v1/account/users/{uid}/identity-verifications` | the user's sessions, paged |
//! | `POST /api/v1/account/users/{uid}/accounts` | 201 for a REGULAR user (then `account_activated`), 403 otherwise |
//! | `GET /api/v1/merchant/user/accounts`, `GET /api/v1/merchant/user/accounts/{aid}` | the accounts opened, with their owner |
//! | `GET /hosted/{sessionId}` | the page the end user opens, with outcome buttons |
//! | `POST /sim/sessions/{id}/outcome` | `{"outcome": "start"\|"approve"\|"verify-only"\|"review"\|"reject"\|"expire", "reason": …}` |
//! | `POST /sim/users/{uid}/level` | `{"level": "LIGHT"\|"REGULAR"}`: a level change and its webhook |
//! | `POST /sim/users/{uid}/expiration-warning` | `{"expirationDate": "YYYY-MM-DD", "daysRemaining": n}` |
//! | `POST /sim/faults` | `{"operation": "create-session"\|"create-account", "fault": "act-then-5xx"\|"act-then-hang:15s"\|"act-then-reset"\|"fail-before-acting"\|"act-late:2s", "times": n}`: the next n calls fail so |
//! | `GET /sim/sessions/{id}`, `GET /sim/accounts`, `GET /sim/deliveries` | what the simulator holds and sent |

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

mod accounts;
pub mod delivery;
pub mod faults;
mod page;
pub mod payloads;

pub use accounts::{AccountList, SimAccount};
pub use delivery::{Chaos, Delivery, Signature};
pub use faults::{Fault, FaultPlan, Operation};
pub use payloads::Generation;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub api_code: String,
    pub api_key: String,
    /// Where webhooks go (the service's webhook URL); none: not sent.
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// This simulator's own address, for hosted page links.
    pub public_url: String,
    pub generation: Generation,
    pub signature: Signature,
    pub chaos: Chaos,
    /// What the merchant account list shows (undocumented at Ralio).
    pub account_list: AccountList,
    /// Whether an opened account is announced with `account_activated` (a merchant that never
    /// subscribed to it gets none).
    pub announce_accounts: bool,
    /// How long a session lives (Ralio: 7 days).
    pub session_life: chrono::Duration,
    /// Faults every call of an operation meets, for a whole run.
    pub faults: Vec<(Operation, Fault)>,
    /// What time it is at Ralio: the system clock, or a test's.
    pub clock: SimClock,
}

/// The simulator's clock, shared with a test's manual clock so that session creation times
/// and the service's own times agree.
#[derive(Clone)]
pub struct SimClock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl SimClock {
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::from_fn(Utc::now)
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimClock({})", self.now())
    }
}

impl SimConfig {
    pub fn new(
        public_url: impl Into<String>,
        webhook_url: Option<String>,
        webhook_secret: impl Into<String>,
    ) -> Self {
        Self {
            api_code: "local-api-code".into(),
            api_key: "local-api-key".into(),
            webhook_url,
            webhook_secret: webhook_secret.into(),
            public_url: public_url.into(),
            generation: Generation::Mixed,
            signature: Signature::Hex,
            chaos: Chaos::default(),
            account_list: AccountList::default(),
            announce_accounts: true,
            session_life: chrono::Duration::days(7),
            faults: Vec::new(),
            clock: SimClock::default(),
        }
    }
}

#[derive(Debug, Clone)]
struct SimSession {
    id: String,
    uid: String,
    state: &'static str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct SimUser {
    level: &'static str,
    kyc_id: i64,
}

#[derive(Default)]
struct SimState {
    tokens: Vec<String>,
    sessions: HashMap<String, SimSession>,
    order: Vec<String>,
    users: HashMap<String, SimUser>,
    accounts: Vec<SimAccount>,
    faults: FaultPlan,
}

pub struct Simulator {
    config: SimConfig,
    state: Mutex<SimState>,
    sender: Arc<delivery::Sender>,
    /// Creations answered already that have not taken effect yet (`act-late`).
    late: tokio::sync::watch::Sender<usize>,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Arc<Self> {
        let sender = Arc::new(delivery::Sender {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            url: config.webhook_url.clone(),
            secret: config.webhook_secret.clone(),
            signature: config.signature,
            chaos: config.chaos,
            max_attempts: 6,
            log: Arc::new(Mutex::new(Vec::new())),
        });
        let state = SimState {
            faults: FaultPlan::standing(config.faults.clone()),
            ..SimState::default()
        };
        Arc::new(Self {
            config,
            state: Mutex::new(state),
            sender,
            late: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Runs `act` `after` this long, as an upstream that commits after its caller gave up.
    fn act_late(self: &Arc<Self>, after: Duration, act: impl FnOnce(&Self) + Send + 'static) {
        /// Counts a late action as pending until it is done, or its task ends some other way.
        struct Pending(Arc<Simulator>);
        impl Drop for Pending {
            fn drop(&mut self) {
                self.0.late.send_modify(|pending| *pending -= 1);
            }
        }
        self.late.send_modify(|pending| *pending += 1);
        let pending = Pending(self.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            act(&pending.0);
        });
    }

    /// Waits until every creation answered with `act-late` has taken effect, so that a test
    /// never depends on how soon a busy machine runs it.
    pub async fn late_actions_done(&self) {
        let mut pending = self.late.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sender
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The next `times` calls of `operation` fail with `fault`.
    pub fn fail_next(&self, operation: Operation, fault: Fault, times: usize) {
        self.state().faults.push(operation, fault, times);
    }

    /// Opens a session for `uid`: its JSON as the create call answers it.
    fn open_session(&self, uid: &str) -> Value {
        let now = self.config.clock.now();
        let session = SimSession {
            id: uuid::Uuid::new_v4().to_string(),
            uid: uid.to_owned(),
            state: "NOT_STARTED",
            created_at: now,
            expires_at: now + self.config.session_life,
        };
        let body = session_json(&session, &self.config.public_url, false);
        let mut state = self.state();
        Simulator::user(&mut state, uid);
        state.order.push(session.id.clone());
        state.sessions.insert(session.id.clone(), session);
        body
    }

    /// Forgets the per-call faults no call has met yet.
    pub fn clear_faults(&self) {
        self.state().faults.clear_next();
    }

    fn take_fault(&self, operation: Operation) -> Option<Fault> {
        self.state().faults.take(operation)
    }

    /// Sessions opened for `uid` so far, open ones included.
    pub fn sessions_of(&self, uid: &str) -> Vec<(String, &'static str)> {
        let state = self.state();
        state
            .order
            .iter()
            .filter_map(|id| state.sessions.get(id))
            .filter(|s| s.uid == uid)
            .map(|s| (s.id.clone(), s.state))
            .collect()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn user<'a>(state: &'a mut SimState, uid: &str) -> &'a mut SimUser {
        let next_id = 40_000 + state.users.len() as i64;
        state.users.entry(uid.to_owned()).or_insert(SimUser {
            level: "LIGHT",
            kyc_id: next_id,
        })
    }

    /// Applies an outcome to a session and sends the webhooks Ralio would.
    pub fn decide(
        &self,
        session_id: &str,
        outcome: &str,
        reason_key: Option<&str>,
    ) -> Result<&'static str, String> {
        let generation = self.config.generation;
        let mut state = self.state();
        let session = state
            .sessions
            .get(session_id)
            .cloned()
            .ok_or("no such session")?;
        let open = matches!(session.state, "NOT_STARTED" | "STARTED");
        let (new_state, events): (&'static str, Vec<Value>) = match outcome {
            "start" if open => ("STARTED", vec![]),
            "approve" | "verify-only" if open || session.state == "REVIEW" => {
                let mut events = vec![payloads::session_verified(
                    generation,
                    &session.id,
                    &session.uid,
                )];
                if outcome == "approve" {
                    let user = Self::user(&mut state, &session.uid);
                    user.level = "REGULAR";
                    events.push(payloads::state_updated(
                        generation,
                        user.kyc_id,
                        &session.uid,
                        "REGULAR",
                    ));
                }
                ("VERIFIED", events)
            }
            "review" if open => (
                "REVIEW",
                vec![payloads::session_manual_review(&session.id, &session.uid)],
            ),
            "reject" if open || session.state == "REVIEW" => {
                let reason = payloads::reason(reason_key.unwrap_or("expired-document"))
                    .ok_or("unknown reason")?;
                (
                    "REJECTED",
                    vec![payloads::session_failed(
                        generation,
                        &session.id,
                        &session.uid,
                        reason,
                    )],
                )
            }
            "expire" if open => (
                "EXPIRED",
                vec![payloads::session_expired(
                    generation,
                    &session.id,
                    &session.uid,
                )],
            ),
            "start" | "approve" | "verify-only" | "review" | "reject" | "expire" => {
                return Err(format!(
                    "a {} session cannot be moved by {outcome}",
                    session.state
                ));
            }
            _ => return Err(format!("unknown outcome {outcome}")),
        };
        if let Some(s) = state.sessions.get_mut(session_id) {
            s.state = new_state;
        }
        drop(state);
        self.sender.emit(events);
        Ok(new_state)
    }

    pub fn set_level(&self, uid: &str, level: &str) -> Result<(), String> {
        let (kyc_id, level) = self.set_level_silently(uid, level)?;
        let event = payloads::state_updated(self.config.generation, kyc_id, uid, level);
        self.sender.emit(vec![event]);
        Ok(())
    }

    /// Ralio's own record of a user's level, changed without the webhook that tells the
    /// service: for a run that delivers its own events (`make load`).
    pub fn set_level_silently(
        &self,
        uid: &str,
        level: &str,
    ) -> Result<(i64, &'static str), String> {
        let level: &'static str = match level {
            "REGULAR" => "REGULAR",
            "LIGHT" => "LIGHT",
            _ => return Err("level must be REGULAR or LIGHT".into()),
        };
        let mut state = self.state();
        let user = Self::user(&mut state, uid);
        user.level = level;
        Ok((user.kyc_id, level))
    }
}

pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route(
            "/api/v1/account/users/{uid}/identity-verifications",
            post(create_session).get(list_sessions),
        )
        .route(
            "/api/v1/account/users/{uid}/accounts",
            post(accounts::create_account),
        )
        .route(
            "/api/v1/merchant/user/accounts",
            get(accounts::list_accounts),
        )
        .route(
            "/api/v1/merchant/user/accounts/{aid}",
            get(accounts::get_account),
        )
        .route("/sim/faults", post(sim_faults))
        .route("/sim/accounts", get(sim_accounts))
        .route("/hosted/{id}", get(hosted_page))
        .route("/hosted/{id}/decide", post(hosted_decide))
        .route("/sim/sessions/{id}", get(sim_session))
        .route("/sim/sessions/{id}/outcome", post(sim_outcome))
        .route("/sim/users/{uid}/level", post(sim_level))
        .route(
            "/sim/users/{uid}/expiration-warning",
            post(sim_expiration_warning),
        )
        .route("/sim/deliveries", get(sim_deliveries))
        .with_state(sim)
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "message": message.into() }))).into_response()
}

pub(crate) fn authorised(sim: &Simulator, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    token == sim.config.api_key || sim.state().tokens.iter().any(|t| t == token)
}

#[derive(Deserialize)]
struct Login {
    api_code: String,
    api_key: String,
}

async fn login(State(sim): State<Arc<Simulator>>, body: axum::body::Bytes) -> Response {
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return error(StatusCode::BAD_REQUEST, "api_code and api_key are required");
    };
    if login.api_code != sim.config.api_code || login.api_key != sim.config.api_key {
        return error(StatusCode::UNAUTHORIZED, "invalid credentials");
    }
    let token = format!("sim-{}", uuid::Uuid::new_v4().simple());
    sim.state().tokens.push(token.clone());
    axum::Json(json!({ "token": token })).into_response()
}

fn session_json(s: &SimSession, public_url: &str, snake_case_dates: bool) -> Value {
    let mut v = json!({
        "data": {},
        "expiresAt": s.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "flow": { "id": "65f1c0d2e4b2d9001a3c7e58", "tag": "individual-kyc" },
        "hostedUrl": format!("{public_url}/hosted/{}", s.id),
        "id": s.id,
        "state": s.state,
        "type": "IDV",
    });
    let created = s
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // The documented responses differ: camelCase on create, snake_case on list.
    if snake_case_dates {
        v["created_at"] = json!(created);
        v["updated_at"] = json!(created);
    } else {
        v["createdAt"] = json!(created);
        v["updatedAt"] = json!(created);
    }
    v
}

async fn create_session(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let fault = sim.take_fault(Operation::CreateSession);
    if let Some(fault) = fault.filter(|f| !f.acts()) {
        if let Some(after) = fault.acts_after() {
            sim.act_late(after, move |sim| {
                sim.open_session(&uid);
            });
        }
        return fault.answer(().into_response()).await;
    }
    let body = sim.open_session(&uid);
    let answer = (StatusCode::CREATED, axum::Json(body)).into_response();
    match fault {
        Some(fault) => fault.answer(answer).await,
        None => answer,
    }
}

#[derive(Deserialize)]
struct Paging {
    page: Option<usize>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

async fn list_sessions(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let page_size = paging.page_size.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let state = sim.state();
    let all: Vec<&SimSession> = state
        .order
        .iter()
        .filter_map(|id| state.sessions.get(id))
        .filter(|s| s.uid == uid)
        .collect();
    let pages = all.len().div_ceil(page_size).max(1);
    let sessions: Vec<Value> = all
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|s| session_json(s, &sim.config.public_url, true))
        .collect();
    axum::Json(json!({
        "pagination": { "next": null, "numPages": pages, "page": page, "pageSize": page_size, "previous": null, "total": all.len() },
        "sessions": sessions
    }))
    .into_response()
}

async fn hosted_page(State(sim): State<Arc<Simulator>>, Path(id): Path<String>) -> Response {
    let session = sim.state().sessions.get(&id).cloned();
    match session {
        Some(s) => Html(page::render(&s.id, &s.uid, s.state, s.expires_at, None)).into_response(),
        None => (StatusCode::NOT_FOUND, Html(page::not_found())).into_response(),
    }
}

#[derive(Deserialize)]
struct Decision {
    outcome: String,
    reason: Option<String>,
}

async fn hosted_decide(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    Form(decision): Form<Decision>,
) -> Response {
    match sim.decide(&id, &decision.outcome, decision.reason.as_deref()) {
        Ok(_) => Redirect::to(&format!("/hosted/{id}")).into_response(),
        Err(message) => {
            let session = sim.state().sessions.get(&id).cloned();
            match session {
                Some(s) => (
                    StatusCode::CONFLICT,
                    Html(page::render(
                        &s.id,
                        &s.uid,
                        s.state,
                        s.expires_at,
                        Some(&message),
                    )),
                )
                    .into_response(),
                None => (StatusCode::NOT_FOUND, Html(page::not_found())).into_response(),
            }
        }
    }
}

async fn sim_session(State(sim): State<Arc<Simulator>>, Path(id): Path<String>) -> Response {
    match sim.state().sessions.get(&id) {
        Some(s) => axum::Json(
            json!({ "id": s.id, "uid": s.uid, "state": s.state, "expiresAt": s.expires_at }),
        )
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such session"),
    }
}

async fn sim_outcome(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    axum::Json(decision): axum::Json<Decision>,
) -> Response {
    match sim.decide(&id, &decision.outcome, decision.reason.as_deref()) {
        Ok(state) => axum::Json(json!({ "id": id, "state": state })).into_response(),
        Err(message) => error(StatusCode::CONFLICT, message),
    }
}

#[derive(Deserialize)]
struct LevelChange {
    level: String,
}

async fn sim_level(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    axum::Json(change): axum::Json<LevelChange>,
) -> Response {
    match sim.set_level(&uid, &change.level) {
        Ok(()) => axum::Json(json!({ "uid": uid, "level": change.level })).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Deserialize)]
struct Warning {
    #[serde(rename = "expirationDate")]
    expiration_date: String,
    #[serde(rename = "daysRemaining")]
    days_remaining: i64,
}

async fn sim_expiration_warning(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    axum::Json(warning): axum::Json<Warning>,
) -> Response {
    let kyc_id = Simulator::user(&mut sim.state(), &uid).kyc_id;
    sim.sender.emit(vec![payloads::expiration_warning(
        kyc_id,
        &uid,
        &warning.expiration_date,
        warning.days_remaining,
    )]);
    axum::Json(json!({ "uid": uid })).into_response()
}

async fn sim_deliveries(State(sim): State<Arc<Simulator>>) -> Response {
    axum::Json(sim.deliveries()).into_response()
}

#[derive(Deserialize)]
struct FaultRequest {
    operation: String,
    fault: String,
    #[serde(default)]
    times: Option<usize>,
}

async fn sim_faults(
    State(sim): State<Arc<Simulator>>,
    axum::Json(request): axum::Json<FaultRequest>,
) -> Response {
    let parsed = request
        .operation
        .parse::<Operation>()
        .and_then(|op| request.fault.parse::<Fault>().map(|f| (op, f)));
    match parsed {
        Ok((operation, fault)) => {
            let times = request.times.unwrap_or(1);
            sim.fail_next(operation, fault, times);
            axum::Json(
                json!({ "operation": request.operation, "fault": request.fault, "times": times }),
            )
            .into_response()
        }
        Err(message) => error(StatusCode::BAD_REQUEST, message),
    }
}

async fn sim_accounts(State(sim): State<Arc<Simulator>>) -> Response {
    let accounts: Vec<Value> = sim
        .accounts()
        .iter()
        .map(|a| json!({ "id": a.id, "userId": a.uid, "alias": a.alias, "currency": a.currency, "state": a.state }))
        .collect();
    axum::Json(accounts).into_response()
}
