//! The gate the integration exists for: an account is created only for a user whose KYC level
//! is REGULAR, and the merchant always knows what the user should do next.
//!
//! `GET /users/{uid}/kyc` reads one DynamoDB Query. `POST /users/{uid}/accounts` answers:
//!
//! | situation | answer |
//! |---|---|
//! | body not `{alias, currency}` with currency EUR or USD | 400 `invalid_request` naming the field |
//! | the same alias and currency were created before | 200 with the stored account, no Ralio call |
//! | level not REGULAR | 403 `kyc_not_regular` with `kycLevel` and `nextAction` (audited) |
//! | REGULAR | created through Ralio, stored, audited: 201 |
//! | an identical request is under way | 200 with its account once created, else 409 `creation_in_progress` |
//! | Ralio refuses (4xx) | 422 `ralio_rejected` with `ralioStatus` |
//! | Ralio unavailable / too slow | 503 `ralio_unavailable` / 504 `ralio_timeout` |
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`]) |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, ProcessEnv};
use idv_adapters::http::{
    Problem, UserId, creation_in_progress, json, ralio_problem, store_problem, wait_for_peer,
};
use idv_adapters::ralio::{RalioClient, RalioError};
use idv_adapters::store::{AccountLedger, AuditLog, StoreError, UserReader};
use idv_adapters::wiring::Wiring;
use idv_model::decisions::latest_session;
use idv_model::{
    AccountRecord, AccountReservation, AccountStatus, Currency, FailureReason, KycLevel,
    NextAction, Owner, SessionRecord, Uid, UserSnapshot, can_create_account, next_action,
};
use serde::Serialize;

/// This function's name in metrics.
const FUNCTION: &str = "account-gate";

/// Sessions listed in the status answer, newest first.
pub const SESSIONS_SHOWN: usize = 10;
/// Longest alias accepted.
pub const MAX_ALIAS_CHARS: usize = 100;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a request may hold an account creation (`ACCOUNT_LEASE`, default 60s). After a
    /// Ralio timeout the lease is kept until then, so an immediate retry cannot open a second
    /// account while the first may still be in flight.
    pub lease: chrono::Duration,
    /// How long an identical concurrent request waits for the first one (`ACCOUNT_WAIT`, 3s).
    pub wait_for_peer: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: chrono::Duration::seconds(60),
            wait_for_peer: Duration::from_secs(3),
        }
    }
}

pub struct AccountGate {
    pub users: Arc<dyn UserReader>,
    pub accounts: Arc<dyn AccountLedger>,
    pub audit: Arc<dyn AuditLog>,
    pub ralio: Arc<RalioClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

impl AccountGate {
    /// Lambda configuration: `TABLE_NAME` and the Ralio variables.
    pub async fn from_env() -> Result<Arc<Self>, ConfigError> {
        Self::from_config(&ProcessEnv).await
    }

    pub async fn from_config(env: &impl Env) -> Result<Arc<Self>, ConfigError> {
        Self::wired(&Wiring::load(env).await).await
    }

    pub async fn wired(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let env = wiring.env();
        let defaults = Settings::default();
        let settings = Settings {
            lease: env.span("ACCOUNT_LEASE", defaults.lease)?,
            wait_for_peer: env.duration("ACCOUNT_WAIT", defaults.wait_for_peer)?,
        };
        let store = wiring.store()?;
        Ok(Arc::new(Self {
            users: store.clone(),
            accounts: store.clone(),
            audit: store,
            ralio: wiring.ralio().await?,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }
}

pub fn router(gate: Arc<AccountGate>) -> Router {
    Router::new()
        .route("/users/{uid}/kyc", get(status))
        .route("/users/{uid}/accounts", post(create_account))
        .with_state(gate)
}

// ---- answers ----------------------------------------------------------------------------

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
    /// Only while the user can still use it: a spent page is not handed out again.
    hosted_url: Option<&'a str>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    expiring_soon: bool,
    /// How the expiry was learned: `ralio` (webhook) or `inferred` (no outcome came in time).
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
    created_at: DateTime<Utc>,
}

fn account_view(record: &AccountRecord) -> AccountView<'_> {
    let created = match &record.status {
        AccountStatus::Created(account) => Some(account),
        AccountStatus::Pending { .. } => None,
    };
    AccountView {
        alias: &record.alias,
        currency: record.currency.as_str(),
        status: if created.is_some() {
            "created"
        } else {
            "pending"
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
struct KycStatus<'a> {
    uid: String,
    kyc_level: String,
    kyc_level_code: Option<u8>,
    can_create_account: bool,
    next_action: NextAction,
    latest_session: Option<SessionView<'a>>,
    sessions: Vec<SessionView<'a>>,
    /// Ralio warned the identity document expires then: verify again before.
    reverify_before: Option<NaiveDate>,
    accounts: Vec<AccountView<'a>>,
}

fn kyc_status(snapshot: &UserSnapshot, now: DateTime<Utc>) -> KycStatus<'_> {
    let profile = &snapshot.profile;
    let level = profile.kyc_level();
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
    }
}

fn created_answer(status: StatusCode, record: &AccountRecord) -> Response {
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

/// `{alias, currency}`: alias 1–100 characters after trimming, currency exactly EUR or USD.
fn parse_request(body: &[u8]) -> Result<(String, Currency), Problem> {
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
        Some(serde_json::Value::String(s)) => s.trim().to_owned(),
        Some(_) => return Err(invalid("alias", "alias must be a string.")),
        None => return Err(invalid("alias", "alias is required.")),
    };
    if alias.is_empty() || alias.chars().count() > MAX_ALIAS_CHARS {
        return Err(invalid("alias", "alias must be 1 to 100 characters."));
    }
    let currency = match object.get("currency") {
        Some(serde_json::Value::String(s)) => {
            Currency::parse(s).ok_or_else(|| invalid("currency", "currency must be EUR or USD."))?
        }
        Some(_) => return Err(invalid("currency", "currency must be EUR or USD.")),
        None => return Err(invalid("currency", "currency is required.")),
    };
    Ok((alias, currency))
}

fn find_created<'a>(
    snapshot: &'a UserSnapshot,
    alias: &str,
    currency: Currency,
) -> Option<&'a AccountRecord> {
    snapshot.accounts.iter().find(|a| {
        a.alias == alias && a.currency == currency && matches!(a.status, AccountStatus::Created(_))
    })
}

/// Every answer of `POST /users/{uid}/accounts` other than an account.
#[derive(Debug)]
enum GateError {
    Invalid(Problem),
    NotRegular { level: KycLevel, action: NextAction },
    InProgress,
    Store(StoreError),
    Ralio(RalioError),
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
            GateError::Store(err) => store_problem(&err),
            GateError::Ralio(err) => {
                ralio_problem(&err, FUNCTION, StatusCode::UNPROCESSABLE_ENTITY)
            }
        }
        .into_response()
    }
}

impl AccountGate {
    async fn create(
        &self,
        uid: Uid,
        alias: String,
        currency: Currency,
    ) -> Result<Response, GateError> {
        let now = self.clock.now();
        let snapshot = self.users.load_user(uid).await?;
        // A repeat of a request that already succeeded gets the same account back.
        if let Some(existing) = find_created(&snapshot, &alias, currency) {
            return Ok(created_answer(StatusCode::OK, existing));
        }
        if !can_create_account(&snapshot.profile) {
            return Err(self.refuse(&snapshot, now).await);
        }
        let lease_until = now + self.settings.lease;
        match self
            .accounts
            .reserve_account(uid, &alias, currency, lease_until, now)
            .await?
        {
            AccountReservation::Existing(record) => Ok(created_answer(StatusCode::OK, &record)),
            AccountReservation::InProgress { .. } => {
                self.wait_for_peer(uid, &alias, currency).await
            }
            AccountReservation::Reserved => self.create_at_ralio(uid, &alias, currency).await,
        }
    }

    /// The refusal for a user below REGULAR, audited.
    async fn refuse(&self, snapshot: &UserSnapshot, now: DateTime<Utc>) -> GateError {
        let profile = &snapshot.profile;
        let level = profile.kyc_level();
        let refusal = AccountRecord::refusal_audit(&level, now);
        if let Err(e) = self
            .audit
            .append_audit(Owner::User(profile.uid), &refusal)
            .await
        {
            tracing::warn!(error = %e, "refusal not audited");
        }
        GateError::NotRegular {
            action: next_action(profile, &snapshot.sessions, now),
            level,
        }
    }

    /// Creates the reserved account at Ralio and records it.
    async fn create_at_ralio(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<Response, GateError> {
        let account = match self.ralio.create_account(uid, alias, currency).await {
            Ok(account) => account,
            Err(err) => {
                // Ralio certainly did nothing: free the way for a retry. After a timeout or
                // an unreadable answer it may have: let the lease run out instead.
                if !matches!(err, RalioError::Timeout | RalioError::BadResponse(_))
                    && let Err(e) = self.accounts.release_account(uid, alias, currency).await
                {
                    tracing::warn!(error = %e, "account lease not released; it expires by itself");
                }
                return Err(GateError::Ralio(err));
            }
        };
        let now = self.clock.now();
        let record = self
            .accounts
            .complete_account(uid, alias, currency, &account, now)
            .await
            .inspect_err(|_| {
                tracing::error!(account_id = %account.id, "account created at Ralio but not recorded");
            })?;
        tracing::info!(currency = currency.as_str(), "account created");
        Ok(created_answer(StatusCode::CREATED, &record))
    }

    async fn wait_for_peer(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<Response, GateError> {
        let found = wait_for_peer(self.settings.wait_for_peer, || async {
            let snapshot = self.users.load_user(uid).await?;
            Ok::<_, GateError>(
                find_created(&snapshot, alias, currency)
                    .map(|existing| created_answer(StatusCode::OK, existing)),
            )
        })
        .await?;
        found.ok_or(GateError::InProgress)
    }
}

async fn status(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
) -> Result<Response, GateError> {
    let snapshot = gate.users.load_user(uid).await?;
    Ok(json(
        StatusCode::OK,
        kyc_status(&snapshot, gate.clock.now()),
    ))
}

async fn create_account(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
    body: Bytes,
) -> Result<Response, GateError> {
    let (alias, currency) = parse_request(&body).map_err(GateError::Invalid)?;
    gate.create(uid, alias, currency).await
}
