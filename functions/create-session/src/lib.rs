//! `POST /users/{uid}/idv-sessions`: the merchant's first call. It never creates two Ralio
//! sessions for one user by accident, never hides a Ralio failure, and costs one Ralio call.
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
//! | store fault | 503 `store_unavailable` or 500 `internal_error`, as every function ([`store_problem`]) |

pub mod lambda;
pub mod resolution;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, ProcessEnv};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::http::{
    CallDeadline, LOOK_AGAIN, Problem, UserId, creation_in_progress, creation_uncertain, json,
    ralio_problem, store_problem, wait_for_peer,
};
use idv_adapters::ralio::{CreatedSession, Deadline, LeftByAttempt, RalioClient, RalioError};
use idv_adapters::store::{CreationLease, Lease, StoreError, UserReader};
use idv_adapters::wiring::Wiring;
use idv_model::{
    HostedUrl, KycLevel, LeaseHold, LeaseRelease, LeaseToken, Owner, SessionRecord, StoredSession,
    Uid, UserSnapshot, needs_verification, reusable_session, settled,
};
use serde::Serialize;

/// This function's name in metrics.
const FUNCTION: &str = "create-session";

/// How long a creation may stay uncertain before a person is asked to resolve it: far beyond
/// the settle delay, so only a creation Ralio's list cannot settle gets there.
pub const UNRESOLVED_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// Tunables, each with an environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// An open session is reused only with more than this left before it expires
    /// (`SESSION_REUSE_MARGIN`, default 1h): a page about to lapse helps nobody.
    pub reuse_margin: chrono::Duration,
    /// How long one request may hold the user's creation lease (`CREATE_LEASE`, default 60s;
    /// longer than a Ralio create with its reconciliation can take).
    pub lease: chrono::Duration,
    /// How long a concurrent request waits for the lease holder's session before answering
    /// 409 (`CREATE_WAIT`, default 3s).
    pub wait_for_peer: Duration,
    /// How long after an uncertain creation began Ralio's list must still show nothing before
    /// a session is created again (`CREATE_SETTLE`, default 2m): longer than an invocation
    /// (30 s) plus the time Ralio may take to show a session it committed late.
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

pub struct CreateSession {
    pub users: Arc<dyn UserReader>,
    pub leases: Arc<dyn CreationLease>,
    pub scheduler: Arc<ExpiryScheduler>,
    pub ralio: Arc<RalioClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

impl CreateSession {
    /// Lambda configuration: `TABLE_NAME`, `QUEUE_URL`, the Ralio variables (see
    /// [`idv_adapters::config::ralio_config`]) and the expiry schedule.
    pub async fn from_env() -> Result<Arc<Self>, ConfigError> {
        Self::from_config(&ProcessEnv).await
    }

    pub async fn from_config(env: &impl Env) -> Result<Arc<Self>, ConfigError> {
        Self::wired(&Wiring::load(env).await).await
    }

    pub async fn wired(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let settings = settings(wiring.env())?;
        let store = wiring.store()?;
        let ralio = wiring.ralio()?;
        wiring.prime_ralio(&ralio).await?;
        wiring.prime_store(&store).await?;
        Ok(Arc::new(Self {
            users: store.clone(),
            leases: store.clone(),
            scheduler: wiring.scheduler(store)?,
            ralio,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }
}

pub fn settings(env: &impl Env) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
        reuse_margin: env.span("SESSION_REUSE_MARGIN", defaults.reuse_margin)?,
        lease: env.span("CREATE_LEASE", defaults.lease)?,
        wait_for_peer: env.duration("CREATE_WAIT", defaults.wait_for_peer)?,
        settle: env.span("CREATE_SETTLE", defaults.settle)?,
    })
}

pub fn router(app: Arc<CreateSession>) -> Router {
    Router::new()
        .route("/users/{uid}/idv-sessions", post(create))
        .method_not_allowed_fallback(idv_adapters::http::route_method_not_allowed)
        .with_state(app)
}

/// The answer: the session the end user should open.
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

fn answer(status: StatusCode, record: &SessionRecord, url: &HostedUrl, reused: bool) -> Response {
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

/// Every answer other than a session.
#[derive(Debug)]
enum CreateError {
    AlreadyVerified,
    InProgress,
    Store(StoreError),
    /// Ralio certainly did nothing.
    Ralio(RalioError),
    /// Ralio may have created a session it does not show yet; ask again after this long.
    Uncertain {
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    },
}

impl CreateError {
    /// A Ralio failure: certain ones as they are, the others uncertain.
    fn from_ralio(error: RalioError) -> Self {
        if error.may_have_acted() {
            CreateError::Uncertain {
                retry_after: LOOK_AGAIN,
                failure: Some(error),
            }
        } else {
            CreateError::Ralio(error)
        }
    }

    /// Whether Ralio certainly holds no session of the failed attempt's making: it refused.
    /// A store failure may follow a session Ralio created.
    fn nothing_left_at_ralio(&self) -> bool {
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
            CreateError::Ralio(err) => ralio_problem(&err, FUNCTION, StatusCode::BAD_GATEWAY),
            CreateError::Uncertain {
                retry_after,
                failure,
            } => creation_uncertain("session", retry_after, failure.as_ref(), FUNCTION),
        }
        .into_response()
    }
}

impl CreateSession {
    /// The open session worth handing out again, if any.
    fn reusable<'a>(
        &self,
        snapshot: &'a UserSnapshot,
        now: DateTime<Utc>,
    ) -> Option<(&'a SessionRecord, &'a HostedUrl)> {
        reusable_session(
            &snapshot.profile,
            &snapshot.sessions,
            now,
            self.settings.reuse_margin,
        )
    }

    async fn create(&self, uid: Uid, deadline: Deadline) -> Result<Response, CreateError> {
        let now = self.clock.now();
        let mut snapshot = self.users.load_user(uid).await?;
        // At most twice: a second read only when a session was stored since the first.
        for _ in 0..2 {
            if !needs_verification(&snapshot.profile) {
                return Err(CreateError::AlreadyVerified);
            }
            if let Some((record, url)) = self.reusable(&snapshot, now) {
                return Ok(answer(StatusCode::OK, record, url, true));
            }
            let until = now + self.settings.lease;
            let version = snapshot.sessions_version;
            match self
                .leases
                .acquire_creation_lease(uid, until, now, version)
                .await?
            {
                Lease::Acquired {
                    token,
                    after_lapsed,
                } => {
                    let attempt = Attempt {
                        uid,
                        token,
                        snapshot: &snapshot,
                        after_lapsed,
                        deadline,
                        now,
                    };
                    let result = self.create_with_lease(attempt).await;
                    if let Err(error) = &result {
                        // Let the merchant retry at once instead of waiting out the lease. When
                        // Ralio may hold a session the store lacks, the lease is left lapsed so
                        // the next holder looks at Ralio's list before creating.
                        let how = if after_lapsed.is_none() && error.nothing_left_at_ralio() {
                            LeaseRelease::Clean
                        } else {
                            LeaseRelease::Uncertain
                        };
                        if let Err(e) = self.leases.release_creation_lease(uid, token, how).await {
                            tracing::warn!(error = %e, "could not release the creation lease; it expires by itself");
                        }
                    }
                    return result;
                }
                Lease::Held { .. } => return self.wait_for_peer(uid).await,
                Lease::Stale => snapshot = self.users.load_user(uid).await?,
            }
        }
        Err(CreateError::InProgress)
    }

    /// Holding the lease. After a holder that died or gave up uncertain, the session it may
    /// have left at Ralio is adopted; if Ralio shows none, a session is created only once that
    /// has settled.
    async fn create_with_lease(&self, attempt: Attempt<'_>) -> Result<Response, CreateError> {
        let Attempt {
            uid,
            token,
            snapshot,
            after_lapsed,
            deadline,
            now,
        } = attempt;
        let call = self.ralio.within(deadline);
        let known: HashSet<_> = snapshot.sessions.iter().map(|s| s.session_id).collect();
        if let Some(previous) = after_lapsed {
            // What Ralio shows is as of when we began to look.
            let looked_at = self.clock.now();
            let left = call
                .left_by_attempt(uid, &known, previous.acquired_at)
                .await
                .map_err(|error| {
                    self.uncertain(uid, &previous, looked_at, LOOK_AGAIN, Some(error))
                })?;
            match left {
                LeftByAttempt::Session(session) => {
                    tracing::info!(session_id = %session.id, "adopting the session an unfinished creation left at Ralio");
                    let created = CreatedSession {
                        session,
                        reconciled: true,
                    };
                    return self.store(uid, created, token, now, true).await;
                }
                // Ralio may hold this attempt's session in a form we cannot hand out: creating
                // beside it could make a second one, so it waits, whatever the time.
                LeftByAttempt::Unusable => {
                    return Err(self.uncertain(uid, &previous, looked_at, LOOK_AGAIN, None));
                }
                LeftByAttempt::Nothing => {}
            }
            if let Err(left) = settled(previous.acquired_at, self.settings.settle, looked_at) {
                return Err(self.uncertain(uid, &previous, looked_at, left.min(LOOK_AGAIN), None));
            }
            // Settled unseen: this attempt starts afresh, and is what a later holder looks for.
            if !self
                .leases
                .restart_creation_attempt(uid, token, self.clock.now())
                .await?
            {
                return Err(CreateError::InProgress);
            }
            tracing::info!(uid = %uid, "uncertain session creation settled unseen: creating again");
        }
        let created = call
            .create_session(uid, &known)
            .await
            .map_err(CreateError::from_ralio)?;
        self.store(uid, created, token, now, false).await
    }

    /// The answer to a creation still uncertain after looking at Ralio. One uncertain for longer
    /// than [`UNRESOLVED_AFTER`] will not settle by itself: it is counted for the alarm
    /// `SessionCreationUnresolved`, and waits for `idv-admin sessions resolve`.
    fn uncertain(
        &self,
        uid: Uid,
        previous: &LeaseHold,
        now: DateTime<Utc>,
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    ) -> CreateError {
        if now - previous.acquired_at >= UNRESOLVED_AFTER {
            tracing::error!(uid = %uid, since = %previous.acquired_at, "uncertain session creation unresolved: waits for an operator (idv-admin sessions resolve)");
            idv_adapters::metrics::count("SessionCreationUnresolved", ("Function", FUNCTION), &[]);
        }
        CreateError::Uncertain {
            retry_after,
            failure,
        }
    }

    /// Stores a session Ralio has, schedules its expiry and answers with it.
    async fn store(
        &self,
        uid: Uid,
        created: CreatedSession,
        lease: LeaseToken,
        now: DateTime<Utc>,
        adopted: bool,
    ) -> Result<Response, CreateError> {
        let session = created.session;
        let record = SessionRecord::announced(
            Owner::User(uid),
            session.id,
            session.hosted_url.clone(),
            session.created_at,
            session.expires_at,
            session.state.known(),
            now,
        );
        let buckets: Vec<_> = record
            .expires_at
            .map(|at| self.scheduler.buckets(at).to_vec())
            .unwrap_or_default();
        let stored = match self
            .leases
            .store_created_session(&record, &buckets, lease)
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                // Ralio has the session; we could not keep it. Its webhooks will still apply,
                // and the next holder of the lease finds it in Ralio's list.
                tracing::error!(uid = %uid, session_id = %session.id, error = %e, "session created at Ralio but not stored");
                return Err(CreateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                });
            }
        };
        if let Err(e) = self.scheduler.ensure_ticks(&buckets, now).await {
            // The session exists and is usable; only the early warning may be missed.
            tracing::error!(error = %e, session_id = %session.id, "expiry tick not scheduled");
        }
        tracing::info!(session_id = %session.id, reconciled = created.reconciled, "IDV session created");
        Ok(match stored {
            StoredSession::Stored(record) if !adopted => {
                answer(StatusCode::CREATED, &record, &session.hosted_url, false)
            }
            StoredSession::Stored(record) | StoredSession::AlreadyStored(record) => {
                let url = record.hosted_url.clone().unwrap_or(session.hosted_url);
                answer(StatusCode::OK, &record, &url, true)
            }
        })
    }

    /// Another request holds the lease: hand out its session once it is stored.
    async fn wait_for_peer(&self, uid: Uid) -> Result<Response, CreateError> {
        let found = wait_for_peer(self.settings.wait_for_peer, || async {
            let snapshot = self.users.load_user(uid).await?;
            Ok::<_, CreateError>(
                self.reusable(&snapshot, self.clock.now())
                    .map(|(record, url)| answer(StatusCode::OK, record, url, true)),
            )
        })
        .await?;
        found.ok_or(CreateError::InProgress)
    }
}

async fn create(
    State(app): State<Arc<CreateSession>>,
    UserId(uid): UserId,
    CallDeadline(deadline): CallDeadline,
) -> Result<Response, CreateError> {
    app.create(uid, deadline).await
}

/// One creation under the lease.
struct Attempt<'a> {
    uid: Uid,
    token: LeaseToken,
    snapshot: &'a UserSnapshot,
    after_lapsed: Option<LeaseHold>,
    deadline: Deadline,
    now: DateTime<Utc>,
}
