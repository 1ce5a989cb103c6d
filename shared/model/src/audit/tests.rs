use super::*;

#[test]
fn refused_moves_say_what_was_kept() {
    let inferred = Phase::Expired(ExpirySource::Inferred);
    assert_eq!(
        describe::session(Verdict::Apply, Some(Phase::Review), inferred),
        "now EXPIRED(inferred)"
    );
    assert_eq!(
        describe::session(Verdict::Stale, Some(Phase::Verified), Phase::Review),
        "kept VERIFIED, not REVIEW"
    );
    assert_eq!(
        describe::session(Verdict::Stale, None, inferred),
        "no session, not EXPIRED(inferred)"
    );
}

/// Stored outcomes keep the names they had as strings, and a name from another release reads
/// back unchanged.
#[test]
fn outcomes_keep_their_stored_names() {
    for (outcome, name) in [
        (AuditOutcome::Applied, "applied"),
        (AuditOutcome::Quarantined, "quarantined"),
        (AuditOutcome::Replayed, "replayed"),
        (AuditOutcome::Other("unhandled".into()), "unhandled"),
    ] {
        let json = serde_json::to_string(&outcome).unwrap();
        assert_eq!(json, format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<AuditOutcome>(&json).unwrap(),
            outcome
        );
        assert!(outcome == name);
    }
}
