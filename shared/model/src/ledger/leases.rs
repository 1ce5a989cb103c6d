//! This module keeps the creation lease over one owner's records (see [`crate::leases`]).

use chrono::{DateTime, Utc};

use super::OwnerRecords;
use crate::leases::{LeaseGuard, LeaseHold, LeaseRefusal, LeaseRelease, LeaseToken};

impl OwnerRecords {
    /// Takes the user's creation lease. `Ok` carries a previous holder that never gave it back
    /// cleanly (it died, or gave up uncertain), because sessions it may have created since
    /// `acquired_at` are at Ralio. The new hold keeps that beginning until it is resolved.
    pub fn acquire_lease(
        &mut self,
        hold: LeaseHold,
        seen_version: u64,
    ) -> Result<Option<LeaseHold>, LeaseRefusal> {
        if let Some(erasure) = self.erased {
            return Err(LeaseRefusal::Erased(erasure));
        }
        let guard = LeaseGuard::Free {
            now: hold.acquired_at,
            seen_version,
        };
        guard.check(self.creation_lease.as_ref(), self.sessions_version)?;
        let previous = self.creation_lease;
        self.creation_lease = Some(LeaseHold {
            acquired_at: previous.map_or(hold.acquired_at, |p| p.acquired_at),
            ..hold
        });
        Ok(previous)
    }

    /// Records that the attempts before this holder's settled unseen, so that its own attempt
    /// begins `at` and a later holder looks for sessions from then on. Returns false when the
    /// lease is no longer `token`'s.
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
            .check(self.creation_lease.as_ref(), self.sessions_version)
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
        // The first holder dies, and someone else stores a session meanwhile.
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
        // It gives up uncertain too, minutes later, and the first attempt's beginning is kept.
        records.release_lease(next.token, LeaseRelease::Uncertain);
        let third = hold(t0 + chrono::Duration::minutes(30));
        let previous = records.acquire_lease(third, 0).unwrap().unwrap();
        assert_eq!(previous.acquired_at, t0);
        // The earlier attempts settled unseen, so the third holder's own attempt begins now.
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
        // Once the lease is resolved and given back clean, the next attempt starts afresh.
        records.release_lease(third.token, LeaseRelease::Clean);
        assert_eq!(
            records.acquire_lease(hold(t0 + chrono::Duration::hours(1)), 0),
            Ok(None)
        );
    }
}
