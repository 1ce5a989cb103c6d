//! This module serves `POST /users/{uid}/accounts`, which creates an account for a REGULAR user
//! at Ralio at most once per alias and currency.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use idv_adapters::http::{CallDeadline, LOOK_AGAIN, Problem, UserId};
use idv_adapters::ralio::{Deadline, ListedAccount};
use idv_adapters::store::StoreError;
use idv_model::accounts::is_requested_account;
use idv_model::{
    AccountGuard, AccountRecord, AccountRefusal, AccountReservation, AccountStatus, AccountWrite,
    AuditEntry, Currency, Owner, ReservationToken, Uid, UserSnapshot, can_create_account,
    next_action,
};

use crate::answers::{created_answer, parse_request};
use crate::error::GateError;
use crate::{AccountGate, MAX_ACCOUNT_REQUEST};

/// The account that one request asks to create.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccountRequest<'a> {
    pub(crate) uid: Uid,
    pub(crate) alias: &'a str,
    pub(crate) currency: Currency,
}

impl<'a> AccountRequest<'a> {
    pub(crate) fn new(uid: Uid, alias: &'a str, currency: Currency) -> Self {
        Self {
            uid,
            alias,
            currency,
        }
    }

    /// Returns whether an account Ralio read back by id is this request's, by its owner, alias
    /// and currency. It is the one rule for the gate's own lookups and an operator's `--found`.
    pub(crate) fn is(&self, read: &ListedAccount) -> bool {
        let owner = read.user_id.as_deref().unwrap_or_default();
        let account = &read.account;
        is_requested_account(
            owner,
            &account.alias,
            &account.currency,
            self.uid,
            self.alias,
            self.currency,
        )
    }
}

impl AccountGate {
    async fn create(
        &self,
        wanted: AccountRequest<'_>,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        let now = self.parts.clock.now();
        let snapshot = self.parts.users.load_user(wanted.uid).await?;
        if let Some(erasure) = snapshot.erased {
            return Err(GateError::Erased(erasure));
        }
        // A repeat of a request that already succeeded gets the same account back, so that a
        // retry is safe.
        if let Some(existing) = find_created(&snapshot, wanted.alias, wanted.currency) {
            return Ok(created_answer(StatusCode::OK, existing));
        }
        if !can_create_account(&snapshot.profile) {
            return Err(self.refuse(&snapshot, now).await);
        }
        let lease_until = now + self.parts.settings.lease;
        let reservation = self
            .parts
            .accounts
            .reserve_account(wanted.uid, wanted.alias, wanted.currency, lease_until, now)
            .await?;
        self.proceed(wanted, reservation, deadline).await
    }

    /// Returns the refusal for a user whose level went below REGULAR after this request read
    /// it. The reservation did not take effect, and the answer shows the level as it is now.
    pub(crate) async fn lowered(&self, wanted: AccountRequest<'_>) -> GateError {
        let now = self.parts.clock.now();
        match self.parts.users.load_user(wanted.uid).await {
            Ok(snapshot) => match snapshot.erased {
                Some(erasure) => GateError::Erased(erasure),
                None => self.refuse(&snapshot, now).await,
            },
            Err(e) => GateError::Store(e),
        }
    }

    /// Answers according to what the reservation found.
    async fn proceed(
        &self,
        wanted: AccountRequest<'_>,
        reservation: AccountReservation,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        match reservation {
            AccountReservation::Existing(record) => Ok(created_answer(StatusCode::OK, &record)),
            AccountReservation::InProgress { .. } => self.wait_for_peer(wanted).await,
            AccountReservation::Reserved(token) => {
                self.create_at_ralio(wanted, token, deadline).await
            }
            AccountReservation::Uncertain { token, since } => {
                self.resolve(wanted, token, since, deadline).await
            }
            AccountReservation::NotRegular => Err(self.lowered(wanted).await),
            AccountReservation::Erased(erasure) => Err(GateError::Erased(erasure)),
        }
    }

    /// Returns the refusal for a user below REGULAR, and audits it.
    async fn refuse(&self, snapshot: &UserSnapshot, now: DateTime<Utc>) -> GateError {
        let profile = &snapshot.profile;
        let level = profile.kyc_level();
        let refusal = AuditEntry::account_refused(&level, now);
        if let Err(e) = self
            .parts
            .audit
            .append_audit(Owner::User(profile.uid), &refusal)
            .await
        {
            tracing::warn!(error = %e, "refusal not audited");
        }
        GateError::NotRegular {
            action: next_action(profile, &snapshot.sessions, now),
            level,
        }
    }

    /// Creates the reserved account at Ralio and records what became of it: created, failed
    /// (when Ralio certainly did nothing) or uncertain.
    pub(crate) async fn create_at_ralio(
        &self,
        wanted: AccountRequest<'_>,
        token: ReservationToken,
        deadline: Deadline,
    ) -> Result<Response, GateError> {
        let (uid, alias, currency) = (wanted.uid, wanted.alias, wanted.currency);
        let outcome = self
            .parts
            .ralio
            .within(deadline)
            .create_account(uid, alias, currency)
            .await;
        let now = self.parts.clock.now();
        match outcome {
            Ok(account) => {
                let write = AccountRecord::complete(uid, alias, currency, token, account, now);
                self.record_found(wanted, write, StatusCode::CREATED).await
            }
            Err(error) if error.may_have_acted() => {
                let write = AccountRecord::mark_uncertain(uid, alias, currency, token, now);
                if let Err(e) = self.parts.accounts.write_account(&write, now).await {
                    // The reservation stays pending, so it becomes uncertain once its lease runs
                    // out.
                    tracing::warn!(error = %e, "uncertain account creation not recorded");
                }
                Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: Some(error),
                })
            }
            Err(error) => {
                let write = AccountRecord::fail(uid, alias, currency, token, now);
                if let Err(e) = self.parts.accounts.write_account(&write, now).await {
                    tracing::warn!(error = %e, "failed account creation not recorded; it settles by itself");
                }
                Err(GateError::Ralio(error))
            }
        }
    }

    /// Records an account Ralio has (created now, or found) and answers with `status`.
    pub(crate) async fn record_found(
        &self,
        wanted: AccountRequest<'_>,
        write: AccountWrite,
        status: StatusCode,
    ) -> Result<Response, GateError> {
        let now = self.parts.clock.now();
        let account_id = write
            .record
            .created()
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let reservation = AccountRecord::key_hint(wanted.currency, wanted.alias);
        let refused = match self.parts.accounts.write_account(&write, now).await {
            Ok(Ok(stored)) => {
                tracing::info!(currency = wanted.currency.as_str(), %account_id, "account recorded");
                return Ok(created_answer(status, &stored));
            }
            Ok(Err(AccountRefusal::Guarded(stored))) => stored,
            Ok(Err(AccountRefusal::NotRegular)) => {
                return Err(GateError::Store(StoreError::Corrupt(
                    "a write that needs no level was refused for the level".into(),
                )));
            }
            // The user was erased while Ralio created the account, which Ralio keeps (no API
            // erases it) and this service does not.
            Ok(Err(AccountRefusal::Erased(erasure))) => {
                tracing::warn!(uid = %wanted.uid, %account_id, "account created at Ralio for a user erased meanwhile: not recorded");
                return Err(GateError::Erased(erasure));
            }
            Err(e) => {
                // Ralio has the account, and the reservation is held or lapses to uncertain, so
                // a retry finds it in Ralio's list. Saying that the store failed would suggest
                // that nothing happened.
                tracing::error!(uid = %wanted.uid, %reservation, %account_id, error = %e, "account created at Ralio but not recorded");
                return Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                });
            }
        };
        match refused {
            // Someone recorded the account first, such as a peer that found it too.
            Some(record) if record.created().is_some() => {
                Ok(created_answer(StatusCode::OK, &record))
            }
            // The reservation was freed meanwhile (an operator declared the account absent).
            // What Ralio holds wins, or the next request would create a second one.
            freed
                if freed
                    .as_ref()
                    .is_none_or(|r| matches!(r.status, AccountStatus::Failed)) =>
            {
                let over = AccountWrite {
                    guard: AccountGuard::Reservable,
                    ..write
                };
                match self.parts.accounts.write_account(&over, now).await {
                    Ok(Ok(stored)) => Ok(created_answer(status, &stored)),
                    _ => {
                        tracing::error!(uid = %wanted.uid, %reservation, %account_id, "account at Ralio, but its freed reservation was taken meanwhile: not recorded");
                        Err(GateError::Uncertain {
                            retry_after: LOOK_AGAIN,
                            failure: None,
                        })
                    }
                }
            }
            _ => {
                tracing::error!(uid = %wanted.uid, %reservation, %account_id, "account at Ralio, but the reservation changed hands: not recorded");
                Err(GateError::Uncertain {
                    retry_after: LOOK_AGAIN,
                    failure: None,
                })
            }
        }
    }
}

pub(crate) async fn create_account(
    State(gate): State<Arc<AccountGate>>,
    UserId(uid): UserId,
    CallDeadline(deadline): CallDeadline,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GateError> {
    let body = body.map_err(|rejection| {
        GateError::Invalid(match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request too large",
                format!("An account request is at most {MAX_ACCOUNT_REQUEST} bytes."),
            ),
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
                "The request body could not be read.",
            ),
        })
    })?;
    let (alias, currency) = parse_request(&body).map_err(GateError::Invalid)?;
    let wanted = AccountRequest::new(uid, &alias, currency);
    gate.create(wanted, deadline).await
}

fn find_created<'a>(
    snapshot: &'a UserSnapshot,
    alias: &str,
    currency: Currency,
) -> Option<&'a AccountRecord> {
    snapshot
        .accounts
        .iter()
        .find(|a| a.alias == alias && a.currency == currency && a.created().is_some())
}
