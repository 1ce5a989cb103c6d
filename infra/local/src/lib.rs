//! This crate runs every function of the service in one process, for a laptop and for
//! end-to-end tests: the HTTP routes on one port, the webhook at `/webhooks/ralio`, the expiry
//! watcher fed by an in-process queue (or SQS), the in-memory store (or DynamoDB), and the
//! Ralio simulator unless a real Ralio is configured.

pub mod cli;
pub mod events;
pub mod options;
pub mod replay;

mod backing;
mod functions;
mod pump;
mod ralio;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use idv_account_gate::AccountGate;
pub use idv_adapters::aws::AwsTimeouts;
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::store::ExpiryIndex;
use idv_model::WebhookSecrets;
use ralio_sim::Simulator;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use options::{LocalOptions, RalioMode, RalioTuning, StoreKind};

/// The webhook secret both sides use when none is configured. It is for local use only, so
/// it is refused when the webhook can be reached from elsewhere or a real Ralio signs with it.
pub use idv_adapters::secrets::LOCAL_WEBHOOK_SECRET;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot prepare DynamoDB/SQS: {0}")]
    Aws(String),
}

/// A running stack. Dropping it does not stop it, so call [`Running::stop`].
pub struct Running {
    pub api_url: String,
    pub webhook_url: String,
    pub sim_url: Option<String>,
    pub simulator: Option<Arc<Simulator>>,
    pub store_kind: StoreKind,
    /// Holds what the service would have published, as `GET /events` serves it.
    pub events: Arc<events::EventLog>,
    /// The account gate, kept for what an operator does with `idv-admin accounts resolve`.
    pub accounts: Arc<AccountGate>,
    /// The reconciler, which also runs every `--sweep-every`; `idv-admin sweep` and tests run it
    /// at once.
    pub reconciler: Arc<idv_reconciler::Reconciler>,
    /// The store every function uses, for what an operator reads (and tests look at).
    pub store: Arc<dyn idv_adapters::store::Store>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a stop waits for requests in flight before it abandons them, because a simulated
/// Ralio that hangs would otherwise hold the stop for as long as it hangs.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl Running {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "server stopped");
        }
    })
}

/// Starts everything and returns once every port is listening.
pub async fn start(options: LocalOptions) -> Result<Running, StartError> {
    let (shutdown, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let api = bind(options.addr).await?;
    let api_addr = api
        .local_addr()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let api_url = format!("http://{api_addr}");
    let webhook_url = format!("{api_url}/webhooks/ralio");

    let secrets = WebhookSecrets::from_csv(&options.webhook_secrets)
        .map_err(|e| StartError::Config(format!("WEBHOOK_SECRETS: {e}")))?;
    options.refuse_public_secret()?;

    let upstream = ralio::start(&options, &webhook_url, &stopped).await?;
    tasks.extend(upstream.task);

    let event_log = Arc::new(events::EventLog::forwarding_to(options.events_to.clone()));
    let backing = backing::open(&options, event_log.clone(), &stopped).await?;
    tasks.push(backing.feed);

    let index: Arc<dyn ExpiryIndex> = backing.store.clone();
    let scheduler = Arc::new(ExpiryScheduler::new(
        index.clone(),
        backing.queue,
        options.schedule,
    ));
    let reconciler = idv_reconciler::Reconciler::new(idv_reconciler::Parts {
        store: backing.store.clone(),
        ralio: upstream.client.clone(),
        clock: options.clock.clone(),
        settings: options.sweep,
    });
    if let Some(every) = options.sweep_every {
        tasks.push(pump::spawn_sweeps(
            reconciler.clone(),
            every,
            stopped.clone(),
        ));
    }
    let functions = functions::wire(
        &options,
        &backing.store,
        scheduler,
        upstream.client,
        secrets,
    );
    let app = functions.router.merge(events::router(event_log.clone()));
    tasks.push(serve(api, app, stopped.clone()));
    tasks.push(pump::spawn(
        backing.pump,
        index,
        options.clock.clone(),
        options.poll_every,
        stopped,
    ));

    Ok(Running {
        api_url,
        webhook_url,
        sim_url: upstream.sim_url,
        simulator: upstream.simulator,
        store_kind: options.store,
        events: event_log,
        accounts: functions.gate,
        reconciler,
        store: backing.store,
        shutdown,
        tasks,
    })
}
