//! The in-memory store is the local default and the fast test backend. It is the model's [`Ledger`]
//! behind one lock, plus what only a store keeps (audit trail, ticks, quarantine). Every decision
//! The model's, so the contract suite holds it to DynamoDB's answers.
//!
//! `expiry` holds the expiry index and `accounts` the accounts and the audit trail, split as the
//! DynamoDB store splits them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use idv_model::ledger::Ledger;
use idv_model::{
    Activation, AuditEntry, EventId, EventOutcome, ExpiryBucket, LeaseHold, LeaseRefusal,
    LeaseRelease, LeaseToken, Owner, Plan, SessionId, SessionRecord, StoredSession, TickState, Uid,
    UserSnapshot,
};

use super::{
    CreationLease, EventStore, Lease, QuarantineEntry, QuarantineReader, Replayed, SessionWriter,
    StoreError, StoreResult, UserReader,
};

mod accounts;
mod erasure;
mod expiry;
mod sweep;

/// Appended audit entries are announced here, in the order they were written, because `idv-local`
/// publishes domain events from them, as the table's stream does in AWS.
pub type AuditFeed = tokio::sync::mpsc::UnboundedSender<(Owner, AuditEntry)>;

#[derive(Default)]
struct State {
    ledger: Ledger,
    /// Each entry is under a key that sorts by time, then by order of writing, so that pages resume
    /// from a key.
    audit: HashMap<Owner, BTreeMap<String, AuditEntry>>,
    audit_written: u64,
    audit_feed: Option<AuditFeed>,
    ticks: BTreeMap<ExpiryBucket, TickState>,
    quarantine: BTreeMap<(NaiveDate, String), QuarantineEntry>,
    first_receipts: HashMap<EventId, DateTime<Utc>>,
}

impl State {
    fn audit(&mut self, owner: Owner, entry: AuditEntry) {
        self.audit_written += 1;
        let key = format!(
            "{}#{:012}",
            entry.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            self.audit_written
        );
        if let Some(feed) = &self.audit_feed {
            // A closed feed (the runner stopped listening) loses nothing that was stored.
            let _ = feed.send((owner, entry.clone()));
        }
        self.audit.entry(owner).or_default().insert(key, entry);
    }
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

    /// Announces every audit entry appended from now on.
    pub fn with_audit_feed(self, feed: AuditFeed) -> Self {
        if let Ok(mut state) = self.state.lock() {
            state.audit_feed = Some(feed);
        }
        self
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl UserReader for MemoryStore {
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot> {
        match self.lock()?.ledger.owner(Owner::User(uid)) {
            Some(records) => Ok(records.user_snapshot(uid)?),
            None => Ok(UserSnapshot::empty(uid)),
        }
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn execute(&self, plan: &Plan<'_>) -> StoreResult<EventOutcome> {
        let mut state = self.lock()?;
        let executed = state.ledger.execute(plan);
        if let Some(entry) = executed.audit {
            state.audit(plan.owner(), entry);
        }
        Ok(executed.outcome)
    }

    async fn find_session_owners(&self, session_id: SessionId) -> StoreResult<Vec<Owner>> {
        Ok(self.lock()?.ledger.session_owners(session_id))
    }

    async fn find_kyc_id_owners(&self, kyc_id: i64) -> StoreResult<Vec<Owner>> {
        Ok(self.lock()?.ledger.kyc_id_owners(kyc_id))
    }

    async fn first_receipt(
        &self,
        event_id: EventId,
        now: DateTime<Utc>,
        _keep_for: chrono::Duration,
    ) -> StoreResult<DateTime<Utc>> {
        Ok(*self.lock()?.first_receipts.entry(event_id).or_insert(now))
    }

    async fn quarantine(
        &self,
        entry: &QuarantineEntry,
        audited: Option<(Owner, &AuditEntry)>,
    ) -> StoreResult<()> {
        use chrono::SubsecRound;
        let key = (entry.day(), entry.key());
        let mut state = self.lock()?;
        if state.quarantine.contains_key(&key) {
            return Ok(());
        }
        // A payload naming an erased user is not kept: only its count is.
        if let Some((owner, _)) = audited
            && let Some(records) = state.ledger.owners.get_mut(&owner)
            && records.erased.is_some()
        {
            records.erased_deliveries += 1;
            return Ok(());
        }
        state.quarantine.insert(
            key,
            QuarantineEntry {
                expires_at: entry.expires_at.trunc_subsecs(0),
                ..entry.clone()
            },
        );
        if let Some((owner, note)) = audited {
            state.audit(owner, note.clone());
        }
        Ok(())
    }

    async fn apply_activation(
        &self,
        activation: &Activation,
        now: DateTime<Utc>,
    ) -> StoreResult<EventOutcome> {
        let mut state = self.lock()?;
        let decision = state.ledger.apply_activation(activation, now);
        if let Some((owner, entry)) = decision.audit {
            state.audit(owner, entry);
        }
        Ok(decision.outcome)
    }
}

#[async_trait]
impl QuarantineReader for MemoryStore {
    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>> {
        let state = self.lock()?;
        Ok(state
            .quarantine
            .range((day, String::new())..)
            .take_while(|((d, _), _)| *d == day)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    async fn mark_replayed(&self, entry: &QuarantineEntry, replayed: &Replayed) -> StoreResult<()> {
        if let Some(kept) = self.lock()?.quarantine.get_mut(&(entry.day(), entry.key())) {
            kept.replayed = Some(replayed.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl SessionWriter for MemoryStore {
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession> {
        Ok(self.lock()?.ledger.store_created(record, buckets)?)
    }
}

#[async_trait]
impl CreationLease for MemoryStore {
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        seen_version: u64,
    ) -> StoreResult<Lease> {
        let hold = LeaseHold::taken(now, until);
        let mut state = self.lock()?;
        let records = state.ledger.owner_mut(Owner::User(uid));
        Ok(match records.acquire_lease(hold, seen_version) {
            Ok(previous) => Lease::Acquired {
                token: hold.token,
                after_lapsed: previous,
            },
            Err(LeaseRefusal::Held { until }) => Lease::Held { until },
            Err(LeaseRefusal::Stale) => Lease::Stale,
            Err(LeaseRefusal::Erased(erasure)) => Lease::Erased(erasure),
        })
    }

    async fn restart_creation_attempt(
        &self,
        uid: Uid,
        token: LeaseToken,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        Ok(state
            .ledger
            .owner_mut(Owner::User(uid))
            .restart_attempt(token, at))
    }

    async fn release_creation_lease(
        &self,
        uid: Uid,
        token: LeaseToken,
        how: LeaseRelease,
    ) -> StoreResult<()> {
        let mut state = self.lock()?;
        state
            .ledger
            .owner_mut(Owner::User(uid))
            .release_lease(token, how);
        Ok(())
    }

    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession> {
        let mut state = self.lock()?;
        let stored = state.ledger.store_created(record, buckets)?;
        if let Owner::User(_) = record.owner {
            state
                .ledger
                .owner_mut(record.owner)
                .release_lease(lease, LeaseRelease::Clean);
        }
        Ok(stored)
    }
}
