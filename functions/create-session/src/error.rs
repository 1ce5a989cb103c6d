//! This module holds every answer of `POST /users/{uid}/idv-sessions` other than a session.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use idv_adapters::http::{
    LOOK_AGAIN, Problem, creation_in_progress, creation_uncertain, ralio_problem, store_problem,
    user_erased,
};
use idv_adapters::ralio::RalioError;
use idv_adapters::store::StoreError;
use idv_model::KycLevel;

use crate::FUNCTION;

/// Each variant is an answer other than a session.
#[derive(Debug)]
pub(crate) enum CreateError {
    AlreadyVerified,
    InProgress,
    Store(StoreError),
    /// A failure after which Ralio certainly did nothing.
    Ralio(RalioError),
    /// Ralio may have created a session it does not show yet, so the caller should ask again
    /// after this long.
    Uncertain {
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    },
    /// The user was erased, so no session is created for them again.
    Erased(idv_model::Erasure),
}

impl CreateError {
    /// Converts a Ralio failure, keeping certain ones as they are and making the others
    /// uncertain.
    pub(crate) fn from_ralio(error: RalioError) -> Self {
        if error.may_have_acted() {
            CreateError::Uncertain {
                retry_after: LOOK_AGAIN,
                failure: Some(error),
            }
        } else {
            CreateError::Ralio(error)
        }
    }

    /// Returns whether Ralio certainly holds no session of the failed attempt's making, which
    /// is so only when it refused. A store failure may follow a session Ralio created.
    pub(crate) fn nothing_left_at_ralio(&self) -> bool {
        matches!(self, CreateError::Ralio(_))
    }
}

impl From<StoreError> for CreateError {
    fn from(err: StoreError) -> Self {
        CreateError::Store(err)
    }
}

impl IntoResponse for CreateError {
    fn into_response(self) -> Response {
        match self {
            CreateError::AlreadyVerified => Problem::new(
                StatusCode::CONFLICT,
                "already_verified",
                "Already verified",
                "This user's KYC level is REGULAR: no verification is needed.",
            )
            .with("kycLevel", KycLevel::Regular.name()),
            CreateError::InProgress => {
                creation_in_progress("A session is being created for this user. Retry shortly.")
            }
            CreateError::Store(err) => store_problem(&err),
            CreateError::Erased(erasure) => user_erased(&erasure),
            CreateError::Ralio(err) => ralio_problem(&err, FUNCTION, StatusCode::BAD_GATEWAY),
            CreateError::Uncertain {
                retry_after,
                failure,
            } => creation_uncertain("session", retry_after, failure.as_ref(), FUNCTION),
        }
        .into_response()
    }
}
