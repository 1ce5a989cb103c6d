//! This module creates and lists IDV sessions at Ralio, and reconciles a creation that may have
//! happened.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use idv_model::webhook::parse_timestamp;
use idv_model::{
    HostedUrl, ListedSession, SessionId, SessionState, Uid, UnusableListing,
    session_left_by_attempt, unusable_may_be_left_by_attempt,
};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::transport::{describe_json_error, expect_json};
use super::{CreateSessionBody, RalioCall, RalioClient, RalioError};

/// This is a session state as Ralio reports it over REST, whose vocabulary is undocumented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedState {
    Known(SessionState),
    Unknown(String),
}

impl ReportedState {
    pub(super) fn from_json(value: &Value) -> Self {
        match SessionState::deserialize(value) {
            Ok(state) => ReportedState::Known(state),
            Err(_) => {
                let raw = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                tracing::warn!(state = %raw, "Ralio reported an unknown session state");
                ReportedState::Unknown(raw)
            }
        }
    }

    /// Returns whether the end user can still use the session, as far as we can tell.
    pub fn is_open(&self) -> bool {
        self.known().is_some_and(SessionState::is_open)
    }

    pub fn known(&self) -> Option<SessionState> {
        match self {
            ReportedState::Known(state) => Some(*state),
            ReportedState::Unknown(_) => None,
        }
    }
}

/// This is an IDV session as Ralio returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RalioSession {
    pub id: SessionId,
    pub hosted_url: HostedUrl,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub state: ReportedState,
}

impl RalioSession {
    fn listed(&self) -> ListedSession {
        ListedSession {
            id: self.id,
            created_at: self.created_at,
            state: self.state.known(),
        }
    }
}

#[derive(Deserialize)]
struct SessionWire {
    id: String,
    #[serde(default, rename = "hostedUrl", alias = "hosted_url")]
    hosted_url: Option<String>,
    #[serde(default, rename = "createdAt", alias = "created_at")]
    created_at: Option<String>,
    #[serde(default, rename = "expiresAt", alias = "expires_at")]
    expires_at: Option<String>,
    #[serde(default)]
    state: Value,
}

/// These are Ralio's sessions for a user: those this service can use, and what could be read of the
/// others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionListing {
    pub sessions: Vec<RalioSession>,
    pub unusable: Vec<UnusableListing>,
}

impl SessionListing {
    /// Reads one listed entry. One that cannot be used is logged by what is wrong with it,
    /// never by its values (a hosted page's link is a bearer token).
    fn push(&mut self, entry: Value) {
        let read = |field: &str| entry.get(field).and_then(Value::as_str);
        let fallback = || UnusableListing {
            id: read("id").and_then(|id| SessionId::parse(id).ok()),
            created_at: read("createdAt")
                .or_else(|| read("created_at"))
                .and_then(parse_timestamp),
            state: entry
                .get("state")
                .and_then(|s| SessionState::deserialize(s).ok()),
        };
        let outcome = SessionWire::deserialize(&entry)
            .map_err(|e| describe_json_error(&e))
            .and_then(|wire| wire.into_session().map_err(|e| e.to_string()));
        match outcome {
            Ok(session) => self.sessions.push(session),
            Err(why) => {
                tracing::warn!(why = %why, index = self.sessions.len() + self.unusable.len(), "Ralio listed a session this service cannot use: skipped");
                self.unusable.push(fallback());
            }
        }
    }
}

impl SessionWire {
    fn into_session(self) -> Result<RalioSession, RalioError> {
        let id = SessionId::parse(&self.id)
            .map_err(|_| RalioError::BadResponse("session id is not a UUID".into()))?;
        let hosted_url = self
            .hosted_url
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| RalioError::BadResponse("session without hostedUrl".into()))?;
        Ok(RalioSession {
            id,
            hosted_url: HostedUrl::new(hosted_url),
            created_at: self.created_at.as_deref().and_then(parse_timestamp),
            expires_at: self.expires_at.as_deref().and_then(parse_timestamp),
            state: ReportedState::from_json(&self.state),
        })
    }
}

#[derive(Deserialize)]
struct SessionList {
    /// Entries are read one by one, so one that does not decode is skipped rather than fatal to the
    /// list.
    #[serde(default)]
    sessions: Vec<Value>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct Pagination {
    #[serde(default, rename = "numPages")]
    num_pages: Option<u32>,
}

/// Says what Ralio's list shows of an attempt that may have created a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftByAttempt {
    /// The attempt left a usable session, which is adopted.
    Session(RalioSession),
    /// The attempt left nothing it could have left.
    Nothing,
    /// The attempt may have left an entry that this service cannot use, so it neither adopts it nor
    /// creates beside it, and a person decides (`idv-admin sessions resolve`).
    Unusable,
}

/// Says how a session creation ended: created now, or found in Ralio's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSession {
    pub session: RalioSession,
    pub reconciled: bool,
}

/// Listing a user's sessions reads at most this many pages.
const MAX_LIST_PAGES: u32 = 10;

pub(super) fn sessions_path(uid: Uid) -> String {
    format!("/api/v1/account/users/{uid}/identity-verifications")
}

impl RalioCall<'_> {
    async fn create_once(&self, uid: Uid) -> Result<RalioSession, RalioError> {
        let body = match self.client.config.create_session_body {
            CreateSessionBody::Empty => None,
            CreateSessionBody::EmptyJsonObject => Some(json!({})),
        };
        let response = self
            .authorized(false, Method::POST, &sessions_path(uid), body.as_ref())
            .await?;
        let wire: SessionWire = expect_json(response).await?;
        wire.into_session()
    }

    /// Creates an IDV session. When the creation may have happened at Ralio (a timeout, a 5xx, a
    /// broken connection, an unreadable answer), the list is asked for a session it left (not in
    /// `known`, not known to be finished, recent). If one is found, it is the answer. If not, the
    /// answer is the creating call's own error, which [`RalioError::may_have_acted`]; Ralio may
    /// still show the session later, so creating again is for a later attempt to decide once that
    /// has settled.
    pub async fn create_session(
        &self,
        uid: Uid,
        known: &HashSet<SessionId>,
    ) -> Result<CreatedSession, RalioError> {
        let began = Utc::now();
        let error = match self.create_once(uid).await {
            Ok(session) => {
                return Ok(CreatedSession {
                    session,
                    reconciled: false,
                });
            }
            Err(error) if error.may_have_acted() => error,
            Err(certain) => return Err(certain),
        };
        tracing::warn!(
            failure = error.kind(),
            "Ralio create-session may have acted; looking at its list"
        );
        match self.left_by_attempt(uid, known, began).await {
            Ok(LeftByAttempt::Session(session)) => Ok(CreatedSession {
                session,
                reconciled: true,
            }),
            Ok(LeftByAttempt::Nothing) => Err(error),
            Ok(LeftByAttempt::Unusable) => {
                tracing::warn!("Ralio lists a session this creation may have left, unusable");
                Err(error)
            }
            Err(list_error) => {
                tracing::warn!(failure = list_error.kind(), "Ralio's session list not read");
                Err(error)
            }
        }
    }

    /// Returns what an attempt that began at `began` may have left at Ralio (see
    /// [`idv_model::session_left_by_attempt`]).
    pub async fn left_by_attempt(
        &self,
        uid: Uid,
        known: &HashSet<SessionId>,
        began: DateTime<Utc>,
    ) -> Result<LeftByAttempt, RalioError> {
        let listing = self.session_listing(uid).await?;
        let brief: Vec<ListedSession> = listing.sessions.iter().map(RalioSession::listed).collect();
        if let Some(chosen) = session_left_by_attempt(&brief, known, began)
            && let Some(session) = listing.sessions.into_iter().find(|s| s.id == chosen.id)
        {
            return Ok(LeftByAttempt::Session(session));
        }
        Ok(
            if unusable_may_be_left_by_attempt(&listing.unusable, known, began) {
                LeftByAttempt::Unusable
            } else {
                LeftByAttempt::Nothing
            },
        )
    }

    /// Returns every IDV session Ralio has for the user that this service can use (paged, at most
    /// 10 pages of 100). The others are skipped and logged.
    pub async fn list_sessions(&self, uid: Uid) -> Result<Vec<RalioSession>, RalioError> {
        Ok(self.session_listing(uid).await?.sessions)
    }

    /// Returns every IDV session Ralio has for the user, usable or not (paged, at most 10 pages of
    /// 100).
    pub async fn session_listing(&self, uid: Uid) -> Result<SessionListing, RalioError> {
        let mut listing = SessionListing::default();
        let mut page = 1;
        loop {
            let path = format!("{}?page={page}&pageSize=100", sessions_path(uid));
            let response = self.authorized(true, Method::GET, &path, None).await?;
            let list: SessionList = expect_json(response).await?;
            let count = list.sessions.len();
            for entry in list.sessions {
                listing.push(entry);
            }
            let pages = list.pagination.and_then(|p| p.num_pages).unwrap_or(1);
            if count == 0 || page >= pages || page >= MAX_LIST_PAGES {
                return Ok(listing);
            }
            page += 1;
        }
    }
}

impl RalioClient {
    /// It is [`RalioCall::create_session`] without a deadline.
    pub async fn create_session(
        &self,
        uid: Uid,
        known: &HashSet<SessionId>,
    ) -> Result<CreatedSession, RalioError> {
        self.unbounded().create_session(uid, known).await
    }

    /// It is [`RalioCall::list_sessions`] without a deadline.
    pub async fn list_sessions(&self, uid: Uid) -> Result<Vec<RalioSession>, RalioError> {
        self.unbounded().list_sessions(uid).await
    }
}
