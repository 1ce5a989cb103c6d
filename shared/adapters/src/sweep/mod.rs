//! The sweep heals what Ralio failed to deliver. It reads the sessions the store marks as due
//! ([`idv_model::sweep`]) and, user by user:
//!
//! - for a session without a final outcome, it reads Ralio's list (REFERENCE §2.2). A state that
//!   the lifecycle would apply is applied as an event with its own id, audited `reconciled`,
//!   with the reasons from the session's checks (§2.3) and the time from its state history
//!   (§2.4). A webhook that comes later is then `duplicate` or `unchanged`, so each domain event
//!   is published once (`open`);
//! - for a VERIFIED session whose user has no newer level, it counts the user as overdue. No API
//!   tells a level (§2.5), so the sweep never invents one: a person is alarmed (`level`).
//!
//! A run is bounded (`max_users`), stops at Ralio's 429 (after the client's own retries, which
//! honour `Retry-After`), and leaves what it did not reach for the next run. A session whose calls
//! fail otherwise is counted and asked about again on the next run, without lengthening its wait
//! (a fault is not an answer), so a few failing users never hold up the others; so is an owner
//! whose records do not decode. Refused credentials or permissions fail the run, because no user
//! can then be looked at. Nothing is decided here that the model does not
//! decide: whether a state applies, what a visit leaves, when the sweep gives up and whether a
//! level is overdue are all model calls.

mod level;
mod open;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idv_model::{EventOutcome, Owner, SessionId, SessionRecord, SweepGroup, SweepMark};

use crate::ralio::{RalioCall, RalioError};
use crate::store::{EventStore, Marked, StoreError, SweepIndex, UserReader};

/// These are the sweep's settings (`SWEEP_AFTER`, `LEVEL_WAIT`, `SWEEP_MAX_USERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSettings {
    /// A session without an outcome is looked at this long after its last change.
    pub sweep_after: Duration,
    /// A VERIFIED user without a newer level is overdue this long after the verification.
    pub level_wait: Duration,
    /// One run looks at most at this many marked sessions of each group.
    pub max_users: u32,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            sweep_after: Duration::minutes(30),
            level_wait: Duration::minutes(15),
            max_users: 200,
        }
    }
}

/// Records what one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Counts the users looked at, in both groups.
    pub users: usize,
    /// Counts the calls made to Ralio (a list, checks or history read is one call, however
    /// often the client retried it).
    pub ralio_calls: usize,
    /// Pairs each session whose state was applied from Ralio's answers with the outcome.
    pub healed: Vec<(SessionId, EventOutcome)>,
    /// Counts the visits that found nothing new (the session is looked at again later).
    pub unchanged: usize,
    /// Counts the marks removed: the session has nothing left to wait for.
    pub released: usize,
    /// Counts the marks removed because the sweep stopped waiting: a week after an open session's
    /// expiry, or a week after a verification that no level followed. A person should look.
    pub gave_up: usize,
    /// Counts the users whose level is overdue (`level_overdue`).
    pub level_overdue: usize,
    /// Counts the sessions left for a later run because a call to Ralio failed.
    pub failed: usize,
    /// Says that Ralio rate limited the run (or its time ran out), so it stopped early.
    pub stopped: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ralio refused our credentials, so no user can be looked at until they are fixed.
    #[error("the sweep cannot read Ralio: {0}")]
    Ralio(RalioError),
}

/// Runs one sweep at `now`.
pub async fn sweep<S>(
    store: &S,
    ralio: RalioCall<'_>,
    settings: SweepSettings,
    now: DateTime<Utc>,
) -> Result<SweepReport, SweepError>
where
    S: UserReader + EventStore + SweepIndex + ?Sized,
{
    let run = Run {
        store,
        ralio,
        settings,
        now,
    };
    let mut report = SweepReport::default();
    let open = run.due(SweepGroup::Open, settings.sweep_after).await?;
    for (owner, marks) in by_owner(open) {
        report.users += 1;
        match open::visit_user(&run, owner, &marks, &mut report).await {
            Ok(()) => {}
            Err(Halt::Stop(reason)) => {
                report.stopped = Some(reason);
                break;
            }
            Err(Halt::Fail(err)) => skip_corrupt(err, &marks, &mut report)?,
        }
    }
    let awaiting = run
        .due(SweepGroup::AwaitingLevel, settings.level_wait)
        .await?;
    for (owner, marks) in by_owner(awaiting) {
        report.users += 1;
        if let Err(err) = level::visit_user(&run, owner, &marks, &mut report).await {
            skip_corrupt(err.into(), &marks, &mut report)?;
        }
    }
    Ok(report)
}

/// Lets one owner's undecodable records fail only that owner: the others are still looked at,
/// and the owner's marks stay, so the failure is counted (`SweepFailed`) on every run until a
/// person mends the records. Any other fault ends the run.
fn skip_corrupt(
    err: SweepError,
    marks: &[Marked],
    report: &mut SweepReport,
) -> Result<(), SweepError> {
    match err {
        SweepError::Store(StoreError::Corrupt(_)) => {
            let first = marks.first().map(|m| m.session_id);
            tracing::error!(session_id = ?first, error = "corrupt", "the sweep skipped an owner whose records do not decode");
            report.failed += marks.len();
            Ok(())
        }
        err => Err(err),
    }
}

/// This is what every visit of one run shares.
struct Run<'a, S: ?Sized> {
    store: &'a S,
    ralio: RalioCall<'a>,
    settings: SweepSettings,
    now: DateTime<Utc>,
}

impl<S> Run<'_, S>
where
    S: SweepIndex + ?Sized,
{
    /// Returns the marks of `group` that are due, at most `max_users` of them.
    async fn due(&self, group: SweepGroup, wait: Duration) -> Result<Vec<Marked>, StoreError> {
        self.store
            .marked_before(group, self.now - wait, self.settings.max_users)
            .await
    }

    /// Records a visit that applied nothing. A mark that changed since it was read (a webhook
    /// came meanwhile) is left as it is, and not counted.
    async fn record(
        &self,
        marked: &Marked,
        next: Next,
        report: &mut SweepReport,
    ) -> Result<(), StoreError> {
        let written = self
            .store
            .record_visit(marked.owner, marked.session_id, marked.mark, next.mark())
            .await?;
        if written {
            match next {
                Next::Again(_) => report.unchanged += 1,
                Next::Retry(_) => report.failed += 1,
                Next::Released => report.released += 1,
                Next::GaveUp => {
                    tracing::warn!(session_id = %marked.session_id, group = marked.mark.group.as_str(), "the sweep stopped waiting for a session: gave up");
                    report.gave_up += 1;
                }
            }
        }
        Ok(())
    }

    /// Stops waiting for every mark of an owner the sweep cannot ask about: a related party, for
    /// whose sessions Ralio documents no list and which has no level of its own. It is counted as
    /// given up, because an outcome it lost would then never be known without a person.
    async fn give_up_all(
        &self,
        marks: &[Marked],
        report: &mut SweepReport,
    ) -> Result<(), StoreError> {
        for marked in marks {
            self.record(marked, Next::GaveUp, report).await?;
        }
        Ok(())
    }
}

/// Says why a run stops before its end.
enum Halt {
    /// Ralio rate limited the run, or its time ran out: what is left waits for the next run.
    Stop(&'static str),
    /// Nothing more can be done in this run.
    Fail(SweepError),
}

impl From<StoreError> for Halt {
    fn from(err: StoreError) -> Self {
        Halt::Fail(err.into())
    }
}

/// Sorts a failed call to Ralio: a refusal that ends the run is returned as `Err`, and one that
/// concerns only this user as `Ok`, to be counted and looked at again later.
fn triage(err: RalioError) -> Result<RalioError, Halt> {
    match err {
        RalioError::RateLimited | RalioError::OutOfTime => Err(Halt::Stop(err.kind())),
        // A 403 refuses what our credentials may do, for every user alike.
        RalioError::Unauthorized | RalioError::Rejected { status: 403, .. } => {
            Err(Halt::Fail(SweepError::Ralio(err)))
        }
        err => Ok(err),
    }
}

/// Groups marked sessions by owner, keeping the order of each owner's oldest mark.
fn by_owner(marked: Vec<Marked>) -> Vec<(Owner, Vec<Marked>)> {
    let mut order = Vec::new();
    let mut groups: BTreeMap<Owner, Vec<Marked>> = BTreeMap::new();
    for m in marked {
        let entry = groups.entry(m.owner).or_default();
        if entry.is_empty() {
            order.push(m.owner);
        }
        entry.push(m);
    }
    order
        .into_iter()
        .map(|owner| (owner, groups.remove(&owner).unwrap_or_default()))
        .collect()
}

/// Says what a visit that applied nothing leaves on a session.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// The session is looked at again once this mark is due.
    Again(SweepMark),
    /// A call to Ralio failed, so the session is looked at again once this mark is due.
    Retry(SweepMark),
    /// The session has nothing left to wait for.
    Released,
    /// The sweep stopped waiting for the session.
    GaveUp,
}

impl Next {
    fn from_visit(next: Option<SweepMark>) -> Self {
        next.map_or(Next::GaveUp, Next::Again)
    }

    fn after_failure(next: Option<SweepMark>) -> Self {
        next.map_or(Next::GaveUp, Next::Retry)
    }

    /// Returns what a mark older than the stored session leaves: the mark its stored phase
    /// calls for, or none (a creation filled the mark after an outcome, or the session is
    /// gone).
    fn following(stored: Option<&SessionRecord>) -> Self {
        stored
            .and_then(|s| SweepMark::after_change(s.phase, s.updated_at))
            .map_or(Next::Released, Next::Again)
    }

    fn mark(self) -> Option<SweepMark> {
        match self {
            Next::Again(mark) | Next::Retry(mark) => Some(mark),
            Next::Released | Next::GaveUp => None,
        }
    }
}
