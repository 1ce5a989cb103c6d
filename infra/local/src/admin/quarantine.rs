//! This module lists signed webhooks kept without being applied (`quarantined`) and runs them
//! again (`replay-quarantine`).

use std::sync::Arc;

use chrono::NaiveDate;
use idv_adapters::clock::SystemClock;
use idv_adapters::config::ProcessEnv;
use idv_adapters::store::QuarantineReader;
use idv_adapters::wiring::Wiring;
use idv_local::replay::{ReplayFilter, replay_quarantine};
use idv_model::LearntSpellings;
use idv_webhook::Webhook;

pub async fn quarantined(
    wiring: &Wiring<'_, ProcessEnv>,
    day: NaiveDate,
) -> Result<String, String> {
    let store = wiring.store().map_err(|e| e.to_string())?;
    let kept = store.quarantined(day).await.map_err(|e| e.to_string())?;
    let lines: Vec<String> = kept
        .iter()
        .map(|entry| {
            format!(
                "{} {} event={} type={} bytes={} ({})",
                entry.received_at.to_rfc3339(),
                entry.reason_code,
                entry.event_id.as_deref().unwrap_or("-"),
                entry.event_type.as_deref().unwrap_or("-"),
                entry.body.len(),
                entry.reason
            )
        })
        .collect();
    Ok(if lines.is_empty() {
        "(nothing quarantined)".into()
    } else {
        lines.join("\n")
    })
}

/// Holds what `replay-quarantine` is asked for.
pub struct Replay {
    pub since: Option<NaiveDate>,
    pub reason: Option<String>,
    pub dry_run: bool,
    /// Holds the SPELLING=TYPE pairs a person mapped.
    pub spellings: Vec<String>,
}

pub async fn replay(wiring: &Wiring<'_, ProcessEnv>, asked: Replay) -> Result<String, String> {
    let store = wiring.store().map_err(|e| e.to_string())?;
    // A replayed announcement of a new session needs its expiry ticks, as a live one would,
    // but a dry run writes nothing.
    let scheduler = if asked.dry_run {
        None
    } else {
        Some(wiring.scheduler(store.clone()).map_err(|e| e.to_string())?)
    };
    let settings = idv_webhook::settings(wiring.env()).map_err(|e| e.to_string())?;
    let mut learnt = LearntSpellings::default();
    for pair in &asked.spellings {
        learnt.learn_pair(pair)?;
    }
    let webhook = Webhook::new(idv_webhook::Parts {
        store: store.clone(),
        keys: idv_webhook::unknowable_keys(),
        origin: None,
        clock: Arc::new(SystemClock),
        scheduler,
        settings,
        spellings: learnt,
    });
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let filter = ReplayFilter {
        since: asked.since.unwrap_or(today - chrono::Duration::days(30)),
        until: today,
        reason: asked.reason,
        dry_run: asked.dry_run,
    };
    let report = replay_quarantine(&webhook, store.as_ref(), &filter, now).await?;
    Ok(report.table())
}
