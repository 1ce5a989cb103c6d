//! This module serves `POST /users/{uid}/erasure`, which erases the user's personal data and keeps
//! the pseudonymous compliance record until `retainedUntil` ([`idv_model::erasure`]). It answers
//! 202 with the tombstone, the same one on every call, and a call finishes what an earlier one
//! cut short left.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use idv_adapters::http::{UserId, json};
use idv_model::Erasure;
use serde_json::json;

use crate::AccountGate;
use crate::error::GateError;

pub(crate) async fn erase(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
) -> Result<Response, GateError> {
    let now = gate.parts.clock.now();
    let settings = &gate.parts.settings;
    let stamp = gate
        .parts
        .eraser
        .erase_user(
            uid,
            Erasure::begin(now, settings.retention),
            now - settings.quarantine_retention,
        )
        .await?;
    tracing::info!(uid = %uid, "user erased");
    Ok(json(
        StatusCode::ACCEPTED,
        json!({
            "erasedAt": stamp.erased_at,
            "retainedUntil": stamp.retained_until,
        }),
    ))
}
