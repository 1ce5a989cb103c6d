//! This module starts the Ralio the stack calls: the embedded simulator, on the stack's clock,
//! or a configured one.

use std::sync::Arc;

use idv_adapters::ralio::{RalioClient, RalioCredentials};
use ralio_sim::{SimClock, SimConfig, Simulator};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{LocalOptions, RalioMode, StartError, bind, serve};

pub(crate) struct Upstream {
    pub client: Arc<RalioClient>,
    pub sim_url: Option<String>,
    pub simulator: Option<Arc<Simulator>>,
    /// Serves the simulator until the stack stops.
    pub task: Option<JoinHandle<()>>,
}

/// Starts the simulator (its webhooks go to `webhook_url`), or only configures the client for
/// the Ralio the options name.
pub(crate) async fn start(
    options: &LocalOptions,
    webhook_url: &str,
    stopped: &watch::Receiver<bool>,
) -> Result<Upstream, StartError> {
    let (base_url, credentials, sim_url, simulator, task) = match &options.ralio {
        RalioMode::Simulator {
            addr,
            generation,
            signature,
            chaos,
            faults,
            account_list,
            final_listing,
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
                Some(webhook_url.to_owned()),
                options.signing_secret(),
            );
            config.generation = *generation;
            config.signature = *signature;
            config.chaos = *chaos;
            config.faults = faults.clone();
            config.account_list = *account_list;
            config.final_listing = *final_listing;
            config.announce_accounts = *announce_accounts;
            config.session_life = options.session_life;
            // The simulator runs on the stack's clock, so that Ralio's times and the service's
            // agree, whichever clock the stack runs on.
            let clock = options.clock.clone();
            config.clock = SimClock::from_fn(move || clock.now());
            let credentials = RalioCredentials {
                api_code: config.api_code.clone(),
                api_key: config.api_key.clone().into(),
            };
            let simulator = Simulator::new(config);
            let task = serve(
                listener,
                ralio_sim::router(simulator.clone()),
                stopped.clone(),
            );
            (
                sim_url.clone(),
                credentials,
                Some(sim_url),
                Some(simulator),
                Some(task),
            )
        }
        RalioMode::Real {
            base_url,
            api_code,
            api_key,
        } => {
            let credentials = RalioCredentials {
                api_code: api_code.clone(),
                api_key: api_key.clone().into(),
            };
            (base_url.clone(), credentials, None, None, None)
        }
    };
    let config = options.ralio_client.config(base_url, credentials);
    let client = RalioClient::new(config).map_err(|e| StartError::Config(e.to_string()))?;
    Ok(Upstream {
        client: Arc::new(client),
        sim_url,
        simulator,
        task,
    })
}
