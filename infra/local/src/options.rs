//! What a local stack runs with: idv-local's own choices (addresses, store, simulator) and the
//! functions' settings.

use std::net::SocketAddr;
use std::time::Duration;

use idv_adapters::aws::AwsTimeouts;
use idv_adapters::secrets::LOCAL_WEBHOOK_SECRET;
use idv_model::ExpirySchedule;

use crate::StartError;

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

impl LocalOptions {
    /// The local secret is public: only a simulator on this machine may sign with it.
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

    /// The secret the simulator signs with: the first configured.
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
}
