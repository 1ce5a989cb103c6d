//! This module serves what Ralio says became of one session, in the documented shapes: its
//! checks (REFERENCE §2.3) and its state history (§2.4). They change with the session whether
//! or not its webhooks are delivered, so a sweep can heal what a dropped webhook lost.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::ralio_api::{authorised, error};
use crate::state::{SimSession, Simulator};

/// Answers with `body` of the user's session, or as Ralio would when the caller may not read it.
fn about_session(
    sim: &Simulator,
    headers: &HeaderMap,
    (uid, sid): (String, String),
    body: impl FnOnce(&SimSession) -> Value,
) -> Response {
    if !authorised(sim, headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let session = match sim.state().sessions.get(&sid) {
        Some(session) if session.uid == uid => session.clone(),
        _ => return error(StatusCode::NOT_FOUND, "no such session"),
    };
    axum::Json(body(&session)).into_response()
}

fn at(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) async fn checks(
    State(sim): State<Arc<Simulator>>,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    about_session(&sim, &headers, ids, checks_of)
}

fn checks_of(session: &SimSession) -> Value {
    let decided = session.history.last().map_or(session.created_at, |h| h.1);
    let checks: Vec<Value> = match (session.state, session.refused) {
        ("REJECTED", Some(reason)) => vec![json!({
            "created_at": at(session.created_at), "updated_at": at(decided), "id": 1, "data": {},
            "type": reason.check, "state": "Refused",
            "refused_reasons": [{
                "code": reason.code, "id": 1, "message": reason.message, "type": reason.reason_type,
                "mappedError": {
                    "action": "RETRY", "category": reason.category, "code": reason.code,
                    "id": 1, "reason": reason.message
                }
            }]
        })],
        ("VERIFIED", _) => vec![json!({
            "created_at": at(session.created_at), "updated_at": at(decided), "id": 1, "data": {},
            "type": "document-verification", "state": "Accepted", "refused_reasons": []
        })],
        _ => Vec::new(),
    };
    json!({ "checks": checks, "session_id": session.id })
}

pub(crate) async fn state_history(
    State(sim): State<Arc<Simulator>>,
    Path(ids): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    about_session(&sim, &headers, ids, history_of)
}

fn history_of(session: &SimSession) -> Value {
    let logs: Vec<Value> = session
        .history
        .iter()
        .enumerate()
        .map(|(i, (state, when))| json!({ "created_at": at(*when), "id": i + 1, "new_state": state }))
        .collect();
    json!({ "logs": logs, "session_id": session.id })
}
