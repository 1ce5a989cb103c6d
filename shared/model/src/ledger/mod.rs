//! The ledger is a whole store as the model sees it. It holds the one `apply`, a pure function
//! from an owner's records and a write (an event, a watcher action, a creation) to a decision
//! and the records it leaves. It is the model's top layer below the read models.
//!
//! The in-memory store is this module over a map. The DynamoDB store sends the same
//! [`Write`] as one conditional request and, when DynamoDB refuses it, asks this module what
//! the refusal means, from the item as it was. The property tests drive this module too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::accounts::{AccountId, AccountRecord};
use crate::audit::AuditEntry;
use crate::change::EventOutcome;
use crate::erasure::{Erasure, redact_account, redact_session};
use crate::expiry::ExpiryBucket;
use crate::leases::LeaseHold;

mod accounts;
mod leases;
mod plan;
mod snapshot;

use crate::lifecycle::Verdict;
use crate::records::{IncompleteSession, KycRecord, SessionFields, SessionRecord, UserProfile};
use crate::writes::{WatchAction, Write};
use crate::{Currency, EventId, Owner, SessionId, Uid};
pub use accounts::{AccountAudits, AccountWritten, ActivationDecision};
pub use plan::{Disagreement, Plan, PlanResult, Refusal};
pub use snapshot::UserSnapshot;

/// Holds every owner's records and the events already handled, which is a whole store as the
/// model sees it. The in-memory store is a `Ledger` behind a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub owners: BTreeMap<Owner, OwnerRecords>,
    /// These are the event ids already handled, whatever came of them.
    pub seen: BTreeSet<EventId>,
    /// These are the event ids whose repeat has been audited, because a repeat is audited
    /// once, however often it comes.
    pub repeats_audited: BTreeSet<EventId>,
    /// It says whose each created account is, by Ralio's account id, so that an
    /// `account_activated` event (which names only the account) finds its record.
    pub account_owners: BTreeMap<AccountId, (Uid, Currency, String)>,
    /// These are the activations whose account is not recorded yet, kept until it is.
    pub activations: BTreeMap<AccountId, crate::activation::WaitingActivation>,
    /// These are the owners applied events paired each Ralio `kycId` with, so that an event
    /// that names only the `kycId` finds its owner.
    pub kyc_owners: BTreeMap<i64, BTreeSet<Owner>>,
}

impl Ledger {
    pub fn owner(&self, owner: Owner) -> Option<&OwnerRecords> {
        self.owners.get(&owner)
    }

    pub fn owner_mut(&mut self, owner: Owner) -> &mut OwnerRecords {
        self.owners
            .entry(owner)
            .or_insert_with(|| OwnerRecords::new(owner))
    }

    /// Returns the owners a session is stored for. There is one, unless events of different
    /// owners named it.
    pub fn session_owners(&self, session_id: SessionId) -> Vec<Owner> {
        self.owners
            .values()
            .filter(|records| records.sessions.contains_key(&session_id))
            .map(|records| records.owner)
            .collect()
    }

    /// Executes an event's plan once. A repeat of an event id is a duplicate and changes
    /// nothing.
    pub fn execute(&mut self, plan: &Plan<'_>) -> Executed {
        if let Some(records) = self.owners.get_mut(&plan.owner())
            && records.erased.is_some()
        {
            records.erased_deliveries += 1;
            return Executed {
                outcome: EventOutcome::Erased,
                audit: None,
            };
        }
        let event_id = plan.event_id();
        if !self.seen.insert(event_id) {
            return Executed {
                outcome: EventOutcome::Duplicate,
                audit: self
                    .repeats_audited
                    .insert(event_id)
                    .then(|| plan.repeat_audit()),
            };
        }
        let records = self.owner_mut(plan.owner());
        let result = plan.run(records);
        if let Some(commit) = result.commit {
            records.commit(commit);
        }
        if let Some(kyc_id) = plan.kyc_pairing() {
            self.kyc_owners
                .entry(kyc_id)
                .or_default()
                .insert(plan.owner());
        }
        Executed {
            outcome: result.outcome,
            audit: Some(result.audit),
        }
    }

    /// Erases an owner's personal data and keeps the tombstone, as [`crate::erasure`] says. An
    /// owner erased before keeps its first tombstone, which is returned.
    pub fn erase(&mut self, owner: Owner, erasure: Erasure) -> Erasure {
        let records = self.owner_mut(owner);
        let stamp = *records.erased.get_or_insert(erasure);
        records.sessions.values_mut().for_each(redact_session);
        records.creation_lease = None;
        // Accounts are found by alias, so they are filed again under their place in the list, and
        // so is whose each Ralio account is.
        let accounts = std::mem::take(&mut records.accounts);
        for (index, ((currency, alias), mut record)) in accounts.into_iter().enumerate() {
            redact_account(&mut record);
            let filed = format!("#{index}");
            for whose in self.account_owners.values_mut() {
                if Owner::User(whose.0) == owner && (whose.1, &whose.2) == (currency, &alias) {
                    whose.2.clone_from(&filed);
                }
            }
            self.owner_mut(owner)
                .accounts
                .insert((currency, filed), record);
        }
        stamp
    }

    /// Returns the owners applied events paired `kyc_id` with.
    pub fn kyc_id_owners(&self, kyc_id: i64) -> Vec<Owner> {
        self.kyc_owners
            .get(&kyc_id)
            .map(|owners| owners.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Runs a watcher action on one session, and keeps it when it changes something.
    pub fn watch(
        &mut self,
        action: WatchAction,
        owner: Owner,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> WatchDecision {
        let Some(records) = self.owners.get_mut(&owner) else {
            return WatchDecision {
                outcome: WatchOutcome::Missing,
                audit: None,
                commit: None,
            };
        };
        // An erased user's session is not the watcher's any more.
        if records.erased.is_some() {
            return WatchDecision {
                outcome: WatchOutcome::Skipped,
                audit: None,
                commit: None,
            };
        }
        let decision = records.watch(action, session_id, now);
        if let Some(commit) = decision.commit.clone() {
            records.commit(commit);
        }
        decision
    }

    /// Stores a session just created at Ralio (see [`OwnerRecords::store_created`]).
    pub fn store_created(
        &mut self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> Result<StoredSession, IncompleteSession> {
        let records = self.owner_mut(record.owner);
        if let Some(erasure) = records.erased {
            return Ok(StoredSession::Erased(erasure));
        }
        let (stored, commit) = records.store_created(record, buckets)?;
        if let Some(commit) = commit {
            records.commit(commit);
            records.sessions_version += 1;
        }
        Ok(stored)
    }
}

/// Holds everything the service keeps about one owner (a user or a related party).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecords {
    pub owner: Owner,
    pub kyc: KycRecord,
    pub sessions: BTreeMap<SessionId, SessionFields>,
    /// These are a user's accounts, by currency and alias.
    pub accounts: BTreeMap<(Currency, String), AccountRecord>,
    /// It says who is creating a session for this user right now, if anyone.
    pub creation_lease: Option<LeaseHold>,
    /// It counts the sessions created and stored so far (see
    /// [`UserSnapshot::sessions_version`]).
    pub sessions_version: u64,
    /// It is the tombstone of an erased owner ([`crate::erasure`]).
    pub erased: Option<Erasure>,
    /// It counts the events about an erased owner that arrived after the erasure, which is all
    /// that is kept of them.
    pub erased_deliveries: u64,
}

/// Holds the records a write leaves, to be kept when it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordAfter {
    Session(SessionId, SessionFields),
    Kyc(KycRecord),
}

/// Says what became of an event's plan, with its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub outcome: EventOutcome,
    /// It is `None` for a repeat that was already audited.
    pub audit: Option<AuditEntry>,
}

/// Says what a watcher action did to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    Changed,
    /// The session was already flagged, or already expired.
    Unchanged,
    /// The session is not open any more (an outcome arrived, or it is in review), so it is
    /// left alone.
    Skipped,
    /// There is no such session.
    Missing,
}

impl From<Verdict> for WatchOutcome {
    fn from(decision: Verdict) -> Self {
        match decision {
            Verdict::Apply => WatchOutcome::Changed,
            Verdict::Unchanged => WatchOutcome::Unchanged,
            Verdict::Stale => WatchOutcome::Skipped,
        }
    }
}

/// Says what a watcher action came to, with its audit entry when it changed something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchDecision {
    pub outcome: WatchOutcome,
    pub audit: Option<AuditEntry>,
    pub commit: Option<RecordAfter>,
}

/// Says how storing a newly created session went.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredSession {
    /// The session was stored, possibly merged into a record a webhook created first.
    Stored(SessionRecord),
    /// This session was stored before, and this is it.
    AlreadyStored(SessionRecord),
    /// The owner was erased, so the session was not stored.
    Erased(Erasure),
}

impl OwnerRecords {
    pub fn new(owner: Owner) -> Self {
        Self {
            owner,
            kyc: KycRecord::default(),
            sessions: BTreeMap::new(),
            accounts: BTreeMap::new(),
            creation_lease: None,
            sessions_version: 0,
            erased: None,
            erased_deliveries: 0,
        }
    }

    /// Returns the verdict on `write` and, when it applies, what it leaves.
    pub fn verdict(&self, write: &Write) -> (Verdict, Option<RecordAfter>) {
        match write {
            Write::Session {
                session_id,
                guard,
                patch,
            } => {
                let stored = self.sessions.get(session_id);
                let verdict = guard.verdict(stored);
                let commit = (verdict == Verdict::Apply)
                    .then(|| RecordAfter::Session(*session_id, patch.applied_to(stored)));
                (verdict, commit)
            }
            Write::Kyc { guard, patch } => {
                let verdict = guard.verdict(&self.kyc);
                let commit = (verdict == Verdict::Apply)
                    .then(|| RecordAfter::Kyc(patch.applied_to(&self.kyc)));
                (verdict, commit)
            }
        }
    }

    pub fn commit(&mut self, commit: RecordAfter) {
        match commit {
            RecordAfter::Session(id, fields) => {
                self.sessions.insert(id, fields);
            }
            RecordAfter::Kyc(kyc) => self.kyc = kyc,
        }
    }

    /// Decides a watcher action on one session.
    pub fn watch(
        &self,
        action: WatchAction,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> WatchDecision {
        if !self.sessions.contains_key(&session_id) {
            return WatchDecision {
                outcome: WatchOutcome::Missing,
                audit: None,
                commit: None,
            };
        }
        let (verdict, commit) = self.verdict(&action.write(session_id, now));
        WatchDecision {
            outcome: verdict.into(),
            audit: (verdict == Verdict::Apply).then(|| action.audit(session_id, now)),
            commit,
        }
    }

    /// Works out how a session just created at Ralio is stored, merging it into a record a
    /// webhook created first.
    pub fn store_created(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> Result<(StoredSession, Option<RecordAfter>), IncompleteSession> {
        let id = record.session_id;
        let (_, commit) = self.verdict(&Write::creation(record, buckets));
        let stored = match &commit {
            Some(RecordAfter::Session(_, fields)) => {
                StoredSession::Stored(fields.record(self.owner, id)?)
            }
            // The creation's guard refuses it only when the session is stored with its page
            // already.
            _ => StoredSession::AlreadyStored(self.session(id)?.unwrap_or_else(|| record.clone())),
        };
        Ok((stored, commit))
    }

    pub fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, IncompleteSession> {
        self.sessions
            .get(&id)
            .map(|fields| fields.record(self.owner, id))
            .transpose()
    }

    /// Returns the user's records as the decisions read them.
    pub fn user_snapshot(&self, uid: Uid) -> Result<UserSnapshot, IncompleteSession> {
        let sessions = self
            .sessions
            .iter()
            .map(|(id, fields)| fields.record(self.owner, *id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UserSnapshot::new(
            UserProfile {
                uid,
                kyc: self.kyc.clone(),
            },
            sessions,
            self.accounts.values().cloned().collect(),
            self.sessions_version,
        )
        .with_erasure(self.erased))
    }
}
