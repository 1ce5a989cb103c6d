//! This module holds every answer of `POST /users/{uid}/accounts` other than an account.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use idv_adapters::http::{
    Problem, creation_in_progress, creation_uncertain, ralio_problem, store_problem, user_erased,
};
use idv_adapters::ralio::RalioError;
use idv_adapters::store::StoreError;
use idv_model::{KycLevel, NextAction};

use crate::FUNCTION;

/// Each variant is an answer of the gate's routes other than their success.
#[derive(Debug)]
pub(crate) enum GateError {
    Invalid(Problem),
    NotRegular {
        level: KycLevel,
        action: NextAction,
    },
    InProgress,
    /// Ralio may have created the account, so the caller should ask again after this long.
    Uncertain {
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    },
    Store(StoreError),
    Ralio(RalioError),
    Erased(idv_model::Erasure),
}

impl From<StoreError> for GateError {
    fn from(err: StoreError) -> Self {
        GateError::Store(err)
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        match self {
            GateError::Invalid(problem) => problem,
            GateError::NotRegular { level, action } => Problem::new(
                StatusCode::FORBIDDEN,
                "kyc_not_regular",
                "KYC level is not REGULAR",
                "Accounts can only be opened for users whose KYC level is REGULAR.",
            )
            .with("kycLevel", level.name())
            .with("nextAction", &action),
            GateError::InProgress => {
                creation_in_progress("This account is being created. Retry shortly.")
            }
            GateError::Uncertain {
                retry_after,
                failure,
            } => creation_uncertain("account", retry_after, failure.as_ref(), FUNCTION),
            GateError::Store(err) => store_problem(&err),
            GateError::Erased(erasure) => user_erased(&erasure),
            GateError::Ralio(err) => {
                ralio_problem(&err, FUNCTION, StatusCode::UNPROCESSABLE_ENTITY)
            }
        }
        .into_response()
    }
}
