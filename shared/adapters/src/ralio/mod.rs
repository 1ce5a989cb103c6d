//! This is the Ralio REST client (reqwest with rustls).
//!
//! - The client logs in (`POST /api/v1/auth/login`) for a bearer token, which is cached for the
//!   life of a warm container and refreshed once on a 401. After a 401 that follows a fresh login,
//!   the credentials are read again once (a rotated key). The scheme sits behind [`AuthScheme`] so
//!   that the raw API key can be sent as the bearer instead (REFERENCE §1.2).
//! - It speaks HTTPS only (plain HTTP for loopback hosts, for local runs and tests) and follows no
//!   redirects, because a 307 must not send the login body somewhere else.
//! - Every call keeps to a [`Deadline`] (the Lambda invocation's, less a margin), so logins,
//!   retries, list pages and the create itself together never outlast it.
//! - GETs are retried with jittered exponential backoff on 429 (honouring `Retry-After`), 5xx and
//!   connection errors. Creating calls are retried only when they cannot have reached Ralio
//!   (connection refused) or Ralio refused them unprocessed (429). Every error says whether Ralio
//!   may have acted ([`RalioError::may_have_acted`]), and a session creation that may have happened
//!   is looked for in Ralio's list before creating once more.
//! - Parsing is lenient where the docs are vague: `createdAt`/`created_at`, and a state as a name,
//!   a number or something unknown.

mod accounts;
mod auth;
mod client;
mod error;
mod outcomes;
mod sessions;
mod transport;

pub use accounts::{AccountSearch, ListedAccount, list_may_be_a_page};
pub use auth::{AuthScheme, CredentialSource, RalioCredentials};
pub use client::{
    CreateSessionBody, REQUEST_TIMEOUT, RalioCall, RalioClient, RalioConfig, check_base_url,
};
pub use error::RalioError;
pub use outcomes::StateChange;
pub use sessions::{CreatedSession, LeftByAttempt, RalioSession, ReportedState, SessionListing};
pub use transport::Deadline;
