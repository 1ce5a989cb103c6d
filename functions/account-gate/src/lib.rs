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
//! | Ralio certainly did nothing (refused: 4xx; unreachable) | 422 `ralio_rejected` / 503 `ralio_unavailable`; a retry creates at once |
//! | Ralio may have acted (timeout, 5xx, reset, unreadable answer), or an earlier request's creation is uncertain | 409 `creation_uncertain` with `Retry-After`, until Ralio shows the account (then 200 with it) or shows none after `ACCOUNT_SETTLE` (then a new creation) |
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`]) |
//!
//! `GET /users/{uid}/history` pages through the user's audit trail ([`history`]).
//!
//! An uncertain creation is never resolved by creating again right away: Ralio's account list
//! and its `account_activated` webhook are looked at first.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, ProcessEnv};
use idv_adapters::http::{
    CallDeadline, LOOK_AGAIN, Problem, UserId, creation_in_progress, creation_uncertain, json,
    ralio_problem, store_problem, wait_for_peer,
};
use idv_adapters::ralio::{Deadline, ListedAccount, RalioClient, RalioError};
use idv_adapters::store::{AccountLedger, AuditLog, StoreError, UserReader};
use idv_adapters::wiring::Wiring;
use idv_model::accounts::is_requested_account;
use idv_model::settled;

pub use crate::lookup::ACTIVATIONS_LOOKED_AT;
use crate::lookup::Lookup;
use idv_model::{
    AccountGuard, AccountRecord, AccountRefusal, AccountReservation, AccountStatus, AccountWrite,
    AuditEntry, Currency, KycLevel, NextAction, Owner, ReservationToken, Uid, UserSnapshot,
    can_create_account, next_action,
};

/// This function's name in metrics.
const FUNCTION: &str = "account-gate";

/// Sessions listed in the status answer, newest first.
pub const SESSIONS_SHOWN: usize = 10;
/// Longest alias accepted.
pub const MAX_ALIAS_CHARS: usize = 100;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a request may hold an account creation (`ACCOUNT_LEASE`, default 60s): longer
    /// than an invocation can be calling Ralio. A holder that dies leaves its creation
    /// uncertain once this runs out.
    pub lease: chrono::Duration,
    /// How long an identical concurrent request waits for the first one (`ACCOUNT_WAIT`, 3s).
    pub wait_for_peer: Duration,
    /// How long an uncertain creation must stay unseen in Ralio's list before it is tried
    /// again, when `recreate` allows it (`ACCOUNT_SETTLE`, default 2m).
    pub settle: chrono::Duration,
    /// Whether it is ever tried again on the list's word (`ACCOUNT_RECREATE`, default never:
    /// see [`resolution`]).
    pub recreate: Recreate,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: chrono::Duration::seconds(60),
            wait_for_peer: Duration::from_secs(3),
            settle: chrono::Duration::minutes(2),
            recreate: Recreate::Never,
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
            settle: env.span("ACCOUNT_SETTLE", defaults.settle)?,
            recreate: match env.value("ACCOUNT_RECREATE") {
                None => defaults.recreate,
                Some(raw) => raw.parse().map_err(|reason| ConfigError::Invalid {
                    name: "ACCOUNT_RECREATE",
                    reason,
                })?,
            },
        };
        let store = wiring.store()?;
        let ralio = wiring.ralio()?;
        wiring.prime_ralio(&ralio).await?;
        wiring.prime_store(&store).await?;
        Ok(Arc::new(Self {
            users: store.clone(),
            accounts: store.clone(),
            audit: store,
            ralio,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }
}

mod answers;
pub mod history;
pub mod lambda;
mod lookup;
pub mod resolution;

use answers::{created_answer, kyc_status, parse_request};
pub use resolution::{Recreate, Resolution, ResolveError};

/// An account request is a few dozen bytes: a larger body is refused before it is read
/// (problem+json, not the framework's plain-text 413 at 2 MB).
pub const MAX_ACCOUNT_REQUEST: usize = 16 * 1024;

pub fn router(gate: Arc<AccountGate>) -> Router {
    Router::new()
        .route("/users/{uid}/kyc", get(status))
        .route(
            "/users/{uid}/accounts",
            post(create_account).layer(DefaultBodyLimit::max(MAX_ACCOUNT_REQUEST)),
        )
        .route("/users/{uid}/history", get(history::history))
        .method_not_allowed_fallback(idv_adapters::http::route_method_not_allowed)
        .with_state(gate)
}

/// Every answer of `POST /users/{uid}/accounts` other than an account.
#[derive(Debug)]
enum GateError {
    Invalid(Problem),
    NotRegular {
        level: KycLevel,
        action: NextAction,
    },
    InProgress,
    /// Ralio may have created it; ask again after this long.
    Uncertain {
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    },
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
            GateError::Uncertain {
                retry_after,
                failure,
            } => creation_uncertain("account", retry_after, failure.as_ref(), FUNCTION),
            GateError::Store(err) => store_problem(&err),
            GateError::Ralio(err) => {
                ralio_problem(&err, FUNCTION, StatusCode::UNPROCESSABLE_ENTITY)
            }
        }
        .into_response()
    }
}

/// What one request asks to create.
#[derive(Debug, Clone, Copy)]
struct Wanted<'a> {
    uid: Uid,
    alias: &'a str,
    currency: Currency,
}

impl Wanted<'_> {
    /// Whether an account Ralio read back by id is this request's: its owner, alias and
    /// currency (the one rule for the gate's own lookups and an operator's `--found`).
    fn is(&self, read: &ListedAccount) -> bool {
        let owner = read.user_id.as_deref().unwrap_or_default();
        let account = &read.account;
        is_requested_account(
            owner,
            &account.alias,
            &account.currency,
            self.uid,
            self.alias,
            self.currency,
        )
    }
}

impl AccountGate {
    async fn create(&self, wanted: Wanted<'_>, deadline: Deadline) -> Result<Response, GateError> {
        let now = self.clock.now();
        let snapshot = self.users.load_user(wanted.uid).await?;
        // A repeat of a request that already succeeded gets the same account back.
        if let Some(existing) = find_created(&snapshot, wanted.alias, wanted.currency) {
            return Ok(created_answer(StatusCode::OK, existing));
        }
        if !can_create_account(&snapshot.profile) {
            return Err(self.refuse(&snapshot, now).await);
        }
        let lease_until = now + self.settings.lease;
        let reservation = self
            .accounts
            .reserve_account(wanted.uid, wanted.alias, wanted.currency, lease_until, now)
            .await?;
        self.proceed(wanted, reservation, deadline).await
    }

    /// The refusal for a user whose level went below REGULAR after this request read it: the
    /// reservation did not take effect, and the answer shows the level as it is now.
    async fn lowered(&self, wanted: Wanted<'_>) -> GateError {
        let now = self.clock.now();
        match self.users.load_user(wanted.uid).await {
            Ok(snapshot) => self.refuse(&snapshot, now).await,
            Err(e) => GateError::Store(e),
        }
    }

    /// What a reservation leads to.
    async fn proceed(
        &self,
        wanted: Wanted<'_>,
        reservation: AccountReservation,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        match reservation {
            AccountReservation::Existing(record) => Ok(created_answer(StatusCode::OK, &record)),
            AccountReservation::InProgress { .. } => self.wait_for_peer(wanted).await,
            AccountReservation::Reserved(token) => {
                self.create_at_ralio(wanted, token, deadline).await
            }
            AccountReservation::Uncertain { token, since } => {
                self.resolve(wanted, token, since, deadline).await
            }
            AccountReservation::NotRegular => Err(self.lowered(wanted).await),
        }
    }

    /// The refusal for a user below REGULAR, audited.
    async fn refuse(&self, snapshot: &UserSnapshot, now: DateTime<Utc>) -> GateError {
        let profile = &snapshot.profile;
        let level = profile.kyc_level();
        let refusal = AuditEntry::account_refused(&level, now);
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

    /// Creates the reserved account at Ralio and records what became of it: created, failed
    /// (Ralio certainly did nothing) or uncertain.
    async fn create_at_ralio(
        &self,
        wanted: Wanted<'_>,
        token: ReservationToken,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        let Wanted {
            uid,
            alias,
            currency,
        } = wanted;
        let outcome = self
            .ralio
            .within(deadline)
            .create_account(uid, alias, currency)
            .await;
        let now = self.clock.now();
        match outcome {
            Ok(account) => {
                let write = AccountRecord::complete(uid, alias, currency, token, account, now);
                self.record_found(wanted, write, StatusCode::CREATED).await
            }
            Err(error) if error.may_have_acted() => {
                let write = AccountRecord::mark_uncertain(uid, alias, currency, token, now);
                if let Err(e) = self.accounts.write_account(&write, now).await {
                    // The reservation stays pending; once its lease runs out it is uncertain.
                    tracing::warn!(error = %e, "uncertain account creation not recorded");
                }
                Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: Some(error),
                })
            }
            Err(error) => {
                let write = AccountRecord::fail(uid, alias, currency, token, now);
                if let Err(e) = self.accounts.write_account(&write, now).await {
                    tracing::warn!(error = %e, "failed account creation not recorded; it settles by itself");
                }
                Err(GateError::Ralio(error))
            }
        }
    }

    /// Records an account Ralio has (created now, or found), answering with `status`.
    async fn record_found(
        &self,
        wanted: Wanted<'_>,
        write: AccountWrite,
        status: StatusCode,
    ) -> Result<Response, GateError> {
        let now = self.clock.now();
        let account_id = write
            .record
            .created()
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let reservation = AccountRecord::key_hint(wanted.currency, wanted.alias);
        let refused = match self.accounts.write_account(&write, now).await {
            Ok(Ok(stored)) => {
                tracing::info!(currency = wanted.currency.as_str(), %account_id, "account recorded");
                return Ok(created_answer(status, &stored));
            }
            Ok(Err(AccountRefusal::Guarded(stored))) => stored,
            Ok(Err(AccountRefusal::NotRegular)) => {
                return Err(GateError::Store(StoreError::Corrupt(
                    "a write that needs no level was refused for the level".into(),
                )));
            }
            Err(e) => {
                // Ralio has it; the reservation is held or lapses to uncertain, and a retry
                // finds it in Ralio's list. Saying the store failed would suggest nothing
                // happened.
                tracing::error!(uid = %wanted.uid, %reservation, %account_id, error = %e, "account created at Ralio but not recorded");
                return Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                });
            }
        };
        match refused {
            // Someone recorded it first (a peer that found it too).
            Some(record) if record.created().is_some() => {
                Ok(created_answer(StatusCode::OK, &record))
            }
            // Freed meanwhile (an operator declared it absent): what Ralio holds wins, or the
            // next request would create a second one.
            freed
                if freed
                    .as_ref()
                    .is_none_or(|r| matches!(r.status, AccountStatus::Failed)) =>
            {
                let over = AccountWrite {
                    guard: AccountGuard::Reservable,
                    ..write
                };
                match self.accounts.write_account(&over, now).await {
                    Ok(Ok(stored)) => Ok(created_answer(status, &stored)),
                    _ => {
                        tracing::error!(uid = %wanted.uid, %reservation, %account_id, "account at Ralio, but its freed reservation was taken meanwhile: not recorded");
                        Err(GateError::Uncertain {
                            retry_after: LOOK_AGAIN,
                            failure: None,
                        })
                    }
                }
            }
            _ => {
                tracing::error!(uid = %wanted.uid, %reservation, %account_id, "account at Ralio, but the reservation changed hands: not recorded");
                Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                })
            }
        }
    }

    /// An earlier creation may have happened: look at Ralio; take over only once it shows
    /// nothing and the outcome has settled.
    async fn resolve(
        &self,
        wanted: Wanted<'_>,
        token: ReservationToken,
        since: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        // What Ralio shows is as of when we began to look, not when the answer came back.
        let looked_at = self.clock.now();
        let found = match self.look_at_ralio(wanted, since, deadline).await {
            Ok(Lookup::Found(account)) => account,
            Ok(Lookup::Absent) => {
                return self
                    .after_settling(wanted, token, since, looked_at, deadline)
                    .await;
            }
            Ok(Lookup::Inconclusive(why)) => return Err(self.unresolved(wanted, why)),
            Ok(Lookup::Unread) => {
                return Err(GateError::Uncertain {
                    retry_after: chrono::Duration::seconds(5),
                    failure: None,
                });
            }
            Err(error) => {
                return Err(GateError::Uncertain {
                    retry_after: chrono::Duration::seconds(5),
                    failure: Some(error),
                });
            }
        };
        let Wanted {
            uid,
            alias,
            currency,
        } = wanted;
        let now = self.clock.now();
        let write = AccountRecord::complete(uid, alias, currency, token, found, now);
        self.record_found(wanted, write, StatusCode::OK).await
    }

    /// An uncertain creation that only `account_activated` or an operator can settle now:
    /// counted (`AccountCreationUnresolved`, alarmed) and answered 409 `creation_uncertain`.
    fn unresolved(&self, wanted: Wanted<'_>, why: &str) -> GateError {
        let reservation = AccountRecord::key_hint(wanted.currency, wanted.alias);
        tracing::error!(uid = %wanted.uid, %reservation, why, "uncertain account creation waits for account_activated or an operator (idv-admin accounts resolve)");
        idv_adapters::metrics::count("AccountCreationUnresolved", ("Function", FUNCTION), &[]);
        GateError::Uncertain {
            retry_after: LOOK_AGAIN,
            failure: None,
        }
    }

    /// Ralio shows no such account: create it again once the uncertain outcome has settled,
    /// under a new token, so a late completion of the old attempt cannot land on the new one.
    async fn after_settling(
        &self,
        wanted: Wanted<'_>,
        token: ReservationToken,
        since: DateTime<Utc>,
        looked_at: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        if let Err(left) = settled(since, self.settings.settle, looked_at) {
            return Err(GateError::Uncertain {
                retry_after: left.min(LOOK_AGAIN),
                failure: None,
            });
        }
        if self.settings.recreate == Recreate::Never {
            return Err(self.unresolved(
                wanted,
                "Ralio's list shows nothing, which proves nothing until its meaning is verified",
            ));
        }
        let Wanted {
            uid,
            alias,
            currency,
        } = wanted;
        let now = self.clock.now();
        let retry = ReservationToken(uuid::Uuid::new_v4());
        let lease_until = now + self.settings.lease;
        let write = AccountRecord::retry(uid, alias, currency, token, retry, lease_until, now);
        match self.accounts.write_account(&write, now).await? {
            Ok(_) => {
                tracing::info!(uid = %uid, reservation = %AccountRecord::key_hint(currency, alias), "uncertain account creation settled unseen: creating again");
                self.create_at_ralio(wanted, retry, deadline).await
            }
            Err(AccountRefusal::NotRegular) => Err(self.lowered(wanted).await),
            // Another request resolved or took it over meanwhile.
            Err(AccountRefusal::Guarded(stored)) => {
                match AccountRecord::decide_reservation(stored.as_deref(), now) {
                    Some(AccountReservation::Existing(record)) => {
                        Ok(created_answer(StatusCode::OK, &record))
                    }
                    Some(AccountReservation::InProgress { .. }) => Err(GateError::InProgress),
                    _ => Err(GateError::Uncertain {
                        retry_after: chrono::Duration::seconds(5),
                        failure: None,
                    }),
                }
            }
        }
    }

    /// An identical request is creating it: answer with its account once recorded.
    async fn wait_for_peer(&self, wanted: Wanted<'_>) -> Result<Response, GateError> {
        let found = wait_for_peer(self.settings.wait_for_peer, || async {
            let snapshot = self.users.load_user(wanted.uid).await?;
            let record = snapshot
                .accounts
                .iter()
                .find(|a| a.alias == wanted.alias && a.currency == wanted.currency);
            match record {
                Some(r) if r.created().is_some() => Ok(Some(created_answer(StatusCode::OK, r))),
                Some(r) if matches!(r.status, AccountStatus::Uncertain { .. }) => {
                    Err(GateError::Uncertain {
                        retry_after: LOOK_AGAIN,
                        failure: None,
                    })
                }
                _ => Ok(None),
            }
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
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GateError> {
    let body = body.map_err(|rejection| {
        GateError::Invalid(match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request too large",
                format!("An account request is at most {MAX_ACCOUNT_REQUEST} bytes."),
            ),
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
                "The request body could not be read.",
            ),
        })
    })?;
    let (alias, currency) = parse_request(&body).map_err(GateError::Invalid)?;
    let wanted = Wanted {
        uid,
        alias: &alias,
        currency,
    };
    gate.create(wanted, deadline).await
}

fn find_created<'a>(
    snapshot: &'a UserSnapshot,
    alias: &str,
    currency: Currency,
) -> Option<&'a AccountRecord> {
    snapshot
        .accounts
        .iter()
        .find(|a| a.alias == alias && a.currency == currency && a.created().is_some())
}
