//! Erasure in memory: the ledger redacts the records, and the store redacts what only it keeps
//! (the audit trail and the quarantine). One lock makes it atomic, so it cannot be cut short.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::erasure::{Subject, redact_audit};
use idv_model::ledger::OwnerRecords;
use idv_model::{AccountStatus, Erasure, Owner, Uid};

use super::MemoryStore;
use crate::store::{Eraser, StoreResult};

#[async_trait]
impl Eraser for MemoryStore {
    async fn erase_user(
        &self,
        uid: Uid,
        erasure: Erasure,
        quarantined_since: DateTime<Utc>,
    ) -> StoreResult<Erasure> {
        let owner = Owner::User(uid);
        let mut state = self.lock()?;
        let first = state.ledger.owner(owner).is_none_or(|r| r.erased.is_none());
        let stamp = state.ledger.erase(owner, erasure);
        if let Some(trail) = state.audit.get_mut(&owner) {
            for entry in trail.values_mut() {
                *entry = redact_audit(entry);
            }
        }
        let subject = state
            .ledger
            .owner(owner)
            .map_or_else(|| Subject::of(uid), |records| subject_of(uid, records));
        let since = quarantined_since.date_naive();
        state
            .quarantine
            .retain(|(day, _), entry| *day < since || !subject.named_in(&entry.body));
        if first {
            state.audit(owner, stamp.audit());
        }
        Ok(stamp)
    }
}

/// Returns the ids Ralio's payloads may name the user by.
fn subject_of(uid: Uid, records: &OwnerRecords) -> Subject {
    Subject {
        uid: Some(uid),
        sessions: records.sessions.keys().copied().collect(),
        accounts: records
            .accounts
            .values()
            .filter_map(|a| match &a.status {
                AccountStatus::Created { account, .. } => Some(account.id.clone()),
                _ => None,
            })
            .collect(),
        kyc_id: records.kyc.kyc_id,
    }
}
