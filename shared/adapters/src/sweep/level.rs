//! This module looks at one owner's verified sessions whose level is awaited. No API tells a
//! level (REFERENCE §2.5), so it reads only the store: it counts the user as overdue, and a
//! person is alarmed.

use std::slice;

use idv_model::decisions::{awaits_level, level_overdue};
use idv_model::{Owner, SweepGroup};

use super::{Next, Run, SweepReport};
use crate::store::{Marked, StoreError, SweepIndex, UserReader};

pub(super) async fn visit_user<S>(
    run: &Run<'_, S>,
    owner: Owner,
    marks: &[Marked],
    report: &mut SweepReport,
) -> Result<(), StoreError>
where
    S: UserReader + SweepIndex + ?Sized,
{
    let Owner::User(uid) = owner else {
        return run.give_up_all(marks, report).await;
    };
    let (wait, now) = (run.settings.level_wait, run.now);
    let snapshot = run.store.load_user(uid).await?;
    let mut overdue = false;
    for marked in marks {
        let session = snapshot
            .sessions
            .iter()
            .find(|s| s.session_id == marked.session_id);
        let next = match session {
            Some(session) if SweepGroup::of(session.phase) == Some(marked.mark.group) => {
                if !awaits_level(&snapshot.profile, session) {
                    Next::Released
                } else {
                    let late =
                        level_overdue(&snapshot.profile, slice::from_ref(session), wait, now);
                    overdue |= late.is_some();
                    let gives_up_at = session.sweep_gives_up_at();
                    Next::from_visit(marked.mark.after_visit(wait, gives_up_at, now))
                }
            }
            // The session moved on since its mark was written, so the mark follows what is
            // stored.
            stored => Next::following(stored),
        };
        run.record(marked, next, report).await?;
    }
    if overdue {
        tracing::warn!(uid = %uid, "a verified user has no REGULAR level: level_overdue");
        report.level_overdue += 1;
    }
    Ok(())
}
