//! The per-user lease keeps two requests from creating two Ralio sessions.
//!
//! A request reads the user, then takes the lease on the condition that no session was stored
//! since it read (the sessions version it saw is still current), so a request that read
//! before another one's session was stored cannot create a second one. A lease whose holder
//! died (it ran out without being given back), or that gave up without knowing whether Ralio
//! acted, means a session may exist at Ralio that the store never heard of. So the next holder
//! looks at Ralio's list before creating, for sessions created since the earliest such attempt
//! began.

use chrono::{DateTime, Utc};

/// Proves that a request holds a user's session-creation lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub uuid::Uuid);

/// A creation lease, held while `until` has not passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseHold {
    pub token: LeaseToken,
    /// It is when the earliest attempt not known to have ended began. It is carried over from
    /// holders that died or gave up uncertain, so that no session one of them left is
    /// overlooked.
    pub acquired_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Says how a holder gives its lease back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRelease {
    /// Ralio holds no session of this attempt's making that the store lacks, because it
    /// certainly refused, or the session is stored.
    Clean,
    /// Ralio may hold a session the store lacks. The lease is left lapsed instead of removed,
    /// so that the next holder looks at Ralio's list first, as after a holder that died.
    Uncertain,
}

/// Says why a lease was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRefusal {
    /// Another request holds it until `until`.
    Held { until: DateTime<Utc> },
    /// A session was stored since the caller read the user, so the caller must read again.
    Stale,
    /// The user was erased, so no session is created for them again.
    Erased(crate::records::Erasure),
}

/// Says when a lease write may take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseGuard {
    /// There is no live lease, and the sessions are still at `seen_version`.
    Free {
        now: DateTime<Utc>,
        seen_version: u64,
    },
    /// The lease is still `token`'s; giving it back uses this.
    HeldBy(LeaseToken),
}

impl LeaseHold {
    /// Returns a lease taken at `now` for a new attempt, held until `until`.
    pub fn taken(now: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        Self {
            token: LeaseToken(uuid::Uuid::new_v4()),
            acquired_at: now,
            until,
        }
    }

    /// Returns the lease as a holder that gave up uncertain leaves it: lapsed, with its
    /// attempt kept.
    pub fn given_up(self) -> Self {
        Self {
            until: DateTime::<Utc>::UNIX_EPOCH,
            ..self
        }
    }

    /// Returns until when a lease stored as `held` keeps others out at `now`.
    pub fn blocks(held: Option<&LeaseHold>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        held.map(|h| h.until).filter(|until| *until >= now)
    }
}

impl LeaseGuard {
    pub fn check(
        self,
        held: Option<&LeaseHold>,
        sessions_version: u64,
    ) -> Result<(), LeaseRefusal> {
        match self {
            LeaseGuard::Free { now, seen_version } => {
                if let Some(until) = LeaseHold::blocks(held, now) {
                    return Err(LeaseRefusal::Held { until });
                }
                if sessions_version != seen_version {
                    return Err(LeaseRefusal::Stale);
                }
                Ok(())
            }
            LeaseGuard::HeldBy(token) => match held {
                Some(h) if h.token == token => Ok(()),
                _ => Err(LeaseRefusal::Stale),
            },
        }
    }
}
