//! This module erases a user for an operator (`idv-admin erase UID`), as
//! `POST /users/{uid}/erasure` does: same store call, same settings, same answer.

use idv_adapters::config::{ProcessEnv, compliance_retention, quarantine_retention};
use idv_adapters::store::Eraser;
use idv_adapters::wiring::Wiring;
use idv_model::Erasure;

use crate::parse_uid;

pub async fn erase(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let retention = compliance_retention(wiring.env()).map_err(|e| e.to_string())?;
    let lookback = quarantine_retention(wiring.env()).map_err(|e| e.to_string())?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let now = chrono::Utc::now();
    let stamp = store
        .erase_user(uid, Erasure::begin(now, retention), now - lookback)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&serde_json::json!({
        "uid": uid.to_string(),
        "erasedAt": stamp.erased_at,
        "retainedUntil": stamp.retained_until,
    }))
    .map_err(|e| e.to_string())
}
