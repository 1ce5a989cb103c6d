//! This module parses the command line of `idv-local`.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use idv_adapters::config::{Env, ProcessEnv, parse_duration};
use idv_model::ExpirySchedule;

use crate::{LOCAL_WEBHOOK_SECRET, LocalOptions, RalioMode, StoreKind};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StoreArg {
    Memory,
    Dynamodb,
}

fn duration(raw: &str) -> Result<chrono::Duration, String> {
    let std = parse_duration(raw)
        .ok_or_else(|| format!("{raw:?} is not a duration such as 90s, 15m, 24h or 7d"))?;
    chrono::Duration::from_std(std).map_err(|e| e.to_string())
}

/// Run the Ralio IDV service locally: every HTTP route on one port, the expiry watcher, an
/// in-memory store and a Ralio simulator whose hosted page sends signed webhooks back.
#[derive(Debug, Parser)]
#[command(name = "idv-local", version)]
pub struct Args {
    /// Address for the API and the webhook (`POST /webhooks/ralio`).
    #[arg(long, env = "IDV_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Address for the embedded Ralio simulator.
    #[arg(long, env = "SIM_ADDR", default_value = "127.0.0.1:3001")]
    pub sim_addr: SocketAddr,
    /// Where state lives: in memory, or DynamoDB + SQS at AWS_ENDPOINT_URL (moto) or in AWS.
    #[arg(long, env = "IDV_STORE", value_enum, default_value = "memory")]
    pub store: StoreArg,
    /// DynamoDB table (created if missing) with --store dynamodb.
    #[arg(long, env = "TABLE_NAME", default_value = "idv-local")]
    pub table_name: String,
    /// SQS tick queue with --store dynamodb (default: a queue named after the table, created).
    #[arg(long, env = "QUEUE_URL")]
    pub queue_url: Option<String>,
    /// A real Ralio (sandbox) instead of the simulator; needs RALIO_API_CODE and RALIO_API_KEY,
    /// and Ralio must reach the webhook URL (a tunnel).
    #[arg(long, env = "RALIO_BASE_URL")]
    pub ralio_base_url: Option<String>,
    #[arg(long, env = "RALIO_API_CODE", hide_env_values = true)]
    pub ralio_api_code: Option<String>,
    #[arg(long, env = "RALIO_API_KEY", hide_env_values = true)]
    pub ralio_api_key: Option<String>,
    /// Webhook signing secrets, comma-separated (the simulator signs with the first).
    #[arg(long, env = "WEBHOOK_SECRETS", default_value = LOCAL_WEBHOOK_SECRET, hide_env_values = true)]
    pub webhook_secrets: String,
    /// Session lifetime the simulator gives; compress it for demos (e.g. 10m).
    #[arg(long, value_parser = duration, default_value = "7d")]
    pub session_life: chrono::Duration,
    /// How long before expiry open sessions are flagged [default: EXPIRY_WARNING_LEAD, else
    /// 24h].
    #[arg(long, value_parser = duration)]
    pub warn_lead: Option<chrono::Duration>,
    /// How long after expiry silent sessions are marked expired [default: EXPIRY_GRACE, else
    /// 1h].
    #[arg(long, value_parser = duration)]
    pub grace: Option<chrono::Duration>,
    /// Width of an expiry bucket [default: EXPIRY_BUCKET, else 15m].
    #[arg(long, value_parser = duration)]
    pub bucket: Option<chrono::Duration>,
    /// Simulator payload generation.
    #[arg(long, value_enum, default_value = "mixed")]
    pub sim_payloads: ralio_sim::Generation,
    /// Simulator signature encoding.
    #[arg(long, value_enum, default_value = "hex")]
    pub sim_signature: ralio_sim::Signature,
    /// Simulator sends every webhook twice.
    #[arg(long)]
    pub sim_duplicates: bool,
    /// Simulator sends each group of webhooks in reverse order.
    #[arg(long)]
    pub sim_reorder: bool,
    /// Simulator waits this long before sending webhooks.
    #[arg(long, value_parser = duration, default_value = "0s")]
    pub sim_delay: chrono::Duration,
    /// Simulator fails every call of an operation, as an upstream that acts and then fails:
    /// OPERATION:FAULT with OPERATION create-session or create-account and FAULT act-then-5xx,
    /// act-then-hang:15s, act-then-reset, fail-before-acting or act-late:2s (502 at once, created
    /// 2 s later); or deliver-webhooks:drop, which sends no webhook while Ralio's own records
    /// still change. Repeatable. One call at a time: `POST /sim/faults` on the simulator.
    #[arg(long, value_parser = ralio_sim::faults::parse_fault_flag)]
    pub sim_fault: Vec<(ralio_sim::Operation, ralio_sim::Fault)>,
    /// How often the reconciler's sweep runs; 0s never runs it (`idv-admin sweep` still does)
    /// [default: 15m, the template's SweepInterval].
    #[arg(long, value_parser = duration, default_value = "15m")]
    pub sweep_every: chrono::Duration,
    /// How long after its last change a session without an outcome is looked up at Ralio
    /// [default: SWEEP_AFTER, else 30m].
    #[arg(long, value_parser = duration)]
    pub sweep_after: Option<chrono::Duration>,
    /// How long a VERIFIED user may wait for the REGULAR level before `level_overdue`
    /// [default: LEVEL_WAIT, else 15m].
    #[arg(long, value_parser = duration)]
    pub level_wait: Option<chrono::Duration>,
    /// How long one HTTP exchange with Ralio may take [default: RALIO_TIMEOUT, else 10s].
    #[arg(long, value_parser = duration)]
    pub ralio_timeout: Option<chrono::Duration>,
    /// How long an uncertain account creation must stay unseen in Ralio's list before it is
    /// tried again [default: ACCOUNT_SETTLE, else 2m].
    #[arg(long, value_parser = duration)]
    pub account_settle: Option<chrono::Duration>,
    /// Whether an uncertain account creation that Ralio's list does not show is created again
    /// after the settle delay (after-settle) or waits for `idv-admin accounts resolve` (never)
    /// [default: ACCOUNT_RECREATE, else never].
    #[arg(long)]
    pub account_recreate: Option<idv_account_gate::Recreate>,
    /// What the simulator's merchant account list shows (Ralio's is undocumented).
    #[arg(long, value_enum, default_value = "users-accounts")]
    pub sim_account_list: ralio_sim::AccountList,
    /// Whether the simulator's session list keeps an ended session's hostedUrl (Ralio's
    /// example lists only open sessions).
    #[arg(long, value_enum, default_value = "with-hosted-url")]
    pub sim_final_listing: ralio_sim::FinalListing,
    /// The simulator sends no `account_activated` for the accounts it opens.
    #[arg(long)]
    pub sim_no_account_activated: bool,
    /// How long an uncertain session creation must stay unseen in Ralio's list before a
    /// session is created again [default: CREATE_SETTLE, else 2m].
    #[arg(long, value_parser = duration)]
    pub create_settle: Option<chrono::Duration>,
    /// Also POST every domain event (EventBridge's JSON) to this URL, e.g. your app's local
    /// handler. `GET /events` and the console at `/` show them either way.
    #[arg(long, env = "IDV_EVENTS_TO")]
    pub events_to: Option<String>,
}

impl Args {
    /// Returns the options: every function setting as `env` holds it, read as the deployed
    /// function reads it ([`LocalOptions::from_env`]), with the flags over it.
    pub fn options(&self, env: &impl Env) -> Result<LocalOptions, String> {
        let from_env = LocalOptions::from_env(env).map_err(|e| e.to_string())?;
        let ralio = match &self.ralio_base_url {
            None => RalioMode::Simulator {
                addr: self.sim_addr,
                generation: self.sim_payloads,
                signature: self.sim_signature,
                chaos: ralio_sim::Chaos {
                    duplicates: self.sim_duplicates,
                    reorder: self.sim_reorder,
                    delay: self.sim_delay.to_std().unwrap_or_default(),
                },
                faults: self.sim_fault.clone(),
                account_list: self.sim_account_list,
                final_listing: self.sim_final_listing,
                announce_accounts: !self.sim_no_account_activated,
            },
            Some(base_url) => RalioMode::Real {
                base_url: base_url.clone(),
                api_code: self
                    .ralio_api_code
                    .clone()
                    .ok_or("RALIO_API_CODE is required with RALIO_BASE_URL")?,
                api_key: self
                    .ralio_api_key
                    .clone()
                    .ok_or("RALIO_API_KEY is required with RALIO_BASE_URL")?,
            },
        };
        let schedule = ExpirySchedule::new(
            self.warn_lead.unwrap_or(from_env.schedule.warning_lead()),
            self.grace.unwrap_or(from_env.schedule.grace()),
            self.bucket.unwrap_or(from_env.schedule.bucket()),
        )
        .map_err(|e| format!("--warn-lead, --grace, --bucket: {e}"))?;
        let mut ralio_client = from_env.ralio_client;
        if let Some(timeout) = self.ralio_timeout {
            ralio_client.request_timeout = timeout
                .to_std()
                .map_err(|e| format!("--ralio-timeout: {e}"))?;
        }
        let mut create_session = from_env.create_session;
        create_session.settle = self.create_settle.unwrap_or(create_session.settle);
        if env.value("SESSION_REUSE_MARGIN").is_none() {
            // A compressed session life needs a proportionate margin, or no session is ever
            // reused.
            create_session.reuse_margin = (self.session_life / 10).min(create_session.reuse_margin);
        }
        let mut account_gate = from_env.account_gate;
        account_gate.settle = self.account_settle.unwrap_or(account_gate.settle);
        account_gate.recreate = self.account_recreate.unwrap_or(account_gate.recreate);
        let mut sweep = from_env.sweep;
        sweep.sweep_after = self.sweep_after.unwrap_or(sweep.sweep_after);
        sweep.level_wait = self.level_wait.unwrap_or(sweep.level_wait);
        account_gate.level_wait = sweep.level_wait;
        let sweep_every = (self.sweep_every > chrono::Duration::zero())
            .then(|| self.sweep_every.to_std())
            .transpose()
            .map_err(|e| format!("--sweep-every: {e}"))?;
        Ok(LocalOptions {
            addr: self.addr,
            store: match self.store {
                StoreArg::Memory => StoreKind::Memory,
                StoreArg::Dynamodb => StoreKind::Dynamodb,
            },
            table_name: self.table_name.clone(),
            queue_url: self.queue_url.clone(),
            ralio,
            webhook_secrets: self.webhook_secrets.clone(),
            session_life: self.session_life,
            schedule,
            ralio_client,
            create_session,
            account_gate,
            sweep,
            sweep_every,
            events_to: self.events_to.clone(),
            ..from_env
        })
    }
}

pub fn banner(running: &crate::Running) -> String {
    let api = &running.api_url;
    let uid = uuid::Uuid::new_v4();
    let store = match running.store_kind {
        StoreKind::Memory => "in-memory store",
        StoreKind::Dynamodb => "DynamoDB + SQS",
    };
    let ralio = match &running.sim_url {
        Some(sim) => format!("Ralio sim: {sim}   (hosted pages, control API at /sim/...)"),
        None => "Ralio:     the configured RALIO_BASE_URL".into(),
    };
    format!(
        "\nidv-local is running ({store})\n  API:       {api}\n  Webhook:   {webhook}\n  Events:    {api}/ (console), {api}/events\n  {ralio}\n\n\
         Walk a user from no session to an account (any UUID is a user):\n\
         \x20 UID={uid}\n\
         \x20 1. curl -s -X POST {api}/users/$UID/idv-sessions\n\
         \x20    then open the hostedUrl it returns and click Approve\n\
         \x20 2. curl -s {api}/users/$UID/kyc\n\
         \x20 3. curl -s -X POST {api}/users/$UID/accounts -H 'content-type: application/json' -d '{{\"alias\":\"Main\",\"currency\":\"EUR\"}}'\n\n\
         Ctrl-C stops.\n",
        webhook = running.webhook_url,
    )
}

pub async fn run(args: Args) -> ExitCode {
    let options = match args.options(&ProcessEnv) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("idv-local: {message}");
            return ExitCode::from(2);
        }
    };
    let running = match crate::start(options).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("idv-local: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", banner(&running));
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping…");
    running.stop().await;
    ExitCode::SUCCESS
}
