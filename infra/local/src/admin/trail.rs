//! This module catches a user's records up with Ralio (`reconcile`), reads them (`history`),
//! and sends their domain events again (`republish`).

use idv_adapters::config::ProcessEnv;
use idv_adapters::publish::Publisher;
use idv_adapters::reconcile::reconcile_user;
use idv_adapters::store::AuditLog;
use idv_adapters::wiring::Wiring;
use idv_model::Owner;

use crate::parse_uid;

pub async fn reconcile(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let ralio = wiring.ralio().map_err(|e| e.to_string())?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let report = reconcile_user(uid, &ralio, store.as_ref(), chrono::Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    let outcomes: Vec<String> = report
        .outcomes
        .iter()
        .map(|(id, o)| format!("  {id}: {}", o.as_str()))
        .collect();
    Ok(format!(
        "sessions added: {}\nunknown states skipped: {}\nreported states:\n{}",
        report.added,
        report.unknown_states,
        if outcomes.is_empty() {
            "  (none)".into()
        } else {
            outcomes.join("\n")
        }
    ))
}

pub async fn sweep(wiring: &Wiring<'_, ProcessEnv>) -> Result<String, String> {
    let reconciler = idv_reconciler::Reconciler::from_env(wiring)
        .await
        .map_err(|e| e.to_string())?;
    let report = reconciler
        .run_once(idv_adapters::ralio::Deadline::none())
        .await
        .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&idv_reconciler::summary(&report)).map_err(|e| e.to_string())
}

pub async fn history(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let trail = store
        .audit_trail(Owner::User(uid))
        .await
        .map_err(|e| e.to_string())?;
    let lines: Vec<String> = trail
        .iter()
        .map(|entry| {
            let session = entry
                .session_id
                .map(|s| format!(" session {s}"))
                .unwrap_or_default();
            let event = entry
                .event_id
                .map(|e| format!(" event {e}"))
                .unwrap_or_default();
            format!(
                "{} {} {}{session}{event} {}",
                entry.at.to_rfc3339(),
                entry.action,
                entry.outcome,
                entry.detail
            )
        })
        .collect();
    Ok(if lines.is_empty() {
        "(no entries)".into()
    } else {
        lines.join("\n")
    })
}

pub async fn republish(
    wiring: &Wiring<'_, ProcessEnv>,
    uid: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let sink = wiring.event_sink().map_err(|e| e.to_string())?;
    let publisher = Publisher::new(store.clone(), store, sink);
    match publisher.republish(Owner::User(uid), since).await {
        Ok(sent) => Ok(format!("{sent} events sent again")),
        Err(failure) => Err(format!(
            "stopped at the trail's change {}: {}",
            failure.index, failure.error
        )),
    }
}
