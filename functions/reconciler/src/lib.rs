//! The reconciler runs the sweep ([`idv_adapters::sweep`]) on a schedule (`SweepInterval`, 15
//! minutes by default). Ralio may fail to deliver a webhook, and its retry window is not
//! specified, so a session without an outcome `SWEEP_AFTER` after its last change is looked up
//! at Ralio, and what Ralio reports is applied through the model as an audited event. A VERIFIED
//! user still without a level `LEVEL_WAIT` later is counted (`LevelOverdue`), because no API can
//! tell a level and nothing may invent one.
//!
//! The same code runs as `idv-admin sweep` and, every `--sweep-every`, in `idv-local`.

pub mod lambda;

use std::sync::Arc;

use idv_adapters::clock::{Clock, SystemClock};
use idv_adapters::config::{ConfigError, Env, sweep_settings};
use idv_adapters::ralio::{Deadline, RalioClient};
use idv_adapters::store::SweepStore;
use idv_adapters::sweep::{SweepError, SweepReport, SweepSettings, sweep};
use idv_adapters::wiring::Wiring;
use serde_json::{Value, json};

/// Holds the parts the reconciler is made of. Tests and the local stack choose each part, and
/// Lambda's come from its environment ([`Reconciler::from_env`]).
pub struct Parts {
    pub store: Arc<dyn SweepStore>,
    pub ralio: Arc<RalioClient>,
    pub clock: Arc<dyn Clock>,
    pub settings: SweepSettings,
}

pub struct Reconciler {
    parts: Parts,
}

impl Reconciler {
    pub fn new(parts: Parts) -> Arc<Self> {
        Arc::new(Self { parts })
    }

    /// Builds the reconciler from Lambda's configuration: `TABLE_NAME`, the Ralio settings and
    /// secret, `SWEEP_AFTER`, `LEVEL_WAIT` and `SWEEP_MAX_USERS`.
    pub async fn from_env(wiring: &Wiring<'_, impl Env>) -> Result<Arc<Self>, ConfigError> {
        let store = wiring.store()?;
        let ralio = wiring.ralio()?;
        let settings = sweep_settings(wiring.env())?;
        wiring.prime(&store, Some(&ralio), None).await?;
        Ok(Self::new(Parts {
            store,
            ralio,
            clock: Arc::new(SystemClock),
            settings,
        }))
    }

    pub fn settings(&self) -> SweepSettings {
        self.parts.settings
    }

    /// Runs one sweep, with Ralio's calls kept to `deadline`, and reports it in the logs and as
    /// metrics.
    pub async fn run_once(&self, deadline: Deadline) -> Result<SweepReport, SweepError> {
        let now = self.parts.clock.now();
        let report = sweep(
            self.parts.store.as_ref(),
            self.parts.ralio.within(deadline),
            self.parts.settings,
            now,
        )
        .await?;
        idv_adapters::metrics::sweep(&report);
        tracing::info!(
            users = report.users,
            ralio_calls = report.ralio_calls,
            healed = report.healed.len(),
            unchanged = report.unchanged,
            released = report.released,
            gave_up = report.gave_up,
            level_overdue = report.level_overdue,
            failed = report.failed,
            stopped = report.stopped,
            "sweep"
        );
        Ok(report)
    }
}

/// Returns a run's report as the function's answer and `idv-admin sweep` prints it: counts and
/// session ids only, never personal data.
pub fn summary(report: &SweepReport) -> Value {
    json!({
        "users": report.users,
        "ralioCalls": report.ralio_calls,
        "healed": report
            .healed
            .iter()
            .map(|(id, outcome)| json!({ "sessionId": id.to_string(), "outcome": outcome.as_str() }))
            .collect::<Vec<_>>(),
        "unchanged": report.unchanged,
        "released": report.released,
        "gaveUp": report.gave_up,
        "levelOverdue": report.level_overdue,
        "failed": report.failed,
        "stopped": report.stopped,
    })
}
