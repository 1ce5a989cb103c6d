//! `idv-admin sessions` deals with session creations whose outcome at Ralio is uncertain.

use clap::Subcommand;
use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;
use idv_create_session::CreateSession;
use idv_create_session::resolution::SessionResolution;
use idv_model::SessionId;

use crate::parse_uid;

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Settle a session creation that stays `creation_uncertain` (alarm
    /// `SessionCreationUnresolved`) as you found it at Ralio: the session it made (listed by
    /// Ralio for this user, with its hosted page), or none this service can use, so the next
    /// request creates one. Refused while Ralio's list shows a session the creation may have
    /// left. Audited as `session_creation_resolved`.
    Resolve {
        /// The Ralio user id.
        uid: String,
        /// The id of the session Ralio holds for this creation.
        #[arg(long, conflicts_with = "absent", required_unless_present = "absent")]
        found: Option<String>,
        /// Ralio holds no session this service can use (looked up by a person).
        #[arg(long)]
        absent: bool,
    },
}

pub async fn run(
    wiring: &Wiring<'_, ProcessEnv>,
    command: SessionsCommand,
) -> Result<String, String> {
    match command {
        SessionsCommand::Resolve {
            uid,
            found,
            absent: _,
        } => resolve(wiring, &uid, found).await,
    }
}

async fn resolve(
    wiring: &Wiring<'_, ProcessEnv>,
    uid: &str,
    found: Option<String>,
) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let resolution = match found {
        Some(id) => SessionResolution::Found(SessionId::parse(&id).map_err(|e| e.to_string())?),
        None => SessionResolution::Absent,
    };
    let store = wiring.store().map_err(|e| e.to_string())?;
    let creator = CreateSession::from_env(wiring)
        .await
        .map_err(|e| e.to_string())?;
    creator
        .resolve_by_operator(store.as_ref(), uid, resolution)
        .await
        .map_err(|e| e.to_string())
}
