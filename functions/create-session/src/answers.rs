//! This module builds the answer `POST /users/{uid}/idv-sessions` gives with a session.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use idv_adapters::http::json;
use idv_model::{HostedUrl, SessionRecord};
use serde::Serialize;

/// The answer, which names the session the end user should open.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer<'a> {
    session_id: String,
    hosted_url: &'a str,
    state: &'static str,
    state_code: u8,
    expires_at: Option<DateTime<Utc>>,
    reused: bool,
}

pub(crate) fn answer(
    status: StatusCode,
    record: &SessionRecord,
    url: &HostedUrl,
    reused: bool,
) -> Response {
    json(
        status,
        SessionAnswer {
            session_id: record.session_id.to_string(),
            hosted_url: url.expose(),
            state: record.phase.state().name(),
            state_code: record.phase.state().code(),
            expires_at: record.expires_at,
            reused,
        },
    )
}
