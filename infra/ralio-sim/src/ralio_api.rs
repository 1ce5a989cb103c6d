//! This module serves the REST endpoints of Ralio's that this service calls, apart from
//! accounts (`accounts.rs`): login, and creating and listing a user's identity verification
//! sessions.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Operation;
use crate::state::{SimSession, Simulator};

/// Returns an error as Ralio words it. The control API answers its errors in the same shape.
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
pub(crate) struct Login {
    api_code: String,
    api_key: String,
}

pub(crate) async fn login(State(sim): State<Arc<Simulator>>, body: axum::body::Bytes) -> Response {
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

/// Says what Ralio's session list shows of a session that has ended. The documented example lists
/// only open sessions, each with its `hostedUrl` (REFERENCE §2.2), so whether an ended one keeps
/// its link is unspecified: each reading is a mode, and the tests run them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FinalListing {
    /// An ended session is listed like an open one, with its `hostedUrl`.
    #[default]
    WithHostedUrl,
    /// An ended session is listed without `hostedUrl`, its page being of no more use.
    WithoutHostedUrl,
    /// An ended session is not listed at all, as in the documented example, which shows only open
    /// ones. Its state is then known only from its state history (§2.4).
    Omitted,
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
    let stamp =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let created = stamp(s.created_at);
    // The session was last updated when it reached its current state.
    let updated = stamp(s.history.last().map_or(s.created_at, |(_, at)| *at));
    // The documented responses differ, with camelCase on create and snake_case on list.
    if snake_case_dates {
        v["created_at"] = json!(created);
        v["updated_at"] = json!(updated);
    } else {
        v["createdAt"] = json!(created);
        v["updatedAt"] = json!(updated);
    }
    v
}

pub(crate) async fn create_session(
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
pub(crate) struct Paging {
    page: Option<usize>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
}

pub(crate) async fn list_sessions(
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
    let omit_ended = sim.config.final_listing == FinalListing::Omitted;
    let all: Vec<&SimSession> = state
        .order
        .iter()
        .filter_map(|id| state.sessions.get(id))
        .filter(|s| s.uid == uid)
        .filter(|s| !omit_ended || s.is_open())
        .collect();
    let pages = all.len().div_ceil(page_size).max(1);
    let sessions: Vec<Value> = all
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|s| {
            let mut listed = session_json(s, &sim.config.public_url, true);
            if !s.is_open() && sim.config.final_listing == FinalListing::WithoutHostedUrl {
                listed.as_object_mut().map(|o| o.remove("hostedUrl"));
            }
            listed
        })
        .collect();
    axum::Json(json!({
        "pagination": { "next": null, "numPages": pages, "page": page, "pageSize": page_size, "previous": null, "total": all.len() },
        "sessions": sessions
    }))
    .into_response()
}

impl Simulator {
    /// Opens a session for `uid`, and returns its JSON as the create call answers it.
    fn open_session(&self, uid: &str) -> Value {
        let now = self.config.clock.now();
        let session = SimSession {
            id: uuid::Uuid::new_v4().to_string(),
            uid: uid.to_owned(),
            state: "NOT_STARTED",
            created_at: now,
            expires_at: now + self.config.session_life,
            history: vec![("NOT_STARTED", now)],
            refused: None,
        };
        let body = session_json(&session, &self.config.public_url, false);
        let mut state = self.state();
        Simulator::user(&mut state, uid);
        state.order.push(session.id.clone());
        state.sessions.insert(session.id.clone(), session);
        body
    }
}
