//! Every function of the service in one process, for a laptop and for end-to-end tests: the
//! HTTP routes on one port, the webhook at `/webhooks/ralio`, the expiry watcher fed by an
//! in-process queue (or SQS), the in-memory store (or DynamoDB), and the Ralio simulator
//! unless a real Ralio is configured.

pub mod cli;
pub mod events;
pub mod replay;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::error::DisplayErrorContext;
use axum::Router;
use idv_account_gate::AccountGate;
pub use idv_adapters::aws::AwsTimeouts;
use idv_adapters::aws::{dynamodb_client, dynamodb_streams_client, load_config, sqs_client};
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::expiry::ExpiryScheduler;
use idv_adapters::queue::{ExpiryQueue, MemoryQueue, SqsQueue, SqsVisibility};
use idv_adapters::ralio::{RalioClient, RalioConfig, RalioCredentials};
use idv_adapters::signing_keys::SigningKeys;
use idv_adapters::store::dynamo::table::ensure_table;
use idv_adapters::store::{DynamoStore, ExpiryIndex, MemoryStore, Store};
use idv_adapters::stream::StreamReader;
use idv_create_session::CreateSession;
use idv_expiry_watcher::{Parts as WatcherParts, TickOutcome, Watcher};
use idv_model::{ExpirySchedule, LearntSpellings, WebhookSecrets};
use idv_webhook::Webhook;
use ralio_sim::{SimConfig, Simulator};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The webhook secret both sides use when none is configured. Local use only: refused when the
/// webhook can be reached from elsewhere or a real Ralio signs with it.
pub use idv_adapters::secrets::LOCAL_WEBHOOK_SECRET;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    /// DynamoDB and SQS at `AWS_ENDPOINT_URL` (moto) or in AWS.
    Dynamodb,
}

#[derive(Debug, Clone)]
pub enum RalioMode {
    /// The embedded simulator.
    Simulator {
        addr: SocketAddr,
        generation: ralio_sim::Generation,
        signature: ralio_sim::Signature,
        chaos: ralio_sim::Chaos,
        /// Faults every call of an operation meets (`--sim-fault`).
        faults: Vec<(ralio_sim::Operation, ralio_sim::Fault)>,
        /// What its merchant account list shows (`--sim-account-list`).
        account_list: ralio_sim::AccountList,
        /// Whether it announces the accounts it opens (`--sim-no-account-activated`).
        announce_accounts: bool,
    },
    /// A real Ralio (sandbox), which must be able to reach the webhook URL itself.
    Real {
        base_url: String,
        api_code: String,
        api_key: String,
    },
}

#[derive(Debug, Clone)]
pub struct LocalOptions {
    pub addr: SocketAddr,
    pub store: StoreKind,
    pub table_name: String,
    pub queue_url: Option<String>,
    pub ralio: RalioMode,
    pub webhook_secrets: String,
    /// Session lifetime the simulator gives (Ralio: 7 days).
    pub session_life: chrono::Duration,
    pub schedule: ExpirySchedule,
    /// How often the expiry queue is looked at.
    pub poll_every: Duration,
    /// How long one HTTP exchange with Ralio may take (`RALIO_TIMEOUT`, 10s).
    pub ralio_timeout: Duration,
    /// How long an uncertain account creation stays unseen before it is tried again
    /// (`ACCOUNT_SETTLE`, 2m), when `account_recreate` allows it.
    pub account_settle: chrono::Duration,
    /// Whether it is ever tried again on the word of Ralio's list (`ACCOUNT_RECREATE`, never).
    pub account_recreate: idv_account_gate::Recreate,
    /// How long an uncertain session creation must stay unseen before a session is created
    /// again (`CREATE_SETTLE`, 2m).
    pub create_settle: chrono::Duration,
    /// Where each domain event is also POSTed (`--events-to`).
    pub events_to: Option<String>,
    /// Timeouts of every DynamoDB and SQS call (`--store dynamodb`). Tests against an
    /// emulator on a busy machine give it longer than AWS needs.
    pub aws_timeouts: AwsTimeouts,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            addr: ([127, 0, 0, 1], 3000).into(),
            store: StoreKind::Memory,
            table_name: "idv-local".into(),
            queue_url: None,
            ralio: RalioMode::Simulator {
                addr: ([127, 0, 0, 1], 3001).into(),
                generation: ralio_sim::Generation::Mixed,
                signature: ralio_sim::Signature::Hex,
                chaos: ralio_sim::Chaos::default(),
                faults: Vec::new(),
                account_list: ralio_sim::AccountList::default(),
                announce_accounts: true,
            },
            webhook_secrets: LOCAL_WEBHOOK_SECRET.into(),
            session_life: chrono::Duration::days(7),
            schedule: ExpirySchedule::default(),
            poll_every: Duration::from_secs(1),
            ralio_timeout: idv_adapters::ralio::REQUEST_TIMEOUT,
            account_settle: idv_account_gate::Settings::default().settle,
            account_recreate: idv_account_gate::Recreate::default(),
            create_settle: idv_create_session::Settings::default().settle,
            events_to: None,
            aws_timeouts: AwsTimeouts::default(),
        }
    }
}

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

/// A running stack. Dropping it does not stop it: call [`Running::stop`].
pub struct Running {
    pub api_url: String,
    pub webhook_url: String,
    pub sim_url: Option<String>,
    pub simulator: Option<Arc<Simulator>>,
    pub store_kind: StoreKind,
    /// What the service would have published, as `GET /events` serves it.
    pub events: Arc<events::EventLog>,
    /// The account gate, for what an operator does with `idv-admin accounts resolve`.
    pub accounts: Arc<AccountGate>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a stop waits for requests in flight before it abandons them (a simulated Ralio
/// that hangs would otherwise hold the stop for as long as it hangs).
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let api = bind(options.addr).await?;
    let api_addr = api
        .local_addr()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let api_url = format!("http://{api_addr}");
    let webhook_url = format!("{api_url}/webhooks/ralio");

    let secrets = WebhookSecrets::from_csv(&options.webhook_secrets)
        .map_err(|e| StartError::Config(format!("WEBHOOK_SECRETS: {e}")))?;
    refuse_public_secret(&options)?;

    // Ralio: the simulator, or the configured one.
    let (ralio_config, sim_url, simulator) = match &options.ralio {
        RalioMode::Simulator {
            addr,
            generation,
            signature,
            chaos,
            faults,
            account_list,
            announce_accounts,
        } => {
            let listener = bind(*addr).await?;
            let sim_url = format!(
                "http://{}",
                listener
                    .local_addr()
                    .map_err(|e| StartError::Config(e.to_string()))?
            );
            let mut config = SimConfig::new(
                sim_url.clone(),
                Some(webhook_url.clone()),
                secrets_first(&options.webhook_secrets),
            );
            config.generation = *generation;
            config.signature = *signature;
            config.chaos = *chaos;
            config.faults = faults.clone();
            config.account_list = *account_list;
            config.announce_accounts = *announce_accounts;
            config.session_life = options.session_life;
            let credentials = RalioCredentials {
                api_code: config.api_code.clone(),
                api_key: config.api_key.clone(),
            };
            let simulator = Simulator::new(config);
            tasks.push(serve(
                listener,
                ralio_sim::router(simulator.clone()),
                stopped.clone(),
            ));
            (
                RalioConfig::new(sim_url.clone(), credentials),
                Some(sim_url),
                Some(simulator),
            )
        }
        RalioMode::Real {
            base_url,
            api_code,
            api_key,
        } => {
            let credentials = RalioCredentials {
                api_code: api_code.clone(),
                api_key: api_key.clone(),
            };
            (RalioConfig::new(base_url.clone(), credentials), None, None)
        }
    };
    let ralio_config = RalioConfig {
        request_timeout: options.ralio_timeout,
        ..ralio_config
    };
    let ralio =
        Arc::new(RalioClient::new(ralio_config).map_err(|e| StartError::Config(e.to_string()))?);

    // Store and queue; domain events from the store's audit feed or the table's stream.
    let event_log = Arc::new(events::EventLog::forwarding_to(options.events_to.clone()));
    let (store, queue, pump): (Arc<dyn Store>, Arc<dyn ExpiryQueue>, Pump) = match options.store {
        StoreKind::Memory => {
            let queue = Arc::new(MemoryQueue::new(clock.clone()));
            let (feed, audited) = tokio::sync::mpsc::unbounded_channel();
            let store = Arc::new(MemoryStore::new().with_audit_feed(feed));
            let publisher = idv_adapters::publish::Publisher::new(
                store.clone(),
                store.clone(),
                event_log.clone(),
            );
            tasks.push(events::spawn_memory_feed(
                audited,
                publisher,
                stopped.clone(),
            ));
            (store, queue.clone(), Pump::Memory(queue))
        }
        StoreKind::Dynamodb => {
            let aws = load_config(options.aws_timeouts).await;
            let dynamodb = dynamodb_client(&aws, &[]);
            ensure_table(&dynamodb, &options.table_name)
                .await
                .map_err(|e| StartError::Aws(e.to_string()))?;
            let sqs = sqs_client(&aws, &[]);
            let queue_url = match &options.queue_url {
                Some(url) => url.clone(),
                None => sqs
                    .create_queue()
                    .queue_name(format!("{}-ticks", options.table_name))
                    .send()
                    .await
                    .map_err(|e| StartError::Aws(DisplayErrorContext(e).to_string()))?
                    .queue_url
                    .unwrap_or_default(),
            };
            let queue = Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone()));
            let store = Arc::new(DynamoStore::new(
                dynamodb.clone(),
                options.table_name.clone(),
            ));
            let reader = StreamReader::open(
                &dynamodb,
                dynamodb_streams_client(&aws, &[]),
                &options.table_name,
            )
            .await
            .map_err(|e| StartError::Aws(e.to_string()))?;
            let publisher = idv_event_publisher::EventPublisher::new(idv_event_publisher::Parts {
                trail: store.clone(),
                users: store.clone(),
                sink: event_log.clone(),
            });
            tasks.push(events::spawn_stream_pump(
                reader,
                publisher,
                options.poll_every,
                stopped.clone(),
            ));
            (store, queue, Pump::Sqs(sqs, queue_url))
        }
    };

    let index: Arc<dyn ExpiryIndex> = store.clone();
    let scheduler = Arc::new(ExpiryScheduler::new(index.clone(), queue, options.schedule));
    let session_settings = idv_create_session::Settings {
        // A compressed session life needs a proportionate reuse margin.
        reuse_margin: (options.session_life / 10).min(chrono::Duration::hours(1)),
        settle: options.create_settle,
        ..Default::default()
    };
    let create = CreateSession::new(idv_create_session::Parts {
        users: store.clone(),
        leases: store.clone(),
        scheduler: scheduler.clone(),
        ralio: ralio.clone(),
        clock: clock.clone(),
        settings: session_settings,
    });
    let gate = AccountGate::new(idv_account_gate::Parts {
        users: store.clone(),
        accounts: store.clone(),
        audit: store.clone(),
        ralio,
        clock: clock.clone(),
        settings: idv_account_gate::Settings {
            settle: options.account_settle,
            recreate: options.account_recreate,
            ..Default::default()
        },
    });
    let webhook = Webhook::new(idv_webhook::Parts {
        ledger: store.clone(),
        keys: SigningKeys::fixed(secrets),
        clock: clock.clone(),
        scheduler: Some(scheduler.clone()),
        settings: idv_webhook::Settings::default(),
        spellings: LearntSpellings::default(),
    });
    let app = Router::new()
        .merge(idv_create_session::router(create))
        .merge(idv_account_gate::router(gate.clone()))
        .nest_service("/webhooks/ralio", idv_webhook::router(webhook))
        .merge(events::router(event_log.clone()));
    tasks.push(serve(api, app, stopped.clone()));

    tasks.push(spawn_pump(pump, index, clock, options.poll_every, stopped));

    Ok(Running {
        api_url,
        webhook_url,
        sim_url,
        simulator,
        store_kind: options.store,
        events: event_log,
        accounts: gate,
        shutdown,
        tasks,
    })
}

/// The local secret is public: only a simulator on this machine may sign with it.
fn refuse_public_secret(options: &LocalOptions) -> Result<(), StartError> {
    let public = options
        .webhook_secrets
        .split(',')
        .any(|s| s.trim() == LOCAL_WEBHOOK_SECRET);
    let exposed = !options.addr.ip().is_loopback();
    let real_ralio = matches!(options.ralio, RalioMode::Real { .. });
    if public && (exposed || real_ralio) {
        let why = if real_ralio {
            "RALIO_BASE_URL is set"
        } else {
            "the address is not loopback"
        };
        return Err(StartError::Config(format!(
            "WEBHOOK_SECRETS: the local development secret is public and {why}: anyone could sign webhooks; set a secret of your own"
        )));
    }
    Ok(())
}

fn secrets_first(csv: &str) -> String {
    csv.split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or(LOCAL_WEBHOOK_SECRET)
        .to_owned()
}

enum Pump {
    Memory(Arc<MemoryQueue>),
    Sqs(aws_sdk_sqs::Client, String),
}

/// Sleeps `every`; true when asked to stop instead.
async fn pause(stopped: &mut watch::Receiver<bool>, every: Duration) -> bool {
    tokio::select! {
        _ = stopped.wait_for(|stop| *stop) => true,
        _ = tokio::time::sleep(every) => false,
    }
}

/// Feeds due ticks to the watcher, as the Lambda event source mapping would.
fn spawn_pump(
    pump: Pump,
    index: Arc<dyn ExpiryIndex>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match pump {
            Pump::Memory(queue) => {
                let watcher = Watcher::new(WatcherParts {
                    index,
                    visibility: None,
                    clock,
                });
                while !pause(&mut stopped, every).await {
                    pump_memory_queue(&watcher, &queue).await;
                }
            }
            Pump::Sqs(client, url) => {
                let watcher = Watcher::new(WatcherParts {
                    index,
                    visibility: Some(Arc::new(SqsVisibility::new(client.clone(), url.clone()))),
                    clock,
                });
                while !pause(&mut stopped, every).await {
                    poll_sqs(&client, &url, &watcher).await;
                }
            }
        }
    })
}

async fn poll_sqs(client: &aws_sdk_sqs::Client, url: &str, watcher: &Watcher) {
    let received = match client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %DisplayErrorContext(e), "cannot read the tick queue");
            return;
        }
    };
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        return;
    }
    let response = watcher
        .handle(idv_expiry_watcher::sqs_event(&messages))
        .await;
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    // What the Lambda event source mapping does: delete what succeeded.
    for m in messages {
        let (Some(id), Some(receipt)) = (m.message_id, m.receipt_handle) else {
            continue;
        };
        if !failed.contains(&id) {
            let _ = client
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await;
        }
    }
}

/// The in-process queue's loop: delivers visible ticks, hides those not yet due, and puts
/// failed ones back after a short pause, as SQS would.
async fn pump_memory_queue(watcher: &Watcher, queue: &MemoryQueue) -> usize {
    let now = watcher.now();
    let mut processed = 0;
    for tick in queue.take_visible(now) {
        match watcher.handle_tick(&tick.bucket).await {
            Ok(TickOutcome::Processed(_)) => processed += 1,
            Ok(TickOutcome::NotDue { hide_for }) => {
                let hide = chrono::Duration::from_std(hide_for).unwrap_or_default();
                queue.requeue(tick.bucket, now + hide);
            }
            Err(err) => {
                tracing::warn!(bucket = %tick.bucket, error = %err, "tick failed; retrying shortly");
                queue.requeue(tick.bucket, now + chrono::Duration::seconds(5));
            }
        }
    }
    processed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_secret_is_refused_when_anyone_else_could_use_it() {
        let local = LocalOptions::default();
        assert!(
            refuse_public_secret(&local).is_ok(),
            "loopback and the simulator"
        );
        let exposed = LocalOptions {
            addr: ([0, 0, 0, 0], 3000).into(),
            ..LocalOptions::default()
        };
        let real = LocalOptions {
            ralio: RalioMode::Real {
                base_url: "https://sandbox.example".into(),
                api_code: "c".into(),
                api_key: "k".into(),
            },
            ..LocalOptions::default()
        };
        for refused in [&exposed, &real] {
            let err = refuse_public_secret(refused).unwrap_err().to_string();
            assert!(err.contains("WEBHOOK_SECRETS"), "{err}");
        }
        let own = LocalOptions {
            webhook_secrets: "whsec_a_secret_of_my_own_0123456789".into(),
            ..real
        };
        assert!(refuse_public_secret(&own).is_ok());
    }
}
