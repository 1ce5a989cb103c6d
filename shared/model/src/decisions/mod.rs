//! This module decides what the user should do next, and whether an account may be opened.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::lifecycle::Phase;
use crate::records::{HostedUrl, SessionRecord, UserProfile};
use crate::{KycLevel, Owner};

/// These are stable machine codes for the merchant's user interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextActionCode {
    StartVerification,
    CompleteVerification,
    AwaitReview,
    AwaitKycUpdate,
    RetryVerification,
    ReverifyBefore,
    CreateAccount,
}

impl NextActionCode {
    pub const ALL: [NextActionCode; 7] = [
        NextActionCode::StartVerification,
        NextActionCode::CompleteVerification,
        NextActionCode::AwaitReview,
        NextActionCode::AwaitKycUpdate,
        NextActionCode::RetryVerification,
        NextActionCode::ReverifyBefore,
        NextActionCode::CreateAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NextActionCode::StartVerification => "start_verification",
            NextActionCode::CompleteVerification => "complete_verification",
            NextActionCode::AwaitReview => "await_review",
            NextActionCode::AwaitKycUpdate => "await_kyc_update",
            NextActionCode::RetryVerification => "retry_verification",
            NextActionCode::ReverifyBefore => "reverify_before",
            NextActionCode::CreateAccount => "create_account",
        }
    }
}

impl fmt::Display for NextActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Holds a code and a short message that the merchant can show the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextAction {
    pub code: NextActionCode,
    pub message: String,
}

/// Only a REGULAR KYC level opens accounts. A verified session alone is not enough, and an
/// unknown level is not REGULAR.
pub fn can_create_account(profile: &UserProfile) -> bool {
    profile.kyc_level() == KycLevel::Regular
}

/// A user who is REGULAR, with no document-expiry warning pending, needs no verification.
pub fn needs_verification(profile: &UserProfile) -> bool {
    !(can_create_account(profile) && profile.pending_reverify().is_none())
}

/// Returns the session worth handing out again instead of creating one. It is the user's
/// newest, still waiting for the user, with its page, and with more than `margin` left before
/// it expires, because a page about to lapse helps nobody.
pub fn reusable_session<'a>(
    profile: &UserProfile,
    sessions: &'a [SessionRecord],
    now: DateTime<Utc>,
    margin: chrono::Duration,
) -> Option<(&'a SessionRecord, &'a HostedUrl)> {
    let latest = latest_session(profile, sessions)?;
    let url = latest.hosted_url.as_ref()?;
    let expires = latest.expires_at?;
    (latest.phase.is_open() && expires - now > margin).then_some((latest, url))
}

/// A session Ralio lists for a user, as far as choosing one to adopt needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedSession {
    pub id: crate::SessionId,
    pub created_at: Option<DateTime<Utc>>,
    /// It is `None` for a state this service does not know.
    pub state: Option<crate::SessionState>,
}

/// How much earlier than our attempt began Ralio may stamp the session that attempt
/// created, because Ralio's clock and ours differ. (`MAX_CLOCK_SKEW` is the other direction: it
/// How far ahead of its receipt an event's stamp is believed.)
pub const ATTEMPT_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Returns the session that a creation which may have happened at Ralio left there (one that
/// timed out, failed after acting, or whose request died). Such a session is not stored here,
/// not known to be finished (a state this service does not know may be a fresh session's), and
/// created since the attempt began. The newest wins, and `None` means Ralio shows none.
pub fn session_left_by_attempt(
    listed: &[ListedSession],
    known: &std::collections::HashSet<crate::SessionId>,
    attempt_began: DateTime<Utc>,
) -> Option<ListedSession> {
    listed
        .iter()
        .filter(|s| may_be_left_by_attempt(Some(s.id), s.state, s.created_at, known, attempt_began))
        .max_by_key(|s| s.created_at)
        .copied()
}

/// Holds what could be read of a session Ralio listed that this service cannot use (an id that
/// is not one, or no hosted page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnusableListing {
    pub id: Option<crate::SessionId>,
    pub created_at: Option<DateTime<Utc>>,
    pub state: Option<crate::SessionState>,
}

/// Returns whether an entry Ralio listed but this service cannot use may be the session an
/// attempt left. If so, Ralio's list proves neither that the attempt left a session nor that it
/// left none, and only a person can tell. An unusable entry that cannot be the attempt's is
/// skipped.
pub fn unusable_may_be_left_by_attempt(
    unusable: &[UnusableListing],
    known: &std::collections::HashSet<crate::SessionId>,
    attempt_began: DateTime<Utc>,
) -> bool {
    unusable
        .iter()
        .any(|u| may_be_left_by_attempt(u.id, u.state, u.created_at, known, attempt_began))
}

/// The one rule for "this listing may be what the attempt left". The listing must not be
/// stored here (as far as its id can be read), not be known to be finished, and not be created
/// before the attempt began.
fn may_be_left_by_attempt(
    id: Option<crate::SessionId>,
    state: Option<crate::SessionState>,
    created_at: Option<DateTime<Utc>>,
    known: &std::collections::HashSet<crate::SessionId>,
    attempt_began: DateTime<Utc>,
) -> bool {
    id.is_none_or(|id| !known.contains(&id))
        && state.is_none_or(|state| state.is_open())
        && created_at.is_none_or(|at| at >= attempt_began - ATTEMPT_CLOCK_SKEW)
}

/// Says when a creation uncertain since `since` (an account) or begun then (a session) may be
/// tried again if Ralio shows nothing of it. That is once `settle` has passed, so that a
/// creation Ralio committed after we stopped waiting has had time to show. `Err` holds how long
/// is left.
pub fn settled(
    since: DateTime<Utc>,
    settle: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), chrono::Duration> {
    let ready = since + settle;
    if now >= ready {
        Ok(())
    } else {
        Err(ready - now)
    }
}

/// Returns since when the user's level is overdue: a session of theirs was VERIFIED at least
/// `level_wait` ago and no level event has come since. REGULAR only ever arrives by webhook and
/// no API can tell it, so this is what says that it may have been lost. It is the time the wait
/// ran out, and `None` once a level event newer than the verification arrives (REGULAR, or a
/// real downgrade after it).
pub fn level_overdue(
    profile: &UserProfile,
    sessions: &[SessionRecord],
    level_wait: chrono::Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    sessions
        .iter()
        .filter(|s| awaits_level(profile, s))
        .map(|s| s.updated_at + level_wait)
        .filter(|due| *due <= now)
        .min()
}

/// Returns whether a level event is still awaited after `session`: it is the user's own
/// VERIFIED session, the user is not REGULAR, and no level event has come since.
pub fn awaits_level(profile: &UserProfile, session: &SessionRecord) -> bool {
    let level_at = profile.kyc.level.as_ref().map(|l| l.stamp.at);
    profile.kyc_level() != KycLevel::Regular
        && session.owner == Owner::User(profile.uid)
        && session.phase == Phase::Verified
        && level_at.is_none_or(|at| at < session.updated_at)
}

/// Returns the user's newest session, by creation time.
pub fn latest_session<'a>(
    profile: &UserProfile,
    sessions: &'a [SessionRecord],
) -> Option<&'a SessionRecord> {
    sessions
        .iter()
        .filter(|s| s.owner == Owner::User(profile.uid))
        .min_by(|a, b| SessionRecord::newest_first(a, b))
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn next_action(
    profile: &UserProfile,
    sessions: &[SessionRecord],
    now: DateTime<Utc>,
) -> NextAction {
    use NextActionCode::*;
    let action = |code, message: String| NextAction { code, message };

    if can_create_account(profile) {
        return match profile.pending_reverify() {
            Some(notice) => action(
                ReverifyBefore,
                format!(
                    "Your identity document expires on {}. Verify your identity again before then to keep your account.",
                    notice.expiration_date.format("%Y-%m-%d")
                ),
            ),
            None => action(
                CreateAccount,
                "Your identity is verified. You can open an account.".to_owned(),
            ),
        };
    }

    let Some(latest) = latest_session(profile, sessions) else {
        return action(
            StartVerification,
            "Verify your identity to open an account.".to_owned(),
        );
    };

    if latest.is_active(now) {
        let message = match (latest.expires_at, latest.expiring_soon) {
            (Some(at), true) => format!(
                "Your identity verification expires soon, on {}. Finish it now.",
                when(at)
            ),
            (Some(at), false) => format!("Finish your identity verification before {}.", when(at)),
            (None, _) => "Finish your identity verification.".to_owned(),
        };
        return action(CompleteVerification, message);
    }
    if latest.has_lapsed(now) {
        return action(
            RetryVerification,
            "Your identity verification expired before it was completed. Start a new one."
                .to_owned(),
        );
    }
    match latest.phase {
        Phase::Review => action(
            AwaitReview,
            "Your documents are being reviewed. We will let you know when the review is complete."
                .to_owned(),
        ),
        Phase::Verified => action(
            AwaitKycUpdate,
            "Your identity is verified. Your account level is being updated; this usually takes a moment."
                .to_owned(),
        ),
        Phase::Rejected => {
            let mut messages: Vec<&str> = Vec::new();
            for reason in &latest.failure_reasons {
                let text = reason.message.trim().trim_end_matches('.');
                if !text.is_empty() && !messages.contains(&text) {
                    messages.push(text);
                }
            }
            let message = if messages.is_empty() {
                "Your identity verification was not successful. Start a new verification to try again.".to_owned()
            } else {
                format!(
                    "Your identity verification was not successful: {}. Start a new verification to try again.",
                    messages.join("; ")
                )
            };
            action(RetryVerification, message)
        }
        // Open sessions are active or lapsed, and expired ones are lapsed, so the cases above
        // handle them.
        Phase::NotStarted | Phase::Started | Phase::Expired(_) => action(
            StartVerification,
            "Verify your identity to open an account.".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests;
