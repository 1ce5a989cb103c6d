//! A plan is everything a store does to apply one attributed event, as data: one conditional
//! write, the marker that makes the event's id handled, the audit entry written with them, and
//! the `kycId` pairing. Both stores execute the same plan, and when DynamoDB refuses the write,
//! one call ([`Plan::explain_refusal`]) says what the refusal means.

use chrono::{DateTime, Utc};

use crate::audit::{AuditEntry, describe};
use crate::change::{AttributedEvent, Change, EventOutcome};
use crate::lifecycle::Verdict;
use crate::writes::Write;
use crate::{EventId, Owner};

use super::{OwnerRecords, RecordAfter};

/// Holds what applying one event takes. The marker is written only if the event id was never
/// handled, so that a repeat changes nothing, and the write is conditioned on the model's
/// guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    pub event: &'a AttributedEvent,
    pub now: DateTime<Utc>,
    /// It is the one conditional write to the owner's records.
    pub write: Write,
    /// It is the audit entry kept with the write when it applies. It names only the new state,
    /// so that a store can send it in the same blind request as the write.
    pub audit: AuditEntry,
}

/// Says what came of a plan on the records as stored: the outcome, its audit entry, and, when
/// the write applies, the record it leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanResult {
    pub outcome: EventOutcome,
    pub audit: AuditEntry,
    pub commit: Option<RecordAfter>,
}

/// Says why a store refused a plan's write (the event is stale or changes nothing), with the
/// audit entry that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: EventOutcome,
    pub audit: AuditEntry,
}

/// Says that the store refused a write the model would apply to the record it was refused on.
/// The record is the one the condition was checked on, so this is not a race. The stored item
/// holds something the model reads differently from the condition, and a person must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disagreement;

impl<'a> Plan<'a> {
    pub fn new(event: &'a AttributedEvent, now: DateTime<Utc>) -> Self {
        Self {
            event,
            now,
            write: event.write(now),
            audit: AuditEntry::applied(event, now),
        }
    }

    pub fn owner(&self) -> Owner {
        self.event.owner
    }

    pub fn event_id(&self) -> EventId {
        self.event.event_id
    }

    /// Returns the `kycId` the event pairs with its owner. It is kept with the marker whatever the
    /// outcome, because a stale or unchanged level still names who holds the `kycId`.
    pub fn kyc_pairing(&self) -> Option<i64> {
        self.event.kyc_pairing()
    }

    /// Returns the audit entry of a repeat of a handled event. A store writes it once per event
    /// id, so that redeliveries do not swell the trail.
    pub fn repeat_audit(&self) -> AuditEntry {
        AuditEntry::for_event(self.event, EventOutcome::Duplicate, String::new(), self.now)
    }

    /// Returns what the plan comes to on `records`, for an event never handled before.
    pub fn run(&self, records: &OwnerRecords) -> PlanResult {
        let (verdict, commit) = records.verdict(&self.write);
        match verdict {
            Verdict::Apply => PlanResult {
                outcome: EventOutcome::Applied,
                audit: self.audit.clone(),
                commit,
            },
            Verdict::Unchanged | Verdict::Stale => {
                let refusal = self.refusal(records, verdict);
                PlanResult {
                    outcome: refusal.outcome,
                    audit: refusal.audit,
                    commit: None,
                }
            }
        }
    }

    /// Returns what a store's refusal of the write means, read from the records the write was
    /// refused on. It is the one model call a store makes after a refusal.
    pub fn explain_refusal(&self, records: &OwnerRecords) -> Result<Refusal, Disagreement> {
        match records.verdict(&self.write).0 {
            Verdict::Apply => Err(Disagreement),
            verdict => Ok(self.refusal(records, verdict)),
        }
    }

    fn refusal(&self, records: &OwnerRecords, verdict: Verdict) -> Refusal {
        let event = self.event;
        let detail = match &event.change {
            Change::Session {
                session_id, target, ..
            } => {
                let stored = records.sessions.get(session_id).and_then(|s| s.phase);
                describe::session(verdict, stored, *target)
            }
            Change::Level { stamp, .. } => {
                describe::level(verdict, records.kyc.level.as_ref(), stamp)
            }
            Change::Reverify(notice) => describe::reverify(notice),
        };
        let outcome = EventOutcome::from(verdict);
        Refusal {
            outcome,
            audit: AuditEntry::for_event(event, outcome, detail, self.now),
        }
    }
}
