//! When an identical request is creating the account, this one waits a little for its outcome.

use axum::http::StatusCode;
use axum::response::Response;
use idv_adapters::http::{LOOK_AGAIN, wait_for_peer};
use idv_model::AccountStatus;

use crate::AccountGate;
use crate::answers::created_answer;
use crate::create::AccountRequest;
use crate::error::GateError;

impl AccountGate {
    /// Answers with the account an identical request is creating, once it is recorded.
    pub(crate) async fn wait_for_peer(
        &self,
        wanted: AccountRequest<'_>,
    ) -> Result<Response, GateError> {
        let found = wait_for_peer(self.parts.settings.wait_for_peer, || async {
            let snapshot = self.parts.users.load_user(wanted.uid).await?;
            let record = snapshot
                .accounts
                .iter()
                .find(|a| a.alias == wanted.alias && a.currency == wanted.currency);
            match record {
                Some(r) if r.created().is_some() => Ok(Some(created_answer(StatusCode::OK, r))),
                Some(r) if matches!(r.status, AccountStatus::Uncertain { .. }) => {
                    Err(GateError::Uncertain {
                        retry_after: LOOK_AGAIN,
                        failure: None,
                    })
                }
                _ => Ok(None),
            }
        })
        .await?;
        found.ok_or(GateError::InProgress)
    }
}
