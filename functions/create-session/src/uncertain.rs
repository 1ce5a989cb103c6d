//! This module handles a creation whose outcome at Ralio is uncertain because its holder died
//! or gave up. The session it may have left is adopted, and a new one is created only once Ralio
//! has shown none for long enough.

use std::collections::HashSet;

use axum::response::Response;
use chrono::{DateTime, Utc};
use idv_adapters::http::LOOK_AGAIN;
use idv_adapters::ralio::{CreatedSession, LeftByAttempt, RalioCall, RalioError};
use idv_model::{LeaseHold, SessionId, Uid, settled};

use crate::create::Attempt;
use crate::error::CreateError;
use crate::{CreateSession, FUNCTION, UNRESOLVED_AFTER};

impl CreateSession {
    /// Takes over from the `previous` holder. It returns `Some` answer when it adopts that
    /// holder's session, or `None` once it has settled unseen and this attempt may create afresh.
    pub(crate) async fn take_over(
        &self,
        call: &RalioCall<'_>,
        attempt: &Attempt<'_>,
        previous: &LeaseHold,
        known: &HashSet<SessionId>,
    ) -> Result<Option<Response>, CreateError> {
        let Attempt {
            uid, token, now, ..
        } = *attempt;
        // What Ralio shows is as of when we began to look, so the time is taken first.
        let looked_at = self.parts.clock.now();
        let left = call
            .left_by_attempt(uid, known, previous.acquired_at)
            .await
            .map_err(|error| self.uncertain(uid, previous, looked_at, LOOK_AGAIN, Some(error)))?;
        match left {
            LeftByAttempt::Session(session) => {
                tracing::info!(session_id = %session.id, "adopting the session an unfinished creation left at Ralio");
                let created = CreatedSession {
                    session,
                    reconciled: true,
                };
                return self.store(uid, created, token, now, true).await.map(Some);
            }
            // Ralio may hold this attempt's session in a form we cannot hand out. Creating
            // beside it could make a second one, so the creation waits, whatever the time.
            LeftByAttempt::Unusable => {
                return Err(self.uncertain(uid, previous, looked_at, LOOK_AGAIN, None));
            }
            LeftByAttempt::Nothing => {}
        }
        if let Err(left) = settled(previous.acquired_at, self.parts.settings.settle, looked_at) {
            return Err(self.uncertain(uid, previous, looked_at, left.min(LOOK_AGAIN), None));
        }
        // The creation has settled unseen, so this attempt starts afresh and is what a later
        // holder looks for.
        if !self
            .parts
            .leases
            .restart_creation_attempt(uid, token, self.parts.clock.now())
            .await?
        {
            return Err(CreateError::InProgress);
        }
        tracing::info!(uid = %uid, "uncertain session creation settled unseen: creating again");
        Ok(None)
    }

    /// Returns the answer to a creation still uncertain after looking at Ralio. One uncertain
    /// for longer than [`UNRESOLVED_AFTER`] will not settle by itself, so it is counted for the
    /// alarm `SessionCreationUnresolved` and waits for `idv-admin sessions resolve`.
    fn uncertain(
        &self,
        uid: Uid,
        previous: &LeaseHold,
        now: DateTime<Utc>,
        retry_after: chrono::Duration,
        failure: Option<RalioError>,
    ) -> CreateError {
        if now - previous.acquired_at >= UNRESOLVED_AFTER {
            tracing::error!(uid = %uid, since = %previous.acquired_at, "uncertain session creation unresolved: waits for an operator (idv-admin sessions resolve)");
            idv_adapters::metrics::count("SessionCreationUnresolved", ("Function", FUNCTION), &[]);
        }
        CreateError::Uncertain {
            retry_after,
            failure,
        }
    }
}
