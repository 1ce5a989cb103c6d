//! This function serves `POST /users/{uid}/idv-sessions`, the merchant's first call. It never
//! creates two Ralio sessions for one user by accident, never hides a Ralio failure, and costs
//! one Ralio call.
//!
//! | situation | answer |
//! |---|---|
//! | `uid` is not a UUID | 400 `invalid_uid` |
//! | user already REGULAR (and no document-expiry warning pending) | 409 `already_verified` |
//! | an open session with more than the reuse margin left | 200, `reused: true`, no Ralio call |
//! | otherwise | created at Ralio, stored, expiry ticks scheduled: 201, `reused: false` |
//! | another request is creating one right now | its session (200) once stored, else 409 `creation_in_progress` with `Retry-After` |
//! | Ralio refuses our credentials / answers nonsense | 502 `ralio_unauthorized` / `ralio_bad_response` / `ralio_rejected` |
//! | Ralio does not know the user | 404 `user_not_found` |
//! | Ralio unavailable / too slow | 503 `ralio_unavailable` / 504 `ralio_timeout` |
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`](idv_adapters::http::store_problem)) |

pub mod lambda;
pub mod resolution;

mod answers;
mod create;
mod error;
mod peer;
mod router;
mod uncertain;

use std::sync::Arc;
use std::time::Duration;

use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::ralio::RalioClient;
use idv_adapters::store::{CreationLease, UserReader};
use idv_adapters::wiring::Wiring;

pub use router::{ROUTES, router};

/// This function's name in metrics.
const FUNCTION: &str = "create-session";

/// How long a creation may stay uncertain before a person is asked to resolve it. It is far
/// beyond the settle delay, so only a creation Ralio's list cannot settle gets there.
pub const UNRESOLVED_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// Holds the tunables, each with an environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// An open session is reused only with more than this left before it expires
    /// (`SESSION_REUSE_MARGIN`, default 1h), because a page about to lapse helps nobody.
    pub reuse_margin: chrono::Duration,
    /// How long one request may hold the user's creation lease (`CREATE_LEASE`, default
    /// 60s). It is longer than a Ralio create with its reconciliation can take.
    pub lease: chrono::Duration,
    /// How long a concurrent request waits for the lease holder's session before answering
    /// 409 (`CREATE_WAIT`, default 3s).
    pub wait_for_peer: Duration,
    /// How long after an uncertain creation began Ralio's list must still show nothing
    /// before a session is created again (`CREATE_SETTLE`, default 2m). It is longer than an
    /// invocation (30 s) plus the time Ralio may take to show a session it committed late.
    pub settle: chrono::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reuse_margin: chrono::Duration::hours(1),
            lease: chrono::Duration::seconds(60),
            wait_for_peer: Duration::from_secs(3),
            settle: chrono::Duration::minutes(2),
        }
    }
}

/// Holds the parts the function is made of. Tests and the local stack choose each part, and
/// Lambda's come from its environment ([`CreateSession::from_env`]).
pub struct Parts {
    pub users: Arc<dyn UserReader>,
    pub leases: Arc<dyn CreationLease>,
    pub scheduler: Arc<ExpiryScheduler>,
    pub ralio: Arc<RalioClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

/// The function, which holds its parts and nothing else.
pub struct CreateSession {
    parts: Parts,
}

impl CreateSession {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self { parts })
    }

    /// Builds the function from Lambda's configuration: `TABLE_NAME`, `QUEUE_URL`, the Ralio
    /// variables (see [`idv_adapters::config::ralio_config`]), the expiry schedule and the
    /// [`settings`].
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let settings = settings(wiring.env())?;
        let store = wiring.store()?;
        let ralio = wiring.ralio()?;
        wiring.prime(&store, Some(&ralio), None).await?;
        Ok(Self::new(Parts {
            users: store.clone(),
            leases: store.clone(),
            scheduler: wiring.scheduler(store)?,
            ralio,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }
}

/// Returns the settings as the environment sets them. A variable not set keeps its default.
pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
        reuse_margin: env.span("SESSION_REUSE_MARGIN", defaults.reuse_margin)?,
        lease: env.span("CREATE_LEASE", defaults.lease)?,
        wait_for_peer: env.duration("CREATE_WAIT", defaults.wait_for_peer)?,
        settle: env.span("CREATE_SETTLE", defaults.settle)?,
    })
}
