//! This module defines what `GET /users/{uid}/kyc` and `POST /users/{uid}/accounts` read and
//! write on the wire.

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use idv_adapters::http::{Problem, json};
use idv_model::decisions::{latest_session, level_overdue};
use idv_model::{
    AccountRecord, AccountStatus, Currency, FailureReason, NextAction, SessionRecord, UserSnapshot,
    can_create_account, next_action,
};
use serde::Serialize;

use crate::{MAX_ALIAS_CHARS, SESSIONS_SHOWN};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reason<'a> {
    check: &'a str,
    code: &'a str,
    message: &'a str,
    category: Option<&'a str>,
}

impl<'a> From<&'a FailureReason> for Reason<'a> {
    fn from(r: &'a FailureReason) -> Self {
        Self {
            check: &r.check,
            code: &r.code,
            message: &r.message,
            category: r.category.as_deref(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView<'a> {
    session_id: String,
    state: &'static str,
    state_code: u8,
    /// It is set only while the user can still use the page, because a spent page is not handed
    /// out again.
    hosted_url: Option<&'a str>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    expiring_soon: bool,
    /// Says how the expiry was learned: `ralio` (from a webhook) or `inferred` (because no
    /// outcome came in time).
    expiry_source: Option<&'static str>,
    failure_reasons: Vec<Reason<'a>>,
}

fn session_view(record: &SessionRecord, now: DateTime<Utc>) -> SessionView<'_> {
    SessionView {
        session_id: record.session_id.to_string(),
        state: record.phase.state().name(),
        state_code: record.phase.state().code(),
        hosted_url: record
            .hosted_url
            .as_ref()
            .filter(|_| record.is_active(now))
            .map(|u| u.expose()),
        created_at: record.created_at,
        expires_at: record.expires_at,
        expiring_soon: record.expiring_soon && record.is_active(now),
        expiry_source: record.phase.expiry_source().map(|s| s.as_str()),
        failure_reasons: record.failure_reasons.iter().map(Reason::from).collect(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountView<'a> {
    alias: &'a str,
    currency: &'static str,
    status: &'static str,
    account_id: Option<&'a str>,
    state: Option<&'a str>,
    #[serde(rename = "type")]
    account_type: Option<&'a str>,
    balance: Option<i64>,
    pending_in: Option<i64>,
    pending_out: Option<i64>,
    /// When Ralio said the account is ready for use.
    activated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

fn account_view(record: &AccountRecord) -> AccountView<'_> {
    let created = record.created();
    AccountView {
        alias: &record.alias,
        currency: record.currency.as_str(),
        status: match &record.status {
            AccountStatus::Created { .. } => "created",
            AccountStatus::Pending { .. } => "pending",
            AccountStatus::Uncertain { .. } => "uncertain",
            AccountStatus::Failed => "failed",
        },
        activated_at: match &record.status {
            AccountStatus::Created { activated_at, .. } => *activated_at,
            _ => None,
        },
        account_id: created.map(|a| a.id.as_str()),
        state: created.map(|a| a.state.as_str()),
        account_type: created.map(|a| a.account_type.as_str()),
        balance: created.map(|a| a.balance),
        pending_in: created.map(|a| a.pending_in),
        pending_out: created.map(|a| a.pending_out),
        created_at: record.created_at,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KycStatus<'a> {
    uid: String,
    kyc_level: String,
    kyc_level_code: Option<u8>,
    can_create_account: bool,
    next_action: NextAction,
    latest_session: Option<SessionView<'a>>,
    sessions: Vec<SessionView<'a>>,
    /// When Ralio warned that the identity document expires, so the user should verify
    /// again before it.
    reverify_before: Option<NaiveDate>,
    accounts: Vec<AccountView<'a>>,
    /// Says what may have gone missing and needs a person, such as a level that never came.
    alerts: Vec<Alert>,
}

/// An alert on a user's standing: a stable code, and since when it holds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Alert {
    code: &'static str,
    since: DateTime<Utc>,
}

pub(crate) fn kyc_status(
    snapshot: &UserSnapshot,
    level_wait: chrono::Duration,
    now: DateTime<Utc>,
) -> KycStatus<'_> {
    let profile = &snapshot.profile;
    let level = profile.kyc_level();
    let alerts = level_overdue(profile, &snapshot.sessions, level_wait, now)
        .map(|since| Alert {
            code: "level_overdue",
            since,
        })
        .into_iter()
        .collect();
    KycStatus {
        uid: profile.uid.to_string(),
        kyc_level: level.name().to_owned(),
        kyc_level_code: level.code(),
        can_create_account: can_create_account(profile),
        next_action: next_action(profile, &snapshot.sessions, now),
        latest_session: latest_session(profile, &snapshot.sessions).map(|s| session_view(s, now)),
        sessions: snapshot
            .sessions
            .iter()
            .take(SESSIONS_SHOWN)
            .map(|s| session_view(s, now))
            .collect(),
        reverify_before: profile.pending_reverify().map(|n| n.expiration_date),
        accounts: snapshot.accounts.iter().map(account_view).collect(),
        alerts,
    }
}

pub(crate) fn created_answer(status: StatusCode, record: &AccountRecord) -> Response {
    json(status, account_view(record))
}

fn invalid(field: &'static str, detail: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Invalid request",
        detail,
    )
    .with("field", field)
}

/// Parses `{alias, currency}`. The alias has 1–100 characters with at least one that is not
/// whitespace (it is stored trimmed), and the currency is exactly EUR or USD. The OpenAPI schema
/// says the same.
pub(crate) fn parse_request(body: &[u8]) -> Result<(String, Currency), Problem> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        invalid(
            "body",
            "The body must be a JSON object with alias and currency.",
        )
    })?;
    let object = value.as_object().ok_or_else(|| {
        invalid(
            "body",
            "The body must be a JSON object with alias and currency.",
        )
    })?;
    let alias = match object.get("alias") {
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(invalid("alias", "alias must be a string.")),
        None => return Err(invalid("alias", "alias is required.")),
    };
    // The alias is counted as sent, because the schema's maxLength counts it that way.
    if alias.is_empty() || alias.chars().count() > MAX_ALIAS_CHARS {
        return Err(invalid("alias", "alias must be 1 to 100 characters."));
    }
    if alias.chars().all(char::is_whitespace) {
        return Err(invalid("alias", "alias must not be blank."));
    }
    let alias = alias.trim().to_owned();
    let currency = match object.get("currency") {
        Some(serde_json::Value::String(s)) => {
            Currency::parse(s).ok_or_else(|| invalid("currency", "currency must be EUR or USD."))?
        }
        Some(_) => return Err(invalid("currency", "currency must be EUR or USD.")),
        None => return Err(invalid("currency", "currency is required.")),
    };
    Ok((alias, currency))
}
