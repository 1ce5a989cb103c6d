//! This module handles a reservation whose creation at Ralio is uncertain. Ralio is looked at
//! first, and the account is created again only once Ralio has shown nothing for long enough,
//! if ever ([`Recreate`]).

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use idv_adapters::http::LOOK_AGAIN;
use idv_adapters::ralio::Deadline;
use idv_model::{AccountRecord, AccountRefusal, AccountReservation, ReservationToken, settled};

use crate::answers::created_answer;
use crate::create::AccountRequest;
use crate::error::GateError;
use crate::lookup::Lookup;
use crate::{AccountGate, FUNCTION, Recreate};

impl AccountGate {
    /// Looks at Ralio, because an earlier creation may have happened, and takes over only once
    /// Ralio shows nothing and the outcome has settled.
    pub(crate) async fn resolve(
        &self,
        wanted: AccountRequest<'_>,
        token: ReservationToken,
        since: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        // What Ralio shows is as of when we began to look, not as of when the answer came back.
        let looked_at = self.parts.clock.now();
        let found = match self.look_at_ralio(wanted, since, deadline).await {
            Ok(Lookup::Found(account)) => account,
            Ok(Lookup::Absent) => {
                return self
                    .after_settling(wanted, token, since, looked_at, deadline)
                    .await;
            }
            Ok(Lookup::Inconclusive(why)) => return Err(self.unresolved(wanted, why)),
            Ok(Lookup::Unread) => {
                return Err(GateError::Uncertain {
                    retry_after: chrono::Duration::seconds(5),
                    failure: None,
                });
            }
            Err(error) => {
                return Err(GateError::Uncertain {
                    retry_after: chrono::Duration::seconds(5),
                    failure: Some(error),
                });
            }
        };
        let (uid, alias, currency) = (wanted.uid, wanted.alias, wanted.currency);
        let now = self.parts.clock.now();
        let write = AccountRecord::complete(uid, alias, currency, token, found, now);
        self.record_found(wanted, write, StatusCode::OK).await
    }

    /// Counts an uncertain creation that only `account_activated` or an operator can settle now
    /// (`AccountCreationUnresolved`, alarmed), and answers it 409 `creation_uncertain`.
    fn unresolved(&self, wanted: AccountRequest<'_>, why: &str) -> GateError {
        let reservation = AccountRecord::key_hint(wanted.currency, wanted.alias);
        tracing::error!(uid = %wanted.uid, %reservation, why, "uncertain account creation waits for account_activated or an operator (idv-admin accounts resolve)");
        idv_adapters::metrics::count("AccountCreationUnresolved", ("Function", FUNCTION), &[]);
        GateError::Uncertain {
            retry_after: LOOK_AGAIN,
            failure: None,
        }
    }

    /// Creates the account again, since Ralio shows none, once the uncertain outcome has
    /// settled. It uses a new token, so a late completion of the old attempt cannot land on the
    /// new one.
    async fn after_settling(
        &self,
        wanted: AccountRequest<'_>,
        token: ReservationToken,
        since: DateTime<Utc>,
        looked_at: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        if let Err(left) = settled(since, self.parts.settings.settle, looked_at) {
            return Err(GateError::Uncertain {
                retry_after: left.min(LOOK_AGAIN),
                failure: None,
            });
        }
        if self.parts.settings.recreate == Recreate::Never {
            return Err(self.unresolved(
                wanted,
                "Ralio's list shows nothing, which proves nothing until its meaning is verified",
            ));
        }
        let (uid, alias, currency) = (wanted.uid, wanted.alias, wanted.currency);
        let now = self.parts.clock.now();
        let retry = ReservationToken(uuid::Uuid::new_v4());
        let lease_until = now + self.parts.settings.lease;
        let write = AccountRecord::retry(uid, alias, currency, token, retry, lease_until, now);
        match self.parts.accounts.write_account(&write, now).await? {
            Ok(_) => {
                tracing::info!(uid = %uid, reservation = %AccountRecord::key_hint(currency, alias), "uncertain account creation settled unseen: creating again");
                self.create_at_ralio(wanted, retry, deadline).await
            }
            Err(AccountRefusal::NotRegular) => Err(self.lowered(wanted).await),
            Err(AccountRefusal::Erased(erasure)) => Err(GateError::Erased(erasure)),
            // Another request resolved the reservation or took it over meanwhile.
            Err(AccountRefusal::Guarded(stored)) => {
                match AccountRecord::reservation_found(stored.as_deref(), now) {
                    Some(AccountReservation::Existing(record)) => {
                        Ok(created_answer(StatusCode::OK, &record))
                    }
                    Some(AccountReservation::InProgress { .. }) => Err(GateError::InProgress),
                    _ => Err(GateError::Uncertain {
                        retry_after: chrono::Duration::seconds(5),
                        failure: None,
                    }),
                }
            }
        }
    }
}
