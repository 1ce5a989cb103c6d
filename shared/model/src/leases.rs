//! The per-user lease that keeps two requests from creating two Ralio sessions.
//!
//! A request reads the user, then takes the lease on the condition that no session was stored
//! since it read (the sessions version it saw is still current), so a request that read
//! before another one's session was stored cannot create a second one. A lease whose holder
//! died (it ran out without being given back), or that gave up without knowing whether Ralio
//! acted, means a session may exist at Ralio that the store never heard of: the next holder
//! looks at Ralio's list before creating, for sessions created since the earliest such attempt
//! began.

use chrono::{DateTime, Utc};

use crate::apply::OwnerRecords;

/// Proof of holding a user's session-creation lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub uuid::Uuid);

/// A creation lease, held while `until` has not passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseHold {
    pub token: LeaseToken,
    /// When the earliest attempt not known to have ended began: carried over from holders
    /// that died or gave up uncertain, so no session one of them left is overlooked.
    pub acquired_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// How a holder gives its lease back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRelease {
    /// Ralio holds no session of this attempt's making that the store lacks: it certainly
    /// refused, or the session is stored.
    Clean,
    /// Ralio may hold a session the store lacks: the lease is left lapsed instead of removed,
    /// so the next holder looks at Ralio's list first, as after a holder that died.
    Uncertain,
}

/// Why a lease was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRefusal {
    /// Another request holds it until then.
    Held { until: DateTime<Utc> },
    /// A session was stored since the caller read the user: read again.
    Stale,
}

/// When a lease write may take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseGuard {
    /// No live lease, and the sessions are still at `seen_version`.
    Free {
        now: DateTime<Utc>,
        seen_version: u64,
    },
    /// The lease is still `token`'s (giving it back).
    HeldBy(LeaseToken),
}

impl LeaseHold {
    /// The lease as a holder that gave up uncertain leaves it: lapsed, its attempt kept.
    pub fn given_up(self) -> Self {
        Self {
            until: DateTime::<Utc>::UNIX_EPOCH,
            ..self
        }
    }

    /// Until when a lease stored as `held` keeps others out at `now`.
    pub fn blocks(held: Option<&LeaseHold>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        held.map(|h| h.until).filter(|until| *until >= now)
    }
}

impl LeaseGuard {
    pub fn decide(
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

impl OwnerRecords {
    /// Takes the user's creation lease. `Ok` carries a previous holder that never gave it back
    /// cleanly (it died, or gave up uncertain): sessions it may have created since
    /// `acquired_at` are at Ralio. The new hold keeps that beginning until it is resolved.
    pub fn acquire_lease(
        &mut self,
        hold: LeaseHold,
        seen_version: u64,
    ) -> Result<Option<LeaseHold>, LeaseRefusal> {
        let guard = LeaseGuard::Free {
            now: hold.acquired_at,
            seen_version,
        };
        guard.decide(self.creation_lease.as_ref(), self.sessions_version)?;
        let previous = self.creation_lease;
        self.creation_lease = Some(LeaseHold {
            acquired_at: previous.map_or(hold.acquired_at, |p| p.acquired_at),
            ..hold
        });
        Ok(previous)
    }

    /// The attempts before this holder's settled unseen: its own begins `at`, and a later
    /// holder looks for sessions from then on. False when the lease is no longer `token`'s.
    pub fn restart_attempt(&mut self, token: LeaseToken, at: DateTime<Utc>) -> bool {
        match self.creation_lease.as_mut().filter(|h| h.token == token) {
            Some(hold) => {
                hold.acquired_at = at;
                true
            }
            None => false,
        }
    }

    /// Gives the lease back, if it is still `token`'s.
    pub fn release_lease(&mut self, token: LeaseToken, how: LeaseRelease) {
        if LeaseGuard::HeldBy(token)
            .decide(self.creation_lease.as_ref(), self.sessions_version)
            .is_ok()
        {
            self.creation_lease = match how {
                LeaseRelease::Clean => None,
                LeaseRelease::Uncertain => self.creation_lease.map(LeaseHold::given_up),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Owner, Uid};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn hold(acquired_at: DateTime<Utc>) -> LeaseHold {
        LeaseHold {
            token: LeaseToken(uuid::Uuid::new_v4()),
            acquired_at,
            until: acquired_at + chrono::Duration::seconds(60),
        }
    }

    #[test]
    fn a_stale_read_a_live_lease_and_a_dead_holder() {
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let mut records = OwnerRecords::new(Owner::User(uid));
        let t0 = at("2026-05-04T09:00:00Z");
        let first = hold(t0);
        assert_eq!(records.acquire_lease(first, 0), Ok(None));
        let second = hold(t0 + chrono::Duration::seconds(10));
        assert_eq!(
            records.acquire_lease(second, 0),
            Err(LeaseRefusal::Held { until: first.until })
        );
        // The first holder dies; a session is stored by someone else meanwhile.
        records.sessions_version += 1;
        let late = hold(first.until + chrono::Duration::seconds(1));
        assert_eq!(records.acquire_lease(late, 0), Err(LeaseRefusal::Stale));
        assert_eq!(
            records.acquire_lease(late, 1),
            Ok(Some(first)),
            "the dead holder is named"
        );
        let carried = LeaseHold {
            acquired_at: first.acquired_at,
            ..late
        };
        records.release_lease(first.token, LeaseRelease::Clean);
        assert_eq!(
            records.creation_lease,
            Some(carried),
            "not the old holder's to give back; the dead holder's beginning is kept"
        );
        records.release_lease(late.token, LeaseRelease::Clean);
        assert_eq!(records.creation_lease, None);
    }

    #[test]
    fn a_holder_that_gave_up_uncertain_is_looked_past_at_once() {
        let uid = Uid::parse("e4f9d8b3-6b70-47a1-aae1-70c8a689c02a").unwrap();
        let mut records = OwnerRecords::new(Owner::User(uid));
        let t0 = at("2026-05-04T09:00:00Z");
        let first = hold(t0);
        records.acquire_lease(first, 0).unwrap();
        records.release_lease(first.token, LeaseRelease::Uncertain);
        // The next request, even at the same instant, takes the lease and is told to look.
        let next = hold(t0);
        assert_eq!(records.acquire_lease(next, 0), Ok(Some(first.given_up())));
        // It gives up uncertain too, minutes later: the first attempt's beginning is kept.
        records.release_lease(next.token, LeaseRelease::Uncertain);
        let third = hold(t0 + chrono::Duration::minutes(30));
        let previous = records.acquire_lease(third, 0).unwrap().unwrap();
        assert_eq!(previous.acquired_at, t0);
        // Settled unseen: the third holder's own attempt begins now.
        let restart = t0 + chrono::Duration::minutes(31);
        assert!(records.restart_attempt(third.token, restart));
        assert!(
            !records.restart_attempt(first.token, restart),
            "not the first's any more"
        );
        records.release_lease(third.token, LeaseRelease::Uncertain);
        let fourth = hold(restart);
        let previous = records.acquire_lease(fourth, 0).unwrap().unwrap();
        assert_eq!(previous.acquired_at, restart);
        let third = fourth;
        // Resolved: given back clean, the next attempt starts afresh.
        records.release_lease(third.token, LeaseRelease::Clean);
        assert_eq!(
            records.acquire_lease(hold(t0 + chrono::Duration::hours(1)), 0),
            Ok(None)
        );
    }
}
