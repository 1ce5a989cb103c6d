//! `idv-admin replay-quarantine` runs quarantined payloads again through the webhook's own code
//! path ([`idv_webhook::Mode::Replay`]), once the cause is gone (a session since stored, a fixed
//! parser). It is idempotent, because event markers make a second application a duplicate, and
//! an entry whose replay came to a final outcome is marked and skipped afterwards. Each replay
//! that reaches an owner is audited as `replayed` on that owner's trail.

use std::collections::BTreeMap;

use axum::body::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use idv_adapters::store::{AuditLog, QuarantineEntry, QuarantineReader, Replayed};
use idv_model::{AuditEntry, AuditOutcome, EventId, QuarantineReason};
use idv_webhook::{Mode, Outcome, Webhook};

/// Says which quarantined payloads to look at.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    /// The first day (UTC) looked at.
    pub since: NaiveDate,
    /// The last day looked at (today).
    pub until: NaiveDate,
    /// Limits the replay to this quarantine reason (`unknown_session`, …).
    pub reason: Option<String>,
    /// Makes the replay say what would happen and change nothing.
    pub dry_run: bool,
}

/// Counts what became of the payloads looked at, by their quarantine reason and result.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Maps (reason kept for, result) to a count. A result is the webhook outcome (`applied`,
    /// `duplicate`, …), `still:<reason>` when it would be kept again, `already_replayed`,
    /// `would_apply` or `failed`.
    pub counts: BTreeMap<(String, String), usize>,
}

impl ReplayReport {
    fn count(&mut self, reason: &str, result: &str) {
        *self
            .counts
            .entry((reason.to_owned(), result.to_owned()))
            .or_default() += 1;
    }

    pub fn total(&self, result: &str) -> usize {
        self.counts
            .iter()
            .filter(|((_, r), _)| r == result)
            .map(|(_, n)| n)
            .sum()
    }

    /// Returns the summary table printed by `idv-admin`.
    pub fn table(&self) -> String {
        let mut lines = vec![
            "| kept for | result | count |".to_owned(),
            "|---|---|---|".to_owned(),
        ];
        for ((reason, result), count) in &self.counts {
            lines.push(format!("| {reason} | {result} | {count} |"));
        }
        if self.counts.is_empty() {
            lines.push("| (nothing quarantined) | | 0 |".to_owned());
        }
        lines.join("\n")
    }
}

pub async fn replay_quarantine(
    webhook: &Webhook,
    store: &(impl QuarantineReader + AuditLog + ?Sized),
    filter: &ReplayFilter,
    now: DateTime<Utc>,
) -> Result<ReplayReport, String> {
    let mut report = ReplayReport::default();
    let mut day = filter.since;
    while day <= filter.until {
        let entries = store.quarantined(day).await.map_err(|e| e.to_string())?;
        for entry in entries {
            if filter
                .reason
                .as_deref()
                .is_some_and(|r| r != entry.reason_code)
            {
                continue;
            }
            // One entry's failure is reported, and the rest go on.
            let result = match replay_one(webhook, store, &entry, filter.dry_run, now).await {
                Ok(result) => result,
                Err(e) => {
                    tracing::warn!(error = %e, "replay of one entry failed; run again later");
                    "failed".to_owned()
                }
            };
            report.count(&entry.reason_code, &result);
        }
        day = day.succ_opt().ok_or("the calendar ran out")?;
    }
    Ok(report)
}

async fn replay_one(
    webhook: &Webhook,
    store: &(impl QuarantineReader + AuditLog + ?Sized),
    entry: &QuarantineEntry,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<String, String> {
    // A replay that came to an outcome of applying is final. An older release also marked
    // `unhandled` as done, and such an entry is tried again, since a later release or a learnt
    // spelling may read it.
    let applied = |outcome: &AuditOutcome| {
        matches!(
            outcome,
            AuditOutcome::Applied
                | AuditOutcome::Duplicate
                | AuditOutcome::Stale
                | AuditOutcome::Unchanged
                | AuditOutcome::Deferred
        )
    };
    if entry.replayed.as_ref().is_some_and(|r| applied(&r.outcome)) {
        return Ok("already_replayed".into());
    }
    let body = Bytes::from(entry.body.clone());
    if dry_run {
        return match webhook.assess(&body).await {
            Ok(assessed) if assessed == "would_apply" || assessed == "unhandled" => {
                Ok(assessed.to_owned())
            }
            Ok(reason) => Ok(format!("still:{reason}")),
            Err(_) => Ok("failed".into()),
        };
    }
    let mode = Mode::Replay {
        received_at: entry.received_at,
    };
    let reply = webhook.process(&body, mode).await;
    if reply.status().is_server_error() {
        tracing::warn!(
            outcome = reply.outcome.as_str(),
            "replay failed; try again later"
        );
        return Ok("failed".into());
    }
    // Outcomes of applying are final, but anything else (unhandled, kept again) may change with
    // a later release or a learnt spelling.
    let Outcome::Recorded(final_outcome) = reply.outcome else {
        return Ok(format!(
            "still:{}",
            reply
                .reason
                .map_or(reply.outcome.as_str(), QuarantineReason::as_str)
        ));
    };
    if let Some(owner) = reply.owner {
        let mut audit = AuditEntry::new(
            now,
            reply.event_type.as_deref().unwrap_or("webhook"),
            AuditOutcome::Replayed,
        )
        .with_detail(format!(
            "kept {} as {}; now {}",
            entry.day(),
            entry.reason_code,
            reply.outcome
        ));
        audit.event_id = reply
            .event_id
            .as_deref()
            .and_then(|id| EventId::parse(id).ok());
        store
            .append_audit(owner, &audit)
            .await
            .map_err(|e| e.to_string())?;
    }
    let replayed = Replayed {
        at: now,
        outcome: final_outcome.into(),
    };
    store
        .mark_replayed(entry, &replayed)
        .await
        .map_err(|e| e.to_string())?;
    Ok(reply.outcome.to_string())
}
