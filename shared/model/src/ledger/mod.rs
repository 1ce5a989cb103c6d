//! The ledger: a whole store as the model sees it, and the one `apply`, a pure function from
//! an owner's records and a write (an event, a watcher action, a creation) to a decision and
//! the records it leaves. It is the model's top layer below the read models.
//!
//! The in-memory store is this module over a map. The DynamoDB store sends the same
//! [`Write`] as one conditional request and, when DynamoDB refuses it, asks this module what
//! the refusal means, from the item as it was. The property tests drive this module too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::accounts::{AccountId, AccountRecord};
use crate::audit::AuditEntry;
use crate::change::EventOutcome;
use crate::expiry::ExpiryBucket;
use crate::leases::LeaseHold;

mod accounts;
mod leases;
mod plan;

use crate::lifecycle::Verdict;
use crate::records::{IncompleteSession, KycRecord, SessionFields, SessionRecord, UserProfile};
use crate::writes::{WatchAction, Write};
use crate::{Currency, EventId, Owner, SessionId, Uid};
pub use accounts::{AccountAudits, AccountWritten, ActivationDecision};
pub use plan::{Disagreement, Plan, PlanResult, Refusal};

/// Every owner's records and the events already handled: a whole store, as the model sees
/// it. The in-memory store is a `Ledger` behind a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub owners: BTreeMap<Owner, OwnerRecords>,
    /// Event ids already handled, whatever came of them.
    pub seen: BTreeSet<EventId>,
    /// Event ids whose repeat has been audited: a repeat is audited once, however often it
    /// comes.
    pub repeats_audited: BTreeSet<EventId>,
    /// Whose each created account is, by Ralio's account id: how an `account_activated` event
    /// (which names only the account) finds its record.
    pub account_owners: BTreeMap<AccountId, (Uid, Currency, String)>,
    /// Activations whose account is not recorded yet, kept until it is.
    pub activations: BTreeMap<AccountId, crate::activation::WaitingActivation>,
    /// The owners applied events paired each Ralio `kycId` with: how an event that names
    /// only the `kycId` finds its owner.
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

    /// The owners a session is stored for: one, unless events of different owners named it.
    pub fn session_owners(&self, session_id: SessionId) -> Vec<Owner> {
        self.owners
            .values()
            .filter(|records| records.sessions.contains_key(&session_id))
            .map(|records| records.owner)
            .collect()
    }

    /// Executes an event's plan once: a repeat of an event id is a duplicate and changes
    /// nothing.
    pub fn execute(&mut self, plan: &Plan<'_>) -> Executed {
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

    /// The owners applied events paired `kyc_id` with.
    pub fn kyc_id_owners(&self, kyc_id: i64) -> Vec<Owner> {
        self.kyc_owners
            .get(&kyc_id)
            .map(|owners| owners.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A watcher action on one session, kept when it changes something.
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
        let (stored, commit) = records.store_created(record, buckets)?;
        if let Some(commit) = commit {
            records.commit(commit);
            records.sessions_version += 1;
        }
        Ok(stored)
    }
}

/// Everything the service keeps about one owner (a user or a related party).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecords {
    pub owner: Owner,
    pub kyc: KycRecord,
    pub sessions: BTreeMap<SessionId, SessionFields>,
    /// A user's accounts, by currency and alias.
    pub accounts: BTreeMap<(Currency, String), AccountRecord>,
    /// Who is creating a session for this user right now, if anyone.
    pub creation_lease: Option<LeaseHold>,
    /// Sessions created and stored so far (see [`UserSnapshot::sessions_version`]).
    pub sessions_version: u64,
}

/// The records a write leaves, to be kept when it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordAfter {
    Session(SessionId, SessionFields),
    Kyc(KycRecord),
}

/// What became of an event's plan, with its audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub outcome: EventOutcome,
    /// `None` for a repeat already audited.
    pub audit: Option<AuditEntry>,
}

/// What a watcher action did to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchOutcome {
    Changed,
    /// Already flagged, or already expired.
    Unchanged,
    /// Not open any more (an outcome arrived, or it is in review): left alone.
    Skipped,
    /// No such session.
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

/// What a watcher action came to, with its audit entry when it changed something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchDecision {
    pub outcome: WatchOutcome,
    pub audit: Option<AuditEntry>,
    pub commit: Option<RecordAfter>,
}

/// How storing a newly created session went.
#[derive(Debug, Clone, PartialEq)]
pub enum StoredSession {
    /// Stored, possibly merged into a record a webhook created first.
    Stored(SessionRecord),
    /// This session was stored before; here it is.
    AlreadyStored(SessionRecord),
}

/// Everything the service knows about one user, read in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSnapshot {
    pub profile: UserProfile,
    /// Newest first.
    pub sessions: Vec<SessionRecord>,
    /// Oldest first.
    pub accounts: Vec<AccountRecord>,
    /// How many sessions were created and stored for the user: a creation lease is given only
    /// to a request that saw the current count.
    pub sessions_version: u64,
}

impl UserSnapshot {
    pub fn empty(uid: Uid) -> Self {
        Self {
            profile: UserProfile::unknown(uid),
            sessions: Vec::new(),
            accounts: Vec::new(),
            sessions_version: 0,
        }
    }

    /// A snapshot from its parts, in the documented order.
    pub fn new(
        profile: UserProfile,
        mut sessions: Vec<SessionRecord>,
        mut accounts: Vec<AccountRecord>,
        sessions_version: u64,
    ) -> Self {
        sessions.sort_by(SessionRecord::newest_first);
        accounts.sort_by(AccountRecord::oldest_first);
        Self {
            profile,
            sessions,
            accounts,
            sessions_version,
        }
    }
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
        }
    }

    /// The verdict on `write` and, when it applies, what it leaves.
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

    /// A watcher action on one session.
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

    /// Stores a session just created at Ralio, merging into a record a webhook created first.
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
            // Refused only when the session is stored with its page already.
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

    /// The user's records as the decisions read them.
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
        ))
    }
}
