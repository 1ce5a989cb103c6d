//! This module decides whether a signed payload is applied, kept, or sent back for Ralio to
//! retry. The same path serves live deliveries and replays of quarantined payloads (`idv-admin
//! replay-quarantine`), so a replay is judged exactly as a delivery would be.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use idv_adapters::http::{Problem, json, store_problem};
use idv_adapters::store::StoreError;
use idv_model::intake::{Intake, OwnerLookup, interpret};
use idv_model::{
    AttributedEvent, AuditEntry, EventOutcome, Owner, Plan, QuarantineReason, Unattributed,
    WebhookEvent, parse_webhook_with,
};
use serde_json::json;

use crate::Webhook;
use crate::kept::Quarantining;

/// Says whether a payload is arriving from Ralio or being replayed from quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A delivery, so what cannot be applied yet may be sent back (503) or quarantined.
    Live,
    /// A quarantined payload run again. Nothing is quarantined again and nothing is sent
    /// back, and what still cannot be applied is reported with its reason. `received_at` is
    /// when it was first kept, so a stamp too far ahead is ordered then, not at the replay.
    Replay { received_at: DateTime<Utc> },
}

/// Says what came of one payload, named the same in the answer, the log line and the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The event was recorded: applied, or a duplicate, stale, unchanged or deferred event.
    Recorded(EventOutcome),
    /// The payload was kept without being applied, because it cannot be interpreted or
    /// attributed.
    Quarantined,
    /// The payload was kept as an event type this service does not act on.
    Unhandled,
    /// The payload was refused or sent back for Ralio to retry, with the problem's stable code.
    Refused(&'static str),
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded(outcome) => outcome.as_str(),
            Outcome::Quarantined => "quarantined",
            Outcome::Unhandled => "unhandled",
            Outcome::Refused(code) => code,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Holds what one payload came to: the answer, and what the log line and a replay report need.
pub struct Reply {
    pub outcome: Outcome,
    /// Says why the payload was kept or sent back (a quarantine reason code), when it was.
    pub reason: Option<QuarantineReason>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// Names whose records the event changed, when it was attributed.
    pub owner: Option<Owner>,
    response: Response,
}

impl Reply {
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    pub(crate) fn answered(outcome: Outcome, response: Response) -> Self {
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
        Self::answered(Outcome::Refused(problem.code), problem.into_response())
    }

    fn acknowledged(outcome: Outcome, event: Option<&WebhookEvent>) -> Self {
        let body = json!({
            "received": true,
            "duplicate": outcome == Outcome::Recorded(EventOutcome::Duplicate),
            "outcome": outcome.as_str(),
        });
        Self::answered(outcome, json(StatusCode::OK, body)).naming(event)
    }

    fn naming(mut self, event: Option<&WebhookEvent>) -> Self {
        if let Some(event) = event {
            self.event_id = Some(event.id.to_string());
            self.event_type = Some(event.event_type.clone());
        }
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        self.response
    }
}

impl Webhook {
    /// Processes a payload whose signature has been checked.
    pub async fn process(&self, body: &Bytes, mode: Mode) -> Reply {
        let now = self.parts.clock.now();
        let event = match parse_webhook_with(body, &self.parts.spellings) {
            Ok(event) => event,
            Err(err) => {
                let why = Quarantining {
                    code: err.code(),
                    reason: err.to_string(),
                    outcome: Outcome::Quarantined,
                };
                return self.quarantine_payload(body, why, None, now, mode).await;
            }
        };
        let event = match self.receipt_of(&event, now, mode).await {
            Ok(received_at) => event.received(received_at, self.parts.settings.max_clock_skew),
            Err(err) => return failed(&err, Some(&event)),
        };
        if event.stamped_at.is_some() {
            tracing::warn!(event_id = %event.id, "event stamped after its receipt: ordered at receipt");
        }
        let attributed = match interpret(&event) {
            // An activation names only the account, so it is applied to the account, or kept
            // until the account is recorded.
            Intake::Activation(activation) => {
                return match self.parts.store.apply_activation(&activation, now).await {
                    Ok(outcome) => Reply::acknowledged(Outcome::Recorded(outcome), Some(&event)),
                    Err(err) => failed(&err, Some(&event)),
                };
            }
            Intake::Unhandled => {
                let why = Quarantining {
                    code: QuarantineReason::UnknownEventType,
                    reason: format!("event type {} is not acted on", event.event_type),
                    outcome: Outcome::Unhandled,
                };
                return self
                    .quarantine_payload(body, why, Some(&event), now, mode)
                    .await;
            }
            Intake::Apply(attributed) => attributed,
            Intake::NeedsOwner(question) => {
                let found = match self.look_up(question.lookup()).await {
                    Ok(found) => found,
                    Err(err) => return failed(&err, Some(&event)),
                };
                match question.answer(&found) {
                    Ok(attributed) => attributed,
                    Err(unattributed) => {
                        return self
                            .unattributed(body, &event, unattributed, now, mode)
                            .await;
                    }
                }
            }
        };
        self.apply(attributed, &event, now).await
    }

    /// Applies an attributed event, and schedules the expiry of a session it announces.
    async fn apply(
        &self,
        mut attributed: AttributedEvent,
        event: &WebhookEvent,
        now: DateTime<Utc>,
    ) -> Reply {
        let buckets = match &self.parts.scheduler {
            Some(scheduler) => attributed.schedule_expiry(&scheduler.schedule()),
            None => Vec::new(),
        };
        match self.parts.store.execute(&Plan::new(&attributed, now)).await {
            Ok(outcome) => {
                // A repeat schedules too, because the first delivery may have died after
                // applying, before scheduling (claiming a scheduled tick again is cheap and
                // idempotent).
                if matches!(outcome, EventOutcome::Applied | EventOutcome::Duplicate)
                    && !buckets.is_empty()
                    && let Some(scheduler) = &self.parts.scheduler
                    && let Err(e) = scheduler.ensure_ticks(&buckets, now).await
                {
                    // The event is acknowledged anyway, because it is applied and only the
                    // reminder may be missed.
                    tracing::error!(error = %e, "expiry tick not scheduled");
                }
                let mut reply = Reply::acknowledged(Outcome::Recorded(outcome), Some(event));
                reply.owner = Some(attributed.owner);
                reply
            }
            Err(err) => failed(&err, Some(event)),
        }
    }

    /// Returns when the event counts as received. For a stamp too far ahead to believe, that is
    /// its first receipt (recorded on the way), so every retry and every replay orders it at
    /// the same time and measures its attribution window from the same start.
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
        if event.occurred_at <= received + self.parts.settings.max_clock_skew {
            return Ok(received);
        }
        // The first receipt is used where it is still recorded, so a payload kept on a later
        // delivery than the first is ordered where the first was.
        let keep = self.parts.settings.attribution_window + chrono::Duration::days(1);
        self.parts
            .store
            .first_receipt(event.id, received, keep)
            .await
    }

    /// Returns what processing a payload would come to, without writing anything (a replay's
    /// dry run): `would_apply`, `unhandled`, or the reason it would stay quarantined.
    pub async fn assess(&self, body: &Bytes) -> Result<&'static str, StoreError> {
        let event = match parse_webhook_with(body, &self.parts.spellings) {
            Ok(event) => event,
            Err(err) => return Ok(err.code().as_str()),
        };
        Ok(match interpret(&event) {
            Intake::Activation(_) | Intake::Apply(_) => "would_apply",
            Intake::Unhandled => "unhandled",
            Intake::NeedsOwner(question) => {
                let found = self.look_up(question.lookup()).await?;
                match question.answer(&found) {
                    Ok(_) => "would_apply",
                    Err(unattributed) => unattributed.code.as_str(),
                }
            }
        })
    }

    /// Returns the owners the store knows for what an event names instead of an owner.
    async fn look_up(&self, lookup: Option<OwnerLookup>) -> Result<Vec<Owner>, StoreError> {
        match lookup {
            Some(OwnerLookup::Session(session_id)) => {
                self.parts.store.find_session_owners(session_id).await
            }
            Some(OwnerLookup::KycId(kyc_id)) => self.parts.store.find_kyc_id_owners(kyc_id).await,
            None => Ok(Vec::new()),
        }
    }

    /// Handles an event whose owner is not known. While it is young and the owner may yet
    /// become known (its session stored), Ralio is asked to send it again, and after that it is
    /// kept.
    async fn unattributed(
        &self,
        body: &Bytes,
        event: &WebhookEvent,
        unattributed: Unattributed,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Reply {
        let window = self.parts.settings.attribution_window;
        if mode == Mode::Live && unattributed.may_resolve() {
            let first = match self
                .parts
                .store
                .first_receipt(event.id, now, window + chrono::Duration::days(1))
                .await
            {
                Ok(first) => first,
                Err(err) => return failed(&err, Some(event)),
            };
            if let Some(left) = unattributed.retry_left(event.occurred_at, first, window, now) {
                tracing::warn!(
                    reason = unattributed.code.as_str(),
                    "event not attributable yet: Ralio is asked to send it again"
                );
                // Ralio's retry budget is undocumented, so a copy is kept and the event can be
                // replayed if Ralio stops sending it. The copy is written on every 503, because
                // a first write that failed must not leave it uncopied, but it is kept once, by
                // its digest. It is not counted as quarantined, because most are applied on the
                // next delivery.
                {
                    let entry = self.entry(
                        body,
                        Some(event),
                        QuarantineReason::AttributionPending,
                        unattributed.reason.into(),
                        now,
                    );
                    if let Err(err) = self.parts.store.quarantine(&entry, None).await {
                        return failed(&err, Some(event));
                    }
                }
                let mut reply = Reply::refused(
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
                    .with("reason", unattributed.code.as_str())
                    .retry_after(60),
                )
                .naming(Some(event));
                reply.reason = Some(unattributed.code);
                return reply;
            }
        }
        let why = Quarantining {
            code: unattributed.code,
            reason: unattributed.reason.into(),
            outcome: Outcome::Quarantined,
        };
        self.quarantine_payload(body, why, Some(event), now, mode)
            .await
    }

    /// Quarantines a signed payload that is not applied, as [`Webhook::entry`] keeps it (verbatim,
    /// or only its envelope and digest). A replay keeps nothing again.
    async fn quarantine_payload(
        &self,
        body: &Bytes,
        why: Quarantining,
        event: Option<&WebhookEvent>,
        now: DateTime<Utc>,
        mode: Mode,
    ) -> Reply {
        let entry = self.entry(body, event, why.code, why.reason, now);
        let mut reply = Reply::acknowledged(why.outcome, event);
        reply.reason = Some(why.code);
        reply.event_id.clone_from(&entry.event_id);
        reply.event_type.clone_from(&entry.event_type);
        if matches!(mode, Mode::Replay { .. }) {
            return reply;
        }
        let acted_on = entry
            .event_type
            .as_deref()
            .is_none_or(idv_model::webhook::is_acted_on);
        // The user a payload of ours names learns from their trail that it was kept. A related
        // party's event without its entity type names its user, for example.
        let named = (acted_on && why.code != QuarantineReason::UnknownEventType)
            .then(|| idv_model::webhook::named_user(body))
            .flatten();
        let note = named.map(|uid| {
            let id = entry
                .event_id
                .as_deref()
                .and_then(|id| idv_model::EventId::parse(id).ok());
            (
                Owner::User(uid),
                AuditEntry::quarantined(now, entry.event_type.as_deref(), id, why.code.as_str()),
            )
        });
        let audited = note.as_ref().map(|(owner, entry)| (*owner, entry));
        match self.parts.store.quarantine(&entry, audited).await {
            Ok(()) => {
                tracing::warn!(
                    reason = why.code.as_str(),
                    "signed webhook kept without being applied"
                );
                idv_adapters::metrics::quarantined(why.code.as_str());
                reply
            }
            Err(err) => failed(&err, event),
        }
    }
}

fn failed(err: &StoreError, event: Option<&WebhookEvent>) -> Reply {
    tracing::error!(error = %err, "webhook could not be stored");
    Reply::refused(store_problem(err)).naming(event)
}
