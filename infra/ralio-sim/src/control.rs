//! The control API is what a person on the hosted page, a test or `idv-local` uses to decide a
//! session's outcome, change a user's level, warn of an expiry, set faults, and read back what
//! the simulator holds and sent. Each decision sends the webhooks Ralio would.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::delivery::Delivery;
use crate::faults::{Fault, Operation};
use crate::payloads;
use crate::ralio_api::error;
use crate::state::Simulator;

impl Simulator {
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sender
            .log
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Makes the next `times` calls of `operation` fail with `fault`.
    /// A fault the operation cannot meet (see [`crate::faults::pair`]) is a mistake in the
    /// caller, so it stops it; `POST /sim/faults` refuses one with a 400 before this.
    pub fn fail_next(&self, operation: Operation, fault: Fault, times: usize) {
        let (operation, fault) =
            crate::faults::pair(operation, fault).unwrap_or_else(|e| panic!("fail_next: {e}"));
        self.state().faults.push(operation, fault, times);
    }

    /// Sends again every webhook a drop fault kept (`POST /sim/redeliver`), as Ralio does when a
    /// merchant asks it to redeliver. Returns how many.
    pub fn redeliver_dropped(&self) -> usize {
        self.sender.redeliver_dropped()
    }

    /// Forgets the per-call faults no call has met yet.
    pub fn clear_faults(&self) {
        self.state().faults.clear_next();
    }

    /// Returns the sessions opened for `uid` so far, open ones included.
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
        let mut refused = None;
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
                refused = Some(reason);
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
        let now = self.config.clock.now();
        if let Some(s) = state.sessions.get_mut(session_id) {
            if s.state != new_state {
                s.history.push((new_state, now));
            }
            s.state = new_state;
            s.refused = refused.or(s.refused);
        }
        drop(state);
        self.send(events);
        Ok(new_state)
    }

    pub fn set_level(&self, uid: &str, level: &str) -> Result<(), String> {
        let (kyc_id, level) = self.set_level_silently(uid, level)?;
        let event = payloads::state_updated(self.config.generation, kyc_id, uid, level);
        self.send(vec![event]);
        Ok(())
    }

    /// Changes Ralio's own record of a user's level without the webhook that tells the
    /// service, for a run that delivers its own events (`make load`).
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

/// An outcome for a session, from the hosted page's form or the control API's JSON.
#[derive(Deserialize)]
pub(crate) struct Decision {
    pub(crate) outcome: String,
    pub(crate) reason: Option<String>,
}

pub(crate) async fn sim_session(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
) -> Response {
    match sim.state().sessions.get(&id) {
        Some(s) => axum::Json(
            json!({ "id": s.id, "uid": s.uid, "state": s.state, "expiresAt": s.expires_at }),
        )
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such session"),
    }
}

pub(crate) async fn sim_outcome(
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
pub(crate) struct LevelChange {
    level: String,
}

pub(crate) async fn sim_level(
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
pub(crate) struct Warning {
    #[serde(rename = "expirationDate")]
    expiration_date: String,
    #[serde(rename = "daysRemaining")]
    days_remaining: i64,
}

pub(crate) async fn sim_expiration_warning(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    axum::Json(warning): axum::Json<Warning>,
) -> Response {
    let kyc_id = Simulator::user(&mut sim.state(), &uid).kyc_id;
    sim.send(vec![payloads::expiration_warning(
        kyc_id,
        &uid,
        &warning.expiration_date,
        warning.days_remaining,
    )]);
    axum::Json(json!({ "uid": uid })).into_response()
}

pub(crate) async fn sim_deliveries(State(sim): State<Arc<Simulator>>) -> Response {
    axum::Json(sim.deliveries()).into_response()
}

pub(crate) async fn sim_redeliver(State(sim): State<Arc<Simulator>>) -> Response {
    axum::Json(json!({ "redelivered": sim.redeliver_dropped() })).into_response()
}

#[derive(Deserialize)]
pub(crate) struct FaultRequest {
    operation: String,
    fault: String,
    #[serde(default)]
    times: Option<usize>,
}

pub(crate) async fn sim_faults(
    State(sim): State<Arc<Simulator>>,
    axum::Json(request): axum::Json<FaultRequest>,
) -> Response {
    let parsed = request
        .operation
        .parse::<Operation>()
        .and_then(|op| request.fault.parse::<Fault>().map(|f| (op, f)))
        .and_then(|(op, f)| crate::faults::pair(op, f));
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

pub(crate) async fn sim_accounts(State(sim): State<Arc<Simulator>>) -> Response {
    let accounts: Vec<Value> = sim
        .accounts()
        .iter()
        .map(|a| json!({ "id": a.id, "userId": a.uid, "alias": a.alias, "currency": a.currency, "state": a.state }))
        .collect();
    axum::Json(accounts).into_response()
}
