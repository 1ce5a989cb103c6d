//! This module holds the expiry watcher's writes: a flag on a session about to expire, and an
//! inferred expiry on one Ralio never reported on.

use chrono::{DateTime, Utc};

use super::{SessionGuard, SessionPatch, Write};
use crate::SessionId;
use crate::audit::{AppliedChange, AuditEntry, AuditOutcome, actions, describe};
use crate::expiry::BucketKind;
use crate::lifecycle::{ExpirySource, Phase, Verdict};
use crate::records::SessionFields;

/// Says what the expiry watcher does to a session of a due bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchAction {
    /// The watcher flags a session still waiting for the user as expiring soon (warn bucket).
    Flag,
    /// The watcher marks a session Ralio never reported on as expired, inferred (expiry
    /// bucket). A later real outcome still wins.
    ExpireInferred,
}

impl WatchAction {
    pub fn for_bucket(kind: BucketKind) -> Self {
        match kind {
            BucketKind::Warn => WatchAction::Flag,
            BucketKind::Expire => WatchAction::ExpireInferred,
        }
    }

    pub fn write(self, session_id: SessionId, now: DateTime<Utc>) -> Write {
        let (guard, patch) = match self {
            WatchAction::Flag => (
                SessionGuard::Flag,
                SessionPatch {
                    set: SessionFields {
                        expiring_soon: Some(true),
                        updated_at: Some(now),
                        ..SessionFields::default()
                    },
                    fill: SessionFields::default(),
                    unsweep: false,
                },
            ),
            WatchAction::ExpireInferred => {
                let target = Phase::Expired(ExpirySource::Inferred);
                let reported =
                    SessionPatch::reported(target, Vec::new(), SessionFields::default(), now, now);
                (
                    SessionGuard::Lifecycle(target),
                    SessionPatch {
                        fill: SessionFields::default(),
                        ..reported
                    },
                )
            }
        };
        Write::Session {
            session_id,
            guard,
            patch,
        }
    }

    /// Returns the audit entry of a session this action changed.
    pub fn audit(self, session_id: SessionId, now: DateTime<Utc>) -> AuditEntry {
        let entry = match self {
            WatchAction::Flag => AuditEntry::new(
                now,
                actions::SESSION_FLAGGED_EXPIRING,
                AuditOutcome::Applied,
            )
            .with_applied(AppliedChange::SessionExpiring),
            WatchAction::ExpireInferred => {
                let target = Phase::Expired(ExpirySource::Inferred);
                AuditEntry::new(
                    now,
                    actions::SESSION_EXPIRED_INFERRED,
                    AuditOutcome::Applied,
                )
                .with_detail(describe::session(Verdict::Apply, None, target))
                .with_applied(AppliedChange::session_move(target, Vec::new()))
            }
        };
        entry.about_session(session_id)
    }
}
