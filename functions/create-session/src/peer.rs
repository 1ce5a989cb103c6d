//! When another request holds the user's creation lease, this one waits a little for its
//! session.

use axum::http::StatusCode;
use axum::response::Response;
use idv_adapters::http::wait_for_peer;
use idv_model::Uid;

use crate::CreateSession;
use crate::answers::answer;
use crate::error::CreateError;

impl CreateSession {
    /// Hands out the session of the request that holds the lease, once it is stored.
    pub(crate) async fn wait_for_peer(&self, uid: Uid) -> Result<Response, CreateError> {
        let found = wait_for_peer(self.parts.settings.wait_for_peer, || async {
            let snapshot = self.parts.users.load_user(uid).await?;
            Ok::<_, CreateError>(
                self.reusable(&snapshot, self.parts.clock.now())
                    .map(|(record, url)| answer(StatusCode::OK, record, url, true)),
            )
        })
        .await?;
        found.ok_or(CreateError::InProgress)
    }
}
