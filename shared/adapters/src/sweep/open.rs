//! This module looks at one owner's open sessions: it asks Ralio's list whether one has an
//! outcome here unknown, and applies it with the reasons from its checks and the time from its
//! state history.

use idv_model::{
    AttributedEvent, Owner, Phase, Plan, SessionId, SessionRecord, SessionState, SweepGroup,
    SweepMark, Uid, UserSnapshot, Verdict,
};

use super::{Halt, Next, Run, SweepReport, triage};
use crate::ralio::{RalioError, SessionListing, StateChange};
use crate::store::{EventStore, Marked, SweepIndex, UserReader};

/// Looks at one owner's open sessions, calling Ralio only when one of them is still open here.
pub(super) async fn visit_user<S>(
    run: &Run<'_, S>,
    owner: Owner,
    marks: &[Marked],
    report: &mut SweepReport,
) -> Result<(), Halt>
where
    S: UserReader + EventStore + SweepIndex + ?Sized,
{
    let Owner::User(uid) = owner else {
        return Ok(run.give_up_all(marks, report).await?);
    };
    let snapshot = run.store.load_user(uid).await?;
    let mut asking = Vec::new();
    for marked in marks {
        match stored(&snapshot, marked.session_id) {
            Some(session) if SweepGroup::of(session.phase) == Some(marked.mark.group) => {
                asking.push((marked, session));
            }
            // The mark is older than what is stored (a creation filled it after an outcome),
            // so it is corrected from the stored phase without asking Ralio.
            stored => run.record(marked, Next::following(stored), report).await?,
        }
    }
    if asking.is_empty() {
        return Ok(());
    }
    report.ralio_calls += 1;
    let listing = match run.ralio.session_listing(uid).await {
        Ok(listing) => listing,
        Err(err) => {
            let err = triage(err)?;
            tracing::warn!(uid = %uid, error = err.kind(), "the sweep could not read Ralio's list");
            for (marked, session) in asking {
                run.record(marked, failed(run, marked, session), report)
                    .await?;
            }
            return Ok(());
        }
    };
    for (marked, session) in asking {
        heal(run, uid, marked, session, &listing, report).await?;
    }
    Ok(())
}

/// Applies the state Ralio lists for one session, when the lifecycle would apply it. A session the
/// list leaves out (the documented example lists only open ones) is asked about by its state
/// history, whose latest state is then what Ralio says.
async fn heal<S>(
    run: &Run<'_, S>,
    uid: Uid,
    marked: &Marked,
    session: &SessionRecord,
    listing: &SessionListing,
    report: &mut SweepReport,
) -> Result<(), Halt>
where
    S: EventStore + SweepIndex + ?Sized,
{
    let (ralio, now, id) = (run.ralio, run.now, marked.session_id);
    let mut history = None;
    let state = match listed_state(listing, id) {
        Some(state) => Some(state),
        None => {
            report.ralio_calls += 1;
            match ralio.state_history(uid, id).await {
                Ok(changes) => latest(history.insert(changes)),
                Err(err) => {
                    let err = triage(err)?;
                    return retry(run, marked, session, err, "state history", report).await;
                }
            }
        }
    };
    let applicable = state.filter(|state| {
        Phase::reported(*state).verdict_from(Some(session.phase)) == Verdict::Apply
    });
    let event = applicable.and_then(|state| {
        AttributedEvent::reconciled(Owner::User(uid), id, state, now).map(|event| (state, event))
    });
    let Some((state, event)) = event else {
        let next = back_off(run, marked, session);
        run.record(marked, Next::from_visit(next), report).await?;
        return Ok(());
    };
    // A rejection's reasons are what the merchant needs, so a passing fault is waited out. A
    // refusal that asking again cannot change (a 4xx, an answer not in the documented shape)
    // applies the rejection without them rather than leaving a final outcome unknown.
    let reasons = if state == SessionState::Rejected {
        report.ralio_calls += 1;
        match ralio.session_checks(uid, id).await {
            Ok(reasons) => reasons,
            Err(err) => match triage(err)? {
                err if is_lasting(&err) => {
                    tracing::warn!(session_id = %id, error = err.kind(), "the sweep applies a rejection without its reasons: Ralio refused its checks");
                    Vec::new()
                }
                err => return retry(run, marked, session, err, "checks", report).await,
            },
        }
    } else {
        Vec::new()
    };
    // The time only dates the change, so without the history it is the time of reconciling.
    let history = match history {
        Some(changes) => Some(changes),
        None => {
            report.ralio_calls += 1;
            match ralio.state_history(uid, id).await {
                Ok(changes) => Some(changes),
                Err(err) => {
                    let err = triage(err)?;
                    tracing::warn!(session_id = %id, error = err.kind(), "the sweep could not read a session's state history: dated now");
                    None
                }
            }
        }
    };
    let reached_at = history
        .as_deref()
        .and_then(|changes| reached(changes, state));
    let event = event.with_evidence(reasons, reached_at);
    let outcome = run.store.execute(&Plan::new(&event, now)).await?;
    report.healed.push((id, outcome));
    Ok(())
}

/// Leaves a session for the next run after a call about it failed.
async fn retry<S>(
    run: &Run<'_, S>,
    marked: &Marked,
    session: &SessionRecord,
    err: RalioError,
    what: &'static str,
    report: &mut SweepReport,
) -> Result<(), Halt>
where
    S: SweepIndex + ?Sized,
{
    tracing::warn!(session_id = %marked.session_id, error = err.kind(), call = what, "the sweep could not read Ralio: looked at again next run");
    run.record(marked, failed(run, marked, session), report)
        .await?;
    Ok(())
}

/// Says whether asking again cannot change Ralio's answer.
fn is_lasting(err: &RalioError) -> bool {
    matches!(
        err,
        RalioError::Rejected { .. } | RalioError::UserNotFound | RalioError::BadResponse(_)
    )
}

/// Returns the state a session is in by its history: the one reached last. Ralio documents no
/// order for the entries, so they are ordered by their times, and an entry without one does not
/// count.
fn latest(changes: &[StateChange]) -> Option<SessionState> {
    changes
        .iter()
        .filter_map(|change| Some((change.at?, change.state.known()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, state)| state)
}

/// Returns when a session last reached `state`, by its history.
fn reached(changes: &[StateChange], state: SessionState) -> Option<chrono::DateTime<chrono::Utc>> {
    changes
        .iter()
        .filter(|change| change.state.known() == Some(state))
        .filter_map(|change| change.at)
        .max()
}

/// Returns the state Ralio lists for a session, whether or not the rest of its entry is usable
/// (a final session may be listed without its hosted page).
fn listed_state(listing: &SessionListing, session_id: SessionId) -> Option<SessionState> {
    listing
        .sessions
        .iter()
        .find(|s| s.id == session_id)
        .and_then(|s| s.state.known())
        .or_else(|| {
            listing
                .unusable
                .iter()
                .find(|u| u.id == Some(session_id))
                .and_then(|u| u.state)
        })
}

/// Returns the mark after a visit that learned nothing, by the model's backoff.
fn back_off<S: ?Sized>(
    run: &Run<'_, S>,
    marked: &Marked,
    session: &SessionRecord,
) -> Option<SweepMark> {
    marked.mark.after_visit(
        run.settings.sweep_after,
        session.sweep_gives_up_at(),
        run.now,
    )
}

/// Returns what a visit whose call failed leaves: due again at the next run.
fn failed<S: ?Sized>(run: &Run<'_, S>, marked: &Marked, session: &SessionRecord) -> Next {
    Next::after_failure(marked.mark.after_failure(
        run.settings.sweep_after,
        session.sweep_gives_up_at(),
        run.now,
    ))
}

fn stored(snapshot: &UserSnapshot, session_id: SessionId) -> Option<&SessionRecord> {
    snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == session_id)
}
