//! This module serves `GET /users/{uid}/kyc`, which answers with the user's level, sessions and
//! accounts from one read.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use idv_adapters::http::{UserId, json};

use crate::AccountGate;
use crate::answers::kyc_status;
use crate::error::GateError;

pub(crate) async fn status(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
) -> Result<Response, GateError> {
    let snapshot = gate.parts.users.load_user(uid).await?;
    if let Some(erasure) = snapshot.erased {
        return Err(GateError::Erased(erasure));
    }
    Ok(json(
        StatusCode::OK,
        kyc_status(
            &snapshot,
            gate.parts.settings.level_wait,
            gate.parts.clock.now(),
        ),
    ))
}
