//! This module keeps accounts, their activations and the audit trail.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use idv_model::{
    AccountIdentity, AccountRecord, AccountRefusal, AccountWrite, AuditEntry, Owner,
    WaitingActivation,
};

use super::MemoryStore;
use crate::store::{AccountStore, AuditLog, AuditPage, StoreResult};

#[async_trait]
impl AccountStore for MemoryStore {
    async fn write_account(
        &self,
        write: &AccountWrite,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<AccountRecord, AccountRefusal>> {
        let mut state = self.lock()?;
        Ok(match state.ledger.write_account(write, now) {
            Ok(written) => {
                for entry in written.audits {
                    state.audit(Owner::User(write.record.uid), entry);
                }
                Ok(written.record)
            }
            Err(stored) => Err(stored),
        })
    }

    async fn activations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<WaitingActivation>> {
        Ok(self.lock()?.ledger.activations_since(since, now))
    }

    async fn note_activation_identity(
        &self,
        waiting: &WaitingActivation,
        identity: &AccountIdentity,
    ) -> StoreResult<()> {
        self.lock()?
            .ledger
            .note_activation_identity(&waiting.activation.account_id, identity.clone());
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()> {
        self.lock()?.audit(owner, entry.clone());
        Ok(())
    }

    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>> {
        let state = self.lock()?;
        Ok(state
            .audit
            .get(&owner)
            .map(|trail| trail.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn audit_page(
        &self,
        owner: Owner,
        limit: u32,
        after: Option<&str>,
    ) -> StoreResult<AuditPage> {
        let state = self.lock()?;
        let Some(trail) = state.audit.get(&owner) else {
            return Ok(AuditPage {
                entries: Vec::new(),
                next: None,
            });
        };
        let mut page: Vec<(&String, &AuditEntry)> = trail
            .iter()
            .rev()
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() < after))
            .take(limit as usize + 1)
            .collect();
        let next = (page.len() > limit as usize).then(|| {
            page.truncate(limit as usize);
            page.last().map(|(key, _)| (*key).clone())
        });
        Ok(AuditPage {
            entries: page.into_iter().map(|(_, e)| e.clone()).collect(),
            next: next.flatten(),
        })
    }
}
