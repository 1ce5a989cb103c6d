//! Every change to a stored record is written down here once, as data: a guard that says when
//! it may take effect and a patch that says what it writes.
//!
//! [`crate::ledger::OwnerRecords`] executes a write in memory, and the DynamoDB store turns the
//! same write into one conditional update (the guard becomes the condition, the patch the
//! update expression). Neither store decides anything of its own.

use chrono::{DateTime, Utc};

use crate::SessionId;
use crate::change::{AttributedEvent, Change};
use crate::expiry::{BucketKind, ExpiryBucket};
use crate::lifecycle::{EventStamp, Phase, Verdict};
use crate::records::{FailureReason, KycRecord, SessionFields, SessionRecord};
use crate::sweep::SweepMark;

/// Says when a write to a session may take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionGuard {
    /// The lifecycle allows a move to this phase. The stored phase is one of
    /// [`Phase::allowed_priors`], or there is none and [`Phase::allowed_when_absent`] holds.
    Lifecycle(Phase),
    /// The session waits for the user ([`Phase::OPEN`]) and is not flagged yet.
    Flag,
    /// The session's creation is not stored yet (it has no page). The guard lets what only the
    /// creation knows be added once.
    Creation,
    /// The session still carries the sweep's mark that the sweep read, so a change that came
    /// meanwhile (and set its own mark) is never undone by the sweep.
    Marked(SweepMark),
}

impl SessionGuard {
    /// Returns the verdict on the session as stored (`None` when there is no record).
    pub fn verdict(self, stored: Option<&SessionFields>) -> Verdict {
        let phase = stored.and_then(|s| s.phase);
        match self {
            SessionGuard::Lifecycle(target) => target.verdict_from(phase),
            SessionGuard::Flag => match phase {
                Some(phase) => {
                    phase.flag_verdict(stored.and_then(|s| s.expiring_soon) == Some(true))
                }
                None => Verdict::Stale,
            },
            SessionGuard::Creation => match stored.and_then(|s| s.hosted_url.as_ref()) {
                Some(_) => Verdict::Unchanged,
                None => Verdict::Apply,
            },
            SessionGuard::Marked(seen) => match stored.and_then(|s| s.sweep) {
                Some(mark) if mark == seen => Verdict::Apply,
                _ => Verdict::Stale,
            },
        }
    }
}

/// Says what a write gives a session. `set` replaces fields, and `fill` gives values only to
/// fields that have none yet (what a webhook that arrived first must not lose, or must not
/// undo). `unsweep` removes the sweep's mark, when the session has nothing left to wait for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPatch {
    pub set: SessionFields,
    pub fill: SessionFields,
    pub unsweep: bool,
}

fn pick<T: Clone>(set: &Option<T>, stored: Option<&T>, fill: &Option<T>) -> Option<T> {
    set.clone()
        .or_else(|| stored.cloned())
        .or_else(|| fill.clone())
}

impl SessionPatch {
    /// Returns the session after this write.
    pub fn applied_to(&self, stored: Option<&SessionFields>) -> SessionFields {
        let (set, fill) = (&self.set, &self.fill);
        SessionFields {
            phase: pick(
                &set.phase,
                stored.and_then(|s| s.phase.as_ref()),
                &fill.phase,
            ),
            failure_reasons: pick(
                &set.failure_reasons,
                stored.and_then(|s| s.failure_reasons.as_ref()),
                &fill.failure_reasons,
            ),
            hosted_url: pick(
                &set.hosted_url,
                stored.and_then(|s| s.hosted_url.as_ref()),
                &fill.hosted_url,
            ),
            created_at: pick(
                &set.created_at,
                stored.and_then(|s| s.created_at.as_ref()),
                &fill.created_at,
            ),
            expires_at: pick(
                &set.expires_at,
                stored.and_then(|s| s.expires_at.as_ref()),
                &fill.expires_at,
            ),
            expiring_soon: pick(
                &set.expiring_soon,
                stored.and_then(|s| s.expiring_soon.as_ref()),
                &fill.expiring_soon,
            ),
            updated_at: pick(
                &set.updated_at,
                stored.and_then(|s| s.updated_at.as_ref()),
                &fill.updated_at,
            ),
            warn_bucket: pick(
                &set.warn_bucket,
                stored.and_then(|s| s.warn_bucket.as_ref()),
                &fill.warn_bucket,
            ),
            expire_bucket: pick(
                &set.expire_bucket,
                stored.and_then(|s| s.expire_bucket.as_ref()),
                &fill.expire_bucket,
            ),
            sweep: if self.unsweep {
                None
            } else {
                pick(
                    &set.sweep,
                    stored.and_then(|s| s.sweep.as_ref()),
                    &fill.sweep,
                )
            },
        }
    }

    /// Returns the patch of a move Ralio reported (or the watcher inferred), which replaces the
    /// state, reasons and time. A report may be the first news of a session, so it also fills
    /// what a record needs, and what the report knows of the page and expiry, without
    /// overwriting what creation stored. Such a session dates from its first report's own time
    /// (`happened_at`), not from the receipt, so that sessions that follow one another keep
    /// their order (the newest decides the next action) whichever webhook arrives first.
    /// Within one session the first report received sets the date, and an earlier one arriving
    /// later does not move it. The move also replaces the sweep's mark (or removes it), because
    /// the sweep's wait counts from the session's last change.
    pub fn reported(
        target: Phase,
        failure_reasons: Vec<FailureReason>,
        announced: SessionFields,
        happened_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        let sweep = SweepMark::after_change(target, now);
        Self {
            set: SessionFields {
                phase: Some(target),
                failure_reasons: Some(failure_reasons),
                updated_at: Some(now),
                sweep,
                ..SessionFields::default()
            },
            fill: SessionFields {
                created_at: Some(happened_at),
                expiring_soon: Some(false),
                sweep: None,
                ..announced
            },
            unsweep: sweep.is_none(),
        }
    }

    /// Returns the patch of a sweep visit: the session's next mark, or none when the sweep is
    /// done with it. Nothing else changes, because a visit is not a change of the session.
    pub fn swept(next: Option<SweepMark>) -> Self {
        Self {
            set: SessionFields {
                sweep: next,
                ..SessionFields::default()
            },
            fill: SessionFields::default(),
            unsweep: next.is_none(),
        }
    }

    /// Returns the patch of a session just created at Ralio. Its page, dates and buckets are
    /// set, and the state a webhook may have stored first is kept.
    pub fn creation(record: &SessionRecord, buckets: &[ExpiryBucket]) -> Self {
        let whole = SessionFields::of(record, buckets);
        Self {
            set: SessionFields {
                hosted_url: whole.hosted_url.clone(),
                created_at: whole.created_at,
                expires_at: whole.expires_at,
                warn_bucket: whole.warn_bucket,
                expire_bucket: whole.expire_bucket,
                ..SessionFields::default()
            },
            // The mark is filled like the state: a webhook that came first set its own (or, for
            // an outcome, removed it, and then this mark costs the sweep one visit without a
            // call to Ralio before it goes).
            fill: SessionFields {
                phase: whole.phase,
                failure_reasons: whole.failure_reasons,
                expiring_soon: whole.expiring_soon,
                updated_at: whole.updated_at,
                sweep: whole.sweep,
                ..SessionFields::default()
            },
            unsweep: false,
        }
    }
}

/// Says when a write to an owner's KYC record may take effect. Only a newer event replaces what
/// an older one wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycGuard {
    NewerLevel(EventStamp),
    NewerReverify(EventStamp),
}

impl KycGuard {
    pub fn verdict(self, stored: &KycRecord) -> Verdict {
        match self {
            KycGuard::NewerLevel(stamp) => {
                stamp.verdict_over(stored.level.as_ref().map(|l| l.stamp))
            }
            KycGuard::NewerReverify(stamp) => {
                stamp.verdict_over(stored.reverify.as_ref().map(|n| n.stamp))
            }
        }
    }
}

/// Says what a write gives a KYC record; the fields it carries replace the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KycPatch {
    pub set: KycRecord,
}

impl KycPatch {
    pub fn applied_to(&self, stored: &KycRecord) -> KycRecord {
        KycRecord {
            level: self.set.level.clone().or_else(|| stored.level.clone()),
            kyc_id: self.set.kyc_id.or(stored.kyc_id),
            reverify: self
                .set
                .reverify
                .clone()
                .or_else(|| stored.reverify.clone()),
        }
    }
}

/// One conditional write to one record.
// A write lives for one request and is built once, so the size of its session variant costs a
// copy, while a box would cost an allocation on every webhook.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Session {
        session_id: SessionId,
        guard: SessionGuard,
        patch: SessionPatch,
    },
    Kyc {
        guard: KycGuard,
        patch: KycPatch,
    },
}

impl Write {
    /// Returns the write of a sweep visit that found nothing to apply: the session's next mark,
    /// if the stored mark is still the one the sweep read.
    pub fn sweep_visit(session_id: SessionId, seen: SweepMark, next: Option<SweepMark>) -> Self {
        Write::Session {
            session_id,
            guard: SessionGuard::Marked(seen),
            patch: SessionPatch::swept(next),
        }
    }

    /// Returns the write that stores a session just created at Ralio.
    pub fn creation(record: &SessionRecord, buckets: &[ExpiryBucket]) -> Self {
        Write::Session {
            session_id: record.session_id,
            guard: SessionGuard::Creation,
            patch: SessionPatch::creation(record, buckets),
        }
    }
}

impl AttributedEvent {
    /// Returns the write this event stands for.
    pub fn write(&self, now: DateTime<Utc>) -> Write {
        match &self.change {
            Change::Session {
                session_id,
                target,
                failure_reasons,
                hosted_url,
                expires_at,
                expiry_buckets,
            } => {
                let bucket = |kind| expiry_buckets.iter().find(|b| b.kind == kind).copied();
                let announced = SessionFields {
                    hosted_url: hosted_url.clone(),
                    expires_at: *expires_at,
                    warn_bucket: bucket(BucketKind::Warn),
                    expire_bucket: bucket(BucketKind::Expire),
                    ..SessionFields::default()
                };
                Write::Session {
                    session_id: *session_id,
                    guard: SessionGuard::Lifecycle(*target),
                    patch: SessionPatch::reported(
                        *target,
                        failure_reasons.clone(),
                        announced,
                        self.occurred_at,
                        now,
                    ),
                }
            }
            Change::Level { stamp, kyc_id } => Write::Kyc {
                guard: KycGuard::NewerLevel(stamp.stamp),
                patch: KycPatch {
                    set: KycRecord {
                        level: Some(stamp.clone()),
                        kyc_id: *kyc_id,
                        reverify: None,
                    },
                },
            },
            Change::Reverify(notice) => Write::Kyc {
                guard: KycGuard::NewerReverify(notice.stamp),
                patch: KycPatch {
                    set: KycRecord {
                        reverify: Some(notice.clone()),
                        ..KycRecord::default()
                    },
                },
            },
        }
    }
}

mod watch;
pub use watch::WatchAction;

#[cfg(test)]
mod tests;
