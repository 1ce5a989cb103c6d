//! What happens to a signed payload: applied, kept, or sent back for Ralio to retry. The same
//! path serves live deliveries and replays of quarantined payloads (`idv-admin
//! replay-quarantine`), so a replay is judged exactly as a delivery would be.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use idv_adapters::http::{Problem, json, store_problem};
use idv_adapters::store::{ATTRIBUTION_PENDING, QuarantineEntry, StoreError};
use idv_model::webhook::EventBody;
use idv_model::{
    ApplyOutcome, Attribution, AuditEntry, Owner, Unattributed, WebhookEvent, parse_webhook_with,
};
use serde_json::json;

use crate::Webhook;

/// Whether a payload is arriving from Ralio or being replayed from quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A delivery: what cannot be applied yet may be sent back (503) or quarantined.
    Live,
    /// A quarantined payload run again: nothing is quarantined again, and nothing is sent
    /// back; what still cannot be applied is reported with its reason. `received_at` is when
    /// it was first kept: a stamp too far ahead is ordered then, not at the replay.
    Replay { received_at: DateTime<Utc> },
}

/// What one payload came to: the answer, and what the log line and a replay report need.
pub struct Handled {
    /// `applied`, `duplicate`, `stale`, `unchanged`, `deferred`, `quarantined`, `unhandled`, or
    /// the problem code of a refusal.
    pub outcome: &'static str,
    /// Why it was kept or sent back (a quarantine reason code), when it was.
    pub reason: Option<&'static str>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// Whose records the event changed, when it was attributed.
    pub owner: Option<Owner>,
    response: Response,
}

impl Handled {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub(crate) fn answered(outcome: &'static str, response: Response) -> Self {
        Self {
            outcome,
            reason: None,
            event_id: None,
            event_type: None,
            owner: None,
            response,
        }
    }

    pub(crate) fn refused(problem: Problem) -> Self {
        Self::answered(problem.code, problem.into_response())
    }

    fn acknowledged(outcome: &'static str, event: Option<&WebhookEvent>) -> Self {
        let body = json!({
            "received": true,
            "duplicate": outcome == ApplyOutcome::Duplicate.as_str(),
            "outcome": outcome,
        });
        Self::answered(outcome, json(StatusCode::OK, body)).about(event)
    }

    fn about(mut self, event: Option<&WebhookEvent>) -> Self {
        if let Some(event) = event {
            self.event_id = Some(event.id.to_string());
            self.event_type = Some(event.event_type.clone());
        }
        self
    }
}

impl IntoResponse for Handled {
    fn into_response(self) -> Response {
        self.response
    }
}

impl Webhook {
    /// Everything after the signature check.
    pub async fn process(&self, body: &Bytes, mode: Mode) -> Handled {
        let now = self.clock.now();
        let event = match parse_webhook_with(body, &self.spellings) {
            Ok(event) => event,
            Err(err) => {
                let kept = Kept {
                    code: err.code(),
                    reason: err.to_string(),
                    outcome: "quarantined",
                };
                return self.keep(body, kept, None, now, mode).await;
            }
        };
        let event = match self.receipt_of(&event, now, mode).await {
            Ok(received_at) => event.received(received_at, self.settings.max_clock_skew),
            Err(err) => return failed(&err, Some(&event)),
        };
        if event.stamped_at.is_some() {
            tracing::warn!(event_id = %event.id, "event stamped after its receipt: ordered at receipt");
        }
        if let Some(activation) = event.activation() {
            // Names only the account: applied to it, or kept until it is recorded.
            return match self.ledger.apply_activation(&activation, now).await {
                Ok(applied) => Handled::acknowledged(applied.outcome.as_str(), Some(&event)),
                Err(err) => failed(&err, Some(&event)),
            };
        }
        if let EventBody::Unknown { .. } = event.body {
            let kept = Kept {
                code: "unknown_event_type",
                reason: format!("event type {} is not acted on", event.event_type),
                outcome: "unhandled",
            };
            return self.keep(body, kept, Some(&event), now, mode).await;
        }
        let attribution = event.attribution();
        let looked_up = match self.looked_up_owners(&attribution).await {
            Ok(found) => found,
            Err(err) => return failed(&err, Some(&event)),
        };
        let owner = match attribution.owner(&looked_up) {
            Ok(owner) => owner,
            Err(unattributed) => {
                return self
                    .unattributed(body, &event, unattributed, now, mode)
                    .await;
            }
        };
        let Some(mut application) = event.application(owner) else {
            let kept = Kept {
                code: "unknown_event_type",
                reason: "not acted on".into(),
                outcome: "unhandled",
            };
            return self.keep(body, kept, Some(&event), now, mode).await;
        };
        let buckets = match &self.scheduler {
            Some(scheduler) => application.schedule_expiry(&scheduler.schedule()),
            None => Vec::new(),
        };
        match self.ledger.apply_event(&application, now).await {
            Ok(applied) => {
                // A repeat too: the first delivery may have died after applying, before
                // scheduling (claiming a scheduled tick again is cheap and idempotent).
                if matches!(
                    applied.outcome,
                    ApplyOutcome::Applied | ApplyOutcome::Duplicate
                ) && !buckets.is_empty()
                    && let Some(scheduler) = &self.scheduler
                    && let Err(e) = scheduler.ensure_ticks(&buckets, now).await
                {
                    // Acknowledged anyway: the event is applied; only the reminder may be missed.
                    tracing::error!(error = %e, "expiry tick not scheduled");
                }
                let mut handled = Handled::acknowledged(applied.outcome.as_str(), Some(&event));
                handled.owner = Some(owner);
                handled
            }
            Err(err) => failed(&err, Some(&event)),
        }
    }

    /// When the event counts as received. For a stamp too far ahead to believe, that is its
    /// first receipt (recorded on the way), so every retry and every replay orders it at the
    /// same time and measures its attribution window from the same start.
    async fn receipt_of(
        &self,
        event: &WebhookEvent,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Result<DateTime<Utc>, StoreError> {
        // A replayed payload was received when it was kept, not now.
        let received = match mode {
            Mode::Live => now,
            Mode::Replay { received_at } => received_at,
        };
        if event.occurred_at <= received + self.settings.max_clock_skew {
            return Ok(received);
        }
        // Its first receipt, where still recorded: a payload kept on a later delivery than the
        // first is ordered where the first was.
        let keep = self.settings.attribution_window + chrono::Duration::days(1);
        self.ledger.first_receipt(event.id, received, keep).await
    }

    /// What processing a payload would come to, without writing anything (a replay's dry
    /// run): `would_apply`, `unhandled`, or the reason it would stay quarantined.
    pub async fn assess(&self, body: &Bytes) -> Result<&'static str, StoreError> {
        let event = match parse_webhook_with(body, &self.spellings) {
            Ok(event) => event,
            Err(err) => return Ok(err.code()),
        };
        if event.activation().is_some() {
            return Ok("would_apply");
        }
        if let EventBody::Unknown { .. } = event.body {
            return Ok("unhandled");
        }
        let attribution = event.attribution();
        let looked_up = self.looked_up_owners(&attribution).await?;
        Ok(match attribution.owner(&looked_up) {
            Ok(_) => "would_apply",
            Err(unattributed) => unattributed.code,
        })
    }

    /// The owners the store knows for what the event names instead of an owner: its session,
    /// or its `kycId`.
    async fn looked_up_owners(&self, attribution: &Attribution) -> Result<Vec<Owner>, StoreError> {
        if let Some(session_id) = attribution.session_to_look_up() {
            return self.ledger.find_session_owners(session_id).await;
        }
        if let Some(kyc_id) = attribution.kyc_id_to_look_up() {
            return self.ledger.find_kyc_id_owners(kyc_id).await;
        }
        Ok(Vec::new())
    }

    /// An event whose owner is not known: while it is young and the owner may yet become
    /// known (its session stored), Ralio is asked to send it again; after, it is kept.
    async fn unattributed(
        &self,
        body: &Bytes,
        event: &WebhookEvent,
        unattributed: Unattributed,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Handled {
        let window = self.settings.attribution_window;
        if mode == Mode::Live && unattributed.may_resolve() {
            let first = match self
                .ledger
                .first_receipt(event.id, now, window + chrono::Duration::days(1))
                .await
            {
                Ok(first) => first,
                Err(err) => return failed(&err, Some(event)),
            };
            if let Some(left) = unattributed.retry_left(event.occurred_at, first, window, now) {
                tracing::warn!(
                    reason = unattributed.code,
                    "event not attributable yet: Ralio is asked to send it again"
                );
                // Ralio's retry budget is undocumented: a copy is kept, so the event can be
                // replayed if Ralio stops sending it. Written on every 503 (a first write that
                // failed must not leave it uncopied) but kept once, by its digest; not counted
                // as quarantined: most are applied on the next delivery.
                {
                    let entry = self.entry(
                        body,
                        Some(event),
                        ATTRIBUTION_PENDING,
                        unattributed.reason.into(),
                        now,
                    );
                    if let Err(err) = self.ledger.quarantine(&entry, None).await {
                        return failed(&err, Some(event));
                    }
                }
                let mut handled = Handled::refused(
                    Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "attribution_pending",
                        "Owner not known yet",
                        format!(
                            "{}; send it again (kept after {} minutes).",
                            unattributed.reason,
                            left.num_minutes().max(1)
                        ),
                    )
                    .with("reason", unattributed.code)
                    .retry_after(60),
                )
                .about(Some(event));
                handled.reason = Some(unattributed.code);
                return handled;
            }
        }
        let kept = Kept {
            code: unattributed.code,
            reason: unattributed.reason.into(),
            outcome: "quarantined",
        };
        self.keep(body, kept, Some(event), now, mode).await
    }

    /// Keeps a signed payload that is not applied: verbatim, except an event type this
    /// service does not act on, of which only the id, type, timestamp and digest are kept
    /// (its body may carry other people's data). A replay keeps nothing again.
    async fn keep(
        &self,
        body: &Bytes,
        kept: Kept,
        event: Option<&WebhookEvent>,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Handled {
        let entry = self.entry(body, event, kept.code, kept.reason, now);
        let mut handled = Handled::acknowledged(kept.outcome, event);
        handled.reason = Some(kept.code);
        handled.event_id.clone_from(&entry.event_id);
        handled.event_type.clone_from(&entry.event_type);
        if matches!(mode, Mode::Replay { .. }) {
            return handled;
        }
        let acted_on = entry
            .event_type
            .as_deref()
            .is_none_or(idv_model::webhook::is_acted_on);
        // The user a payload of ours names learns from their trail that it was kept (a related
        // party's event without its entity type names its user, for example).
        let named = (acted_on && kept.code != "unknown_event_type")
            .then(|| named_user(body))
            .flatten();
        let note = named.map(|uid| {
            let id = entry
                .event_id
                .as_deref()
                .and_then(|id| idv_model::EventId::parse(id).ok());
            (
                Owner::User(uid),
                AuditEntry::quarantined(now, entry.event_type.as_deref(), id, kept.code),
            )
        });
        let noted = note.as_ref().map(|(owner, entry)| (*owner, entry));
        match self.ledger.quarantine(&entry, noted).await {
            Ok(()) => {
                tracing::warn!(
                    reason = kept.code,
                    "signed webhook kept without being applied"
                );
                idv_adapters::metrics::quarantined(kept.code);
                handled
            }
            Err(err) => failed(&err, event),
        }
    }
}

impl Webhook {
    /// What is kept of a signed payload. Verbatim: what this service acts on, and event types
    /// that look like Ralio's KYC family (a later release that learns their spelling can
    /// replay them). As a digest: other event types, whose bodies carry other people's data
    /// even when their envelope does not parse, and any body too large for one item (with the
    /// fields this service reads from it).
    fn entry(
        &self,
        body: &[u8],
        event: Option<&WebhookEvent>,
        code: &str,
        reason: String,
        now: DateTime<Utc>,
    ) -> QuarantineEntry {
        let (event_id, event_type) = match event {
            Some(e) => (Some(e.id.to_string()), Some(e.event_type.clone())),
            None => envelope_hints(body),
        };
        let acted_on = event_type
            .as_deref()
            .is_none_or(idv_model::webhook::is_acted_on);
        let kyc_family = event_type.as_deref().is_some_and(looks_like_kyc);
        let verbatim = (acted_on && code != "unknown_event_type") || kyc_family;
        let kept = if verbatim && body.len() <= crate::MAX_KEPT_BYTES {
            body.to_vec()
        } else {
            digest_only(
                body,
                event_id.as_deref(),
                event_type.as_deref(),
                event.map(|e| e.stamped_at.unwrap_or(e.occurred_at)),
                verbatim,
            )
        };
        QuarantineEntry {
            received_at: now,
            reason_code: code.to_owned(),
            reason,
            event_id,
            event_type,
            body: kept,
            expires_at: now + self.settings.quarantine_retention,
            replayed: None,
        }
    }
}

/// An event type that looks like Ralio's KYC family in another spelling
/// (`kyc.session.verified`, `KycSessionVerified`).
fn looks_like_kyc(event_type: &str) -> bool {
    event_type.to_ascii_lowercase().contains("kyc")
}

/// Why a payload is kept, and the outcome it is acknowledged with.
struct Kept {
    code: &'static str,
    reason: String,
    outcome: &'static str,
}

/// What is kept of a body not kept verbatim: its envelope and digest, and for one of ours
/// (`ours`) too large to keep whole, the fields this service reads from its `data`.
fn digest_only(
    body: &[u8],
    id: Option<&str>,
    event_type: Option<&str>,
    timestamp: Option<DateTime<Utc>>,
    ours: bool,
) -> Vec<u8> {
    use sha2::Digest;
    let mut kept = json!({
        "id": id,
        "event": event_type,
        "timestamp": timestamp,
        "sha256": hex::encode(sha2::Sha256::digest(body)),
        "size": body.len(),
    });
    if ours {
        kept["data"] = read_fields(body);
    }
    kept.to_string().into_bytes()
}

/// The fields of `data` this service reads (ids, entity type, state, outcome), when short.
fn read_fields(body: &[u8]) -> serde_json::Value {
    const READ: [&str; 9] = [
        "sessionId",
        "userId",
        "kycId",
        "entityType",
        "relatedPartyId",
        "state",
        "status",
        "accountId",
        "expirationDate",
    ];
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return serde_json::Value::Null;
    };
    let data = &value["data"];
    let mut fields = serde_json::Map::new();
    for name in READ {
        let field = &data[name];
        let short = field.as_str().is_none_or(|s| s.len() <= 128);
        if !field.is_null() && !field.is_object() && !field.is_array() && short {
            fields.insert(name.to_owned(), field.clone());
        }
    }
    serde_json::Value::Object(fields)
}

fn failed(err: &StoreError, event: Option<&WebhookEvent>) -> Handled {
    tracing::error!(error = %err, "webhook could not be stored");
    Handled::refused(store_problem(err)).about(event)
}

/// The user a kept payload names (`data.userId`), when it names one that is a user id.
fn named_user(body: &[u8]) -> Option<idv_model::Uid> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let data = value.get("data").unwrap_or(&value);
    let id = ["userId", "user_id"]
        .iter()
        .find_map(|k| data.get(*k).and_then(|v| v.as_str()))?;
    idv_model::Uid::parse(id).ok()
}

/// Id and type from a payload that did not parse, when they can be read at all (bounded, so a
/// hostile payload cannot fill the quarantine record's metadata).
fn envelope_hints(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return (None, None);
    };
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .filter(|s| s.len() <= 128)
            .map(str::to_owned)
    };
    (pick(&["id", "eventId"]), pick(&["event", "eventType"]))
}
