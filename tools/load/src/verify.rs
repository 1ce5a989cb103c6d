//! After the load, every user is read back through the merchant API and compared with the same
//! user on a service that received the same events once each, in order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use idv_model::Uid;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::workload::Workload;

#[derive(Debug, Default, Clone)]
pub struct Verdict {
    pub users: usize,
    /// It counts the users whose KYC standing differs from in-order delivery (the first few are
    /// described).
    pub differing: usize,
    pub examples: Vec<String>,
    /// It counts the distinct events that left no trace in their user's trail.
    pub lost: usize,
    /// It counts the events the trail shows applied more than once.
    pub applied_twice: usize,
    /// It counts the accounts opened for a user whose level is not REGULAR in the in-order run.
    /// Ralio, told that every user is REGULAR, would open them all, so the service's gate must
    /// refuse.
    pub opened_without_regular: usize,
    /// It counts the accounts refused to a user whose level is REGULAR in the in-order run.
    pub refused_with_regular: usize,
    /// It counts the users at REGULAR, to show the account check was exercised both ways.
    pub regular_users: usize,
}

impl Verdict {
    pub fn holds(&self) -> bool {
        self.differing == 0
            && self.lost == 0
            && self.applied_twice == 0
            && self.opened_without_regular == 0
            && self.refused_with_regular == 0
    }
}

/// Sends a request again after a 5xx or a transport error, as a merchant would. The service
/// answers 503 `store_unavailable` when the emulator falls behind, and then nothing was changed.
async fn with_retries(
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, String> {
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match request().send().await {
            Ok(answer) if !answer.status().is_server_error() || attempt >= 30 => return Ok(answer),
            Err(e) if attempt >= 30 => return Err(e.to_string()),
            _ => {
                let pause = (250 * attempt).min(3_000);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await
            }
        }
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let answer = with_retries(|| client.get(url)).await?;
    let status = answer.status();
    let body: Value = answer.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status} {body}"));
    }
    Ok(body)
}

/// Returns what must not depend on delivery order: the level, the gate, the next action, each
/// session's state, expiry and reasons, and the re-verification date.
fn standing(kyc: &Value) -> Value {
    let mut sessions: Vec<Value> = kyc["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            serde_json::json!({
                "sessionId": s["sessionId"],
                "state": s["state"],
                "expirySource": s["expirySource"],
                "expiresAt": s["expiresAt"],
                "failureReasons": s["failureReasons"],
            })
        })
        .collect();
    sessions.sort_by_key(|s| s["sessionId"].to_string());
    serde_json::json!({
        "kycLevel": kyc["kycLevel"],
        "canCreateAccount": kyc["canCreateAccount"],
        "nextAction": kyc["nextAction"]["code"],
        "reverifyBefore": kyc["reverifyBefore"],
        "sessions": sessions,
    })
}

/// Returns the user's whole trail, as event id → outcomes.
async fn trail(
    client: &reqwest::Client,
    api: &str,
    uid: Uid,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut outcomes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/users/{uid}/history?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(client, &url).await?;
        for entry in page["entries"].as_array().into_iter().flatten() {
            if let Some(id) = entry["eventId"].as_str() {
                let outcome = entry["outcome"].as_str().unwrap_or_default().to_owned();
                outcomes.entry(id.to_owned()).or_default().push(outcome);
            }
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(outcomes),
        }
    }
}

#[derive(Debug, Default)]
struct UserVerdict {
    differs: Option<String>,
    lost: usize,
    applied_twice: usize,
    opened_without_regular: bool,
    refused_with_regular: bool,
    regular: bool,
}

async fn check_user(
    client: &reqwest::Client,
    loaded: &str,
    reference: &str,
    workload: &Workload,
    u: usize,
) -> Result<UserVerdict, String> {
    let uid = workload.users[u];
    let mut verdict = UserVerdict::default();
    let got = get_json(client, &format!("{loaded}/users/{uid}/kyc")).await?;
    let want = get_json(client, &format!("{reference}/users/{uid}/kyc")).await?;
    let (got_standing, want_standing) = (standing(&got), standing(&want));
    if got_standing != want_standing {
        verdict.differs = Some(format!(
            "user {uid}: after the load {got_standing}, in order {want_standing}"
        ));
    }

    let trail = trail(client, loaded, uid).await?;
    let sent: BTreeSet<String> = workload.in_order[u]
        .iter()
        .map(|s| s.event_id.to_string())
        .collect();
    verdict.lost = sent.iter().filter(|id| !trail.contains_key(*id)).count();
    verdict.applied_twice = trail
        .values()
        .filter(|outcomes| outcomes.iter().filter(|o| *o == "applied").count() > 1)
        .count();

    // The gate is tried for every user, and must be open exactly where in-order delivery left
    // REGULAR.
    verdict.regular = want["kycLevel"] == "REGULAR";
    let url = format!("{loaded}/users/{uid}/accounts");
    let request = serde_json::json!({ "alias": "Main", "currency": "EUR" });
    let answer = with_retries(|| client.post(&url).json(&request)).await?;
    let opened = answer.status().is_success();
    if !opened && answer.status().as_u16() != 403 {
        return Err(format!(
            "POST accounts for {uid}: {} {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        ));
    }
    verdict.opened_without_regular = opened && !verdict.regular;
    verdict.refused_with_regular = !opened && verdict.regular;
    Ok(verdict)
}

/// Checks every user of the workload, `concurrency` at a time.
pub async fn verify(
    client: &reqwest::Client,
    loaded: &str,
    reference: &str,
    workload: Arc<Workload>,
    concurrency: usize,
) -> Result<Verdict, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let verdict = Arc::new(Mutex::new(Verdict::default()));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, loaded, reference) =
                (client.clone(), loaded.to_owned(), reference.to_owned());
            let (workload, next, verdict) = (workload.clone(), next.clone(), verdict.clone());
            tokio::spawn(async move {
                loop {
                    let u = next.fetch_add(1, Ordering::Relaxed);
                    if u >= workload.users.len() {
                        return Ok::<(), String>(());
                    }
                    let user = check_user(&client, &loaded, &reference, &workload, u).await?;
                    let mut all = verdict.lock().await;
                    all.users += 1;
                    if let Some(example) = user.differs {
                        all.differing += 1;
                        if all.examples.len() < 3 {
                            all.examples.push(example);
                        }
                    }
                    all.lost += user.lost;
                    all.applied_twice += user.applied_twice;
                    all.opened_without_regular += usize::from(user.opened_without_regular);
                    all.refused_with_regular += usize::from(user.refused_with_regular);
                    all.regular_users += usize::from(user.regular);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.map_err(|e| e.to_string())??;
    }
    Ok(Arc::try_unwrap(verdict)
        .expect("every worker is done")
        .into_inner())
}
