//! This module reads what Ralio says became of one session: its checks (REFERENCE §2.3), which
//! carry a rejection's reasons, and its state history (§2.4), which says when each state was
//! reached. Webhooks are the only other source of both, so a sweep that heals a lost webhook
//! reads them here.

use chrono::{DateTime, Utc};
use idv_model::webhook::{failure_reasons_of_checks, parse_timestamp};
use idv_model::{FailureReason, SessionId, Uid};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::sessions::sessions_path;
use super::transport::expect_json;
use super::{RalioCall, RalioError, ReportedState};

/// One entry of a session's state history: the state, and when Ralio recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub state: ReportedState,
    /// It is `None` when Ralio gave no time, or one that does not parse.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ChecksWire {
    #[serde(default)]
    checks: Value,
}

#[derive(Deserialize)]
struct HistoryWire {
    #[serde(default)]
    logs: Vec<LogWire>,
}

#[derive(Deserialize)]
struct LogWire {
    #[serde(default, alias = "newState")]
    new_state: Value,
    /// It is read as a `Value`, so that a time of an unexpected type is `None`, not an error.
    #[serde(default, alias = "createdAt")]
    created_at: Value,
}

/// A 404 on a session's own resource may mean an unknown session as well as an unknown user,
/// so it is reported as a refusal of this request, not as [`RalioError::UserNotFound`].
fn not_found_is_the_request(err: RalioError) -> RalioError {
    match err {
        RalioError::UserNotFound => RalioError::Rejected {
            status: 404,
            body: "Ralio knows no such user or session".into(),
        },
        other => other,
    }
}

impl RalioCall<'_> {
    /// Returns the reasons a session's checks give, by the same rule as a `kyc_session_failed`
    /// event's. A session with no refused check has none.
    pub async fn session_checks(
        &self,
        uid: Uid,
        session_id: SessionId,
    ) -> Result<Vec<FailureReason>, RalioError> {
        let path = format!("{}/{session_id}/checks", sessions_path(uid));
        let response = self.authorized(true, Method::GET, &path, None).await?;
        let wire: ChecksWire = expect_json(response)
            .await
            .map_err(not_found_is_the_request)?;
        if wire.checks.is_null() {
            return Ok(Vec::new());
        }
        failure_reasons_of_checks(&wire.checks).map_err(|e| RalioError::BadResponse(e.to_string()))
    }

    /// Returns a session's state history in the order Ralio lists it.
    pub async fn state_history(
        &self,
        uid: Uid,
        session_id: SessionId,
    ) -> Result<Vec<StateChange>, RalioError> {
        let path = format!("{}/{session_id}/state-history", sessions_path(uid));
        let response = self.authorized(true, Method::GET, &path, None).await?;
        let wire: HistoryWire = expect_json(response)
            .await
            .map_err(not_found_is_the_request)?;
        Ok(wire
            .logs
            .into_iter()
            .map(|log| StateChange {
                state: ReportedState::from_json(&log.new_state),
                at: log.created_at.as_str().and_then(parse_timestamp),
            })
            .collect())
    }
}
