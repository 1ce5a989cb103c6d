//! This is the gate the integration exists for. An account is created only for a user whose KYC
//! level is REGULAR, and the merchant always knows what the user should do next.
//!
//! `GET /users/{uid}/kyc` reads one DynamoDB Query. `POST /users/{uid}/accounts` answers as
//! follows:
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
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`](idv_adapters::http::store_problem)) |
//!
//! `GET /users/{uid}/history` pages through the user's audit trail ([`history`]).
//! `POST /users/{uid}/erasure` erases the user (202 with `erasedAt` and `retainedUntil`), after
//! which every route answers 410 `user_erased`.
//!
//! An uncertain creation is never resolved by creating again right away, because Ralio's
//! account list and its `account_activated` webhook are looked at first.

pub mod history;
pub mod lambda;
pub mod resolution;

mod answers;
mod create;
mod erasure;
mod error;
mod lookup;
mod peer;
mod router;
mod status;
mod uncertain;

use std::sync::Arc;
use std::time::Duration;

use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env};
use idv_adapters::ralio::RalioClient;
use idv_adapters::store::{AccountStore, AuditLog, Eraser, UserReader};
use idv_adapters::wiring::Wiring;

pub use lookup::ACTIVATIONS_LOOKED_AT;
pub use resolution::{Recreate, Resolution, ResolveError};
pub use router::{MAX_ACCOUNT_REQUEST, ROUTES, router};

/// This function's name in metrics.
const FUNCTION: &str = "account-gate";

/// How many sessions the status answer lists, newest first.
pub const SESSIONS_SHOWN: usize = 10;
/// The longest alias accepted, in characters.
pub const MAX_ALIAS_CHARS: usize = 100;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a request may hold an account creation (`ACCOUNT_LEASE`, default 60s). It is
    /// longer than an invocation can be calling Ralio. A holder that dies leaves its creation
    /// uncertain once this runs out.
    pub lease: chrono::Duration,
    /// How long an identical concurrent request waits for the first one (`ACCOUNT_WAIT`,
    /// 3s).
    pub wait_for_peer: Duration,
    /// How long an uncertain creation must stay unseen in Ralio's list before it is tried
    /// again, when `recreate` allows it (`ACCOUNT_SETTLE`, default 2m).
    pub settle: chrono::Duration,
    /// Says whether a creation is ever tried again on the list's word (`ACCOUNT_RECREATE`,
    /// default never, as [`resolution`] explains).
    pub recreate: Recreate,
    /// How long a VERIFIED user may wait for Ralio's REGULAR level before the status says
    /// `level_overdue` (`LEVEL_WAIT`, default 15m, as the reconciler reads it).
    pub level_wait: chrono::Duration,
    /// How long an erased user's pseudonymous record is kept (`COMPLIANCE_RETENTION`, 1825d).
    pub retention: chrono::Duration,
    /// How far back an erasure looks for quarantined payloads naming the user
    /// (`QUARANTINE_RETENTION`, 30d, as long as the webhook keeps them).
    pub quarantine_retention: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease: chrono::Duration::seconds(60),
            wait_for_peer: Duration::from_secs(3),
            settle: chrono::Duration::minutes(2),
            recreate: Recreate::Never,
            level_wait: idv_adapters::sweep::SweepSettings::default().level_wait,
            retention: idv_model::erasure::DEFAULT_RETENTION,
            quarantine_retention: idv_adapters::config::QUARANTINE_RETENTION,
        }
    }
}

/// Holds the parts the gate is made of. Tests and the local stack choose each part, and Lambda's
/// come from its environment ([`AccountGate::from_env`]).
pub struct Parts {
    pub users: Arc<dyn UserReader>,
    pub accounts: Arc<dyn AccountStore>,
    pub audit: Arc<dyn AuditLog>,
    pub eraser: Arc<dyn Eraser>,
    pub ralio: Arc<RalioClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

/// The function, which holds its parts and nothing else.
pub struct AccountGate {
    parts: Parts,
}

impl AccountGate {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self { parts })
    }

    /// Builds the gate from Lambda's configuration: `TABLE_NAME`, the Ralio variables and the
    /// [`settings`].
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let settings = settings(wiring.env())?;
        let store = wiring.store()?;
        let ralio = wiring.ralio()?;
        wiring.prime(&store, Some(&ralio), None).await?;
        Ok(Self::new(Parts {
            users: store.clone(),
            accounts: store.clone(),
            audit: store.clone(),
            eraser: store,
            ralio,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }
}

/// Returns the `ACCOUNT_*` settings as the environment sets them. A variable not set keeps its
/// default.
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
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
        level_wait: idv_adapters::config::level_wait(env)?,
        retention: idv_adapters::config::compliance_retention(env)?,
        quarantine_retention: idv_adapters::config::quarantine_retention(env)?,
    })
}
