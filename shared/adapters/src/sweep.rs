//! The sweep heals what Ralio failed to deliver. It reads the sessions the store marks as due
//! ([`idv_model::sweep`]) and, user by user:
//!
//! - for a session without a final outcome, it reads Ralio's list (REFERENCE §2.2). A state that
//!   the lifecycle would apply is applied as an event with its own id, audited `reconciled`,
//!   with the reasons from the session's checks (§2.3) and the time from its state history
//!   (§2.4). A webhook that comes later is then `duplicate` or `unchanged`, so each domain event
//!   is published once;
//! - for a VERIFIED session whose user has no newer level, it counts the user as overdue. No API
//!   tells a level (§2.5), so the sweep never invents one: a person is alarmed.
//!
//! A run is bounded (`max_users`), stops at Ralio's 429 (after the client's own retries, which
//! honour `Retry-After`), and leaves what it did not reach for the next run. Nothing is decided
//! here that the model does not decide: whether a state applies, what a visit leaves, and
//! whether a level is overdue are all model calls.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use idv_model::decisions::level_overdue;
use idv_model::{
    AttributedEvent, EventOutcome, Owner, Phase, Plan, SessionId, SessionRecord, SessionState,
    SweepGroup, SweepMark, Uid, UserSnapshot, Verdict,
};

use crate::ralio::{RalioCall, RalioError, ReportedState};
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
    /// Counts the users whose level is overdue (`level_overdue`).
    pub level_overdue: usize,
    /// Counts the users left for the next run because a call to Ralio failed.
    pub failed: usize,
    /// Says that Ralio rate limited the run (or its time ran out), so it stopped early.
    pub stopped: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let mut report = SweepReport::default();
    let open = store
        .marked_before(
            SweepGroup::Open,
            now - settings.sweep_after,
            settings.max_users,
        )
        .await?;
    for (owner, marks) in by_owner(open) {
        report.users += 1;
        let Owner::User(uid) = owner else {
            // Ralio documents no list for a related party's sessions, so there is nothing to ask.
            release(store, owner, &marks, &mut report).await?;
            continue;
        };
        match heal_user(store, ralio, uid, &marks, settings, now, &mut report).await {
            Ok(()) => {}
            Err(Halt::Store(err)) => return Err(err.into()),
            Err(Halt::Ralio(err)) => match err {
                RalioError::RateLimited | RalioError::OutOfTime => {
                    report.stopped = Some(err.kind());
                    break;
                }
                err => {
                    tracing::warn!(uid = %uid, error = err.kind(), "the sweep could not read Ralio");
                    report.failed += 1;
                }
            },
        }
    }
    let awaiting = store
        .marked_before(
            SweepGroup::AwaitingLevel,
            now - settings.level_wait,
            settings.max_users,
        )
        .await?;
    for (owner, marks) in by_owner(awaiting) {
        report.users += 1;
        let Owner::User(uid) = owner else {
            release(store, owner, &marks, &mut report).await?;
            continue;
        };
        let snapshot = store.load_user(uid).await?;
        let overdue = level_overdue(
            &snapshot.profile,
            &snapshot.sessions,
            settings.level_wait,
            now,
        );
        if overdue.is_some() {
            tracing::warn!(uid = %uid, "a verified user has no REGULAR level: level_overdue");
            report.level_overdue += 1;
        }
        for marked in &marks {
            let next = match overdue {
                Some(_) => marked
                    .mark
                    .after_fruitless_visit(settings.level_wait, None, now),
                None => None,
            };
            visit(store, marked, next, &mut report).await?;
        }
    }
    Ok(report)
}

/// Says why a user's visit stopped.
enum Halt {
    Store(StoreError),
    Ralio(RalioError),
}

impl From<StoreError> for Halt {
    fn from(err: StoreError) -> Self {
        Halt::Store(err)
    }
}

impl From<RalioError> for Halt {
    fn from(err: RalioError) -> Self {
        Halt::Ralio(err)
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

async fn release<S>(
    store: &S,
    owner: Owner,
    marks: &[Marked],
    report: &mut SweepReport,
) -> Result<(), StoreError>
where
    S: SweepIndex + ?Sized,
{
    debug_assert!(marks.iter().all(|m| m.owner == owner));
    for marked in marks {
        visit(store, marked, None, report).await?;
    }
    Ok(())
}

/// Records a visit that applied nothing: the session's next mark, or none.
async fn visit<S>(
    store: &S,
    marked: &Marked,
    next: Option<SweepMark>,
    report: &mut SweepReport,
) -> Result<(), StoreError>
where
    S: SweepIndex + ?Sized,
{
    let written = store
        .record_visit(marked.owner, marked.session_id, marked.mark, next)
        .await?;
    if written {
        match next {
            Some(_) => report.unchanged += 1,
            None => report.released += 1,
        }
    }
    Ok(())
}

/// Looks at one user's open sessions, calling Ralio only when one of them is still open here.
async fn heal_user<S>(
    store: &S,
    ralio: RalioCall<'_>,
    uid: Uid,
    marks: &[Marked],
    settings: SweepSettings,
    now: DateTime<Utc>,
    report: &mut SweepReport,
) -> Result<(), Halt>
where
    S: UserReader + EventStore + SweepIndex + ?Sized,
{
    let snapshot = store.load_user(uid).await?;
    let mut asking = Vec::new();
    for marked in marks {
        match stored(&snapshot, marked.session_id) {
            Some(session) if SweepGroup::of(session.phase) == Some(marked.mark.group) => {
                asking.push((marked, session));
            }
            // The mark is older than what is stored (a creation filled it after an outcome),
            // so it is corrected from the stored phase without asking Ralio.
            stored => {
                let next = stored.and_then(|s| SweepMark::after_change(s.phase, s.updated_at));
                visit(store, marked, next, report).await?;
            }
        }
    }
    if asking.is_empty() {
        return Ok(());
    }
    report.ralio_calls += 1;
    let listed = ralio.list_sessions(uid).await?;
    let owner = Owner::User(uid);
    for (marked, session) in asking {
        let reported = listed.iter().find(|l| l.id == marked.session_id);
        let applicable = match reported.map(|l| &l.state) {
            Some(ReportedState::Known(state))
                if Phase::reported(*state).verdict_from(Some(session.phase)) == Verdict::Apply =>
            {
                Some(*state)
            }
            _ => None,
        };
        let event = applicable.and_then(|state| {
            AttributedEvent::reconciled(owner, marked.session_id, state, now)
                .map(|event| (state, event))
        });
        let Some((state, event)) = event else {
            let next =
                marked
                    .mark
                    .after_fruitless_visit(settings.sweep_after, session.expires_at, now);
            visit(store, marked, next, report).await?;
            continue;
        };
        let reasons = if state == SessionState::Rejected {
            report.ralio_calls += 1;
            ralio.session_checks(uid, marked.session_id).await?
        } else {
            Vec::new()
        };
        report.ralio_calls += 1;
        let history = ralio.state_history(uid, marked.session_id).await?;
        let reached_at = history
            .iter()
            .rev()
            .find(|change| change.state == ReportedState::Known(state))
            .and_then(|change| change.at);
        let event = event.with_evidence(reasons, reached_at);
        let outcome = store.execute(&Plan::new(&event, now)).await?;
        report.healed.push((marked.session_id, outcome));
    }
    Ok(())
}

fn stored(snapshot: &UserSnapshot, session_id: SessionId) -> Option<&SessionRecord> {
    snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == session_id)
}
