//! Erasure ends a user's personal data while keeping the compliance record that anti-money-
//! laundering rules oblige the merchant to keep.
//!
//! What goes at once is what describes the person or opens their verification: the hosted
//! page's link (a bearer link), Ralio's failure messages (the codes stay), account aliases
//! (merchant free text) and the audit trail's notes. What stays is pseudonymous: ids, states,
//! levels, decisions, codes and timestamps, and it expires at `retained_until`. Both stores redact
//! with the functions below, so they leave the same record.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::Uid;
use crate::accounts::{AccountRecord, AccountStatus, RalioAccount};
use crate::audit::{AppliedChange, AuditEntry, AuditOutcome};
use crate::records::{FailureReason, SessionFields};

/// The audit action that records an erasure, and that its domain event is made from.
pub const USER_ERASED: &str = "user_erased";

/// The compliance record is kept this long by default (`COMPLIANCE_RETENTION`): five years, the
/// common anti-money-laundering term for customer due-diligence records.
pub const DEFAULT_RETENTION: Duration = Duration::days(1825);

/// Records that a user was erased: when, and until when the pseudonymous record is kept. It is
/// the tombstone, and the same erasure asked for again answers with the same stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    pub erased_at: DateTime<Utc>,
    pub retained_until: DateTime<Utc>,
}

impl Erasure {
    /// Returns the erasure that a request at `now` begins, keeping the record for `retention`.
    pub fn begin(now: DateTime<Utc>, retention: Duration) -> Self {
        Self {
            erased_at: now,
            retained_until: now + retention,
        }
    }

    /// Returns the audit entry that records the erasure in the user's trail. It has an applied
    /// change, so the `User Erased` domain event is published from it.
    pub fn audit(&self) -> AuditEntry {
        AuditEntry {
            at: self.erased_at,
            action: USER_ERASED.to_owned(),
            outcome: AuditOutcome::Applied,
            event_id: None,
            session_id: None,
            detail: String::new(),
            applied: Some(AppliedChange::UserErased {
                retained_until: self.retained_until,
            }),
        }
    }
}

/// Returns a failure reason without Ralio's message, which may describe the person (a name that
/// did not match, a document's details). The check, code and category stay.
pub fn redact_reason(reason: &FailureReason) -> FailureReason {
    FailureReason {
        message: String::new(),
        ..reason.clone()
    }
}

/// Redacts a session: the hosted page's link and the failure messages go, and so do the expiry
/// and sweep indexes, because nothing may act on an erased user's session again.
pub fn redact_session(fields: &mut SessionFields) {
    fields.hosted_url = None;
    if let Some(reasons) = &mut fields.failure_reasons {
        *reasons = reasons.iter().map(redact_reason).collect();
    }
    fields.warn_bucket = None;
    fields.expire_bucket = None;
    fields.sweep = None;
}

/// Redacts an account: the alias is the merchant's free text about the person and the balances
/// are financial data about them, so they go. Ralio's account id, the currency and the status stay.
pub fn redact_account(record: &mut AccountRecord) {
    record.alias.clear();
    if let AccountStatus::Created { account, .. } = &mut record.status {
        redact_ralio_account(account);
    }
}

/// Redacts Ralio's answer about an account as [`redact_account`] does.
pub fn redact_ralio_account(account: &mut RalioAccount) {
    account.alias.clear();
    account.balance = 0;
    account.pending_in = 0;
    account.pending_out = 0;
}

/// Returns an audit entry without its note and without the personal data its applied change
/// carries (an alias, failure messages). Ids, outcomes, codes and times stay.
pub fn redact_audit(entry: &AuditEntry) -> AuditEntry {
    let applied = entry.applied.clone().map(|change| match change {
        AppliedChange::AccountCreated {
            account_id,
            currency,
            ..
        } => AppliedChange::AccountCreated {
            account_id,
            alias: String::new(),
            currency,
        },
        AppliedChange::SessionState {
            state,
            expiry_source,
            failure_reasons,
        } => AppliedChange::SessionState {
            state,
            expiry_source,
            failure_reasons: failure_reasons.iter().map(redact_reason).collect(),
        },
        other => other,
    });
    AuditEntry {
        detail: String::new(),
        applied,
        ..entry.clone()
    }
}

/// Says whether a kept payload names the user anywhere: as its `userId`, or as the user id's text
/// in any field (or in bytes that are not JSON), in either case.
pub fn payload_names(body: &[u8], uid: Uid) -> bool {
    if crate::webhook::named_user(body) == Some(uid) {
        return true;
    }
    let needle = uid.to_string().to_ascii_lowercase();
    body.to_ascii_lowercase()
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Says whether an audit entry still holds something [`redact_audit`] removes, so a resumed
/// erasure rewrites only what is left.
pub fn audit_needs_redaction(entry: &AuditEntry) -> bool {
    redact_audit(entry) != *entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_erasure_keeps_its_record_for_the_retention_and_is_audited_as_applied() {
        let erasure = Erasure::begin(at("2026-01-01T00:00:00Z"), Duration::days(1825));
        assert_eq!(erasure.retained_until, at("2030-12-31T00:00:00Z"));
        let audit = erasure.audit();
        assert_eq!(audit.action, USER_ERASED);
        assert_eq!(audit.outcome, AuditOutcome::Applied);
        assert!(audit.is_publishable());
    }

    #[test]
    fn a_payload_names_a_user_by_field_or_by_text_in_any_case() {
        let uid = Uid::parse("0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10").unwrap();
        let other = Uid::parse("1b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10").unwrap();
        let named = br#"{"data":{"userId":"0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10"}}"#;
        let nested = br#"{"x":{"y":["0B9C7A52-3F1E-4E43-9A35-2F8F2D3C1A10"]}}"#;
        let broken = b"not json 0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10";
        for body in [&named[..], &nested[..], &broken[..]] {
            assert!(payload_names(body, uid));
            assert!(!payload_names(body, other));
        }
    }

    #[test]
    fn redaction_removes_aliases_messages_and_notes_but_keeps_ids_and_codes() {
        let created = AuditEntry {
            at: at("2026-01-01T00:00:00Z"),
            action: "account_created".into(),
            outcome: AuditOutcome::Applied,
            event_id: None,
            session_id: None,
            detail: "alias Holiday Fund".into(),
            applied: Some(AppliedChange::AccountCreated {
                account_id: "acc-1".into(),
                alias: "Holiday Fund".into(),
                currency: Currency::Eur,
            }),
        };
        assert!(audit_needs_redaction(&created));
        let redacted = redact_audit(&created);
        assert!(!audit_needs_redaction(&redacted));
        assert_eq!(redacted.detail, "");
        assert_eq!(
            redacted.applied,
            Some(AppliedChange::AccountCreated {
                account_id: "acc-1".into(),
                alias: String::new(),
                currency: Currency::Eur,
            })
        );
        let reason = FailureReason {
            check: "face_match".into(),
            code: "NO_MATCH".into(),
            message: "Jane Doe does not match".into(),
            category: Some("biometrics".into()),
        };
        let redacted = redact_reason(&reason);
        assert_eq!(redacted.message, "");
        assert_eq!((redacted.check, redacted.code), (reason.check, reason.code));
    }
}
