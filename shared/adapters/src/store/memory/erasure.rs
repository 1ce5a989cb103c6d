//! Erasure in memory: the ledger redacts the records, and the store redacts what only it keeps
//! (the audit trail and the quarantine). One lock makes it atomic, so it cannot be cut short.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::erasure::{payload_names, redact_audit};
use idv_model::{Erasure, Owner, Uid};

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
        let since = quarantined_since.date_naive();
        state
            .quarantine
            .retain(|(day, _), entry| *day < since || !payload_names(&entry.body, uid));
        if first {
            state.audit(owner, stamp.audit());
        }
        Ok(stamp)
    }
}
