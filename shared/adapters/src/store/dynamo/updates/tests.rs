use super::*;
use idv_model::ExpirySource;

#[test]
fn verified_condition_lists_every_allowed_prior() {
    let mut expr = Expression::default();
    expr.condition(&session_condition(SessionGuard::Lifecycle(Phase::Verified)).unwrap());
    assert_eq!(
        expr.condition_expression().unwrap(),
        "attribute_not_exists(#state) OR #state IN (:v0, :v1, :v2) OR (#state = :v3 AND #expirySource = :v4)"
    );
    let values = expr.values().unwrap();
    let value = |k: &str| values[k].as_s().unwrap().clone();
    assert_eq!(value(":v0"), "NOT_STARTED");
    assert_eq!(value(":v2"), "REVIEW");
    assert_eq!(value(":v3"), "EXPIRED");
    assert_eq!(value(":v4"), "inferred");
}

#[test]
fn inferred_expiry_needs_a_stored_open_session() {
    let mut expr = Expression::default();
    let guard = SessionGuard::Lifecycle(Phase::Expired(ExpirySource::Inferred));
    expr.condition(&session_condition(guard).unwrap());
    assert_eq!(expr.condition_expression().unwrap(), "#state IN (:v0, :v1)");
    let mut expr = Expression::default();
    expr.condition(&session_condition(SessionGuard::Lifecycle(Phase::NotStarted)).unwrap());
    assert_eq!(
        expr.condition_expression().unwrap(),
        "attribute_not_exists(#state)",
        "nothing may precede NOT_STARTED"
    );
}

#[test]
fn a_later_set_replaces_an_earlier_clause_and_its_value() {
    let mut expr = Expression::default();
    expr.fill("state", AttributeValue::Bool(false))
        .set("state", AttributeValue::Bool(true))
        .set("state", AttributeValue::Bool(true));
    assert_eq!(expr.update_expression().unwrap(), "SET #state = :v2");
    assert_eq!(expr.values().unwrap().len(), 1, "no unused values");
}

#[test]
fn set_wins_over_fill_and_placeholders_never_collide() {
    let mut expr = Expression::default();
    expr.set("state", AttributeValue::Bool(true))
        .fill("state", AttributeValue::Bool(false))
        .fill("createdAt", AttributeValue::Bool(false))
        .remove("leaseUntil");
    expr.condition(&Cond::Eq("state", AttributeValue::Bool(true)));
    assert_eq!(
        expr.update_expression().unwrap(),
        "SET #createdAt = if_not_exists(#createdAt, :v1), #state = :v0 REMOVE #leaseUntil"
    );
    assert_eq!(expr.condition_expression().unwrap(), "#state = :v2");
}
