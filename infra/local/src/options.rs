//! This module holds what a local stack runs with: idv-local's own choices (addresses, store,
//! simulator) and every function's settings. [`LocalOptions::from_env`] reads the settings with
//! the same functions Lambda's `from_env` uses, so a variable means the same here as when
//! deployed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use idv_adapters::aws::AwsTimeouts;
use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, expiry_schedule, ralio_config};
use idv_adapters::ralio::{AuthScheme, CreateSessionBody, RalioConfig, RalioCredentials};
use idv_adapters::secrets::LOCAL_WEBHOOK_SECRET;
use idv_model::ExpirySchedule;

use crate::StartError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    /// The state lives in DynamoDB and SQS at `AWS_ENDPOINT_URL` (moto) or in AWS.
    Dynamodb,
}

#[derive(Debug, Clone)]
pub enum RalioMode {
    /// The stack calls the embedded simulator.
    Simulator {
        addr: SocketAddr,
        generation: ralio_sim::Generation,
        signature: ralio_sim::Signature,
        chaos: ralio_sim::Chaos,
        /// Lists the faults every call of an operation meets (`--sim-fault`).
        faults: Vec<(ralio_sim::Operation, ralio_sim::Fault)>,
        /// Says what its merchant account list shows (`--sim-account-list`).
        account_list: ralio_sim::AccountList,
        /// Says whether its session list keeps an ended session's link
        /// (`--sim-final-listing`).
        final_listing: ralio_sim::FinalListing,
        /// Says whether it announces the accounts it opens (`--sim-no-account-activated`).
        announce_accounts: bool,
    },
    /// The stack calls a real Ralio (sandbox), which must be able to reach the webhook URL
    /// itself.
    Real {
        base_url: String,
        api_code: String,
        api_key: String,
    },
}

/// Says how the Ralio client calls Ralio (`RALIO_AUTH_SCHEME`, `RALIO_CREATE_SESSION_BODY`,
/// `RALIO_CONNECT_TIMEOUT`, `RALIO_TIMEOUT`). Which Ralio, with which credentials, is
/// [`RalioMode`]'s choice.
#[derive(Debug, Clone, Copy)]
pub struct RalioTuning {
    pub auth: AuthScheme,
    pub create_session_body: CreateSessionBody,
    pub connect_timeout: Duration,
    /// How long one HTTP exchange may take.
    pub request_timeout: Duration,
}

/// Stands in where no Ralio is chosen yet, because the client's own defaults need a URL, though
/// not this one.
const NO_RALIO_YET: &str = "http://127.0.0.1";

impl Default for RalioTuning {
    fn default() -> Self {
        Self::of(&RalioConfig::with_credentials(NO_RALIO_YET, None))
    }
}

impl RalioTuning {
    /// Reads the tuning as Lambda reads it ([`ralio_config`]). That function also requires the
    /// URL and the credentials, which the stack chooses later, so stand-ins answer for them.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let chosen_later = Answering {
            env,
            answers: &[
                ("RALIO_BASE_URL", NO_RALIO_YET),
                ("RALIO_API_CODE", "chosen-later"),
                ("RALIO_API_KEY", "chosen-later"),
            ],
        };
        Ok(Self::of(&ralio_config(&chosen_later, false)?))
    }

    fn of(config: &RalioConfig) -> Self {
        Self {
            auth: config.auth,
            create_session_body: config.create_session_body,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        }
    }

    /// Returns the client's configuration for the Ralio at `base_url`.
    pub fn config(&self, base_url: String, credentials: RalioCredentials) -> RalioConfig {
        RalioConfig {
            auth: self.auth,
            create_session_body: self.create_session_body,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            ..RalioConfig::new(base_url, credentials)
        }
    }
}

/// An environment in which some variables have fixed answers.
struct Answering<'a, E> {
    env: &'a E,
    answers: &'a [(&'a str, &'a str)],
}

impl<E: Env> Env for Answering<'_, E> {
    fn get(&self, name: &str) -> Option<String> {
        match self.answers.iter().find(|(answered, _)| *answered == name) {
            Some((_, value)) => Some((*value).to_owned()),
            None => self.env.get(name),
        }
    }
}

#[derive(Clone)]
pub struct LocalOptions {
    pub addr: SocketAddr,
    pub store: StoreKind,
    pub table_name: String,
    pub queue_url: Option<String>,
    pub ralio: RalioMode,
    pub webhook_secrets: String,
    /// The session lifetime the simulator gives (Ralio gives 7 days).
    pub session_life: chrono::Duration,
    /// It is read from `EXPIRY_WARNING_LEAD`, `EXPIRY_GRACE` and `EXPIRY_BUCKET`.
    pub schedule: ExpirySchedule,
    /// How often the expiry queue is looked at.
    pub poll_every: Duration,
    pub ralio_client: RalioTuning,
    /// It is read from `SESSION_REUSE_MARGIN`, `CREATE_LEASE`, `CREATE_WAIT` and `CREATE_SETTLE`.
    pub create_session: idv_create_session::Settings,
    /// It is read from `ACCOUNT_LEASE`, `ACCOUNT_WAIT`, `ACCOUNT_SETTLE` and `ACCOUNT_RECREATE`.
    pub account_gate: idv_account_gate::Settings,
    /// It is read from `MAX_CLOCK_SKEW`, `ATTRIBUTION_RETRY_WINDOW` and `QUARANTINE_RETENTION`.
    pub webhook: idv_webhook::Settings,
    /// It is read from `SWEEP_AFTER`, `LEVEL_WAIT` and `SWEEP_MAX_USERS`.
    pub sweep: idv_adapters::sweep::SweepSettings,
    /// How often the reconciler's sweep runs (`--sweep-every`, 15m from the command line), or
    /// never. It is never by default, so that a test decides when a sweep runs
    /// ([`crate::Running::reconciler`]).
    pub sweep_every: Option<Duration>,
    /// Where each domain event is also POSTed (`--events-to`).
    pub events_to: Option<String>,
    /// Holds the timeouts of every DynamoDB and SQS call (`--store dynamodb`). Tests against an
    /// emulator on a busy machine give it longer than AWS needs.
    pub aws_timeouts: AwsTimeouts,
    /// Tells the time for every function, the tick queue and the simulator, so that a test's
    /// manual clock moves them all at once.
    pub clock: Arc<dyn Clock>,
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
                final_listing: ralio_sim::FinalListing::default(),
                announce_accounts: true,
            },
            webhook_secrets: LOCAL_WEBHOOK_SECRET.into(),
            session_life: chrono::Duration::days(7),
            schedule: ExpirySchedule::default(),
            poll_every: Duration::from_secs(1),
            ralio_client: RalioTuning::default(),
            create_session: idv_create_session::Settings::default(),
            account_gate: idv_account_gate::Settings::default(),
            webhook: idv_webhook::Settings::default(),
            sweep: idv_adapters::sweep::SweepSettings::default(),
            sweep_every: None,
            events_to: None,
            aws_timeouts: AwsTimeouts::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl LocalOptions {
    /// Returns the defaults, with every function setting `env` holds read as the deployed
    /// function reads it. It does not read the secret ARNs and `WEBHOOK_SECRET_MAX_AGE`
    /// (idv-local signs with `WEBHOOK_SECRETS` and calls Ralio with
    /// `RALIO_API_CODE`/`RALIO_API_KEY`, as a function does outside Lambda, so there is no
    /// secret to read or read again; and no edge stands in front of its webhook, so
    /// `WEBHOOK_ORIGIN_SECRET_ARN` has nothing to check), `EVENT_BUS_NAME` (events go to the
    /// console and `--events-to`) or `PRIME_CONNECTIONS` (nothing here has a cold start to
    /// shorten).
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            schedule: expiry_schedule(env)?,
            ralio_client: RalioTuning::from_env(env)?,
            create_session: idv_create_session::settings(env)?,
            account_gate: idv_account_gate::settings(env)?,
            webhook: idv_webhook::settings(env)?,
            sweep: idv_adapters::config::sweep_settings(env)?,
            ..Self::default()
        })
    }

    /// Refuses the local secret where others could use it, because it is public and only a
    /// simulator on this machine may sign with it.
    pub(crate) fn refuse_public_secret(&self) -> Result<(), StartError> {
        let public = self
            .webhook_secrets
            .split(',')
            .any(|s| s.trim() == LOCAL_WEBHOOK_SECRET);
        let exposed = !self.addr.ip().is_loopback();
        let real_ralio = matches!(self.ralio, RalioMode::Real { .. });
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

    /// Returns the secret the simulator signs with, which is the first configured.
    pub(crate) fn signing_secret(&self) -> String {
        self.webhook_secrets
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or(LOCAL_WEBHOOK_SECRET)
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_public_secret_is_refused_when_anyone_else_could_use_it() {
        let local = LocalOptions::default();
        assert!(
            local.refuse_public_secret().is_ok(),
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
            let err = refused.refuse_public_secret().unwrap_err().to_string();
            assert!(err.contains("WEBHOOK_SECRETS"), "{err}");
        }
        let own = LocalOptions {
            webhook_secrets: "whsec_a_secret_of_my_own_0123456789".into(),
            ..real
        };
        assert!(own.refuse_public_secret().is_ok());
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_function_setting_is_read_as_lambda_reads_it() {
        let options = LocalOptions::from_env(&env(&[
            ("RALIO_TIMEOUT", "4s"),
            ("RALIO_AUTH_SCHEME", "raw-key"),
            ("CREATE_WAIT", "250ms"),
            ("ACCOUNT_LEASE", "90s"),
            ("MAX_CLOCK_SKEW", "1m"),
            ("QUARANTINE_RETENTION", "7d"),
            ("EXPIRY_BUCKET", "5m"),
            ("SWEEP_AFTER", "10m"),
            ("LEVEL_WAIT", "2m"),
        ]))
        .unwrap();
        assert_eq!(options.ralio_client.request_timeout, Duration::from_secs(4));
        assert_eq!(options.ralio_client.auth, AuthScheme::RawKey);
        assert_eq!(
            options.create_session.wait_for_peer,
            Duration::from_millis(250)
        );
        assert_eq!(options.account_gate.lease, chrono::Duration::seconds(90));
        assert_eq!(options.webhook.max_clock_skew, chrono::Duration::minutes(1));
        assert_eq!(
            options.webhook.quarantine_retention,
            chrono::Duration::days(7)
        );
        assert_eq!(options.schedule.bucket(), chrono::Duration::minutes(5));
        assert_eq!(options.sweep.sweep_after, chrono::Duration::minutes(10));
        assert_eq!(options.sweep.level_wait, chrono::Duration::minutes(2));
        assert_eq!(
            options.account_gate.level_wait,
            chrono::Duration::minutes(2)
        );
        // The stand-ins for what the stack chooses later never leak into its choices.
        assert!(matches!(options.ralio, RalioMode::Simulator { .. }));

        let err = LocalOptions::from_env(&env(&[("ACCOUNT_RECREATE", "sometimes")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("ACCOUNT_RECREATE"), "{err}");
    }
}
