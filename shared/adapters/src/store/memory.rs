//! The in-memory store: the local default and the fast test backend. It follows the DynamoDB
//! store's semantics exactly (the contract suite runs against both), deciding every change
//! with the same model rules under one lock instead of a condition expression.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use idv_model::lifecycle::Move;
use idv_model::{
    ApplyOutcome, BucketKind, Change, Currency, EventApplication, EventId, ExpiryBucket,
    ExpirySource, LevelStamp, Owner, Phase, ReverifyNotice, SessionId, SessionRecord, Uid,
    UserProfile,
};

use super::describe;
use super::{
    AccountLedger, AccountRecord, AccountReservation, AccountStatus, Applied, AuditEntry, AuditLog,
    BucketMember, BucketPage, EventLedger, ExpiryIndex, QuarantineEntry, RalioAccount,
    SessionWriter, StoreError, StoreResult, StoredSession, UserReader, UserSnapshot, WatchOutcome,
};
use super::{CreationLease, Lease, LeaseToken};

#[derive(Default)]
struct Profile {
    kyc: Option<LevelStamp>,
    kyc_id: Option<i64>,
    reverify: Option<ReverifyNotice>,
    lease: Option<(DateTime<Utc>, LeaseToken)>,
}

struct SessionRow {
    record: SessionRecord,
    warn_bucket: Option<String>,
    expire_bucket: Option<String>,
}

#[derive(Default)]
struct State {
    profiles: HashMap<Owner, Profile>,
    sessions: HashMap<(Owner, SessionId), SessionRow>,
    accounts: BTreeMap<(Uid, Currency, String), AccountRecord>,
    markers: HashSet<EventId>,
    audit: HashMap<Owner, Vec<AuditEntry>>,
    ticks: HashSet<String>,
    quarantine: BTreeMap<(NaiveDate, String), QuarantineEntry>,
}

/// See the module documentation.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

fn audit(state: &mut State, owner: Owner, entry: AuditEntry) {
    state.audit.entry(owner).or_default().push(entry);
}

/// An audit entry for a change this store made.
fn entry(
    at: DateTime<Utc>,
    action: &str,
    outcome: &str,
    event_id: Option<EventId>,
    session_id: Option<SessionId>,
    detail: String,
) -> AuditEntry {
    AuditEntry {
        at,
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        event_id,
        session_id,
        detail,
    }
}

fn into_outcome(decision: Move) -> ApplyOutcome {
    match decision {
        Move::Apply => ApplyOutcome::Applied,
        Move::Unchanged => ApplyOutcome::Unchanged,
        Move::Stale => ApplyOutcome::Stale,
    }
}

#[async_trait]
impl UserReader for MemoryStore {
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot> {
        let state = self.lock()?;
        let owner = Owner::User(uid);
        let mut snapshot = UserSnapshot::empty(uid);
        if let Some(p) = state.profiles.get(&owner) {
            snapshot.profile = UserProfile {
                uid,
                kyc: p.kyc.clone(),
                kyc_id: p.kyc_id,
                reverify: p.reverify.clone(),
            };
        }
        snapshot.sessions = state
            .sessions
            .iter()
            .filter(|((o, _), _)| *o == owner)
            .map(|(_, row)| row.record.clone())
            .collect();
        snapshot.sessions.sort_by(SessionRecord::newest_first);
        snapshot.accounts = state
            .accounts
            .iter()
            .filter(|((u, _, _), _)| *u == uid)
            .map(|(_, a)| a.clone())
            .collect();
        snapshot.accounts.sort_by(account_order);
        Ok(snapshot)
    }
}

pub(crate) fn account_order(a: &AccountRecord, b: &AccountRecord) -> std::cmp::Ordering {
    (a.created_at, &a.alias, a.currency).cmp(&(b.created_at, &b.alias, b.currency))
}

#[async_trait]
impl EventLedger for MemoryStore {
    async fn apply_event(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let mut state = self.lock()?;
        let owner = event.owner;
        let session_id = match &event.change {
            Change::Session { session_id, .. } => Some(*session_id),
            _ => None,
        };
        if !state.markers.insert(event.event_id) {
            audit(
                &mut state,
                owner,
                entry(
                    now,
                    &event.event_type,
                    "duplicate",
                    Some(event.event_id),
                    session_id,
                    String::new(),
                ),
            );
            return Ok(Applied {
                outcome: ApplyOutcome::Duplicate,
            });
        }
        let (decision, detail) = match &event.change {
            Change::Session {
                session_id,
                target,
                failure_reasons,
                hosted_url,
                expires_at,
                expiry_buckets,
            } => {
                let key = (owner, *session_id);
                let current = state.sessions.get(&key).map(|row| row.record.phase);
                let decision = target.decide_from(current);
                if decision == Move::Apply {
                    let row = state.sessions.entry(key).or_insert_with(|| SessionRow {
                        record: SessionRecord::first_reported(owner, *session_id, *target, now),
                        warn_bucket: None,
                        expire_bucket: None,
                    });
                    row.record.phase = *target;
                    row.record.failure_reasons = failure_reasons.clone();
                    row.record.updated_at = now;
                    if row.record.hosted_url.is_none() {
                        row.record.hosted_url = hosted_url.clone();
                    }
                    if row.record.expires_at.is_none() {
                        row.record.expires_at = *expires_at;
                    }
                    for bucket in expiry_buckets {
                        let slot = match bucket.kind {
                            BucketKind::Warn => &mut row.warn_bucket,
                            BucketKind::Expire => &mut row.expire_bucket,
                        };
                        slot.get_or_insert_with(|| bucket.key());
                    }
                }
                (decision, describe::session(decision, current, *target))
            }
            Change::Level { stamp, kyc_id } => {
                let profile = state.profiles.entry(owner).or_default();
                let decision = stamp.decide_over(profile.kyc.as_ref());
                let detail = describe::level(decision, profile.kyc.as_ref(), stamp);
                if decision == Move::Apply {
                    profile.kyc = Some(stamp.clone());
                    if kyc_id.is_some() {
                        profile.kyc_id = *kyc_id;
                    }
                }
                (decision, detail)
            }
            Change::Reverify(notice) => {
                let profile = state.profiles.entry(owner).or_default();
                let decision = notice.decide_over(profile.reverify.as_ref());
                if decision == Move::Apply {
                    profile.reverify = Some(notice.clone());
                }
                (decision, describe::reverify(notice))
            }
        };
        let outcome = into_outcome(decision);
        audit(
            &mut state,
            owner,
            entry(
                now,
                &event.event_type,
                outcome.as_str(),
                Some(event.event_id),
                session_id,
                detail,
            ),
        );
        Ok(Applied { outcome })
    }

    async fn find_session_owner(&self, session_id: SessionId) -> StoreResult<Option<Owner>> {
        let state = self.lock()?;
        Ok(state
            .sessions
            .keys()
            .find(|(_, id)| *id == session_id)
            .map(|(owner, _)| *owner))
    }

    async fn quarantine(&self, entry: &QuarantineEntry) -> StoreResult<()> {
        let mut state = self.lock()?;
        let key = (
            entry.received_at.date_naive(),
            super::body_digest(&entry.body),
        );
        state.quarantine.entry(key).or_insert_with(|| entry.clone());
        Ok(())
    }

    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>> {
        let state = self.lock()?;
        Ok(state
            .quarantine
            .iter()
            .filter(|((d, _), _)| *d == day)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

#[async_trait]
impl SessionWriter for MemoryStore {
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession> {
        let mut state = self.lock()?;
        let key = (record.owner, record.session_id);
        let bucket_of = |kind| {
            buckets
                .iter()
                .find(|b| b.kind == kind)
                .map(ExpiryBucket::key)
        };
        match state.sessions.get_mut(&key) {
            Some(row) if row.record.hosted_url.is_some() => {
                Ok(StoredSession::AlreadyStored(row.record.clone()))
            }
            Some(row) => {
                // A webhook got here first: keep its state, add what only creation knows.
                row.record.hosted_url = record.hosted_url.clone();
                row.record.expires_at = record.expires_at;
                row.record.created_at = record.created_at;
                row.warn_bucket = bucket_of(BucketKind::Warn);
                row.expire_bucket = bucket_of(BucketKind::Expire);
                Ok(StoredSession::Stored(row.record.clone()))
            }
            None => {
                state.sessions.insert(
                    key,
                    SessionRow {
                        record: record.clone(),
                        warn_bucket: bucket_of(BucketKind::Warn),
                        expire_bucket: bucket_of(BucketKind::Expire),
                    },
                );
                Ok(StoredSession::Stored(record.clone()))
            }
        }
    }
}

#[async_trait]
impl ExpiryIndex for MemoryStore {
    async fn create_tick(&self, bucket: &ExpiryBucket, _now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self.lock()?.ticks.insert(bucket.key()))
    }

    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()> {
        self.lock()?.ticks.remove(&bucket.key());
        Ok(())
    }

    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage> {
        let state = self.lock()?;
        let key = bucket.key();
        let mut members: Vec<BucketMember> = state
            .sessions
            .iter()
            .filter(|(_, row)| match bucket.kind {
                BucketKind::Warn => row.warn_bucket.as_deref() == Some(key.as_str()),
                BucketKind::Expire => row.expire_bucket.as_deref() == Some(key.as_str()),
            })
            .map(|((owner, session_id), _)| BucketMember {
                owner: *owner,
                session_id: *session_id,
            })
            .collect();
        members.sort_by_key(|m| m.session_id.to_string());
        let after = page.map(|p| p.to_owned());
        let remaining: Vec<BucketMember> = members
            .into_iter()
            .filter(|m| {
                after
                    .as_deref()
                    .is_none_or(|a| m.session_id.to_string().as_str() > a)
            })
            .collect();
        let limit = limit.max(1) as usize;
        let next = (remaining.len() > limit).then(|| remaining[limit - 1].session_id.to_string());
        Ok(BucketPage {
            members: remaining.into_iter().take(limit).collect(),
            next,
        })
    }

    async fn flag_expiring(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let mut state = self.lock()?;
        let Some(row) = state.sessions.get_mut(&(member.owner, member.session_id)) else {
            return Ok(WatchOutcome::Missing);
        };
        let decision = row.record.phase.decide_flag(row.record.expiring_soon);
        if decision != Move::Apply {
            return Ok(decision.into());
        }
        row.record.expiring_soon = true;
        row.record.updated_at = now;
        audit(
            &mut state,
            member.owner,
            entry(
                now,
                "session_flagged_expiring",
                "applied",
                None,
                Some(member.session_id),
                String::new(),
            ),
        );
        Ok(WatchOutcome::Changed)
    }

    async fn mark_expired(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let mut state = self.lock()?;
        let Some(row) = state.sessions.get_mut(&(member.owner, member.session_id)) else {
            return Ok(WatchOutcome::Missing);
        };
        let target = Phase::Expired(ExpirySource::Inferred);
        let from = row.record.phase;
        let decision = row.record.apply(target, &[], now);
        if decision == Move::Apply {
            audit(
                &mut state,
                member.owner,
                entry(
                    now,
                    "session_expired_inferred",
                    "applied",
                    None,
                    Some(member.session_id),
                    describe::session(Move::Apply, Some(from), target),
                ),
            );
        }
        Ok(decision.into())
    }
}

#[async_trait]
impl AccountLedger for MemoryStore {
    async fn reserve_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountReservation> {
        let mut state = self.lock()?;
        let key = (uid, currency, alias.to_owned());
        if let Some(existing) = state.accounts.get(&key) {
            match &existing.status {
                AccountStatus::Created(_) => {
                    return Ok(AccountReservation::Existing(Box::new(existing.clone())));
                }
                AccountStatus::Pending { lease_until: held } if *held >= now => {
                    return Ok(AccountReservation::InProgress { lease_until: *held });
                }
                AccountStatus::Pending { .. } => {}
            }
        }
        state.accounts.insert(
            key,
            AccountRecord {
                uid,
                alias: alias.to_owned(),
                currency,
                status: AccountStatus::Pending { lease_until },
                created_at: now,
                updated_at: now,
            },
        );
        Ok(AccountReservation::Reserved)
    }

    async fn complete_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        account: &RalioAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountRecord> {
        let mut state = self.lock()?;
        let key = (uid, currency, alias.to_owned());
        let record = state.accounts.entry(key).or_insert_with(|| AccountRecord {
            uid,
            alias: alias.to_owned(),
            currency,
            status: AccountStatus::Pending { lease_until: now },
            created_at: now,
            updated_at: now,
        });
        record.status = AccountStatus::Created(account.clone());
        // Both stores date an account from its creation at Ralio, not from the reservation.
        record.created_at = now;
        record.updated_at = now;
        let record = record.clone();
        audit(
            &mut state,
            Owner::User(uid),
            entry(
                now,
                "account_created",
                "applied",
                None,
                None,
                format!("{} account", currency.as_str()),
            ),
        );
        Ok(record)
    }

    async fn release_account(&self, uid: Uid, alias: &str, currency: Currency) -> StoreResult<()> {
        let mut state = self.lock()?;
        let key = (uid, currency, alias.to_owned());
        if matches!(
            state.accounts.get(&key),
            Some(AccountRecord {
                status: AccountStatus::Pending { .. },
                ..
            })
        ) {
            state.accounts.remove(&key);
        }
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()> {
        self.lock()?
            .audit
            .entry(owner)
            .or_default()
            .push(entry.clone());
        Ok(())
    }

    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>> {
        let mut trail = self.lock()?.audit.get(&owner).cloned().unwrap_or_default();
        trail.sort_by_key(|e| e.at);
        Ok(trail)
    }
}

#[async_trait]
impl CreationLease for MemoryStore {
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        let mut state = self.lock()?;
        let profile = state.profiles.entry(Owner::User(uid)).or_default();
        match profile.lease {
            Some((held, _)) if held >= now => Ok(Lease::Held { until: held }),
            _ => {
                let token = LeaseToken(uuid::Uuid::new_v4());
                profile.lease = Some((until, token));
                Ok(Lease::Acquired(token))
            }
        }
    }

    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession> {
        let stored = self.store_session(record, buckets).await?;
        if let Owner::User(uid) = record.owner {
            self.release_creation_lease(uid, lease).await?;
        }
        Ok(stored)
    }

    async fn release_creation_lease(&self, uid: Uid, token: LeaseToken) -> StoreResult<()> {
        let mut state = self.lock()?;
        if let Some(profile) = state.profiles.get_mut(&Owner::User(uid))
            && profile.lease.is_some_and(|(_, held)| held == token)
        {
            profile.lease = None;
        }
        Ok(())
    }
}
