//! This module serves `GET /users/{uid}/history`, the user's audit trail, newest first and in
//! pages. It lists every event received about the user (applied, stale, unchanged, duplicate)
//! and every watcher action and gate decision by id and stable code only, so it shows no
//! personal data and no pages' URLs.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use idv_adapters::http::{Problem, UserId, json, store_problem, user_erased};
use idv_model::audit::AppliedChange;
use idv_model::{AuditEntry, AuditOutcome, Owner};
use serde::{Deserialize, Serialize};

use crate::AccountGate;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Deserialize)]
pub struct HistoryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryView<'a> {
    at: DateTime<Utc>,
    action: &'a str,
    outcome: &'a AuditOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    /// A short note free of personal data (`now VERIFIED`, `kyc level LIGHT`).
    #[serde(skip_serializing_if = "str::is_empty")]
    detail: &'a str,
}

impl<'a> From<&'a AuditEntry> for EntryView<'a> {
    fn from(entry: &'a AuditEntry) -> Self {
        let account_id = match &entry.applied {
            Some(
                AppliedChange::AccountCreated { account_id, .. }
                | AppliedChange::AccountActivated { account_id },
            ) => Some(account_id.as_str()),
            _ => None,
        };
        Self {
            at: entry.at,
            action: &entry.action,
            outcome: &entry.outcome,
            event_id: entry.event_id.map(|e| e.to_string()),
            session_id: entry.session_id.map(|s| s.to_string()),
            account_id,
            detail: &entry.detail,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPage<'a> {
    uid: String,
    entries: Vec<EntryView<'a>>,
    /// The caller passes it as `cursor` for the next, older page. It is `null` on the last one.
    next_cursor: Option<String>,
}

fn invalid(code: &'static str, field: &str, detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, code, "Invalid query", detail).with("field", field)
}

fn limit(raw: Option<&str>) -> Result<u32, Problem> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| {
            invalid(
                "invalid_limit",
                "limit",
                &format!("limit must be a whole number from 1 to {MAX_LIMIT}."),
            )
        })
}

/// A cursor is a store position, base64url-encoded. Anything that does not decode to a
/// plausible position is refused before the store sees it.
fn cursor(raw: Option<&str>) -> Result<Option<String>, Problem> {
    let Some(raw) = raw else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(Some)
        .ok_or_else(|| {
            invalid(
                "invalid_cursor",
                "cursor",
                "cursor must be a nextCursor from an earlier page.",
            )
        })
}

pub async fn history(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|_| {
        invalid(
            "invalid_query",
            "query",
            "The query string is not limit and cursor.",
        )
    })?;
    let limit = limit(query.limit.as_deref())?;
    let after = cursor(query.cursor.as_deref())?;
    // An erased user's history is not shown: what is kept of it is the compliance record,
    // for operators (`idv-admin history`).
    let snapshot = gate
        .parts
        .users
        .load_user(uid)
        .await
        .map_err(|e| store_problem(&e))?;
    if let Some(erasure) = snapshot.erased {
        return Err(user_erased(&erasure));
    }
    let page = gate
        .parts
        .audit
        .audit_page(Owner::User(uid), limit, after.as_deref())
        .await
        .map_err(|e| store_problem(&e))?;
    Ok(json(
        StatusCode::OK,
        HistoryPage {
            uid: uid.to_string(),
            entries: page.entries.iter().map(EntryView::from).collect(),
            next_cursor: page.next.map(|n| URL_SAFE_NO_PAD.encode(n)),
        },
    ))
}
