//! This module looks at one owner's open sessions: it asks Ralio's list whether one has an
//! outcome here unknown, and applies it with the reasons from its checks and the time from its
//! state history.

use idv_model::{
    AttributedEvent, Owner, Phase, Plan, SessionId, SessionRecord, SessionState, SweepGroup,
    SweepMark, Uid, UserSnapshot, Verdict,
};

use super::{Halt, Next, Run, SweepReport, triage};
use crate::ralio::SessionListing;
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
        return Ok(run.release_all(marks, report).await?);
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
                let next = back_off(run, marked, session);
                run.record(marked, Next::after_failure(next), report)
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

/// Applies the state Ralio lists for one session, when the lifecycle would apply it.
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
    let (ralio, now) = (run.ralio, run.now);
    let applicable = listed_state(listing, marked.session_id).filter(|state| {
        Phase::reported(*state).verdict_from(Some(session.phase)) == Verdict::Apply
    });
    let event = applicable.and_then(|state| {
        AttributedEvent::reconciled(Owner::User(uid), marked.session_id, state, now)
            .map(|event| (state, event))
    });
    let Some((state, event)) = event else {
        let next = back_off(run, marked, session);
        run.record(marked, Next::from_visit(next), report).await?;
        return Ok(());
    };
    // A rejection's reasons are what the merchant needs, so without them the session waits for
    // a later run rather than being applied without them.
    let reasons = if state == SessionState::Rejected {
        report.ralio_calls += 1;
        match ralio.session_checks(uid, marked.session_id).await {
            Ok(reasons) => reasons,
            Err(err) => {
                let err = triage(err)?;
                tracing::warn!(session_id = %marked.session_id, error = err.kind(), "the sweep could not read a session's checks");
                let next = back_off(run, marked, session);
                run.record(marked, Next::after_failure(next), report)
                    .await?;
                return Ok(());
            }
        }
    } else {
        Vec::new()
    };
    // The time only dates the change, so without the history it is the time of reconciling.
    report.ralio_calls += 1;
    let reached_at = match ralio.state_history(uid, marked.session_id).await {
        Ok(history) => history
            .iter()
            .rev()
            .find(|change| change.state.known() == Some(state))
            .and_then(|change| change.at),
        Err(err) => {
            let err = triage(err)?;
            tracing::warn!(session_id = %marked.session_id, error = err.kind(), "the sweep could not read a session's state history: dated now");
            None
        }
    };
    let event = event.with_evidence(reasons, reached_at);
    let outcome = run.store.execute(&Plan::new(&event, now)).await?;
    report.healed.push((marked.session_id, outcome));
    Ok(())
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

fn stored(snapshot: &UserSnapshot, session_id: SessionId) -> Option<&SessionRecord> {
    snapshot
        .sessions
        .iter()
        .find(|s| s.session_id == session_id)
}
