//! Erasure ends a user's personal data while keeping the compliance record that anti-money-
//! laundering rules oblige the merchant to keep.
//!
//! What goes at once is what describes the person or opens their verification: the hosted
//! page's link (a bearer link), Ralio's failure messages (the codes stay), account aliases
//! (merchant free text) and the audit trail's notes. What stays is pseudonymous: ids, states,
//! levels, decisions, codes and timestamps, and it expires at `retained_until`. Both stores redact
//! with the functions below, so they leave the same record.

use chrono::Duration;

use crate::Uid;
use crate::accounts::{AccountRecord, AccountStatus, RalioAccount};
use crate::audit::{AppliedChange, AuditEntry, AuditOutcome};
pub use crate::records::Erasure;
use crate::records::{FailureReason, SessionFields};

/// The audit action that records an erasure, and that its domain event is made from.
pub const USER_ERASED: &str = "user_erased";

/// The compliance record is kept this long by default (`COMPLIANCE_RETENTION`): five years, the
/// common anti-money-laundering term for customer due-diligence records.
pub const DEFAULT_RETENTION: Duration = Duration::days(1825);

impl Erasure {
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

/// Says whom an erasure is about: the user, and the ids Ralio's payloads may name them by
/// instead (a session, Ralio's KYC record, an account).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub uid: Option<Uid>,
    pub sessions: Vec<crate::SessionId>,
    pub accounts: Vec<String>,
    pub kyc_id: Option<i64>,
}

impl Subject {
    pub fn of(uid: Uid) -> Self {
        Self {
            uid: Some(uid),
            ..Self::default()
        }
    }

    /// Returns the ids as text, lowercase, for matching.
    fn texts(&self) -> Vec<String> {
        self.uid
            .iter()
            .map(ToString::to_string)
            .chain(self.sessions.iter().map(ToString::to_string))
            .chain(self.accounts.iter().cloned())
            .filter(|t| !t.is_empty())
            .map(|t| t.to_ascii_lowercase())
            .collect()
    }

    /// Says whether a kept payload names the subject: by any of its ids as a string value (in
    /// any case, anywhere in the JSON), by its `kycId`, or, for bytes that are not JSON, by any
    /// of its ids' text.
    pub fn named_in(&self, body: &[u8]) -> bool {
        let texts = self.texts();
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => self.names_value(&value, None, &texts),
            Err(_) => {
                let body = body.to_ascii_lowercase();
                texts.iter().any(|text| {
                    body.windows(text.len())
                        .any(|window| window == text.as_bytes())
                })
            }
        }
    }

    fn names_value(&self, value: &serde_json::Value, key: Option<&str>, texts: &[String]) -> bool {
        use serde_json::Value;
        match value {
            Value::String(s) => texts.iter().any(|t| s.eq_ignore_ascii_case(t)),
            Value::Number(n) => {
                matches!(key, Some("kycId" | "kyc_id"))
                    && n.as_i64().is_some()
                    && n.as_i64() == self.kyc_id
            }
            Value::Array(items) => items.iter().any(|v| self.names_value(v, key, texts)),
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| self.names_value(v, Some(k.as_str()), texts)),
            _ => false,
        }
    }
}

/// Says whether an audit entry still holds something [`redact_audit`] removes, so a resumed
/// erasure rewrites only what is left.
pub fn audit_needs_redaction(entry: &AuditEntry) -> bool {
    redact_audit(entry) != *entry
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

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
    fn a_payload_names_its_subject_by_any_of_its_ids_anywhere() {
        let uid = Uid::parse("0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10").unwrap();
        let session = crate::SessionId::parse("a534c9a9-b4ae-4db5-86c3-9506219e4c36").unwrap();
        let subject = Subject {
            uid: Some(uid),
            sessions: vec![session],
            accounts: vec!["acc-77".into()],
            kyc_id: Some(40817),
        };
        let named = [
            &br#"{"data":{"userId":"0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10"}}"#[..],
            br#"{"x":{"y":["0B9C7A52-3F1E-4E43-9A35-2F8F2D3C1A10"]}}"#,
            br#"{"data":{"sessionId":"a534c9a9-b4ae-4db5-86c3-9506219e4c36"}}"#,
            br#"{"data":{"accountId":"acc-77"}}"#,
            br#"{"data":{"kycId":40817}}"#,
            b"not json 0b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10",
        ];
        for body in named {
            assert!(subject.named_in(body), "{}", String::from_utf8_lossy(body));
        }
        let unnamed = [
            &br#"{"data":{"userId":"1b9c7a52-3f1e-4e43-9a35-2f8f2d3c1a10","amount":40817}}"#[..],
            br#"{"data":{"kycId":40818}}"#,
            b"not json at all",
        ];
        for body in unnamed {
            assert!(!subject.named_in(body), "{}", String::from_utf8_lossy(body));
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
