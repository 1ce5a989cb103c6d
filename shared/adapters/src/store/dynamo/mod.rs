//! The DynamoDB store: one table, conditional writes and transactions, items mapped with
//! `serde_dynamo`. Key formats, attribute names and conditions live in [`schema`].

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use idv_model::lifecycle::{Move, sortable_timestamp};
use idv_model::webhook::parse_timestamp;
use idv_model::{
    ApplyOutcome, BucketKind, Change, Currency, EventApplication, EventId, ExpiryBucket,
    ExpirySource, FailureReason, HostedUrl, KycLevel, LevelStamp, Owner, Phase, ReverifyNotice,
    SessionId, SessionRecord, SessionState, Uid, UserProfile,
};
use serde::Deserialize;

use super::{
    AccountLedger, AccountRecord, AccountReservation, AccountStatus, Applied, AuditEntry, AuditLog,
    BucketMember, BucketPage, EventLedger, ExpiryIndex, QuarantineEntry, RalioAccount,
    SessionWriter, StoreError, StoreResult, StoredSession, UserReader, UserSnapshot, WatchOutcome,
    describe,
};
use super::{CreationLease, Lease, LeaseToken};

pub mod schema;
pub mod table;

use schema::{Expr, attr, entity};

/// How long event markers are kept for de-duplication.
pub const DEFAULT_MARKER_TTL: Duration = Duration::days(90);

/// Cancellation code DynamoDB gives a failed condition inside a transaction.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// Cancellation code for a transaction that raced another on the same item: worth retrying.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";
const CONFLICT_RETRIES: u32 = 3;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    marker_ttl: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            marker_ttl: DEFAULT_MARKER_TTL,
        }
    }

    pub fn with_marker_ttl(mut self, ttl: Duration) -> Self {
        self.marker_ttl = ttl;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn ts(at: DateTime<Utc>) -> AttributeValue {
    s(sortable_timestamp(at))
}

fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([(attr::PK.to_owned(), s(pk)), (attr::SK.to_owned(), s(sk))])
}

fn to_av<T: serde::Serialize>(value: &T) -> StoreResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Rejected(e.to_string()))
}

fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + Debug,
    R: Debug,
{
    match &err {
        SdkError::ServiceError(service) if service.err().code() == Some("ValidationException") => {
            StoreError::Rejected(format!(
                "{operation}: {}",
                service.err().message().unwrap_or("validation failed")
            ))
        }
        SdkError::ServiceError(service) => StoreError::Unavailable(format!(
            "{operation}: {}",
            service.err().code().unwrap_or("service error")
        )),
        SdkError::TimeoutError(_) => StoreError::Unavailable(format!("{operation}: timed out")),
        SdkError::DispatchFailure(_) => {
            StoreError::Unavailable(format!("{operation}: could not reach DynamoDB"))
        }
        _ => StoreError::Unavailable(format!("{operation}: {err:?}")),
    }
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Rejected(err.to_string())
}

fn decode<T: for<'de> Deserialize<'de>>(item: &HashMap<String, AttributeValue>) -> StoreResult<T> {
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn time(value: &str) -> StoreResult<DateTime<Utc>> {
    parse_timestamp(value).ok_or_else(|| StoreError::Corrupt(format!("bad timestamp {value:?}")))
}

fn optional_time(value: Option<&str>) -> StoreResult<Option<DateTime<Utc>>> {
    value.map(time).transpose()
}

// ---- items as read back ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionItem {
    owner_type: String,
    owner_id: String,
    session_id: String,
    state: String,
    #[serde(default)]
    expiry_source: Option<String>,
    #[serde(default)]
    hosted_url: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    failure_reasons: Vec<FailureReason>,
    #[serde(default)]
    expiring_soon: bool,
    #[serde(default)]
    updated_at: Option<String>,
}

fn phase_of(state: &str, source: Option<&str>) -> StoreResult<Phase> {
    let state = SessionState::parse(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let source = source
        .and_then(schema::parse_expiry_source)
        .unwrap_or(ExpirySource::Ralio);
    Ok(Phase::from_state(state, source))
}

impl SessionItem {
    fn phase(&self) -> StoreResult<Phase> {
        phase_of(&self.state, self.expiry_source.as_deref())
    }

    fn into_record(self) -> StoreResult<SessionRecord> {
        let owner = schema::parse_owner(&self.owner_type, &self.owner_id)
            .ok_or_else(|| StoreError::Corrupt("session owner".into()))?;
        let session_id =
            SessionId::parse(&self.session_id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let phase = self.phase()?;
        let created_at = time(self.created_at.as_deref().unwrap_or_default())?;
        Ok(SessionRecord {
            owner,
            session_id,
            phase,
            hosted_url: self.hosted_url.map(HostedUrl::new),
            created_at,
            expires_at: optional_time(self.expires_at.as_deref())?,
            failure_reasons: self.failure_reasons,
            expiring_soon: self.expiring_soon,
            updated_at: optional_time(self.updated_at.as_deref())?.unwrap_or(created_at),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileItem {
    #[serde(default)]
    kyc_level: Option<String>,
    #[serde(default)]
    kyc_at: Option<String>,
    #[serde(default)]
    kyc_event_id: Option<String>,
    #[serde(default)]
    kyc_id: Option<i64>,
    #[serde(default)]
    reverify_date: Option<String>,
    #[serde(default)]
    reverify_days_remaining: Option<i64>,
    #[serde(default)]
    reverify_at: Option<String>,
    #[serde(default)]
    reverify_event_id: Option<String>,
}

fn event_id(value: &str) -> StoreResult<EventId> {
    EventId::parse(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl ProfileItem {
    fn level(&self) -> StoreResult<Option<LevelStamp>> {
        match (&self.kyc_level, &self.kyc_at, &self.kyc_event_id) {
            (Some(level), Some(at), Some(id)) => Ok(Some(LevelStamp {
                level: KycLevel::parse(level),
                at: time(at)?,
                event_id: event_id(id)?,
            })),
            _ => Ok(None),
        }
    }

    fn reverify(&self) -> StoreResult<Option<ReverifyNotice>> {
        match (
            &self.reverify_date,
            &self.reverify_at,
            &self.reverify_event_id,
        ) {
            (Some(date), Some(at), Some(id)) => Ok(Some(ReverifyNotice {
                expiration_date: NaiveDate::parse_from_str(date, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                days_remaining: self.reverify_days_remaining.unwrap_or_default(),
                at: time(at)?,
                event_id: event_id(id)?,
            })),
            _ => Ok(None),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountItem {
    owner_id: String,
    alias: String,
    currency: String,
    account_status: String,
    #[serde(default)]
    lease_until: Option<String>,
    #[serde(default)]
    ralio_account: Option<RalioAccount>,
    created_at: String,
    updated_at: String,
}

impl AccountItem {
    fn into_record(self) -> StoreResult<AccountRecord> {
        let status = match (self.account_status.as_str(), self.ralio_account) {
            (schema::ACCOUNT_CREATED, Some(account)) => AccountStatus::Created(account),
            (schema::ACCOUNT_PENDING, _) => AccountStatus::Pending {
                lease_until: time(self.lease_until.as_deref().unwrap_or_default())?,
            },
            (other, _) => return Err(StoreError::Corrupt(format!("account status {other:?}"))),
        };
        Ok(AccountRecord {
            uid: Uid::parse(&self.owner_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            alias: self.alias,
            currency: Currency::parse(&self.currency)
                .ok_or_else(|| StoreError::Corrupt("account currency".into()))?,
            status,
            created_at: time(&self.created_at)?,
            updated_at: time(&self.updated_at)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditItem {
    at: String,
    action: String,
    outcome: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    about_session_id: Option<String>,
    #[serde(default)]
    detail: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuarantineItem {
    received_at: String,
    reason_code: String,
    reason: String,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    body: serde_bytes_compat::Bytes,
}

/// DynamoDB binary attributes come back as bytes; this accepts them through serde.
mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer};

    pub struct Bytes(pub Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            deserializer.deserialize_byte_buf(Visitor)
        }
    }
}

// ---- writes --------------------------------------------------------------------------------

/// What a cancelled transaction tells us.
enum Cancelled {
    /// The event marker exists: this event was handled before.
    Duplicate,
    /// The change's condition failed; here is the item as it was.
    Refused(Option<HashMap<String, AttributeValue>>),
    /// Raced another transaction: try again.
    Conflict,
    Other(String),
}

fn classify(reasons: &[CancellationReason], change_index: Option<usize>) -> Cancelled {
    let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
    if code(0) == CONDITION_FAILED {
        return Cancelled::Duplicate;
    }
    if reasons
        .iter()
        .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
    {
        return Cancelled::Conflict;
    }
    if let Some(i) = change_index
        && code(i) == CONDITION_FAILED
    {
        return Cancelled::Refused(reasons[i].item().cloned());
    }
    let codes: Vec<&str> = (0..reasons.len()).map(code).collect();
    Cancelled::Other(codes.join(","))
}

impl DynamoStore {
    fn ttl_epoch(&self, now: DateTime<Utc>) -> AttributeValue {
        AttributeValue::N((now + self.marker_ttl).timestamp().to_string())
    }

    fn marker_put(
        &self,
        event: &EventApplication,
        outcome: ApplyOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        let mut item = key(schema::event_pk(event.event_id), schema::EVENT_SK);
        item.insert(attr::ENTITY.into(), s(entity::EVENT));
        item.insert(attr::EVENT_TYPE.into(), s(event.event_type.clone()));
        item.insert(attr::OUTCOME.into(), s(outcome.as_str()));
        item.insert(attr::RECEIVED_AT.into(), ts(now));
        item.insert(attr::TTL.into(), self.ttl_epoch(now));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#PK)")
            .expression_attribute_names("#PK", attr::PK)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn audit_item(&self, owner: Owner, entry: &AuditEntry) -> HashMap<String, AttributeValue> {
        let mut item = key(schema::audit_pk(owner), schema::audit_sk(entry.at));
        item.insert(attr::ENTITY.into(), s(entity::AUDIT));
        item.insert(attr::AT.into(), ts(entry.at));
        item.insert(attr::ACTION.into(), s(entry.action.clone()));
        item.insert(attr::OUTCOME.into(), s(entry.outcome.clone()));
        if let Some(id) = entry.event_id {
            item.insert(attr::EVENT_ID.into(), s(id.to_string()));
        }
        if let Some(id) = entry.session_id {
            item.insert(attr::AUDIT_SESSION_ID.into(), s(id.to_string()));
        }
        if !entry.detail.is_empty() {
            item.insert(attr::DETAIL.into(), s(entry.detail.clone()));
        }
        item
    }

    fn audit_put(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.audit_item(owner, entry)))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        pk: String,
        sk: String,
        expr: &Expr,
        set: String,
        condition: impl Into<Option<String>>,
    ) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(set)
            .set_condition_expression(condition.into())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The conditional update a change stands for.
    fn change_update(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<TransactWriteItem> {
        let owner = event.owner;
        let mut expr = Expr::default();
        let mut sets = vec![
            format!(
                "{} = {}",
                expr.name(attr::UPDATED_AT),
                expr.value("now", ts(now))
            ),
            format!(
                "{} = {}",
                expr.name(attr::OWNER_TYPE),
                expr.string("ownerType", schema::owner_type(owner))
            ),
            format!(
                "{} = {}",
                expr.name(attr::OWNER_ID),
                expr.string("ownerId", schema::owner_id(owner))
            ),
        ];
        match &event.change {
            Change::Session {
                session_id,
                target,
                failure_reasons,
                hosted_url,
                expires_at,
                expiry_buckets,
            } => {
                let (state, code) = (expr.name(attr::STATE), expr.name(attr::STATE_CODE));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::ENTITY),
                    expr.string("entity", entity::SESSION)
                ));
                sets.push(format!(
                    "{state} = {}",
                    expr.string("state", target.state().name())
                ));
                sets.push(format!(
                    "{code} = {}",
                    expr.value("code", AttributeValue::N(target.state().code().to_string()))
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::SESSION_ID),
                    expr.string("sessionId", session_id.to_string())
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::FAILURE_REASONS),
                    expr.value("reasons", to_av(failure_reasons)?)
                ));
                let created = expr.name(attr::CREATED_AT);
                sets.push(format!("{created} = if_not_exists({created}, :now)"));
                let soon = expr.name(attr::EXPIRING_SOON);
                sets.push(format!(
                    "{soon} = if_not_exists({soon}, {})",
                    expr.value("false", AttributeValue::Bool(false))
                ));
                let source = expr.name(attr::EXPIRY_SOURCE);
                let source_value = target
                    .expiry_source()
                    .map_or("none", schema::expiry_source_name);
                sets.push(format!(
                    "{source} = {}",
                    expr.string("source", source_value)
                ));
                if let Some(url) = hosted_url {
                    let n = expr.name(attr::HOSTED_URL);
                    sets.push(format!(
                        "{n} = if_not_exists({n}, {})",
                        expr.string("url", url.expose())
                    ));
                }
                if let Some(at) = expires_at {
                    let n = expr.name(attr::EXPIRES_AT);
                    sets.push(format!(
                        "{n} = if_not_exists({n}, {})",
                        expr.value("expiresAt", ts(*at))
                    ));
                }
                for bucket in expiry_buckets {
                    let attribute = bucket_attribute(bucket.kind);
                    let n = expr.name(attribute);
                    let v = expr.string(attribute, bucket.key());
                    sets.push(format!("{n} = if_not_exists({n}, {v})"));
                }
                let condition = schema::phase_condition(&mut expr, *target, false);
                self.update(
                    schema::owner_pk(owner),
                    schema::session_sk(*session_id),
                    &expr,
                    format!("SET {}", sets.join(", ")),
                    condition,
                )
            }
            Change::Level { stamp, kyc_id } => {
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::ENTITY),
                    expr.string("entity", entity::PROFILE)
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::KYC_LEVEL),
                    expr.string("level", stamp.level.name())
                ));
                let condition = schema::newer_than_stored(
                    &mut expr,
                    attr::KYC_AT,
                    attr::KYC_EVENT_ID,
                    stamp.at,
                    stamp.event_id,
                );
                sets.push(format!("{} = :orderAt", expr.name(attr::KYC_AT)));
                sets.push(format!("{} = :orderEventId", expr.name(attr::KYC_EVENT_ID)));
                if let Some(id) = kyc_id {
                    sets.push(format!(
                        "{} = {}",
                        expr.name(attr::KYC_ID),
                        expr.value("kycId", AttributeValue::N(id.to_string()))
                    ));
                }
                self.update(
                    schema::owner_pk(owner),
                    schema::PROFILE_SK.into(),
                    &expr,
                    format!("SET {}", sets.join(", ")),
                    condition,
                )
            }
            Change::Reverify(notice) => {
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::ENTITY),
                    expr.string("entity", entity::PROFILE)
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::REVERIFY_DATE),
                    expr.string(
                        "date",
                        notice.expiration_date.format("%Y-%m-%d").to_string()
                    )
                ));
                sets.push(format!(
                    "{} = {}",
                    expr.name(attr::REVERIFY_DAYS),
                    expr.value("days", AttributeValue::N(notice.days_remaining.to_string()))
                ));
                let condition = schema::newer_than_stored(
                    &mut expr,
                    attr::REVERIFY_AT,
                    attr::REVERIFY_EVENT_ID,
                    notice.at,
                    notice.event_id,
                );
                sets.push(format!("{} = :orderAt", expr.name(attr::REVERIFY_AT)));
                sets.push(format!(
                    "{} = :orderEventId",
                    expr.name(attr::REVERIFY_EVENT_ID)
                ));
                self.update(
                    schema::owner_pk(owner),
                    schema::PROFILE_SK.into(),
                    &expr,
                    format!("SET {}", sets.join(", ")),
                    condition,
                )
            }
        }
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), Result<Vec<CancellationReason>, StoreError>> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Err(Ok(e.cancellation_reasons().to_vec()))
                }
                _ => Err(Err(sdk_error("TransactWriteItems", err))),
            },
        }
    }

    /// The model's verdict on a refused change, from the item as it was.
    fn refused_outcome(
        event: &EventApplication,
        old: Option<&HashMap<String, AttributeValue>>,
    ) -> StoreResult<(Move, String)> {
        Ok(match &event.change {
            Change::Session { target, .. } => {
                let current = match old {
                    Some(item) if item.contains_key(attr::STATE) => {
                        Some(decode::<SessionItem>(item)?.phase()?)
                    }
                    _ => None,
                };
                let decision = target.decide_from(current);
                (decision, describe::session(decision, current, *target))
            }
            Change::Level { stamp, .. } => {
                let current = old
                    .map(decode::<ProfileItem>)
                    .transpose()?
                    .map(|p| p.level())
                    .transpose()?
                    .flatten();
                let decision = stamp.decide_over(current.as_ref());
                (decision, describe::level(decision, current.as_ref(), stamp))
            }
            Change::Reverify(notice) => {
                let current = old
                    .map(decode::<ProfileItem>)
                    .transpose()?
                    .map(|p| p.reverify())
                    .transpose()?
                    .flatten();
                (
                    notice.decide_over(current.as_ref()),
                    describe::reverify(notice),
                )
            }
        })
    }

    async fn record_duplicate(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        let entry = event_audit(event, ApplyOutcome::Duplicate, String::new(), now);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.audit_item(event.owner, &entry)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(Applied {
            outcome: ApplyOutcome::Duplicate,
        })
    }
}

fn bucket_attribute(kind: BucketKind) -> &'static str {
    match kind {
        BucketKind::Warn => attr::WARN_BUCKET,
        BucketKind::Expire => attr::EXPIRE_BUCKET,
    }
}

fn event_session(event: &EventApplication) -> Option<SessionId> {
    match &event.change {
        Change::Session { session_id, .. } => Some(*session_id),
        _ => None,
    }
}

fn event_audit(
    event: &EventApplication,
    outcome: ApplyOutcome,
    detail: String,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        at: now,
        action: event.event_type.clone(),
        outcome: outcome.as_str().to_owned(),
        event_id: Some(event.event_id),
        session_id: event_session(event),
        detail,
    }
}

fn applied_detail(event: &EventApplication) -> String {
    match &event.change {
        Change::Session { target, .. } => describe::session(Move::Apply, None, *target),
        Change::Level { stamp, .. } => describe::level(Move::Apply, None, stamp),
        Change::Reverify(notice) => describe::reverify(notice),
    }
}

#[async_trait]
impl EventLedger for DynamoStore {
    async fn apply_event(
        &self,
        event: &EventApplication,
        now: DateTime<Utc>,
    ) -> StoreResult<Applied> {
        for attempt in 0..=CONFLICT_RETRIES {
            let entry = event_audit(event, ApplyOutcome::Applied, applied_detail(event), now);
            let items = vec![
                self.marker_put(event, ApplyOutcome::Applied, now)?,
                self.change_update(event, now)?,
                self.audit_put(event.owner, &entry)?,
            ];
            let reasons = match self.transact(items).await {
                Ok(()) => {
                    return Ok(Applied {
                        outcome: ApplyOutcome::Applied,
                    });
                }
                Err(Err(err)) => return Err(err),
                Err(Ok(reasons)) => reasons,
            };
            match classify(&reasons, Some(1)) {
                Cancelled::Duplicate => return self.record_duplicate(event, now).await,
                Cancelled::Conflict => {
                    tokio::time::sleep(StdDuration::from_millis(20 << attempt)).await;
                    continue;
                }
                Cancelled::Other(codes) => {
                    return Err(StoreError::Unavailable(format!(
                        "transaction cancelled: {codes}"
                    )));
                }
                Cancelled::Refused(old) => {
                    let (decision, detail) = Self::refused_outcome(event, old.as_ref())?;
                    let outcome = match decision {
                        Move::Unchanged => ApplyOutcome::Unchanged,
                        Move::Stale => ApplyOutcome::Stale,
                        // The condition and the model disagree: the item changed under us.
                        Move::Apply => continue,
                    };
                    // Second request: remember the event and record why it was not applied.
                    let entry = event_audit(event, outcome, detail, now);
                    let items = vec![
                        self.marker_put(event, outcome, now)?,
                        self.audit_put(event.owner, &entry)?,
                    ];
                    return match self.transact(items).await {
                        Ok(()) => Ok(Applied { outcome }),
                        Err(Err(err)) => Err(err),
                        Err(Ok(reasons)) => match classify(&reasons, None) {
                            Cancelled::Duplicate => self.record_duplicate(event, now).await,
                            _ => Err(StoreError::Unavailable(
                                "could not record a refused event".into(),
                            )),
                        },
                    };
                }
            }
        }
        Err(StoreError::Unavailable(
            "transaction kept conflicting".into(),
        ))
    }

    async fn find_session_owner(&self, session_id: SessionId) -> StoreResult<Option<Owner>> {
        let mut expr = Expr::default();
        let condition = format!(
            "{} = {}",
            expr.name(attr::SESSION_ID),
            expr.string("sid", session_id.to_string())
        );
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::index::BY_SESSION)
            .key_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        Ok(output.items().iter().find_map(|item| {
            item.get(attr::PK)?
                .as_s()
                .ok()
                .and_then(|pk| schema::parse_owner_pk(pk))
        }))
    }

    async fn quarantine(&self, entry: &QuarantineEntry) -> StoreResult<()> {
        let mut item = key(
            schema::quarantine_pk(entry.received_at.date_naive()),
            schema::quarantine_sk(&entry.body),
        );
        item.insert(attr::ENTITY.into(), s(entity::QUARANTINE));
        item.insert(attr::RECEIVED_AT.into(), ts(entry.received_at));
        item.insert(attr::REASON_CODE.into(), s(entry.reason_code.clone()));
        item.insert(attr::REASON.into(), s(entry.reason.clone()));
        if let Some(id) = &entry.event_id {
            item.insert(attr::EVENT_ID.into(), s(id.clone()));
        }
        if let Some(t) = &entry.event_type {
            item.insert(attr::EVENT_TYPE.into(), s(t.clone()));
        }
        item.insert(
            attr::BODY.into(),
            AttributeValue::B(entry.body.clone().into()),
        );
        // The first copy wins, as in memory; a repeat is not an error.
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#PK)")
            .expression_attribute_names("#PK", attr::PK)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(sdk_error("PutItem", err)),
        }
    }

    async fn quarantined(&self, day: NaiveDate) -> StoreResult<Vec<QuarantineEntry>> {
        let items = self.query_partition(schema::quarantine_pk(day)).await?;
        items
            .iter()
            .map(|item| {
                let q: QuarantineItem = decode(item)?;
                Ok(QuarantineEntry {
                    received_at: time(&q.received_at)?,
                    reason_code: q.reason_code,
                    reason: q.reason,
                    event_id: q.event_id,
                    event_type: q.event_type,
                    body: q.body.0,
                })
            })
            .collect()
    }
}

impl DynamoStore {
    /// The update that stores a created session: page, dates and buckets set; a state a
    /// webhook may have stored first is kept.
    fn session_store_update(
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<(Expr, String)> {
        let owner = record.owner;
        let mut expr = Expr::default();
        let mut sets = vec![
            format!(
                "{} = {}",
                expr.name(attr::ENTITY),
                expr.string("entity", entity::SESSION)
            ),
            format!(
                "{} = {}",
                expr.name(attr::OWNER_TYPE),
                expr.string("ownerType", schema::owner_type(owner))
            ),
            format!(
                "{} = {}",
                expr.name(attr::OWNER_ID),
                expr.string("ownerId", schema::owner_id(owner))
            ),
            format!(
                "{} = {}",
                expr.name(attr::SESSION_ID),
                expr.string("sessionId", record.session_id.to_string())
            ),
            format!(
                "{} = {}",
                expr.name(attr::CREATED_AT),
                expr.value("createdAt", ts(record.created_at))
            ),
        ];
        if let Some(url) = &record.hosted_url {
            sets.push(format!(
                "{} = {}",
                expr.name(attr::HOSTED_URL),
                expr.string("url", url.expose())
            ));
        }
        if let Some(at) = record.expires_at {
            sets.push(format!(
                "{} = {}",
                expr.name(attr::EXPIRES_AT),
                expr.value("expiresAt", ts(at))
            ));
        }
        // A webhook may have created the record first: never touch its state.
        let keep = |expr: &mut Expr, attribute: &str, placeholder: &str, value: AttributeValue| {
            let n = expr.name(attribute);
            let v = expr.value(placeholder, value);
            format!("{n} = if_not_exists({n}, {v})")
        };
        sets.push(keep(
            &mut expr,
            attr::STATE,
            "state",
            s(record.phase.state().name()),
        ));
        sets.push(keep(
            &mut expr,
            attr::STATE_CODE,
            "code",
            AttributeValue::N(record.phase.state().code().to_string()),
        ));
        sets.push(keep(
            &mut expr,
            attr::EXPIRY_SOURCE,
            "source",
            s(record
                .phase
                .expiry_source()
                .map_or("none", schema::expiry_source_name)),
        ));
        sets.push(keep(
            &mut expr,
            attr::FAILURE_REASONS,
            "reasons",
            to_av(&record.failure_reasons)?,
        ));
        sets.push(keep(
            &mut expr,
            attr::EXPIRING_SOON,
            "soon",
            AttributeValue::Bool(record.expiring_soon),
        ));
        sets.push(keep(
            &mut expr,
            attr::UPDATED_AT,
            "updatedAt",
            ts(record.updated_at),
        ));
        for bucket in buckets {
            let attribute = bucket_attribute(bucket.kind);
            sets.push(format!(
                "{} = {}",
                expr.name(attribute),
                expr.string(attribute, bucket.key())
            ));
        }
        Ok((expr, format!("SET {}", sets.join(", "))))
    }

    /// Every item of a partition, following pages.
    async fn query_partition(
        &self,
        pk: String,
    ) -> StoreResult<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#PK = :pk")
                .expression_attribute_names("#PK", attr::PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            items.extend(output.items().iter().cloned());
            match output.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl UserReader for DynamoStore {
    async fn load_user(&self, uid: Uid) -> StoreResult<UserSnapshot> {
        let items = self.query_partition(schema::user_pk(uid)).await?;
        let mut snapshot = UserSnapshot::empty(uid);
        for item in &items {
            let kind = item
                .get(attr::ENTITY)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str);
            match kind {
                Some(entity::PROFILE) => {
                    let p: ProfileItem = decode(item)?;
                    snapshot.profile = UserProfile {
                        uid,
                        kyc: p.level()?,
                        kyc_id: p.kyc_id,
                        reverify: p.reverify()?,
                    };
                }
                Some(entity::SESSION) => snapshot
                    .sessions
                    .push(decode::<SessionItem>(item)?.into_record()?),
                Some(entity::ACCOUNT) => snapshot
                    .accounts
                    .push(decode::<AccountItem>(item)?.into_record()?),
                _ => {}
            }
        }
        snapshot.sessions.sort_by(SessionRecord::newest_first);
        snapshot.accounts.sort_by(super::memory::account_order);
        Ok(snapshot)
    }
}

#[async_trait]
impl SessionWriter for DynamoStore {
    async fn store_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
    ) -> StoreResult<StoredSession> {
        let owner = record.owner;
        let (mut expr, set) = Self::session_store_update(record, buckets)?;
        let condition = format!("attribute_not_exists({})", expr.name(attr::HOSTED_URL));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                schema::owner_pk(owner),
                schema::session_sk(record.session_id),
            )))
            .update_expression(set)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output
                    .attributes()
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                Ok(StoredSession::Stored(
                    decode::<SessionItem>(item)?.into_record()?,
                ))
            }
            Err(err) => {
                use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
                if let Some(UpdateItemError::ConditionalCheckFailedException(e)) =
                    err.as_service_error()
                    && let Some(item) = e.item()
                {
                    return Ok(StoredSession::AlreadyStored(
                        decode::<SessionItem>(item)?.into_record()?,
                    ));
                }
                Err(sdk_error("UpdateItem", err))
            }
        }
    }
}

#[derive(serde::Serialize, Deserialize)]
struct PageToken {
    pk: String,
    sk: String,
    sid: String,
    bucket: String,
}

#[async_trait]
impl ExpiryIndex for DynamoStore {
    async fn create_tick(&self, bucket: &ExpiryBucket, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut item = key(schema::tick_pk(bucket), schema::TICK_SK);
        item.insert(attr::ENTITY.into(), s(entity::TICK));
        item.insert(attr::CREATED_AT.into(), ts(now));
        // Ticks are only needed until their bucket is processed; keep them a while after.
        item.insert(
            attr::TTL.into(),
            AttributeValue::N(
                (bucket.due_at() + Duration::days(30))
                    .timestamp()
                    .to_string(),
            ),
        );
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#PK)")
            .expression_attribute_names("#PK", attr::PK)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(sdk_error("PutItem", err)),
        }
    }

    async fn delete_tick(&self, bucket: &ExpiryBucket) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(schema::tick_pk(bucket), schema::TICK_SK)))
            .send()
            .await
            .map_err(|e| sdk_error("DeleteItem", e))?;
        Ok(())
    }

    async fn list_bucket(
        &self,
        bucket: &ExpiryBucket,
        limit: u32,
        page: Option<&str>,
    ) -> StoreResult<BucketPage> {
        let (index, attribute) = match bucket.kind {
            BucketKind::Warn => (schema::index::BY_WARN_BUCKET, attr::WARN_BUCKET),
            BucketKind::Expire => (schema::index::BY_EXPIRE_BUCKET, attr::EXPIRE_BUCKET),
        };
        let start = match page {
            None => None,
            Some(token) => {
                let token: PageToken = serde_json::from_str(token)
                    .map_err(|_| StoreError::Rejected("bad page token".into()))?;
                Some(HashMap::from([
                    (attr::PK.to_owned(), s(token.pk)),
                    (attr::SK.to_owned(), s(token.sk)),
                    (attr::SESSION_ID.to_owned(), s(token.sid)),
                    (attribute.to_owned(), s(token.bucket)),
                ]))
            }
        };
        let mut expr = Expr::default();
        let condition = format!(
            "{} = {}",
            expr.name(attribute),
            expr.string("bucket", bucket.key())
        );
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .limit(limit.max(1) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        // The indexes project keys only: the owner comes from the table key.
        let members = output
            .items()
            .iter()
            .map(|item| {
                let get = |k: &str| {
                    item.get(k)
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        .unwrap_or_default()
                };
                Ok(BucketMember {
                    owner: schema::parse_owner_pk(get(attr::PK))
                        .ok_or_else(|| StoreError::Corrupt("session key".into()))?,
                    session_id: SessionId::parse(get(attr::SESSION_ID))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let next = match output.last_evaluated_key() {
            Some(lek) if !lek.is_empty() => {
                let get = |k: &str| {
                    lek.get(k)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                let token = PageToken {
                    pk: get(attr::PK),
                    sk: get(attr::SK),
                    sid: get(attr::SESSION_ID),
                    bucket: get(attribute),
                };
                Some(
                    serde_json::to_string(&token)
                        .map_err(|e| StoreError::Rejected(e.to_string()))?,
                )
            }
            _ => None,
        };
        Ok(BucketPage { members, next })
    }

    async fn flag_expiring(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let mut expr = Expr::default();
        let (pk, state, soon) = (
            expr.name(attr::PK),
            expr.name(attr::STATE),
            expr.name(attr::EXPIRING_SOON),
        );
        let open = [Phase::NotStarted, Phase::Started]
            .iter()
            .enumerate()
            .map(|(i, p)| expr.string(&format!("open{i}"), p.state().name()))
            .collect::<Vec<_>>()
            .join(", ");
        let yes = expr.value("true", AttributeValue::Bool(true));
        let set = format!(
            "SET {soon} = {yes}, {} = {}",
            expr.name(attr::UPDATED_AT),
            expr.value("now", ts(now))
        );
        let condition =
            format!("attribute_exists({pk}) AND {state} IN ({open}) AND {soon} <> {yes}");
        let entry = AuditEntry {
            at: now,
            action: "session_flagged_expiring".into(),
            outcome: "applied".into(),
            event_id: None,
            session_id: Some(member.session_id),
            detail: String::new(),
        };
        self.watch_write(member, &expr, set, condition, &entry, |session| {
            Ok(session.phase()?.decide_flag(session.expiring_soon))
        })
        .await
    }

    async fn mark_expired(
        &self,
        member: &BucketMember,
        now: DateTime<Utc>,
    ) -> StoreResult<WatchOutcome> {
        let target = Phase::Expired(ExpirySource::Inferred);
        let mut expr = Expr::default();
        let set = format!(
            "SET {} = {}, {} = {}, {} = {}, {} = {}",
            expr.name(attr::STATE),
            expr.string("state", target.state().name()),
            expr.name(attr::STATE_CODE),
            expr.value("code", AttributeValue::N(target.state().code().to_string())),
            expr.name(attr::EXPIRY_SOURCE),
            expr.string("source", schema::expiry_source_name(ExpirySource::Inferred)),
            expr.name(attr::UPDATED_AT),
            expr.value("now", ts(now)),
        );
        let condition = schema::phase_condition(&mut expr, target, true);
        let entry = AuditEntry {
            at: now,
            action: "session_expired_inferred".into(),
            outcome: "applied".into(),
            event_id: None,
            session_id: Some(member.session_id),
            detail: describe::session(Move::Apply, None, target),
        };
        self.watch_write(member, &expr, set, condition, &entry, |session| {
            Ok(target.decide_from(Some(session.phase()?)))
        })
        .await
    }
}

impl DynamoStore {
    /// A watcher action: the conditional session update and its audit entry in one
    /// transaction. When the condition refuses, `decide` tells from the item as it was why.
    async fn watch_write(
        &self,
        member: &BucketMember,
        expr: &Expr,
        set: String,
        condition: String,
        entry: &AuditEntry,
        decide: impl FnOnce(&SessionItem) -> StoreResult<Move>,
    ) -> StoreResult<WatchOutcome> {
        let items = vec![
            self.update(
                schema::owner_pk(member.owner),
                schema::session_sk(member.session_id),
                expr,
                set,
                condition,
            )?,
            self.audit_put(member.owner, entry)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(WatchOutcome::Changed),
            Err(Err(err)) => Err(err),
            Err(Ok(reasons)) => match classify_watch(&reasons) {
                Some(None) => Ok(WatchOutcome::Missing),
                Some(Some(item)) => Ok(decide(&decode::<SessionItem>(&item)?)?.into()),
                None => Err(StoreError::Unavailable(format!(
                    "{} transaction cancelled",
                    entry.action
                ))),
            },
        }
    }
}

/// For watcher transactions (update first): `Some(None)` no such item, `Some(Some(item))`
/// the condition failed on this item, `None` anything else.
fn classify_watch(
    reasons: &[CancellationReason],
) -> Option<Option<HashMap<String, AttributeValue>>> {
    let first = reasons.first()?;
    if first.code() != Some(CONDITION_FAILED) {
        return None;
    }
    Some(first.item().filter(|item| !item.is_empty()).cloned())
}

#[async_trait]
impl AccountLedger for DynamoStore {
    async fn reserve_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountReservation> {
        let mut item = key(schema::user_pk(uid), schema::account_sk(currency, alias));
        item.insert(attr::ENTITY.into(), s(entity::ACCOUNT));
        item.insert(
            attr::OWNER_TYPE.into(),
            s(schema::owner_type(Owner::User(uid))),
        );
        item.insert(attr::OWNER_ID.into(), s(uid.to_string()));
        item.insert(attr::ALIAS.into(), s(alias));
        item.insert(attr::CURRENCY.into(), s(currency.as_str()));
        item.insert(attr::ACCOUNT_STATUS.into(), s(schema::ACCOUNT_PENDING));
        item.insert(attr::LEASE_UNTIL.into(), ts(lease_until));
        item.insert(attr::CREATED_AT.into(), ts(now));
        item.insert(attr::UPDATED_AT.into(), ts(now));
        let mut expr = Expr::default();
        let (pk, status, lease) = (
            expr.name(attr::PK),
            expr.name(attr::ACCOUNT_STATUS),
            expr.name(attr::LEASE_UNTIL),
        );
        let condition = format!(
            "attribute_not_exists({pk}) OR ({status} = {} AND {lease} < {})",
            expr.string("pending", schema::ACCOUNT_PENDING),
            expr.value("now", ts(now)),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(AccountReservation::Reserved),
            Err(err) => {
                if let Some(PutItemError::ConditionalCheckFailedException(e)) =
                    err.as_service_error()
                    && let Some(old) = e.item()
                {
                    let record = decode::<AccountItem>(old)?.into_record()?;
                    return Ok(match record.status {
                        AccountStatus::Created(_) => AccountReservation::Existing(Box::new(record)),
                        AccountStatus::Pending { lease_until } => {
                            AccountReservation::InProgress { lease_until }
                        }
                    });
                }
                Err(sdk_error("PutItem", err))
            }
        }
    }

    async fn complete_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
        account: &RalioAccount,
        now: DateTime<Utc>,
    ) -> StoreResult<AccountRecord> {
        let mut expr = Expr::default();
        let assignments = [
            (attr::ENTITY, expr.string("entity", entity::ACCOUNT)),
            (
                attr::OWNER_TYPE,
                expr.string("ownerType", schema::owner_type(Owner::User(uid))),
            ),
            (attr::OWNER_ID, expr.string("ownerId", uid.to_string())),
            (attr::ALIAS, expr.string("alias", alias)),
            (attr::CURRENCY, expr.string("currency", currency.as_str())),
            (
                attr::ACCOUNT_STATUS,
                expr.string("created", schema::ACCOUNT_CREATED),
            ),
            (attr::RALIO_ACCOUNT, expr.value("account", to_av(account)?)),
            (attr::CREATED_AT, expr.value("now", ts(now))),
            (attr::UPDATED_AT, ":now".to_owned()),
        ];
        let sets: Vec<String> = assignments
            .iter()
            .map(|(attribute, value)| format!("{} = {value}", expr.name(attribute)))
            .collect();
        let set = format!(
            "SET {} REMOVE {}",
            sets.join(", "),
            expr.name(attr::LEASE_UNTIL)
        );
        let entry = AuditEntry {
            at: now,
            action: "account_created".into(),
            outcome: "applied".into(),
            event_id: None,
            session_id: None,
            detail: format!("{} account", currency.as_str()),
        };
        let items = vec![
            self.update(
                schema::user_pk(uid),
                schema::account_sk(currency, alias),
                &expr,
                set,
                None,
            )?,
            self.audit_put(Owner::User(uid), &entry)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(AccountRecord {
                uid,
                alias: alias.to_owned(),
                currency,
                status: AccountStatus::Created(account.clone()),
                created_at: now,
                updated_at: now,
            }),
            Err(Err(err)) => Err(err),
            Err(Ok(_)) => Err(StoreError::Unavailable(
                "account transaction cancelled".into(),
            )),
        }
    }

    async fn release_account(&self, uid: Uid, alias: &str, currency: Currency) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                schema::user_pk(uid),
                schema::account_sk(currency, alias),
            )))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", attr::ACCOUNT_STATUS)
            .expression_attribute_values(":pending", s(schema::ACCOUNT_PENDING))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already created, or already gone: nothing to release.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(sdk_error("DeleteItem", err)),
        }
    }
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append_audit(&self, owner: Owner, entry: &AuditEntry) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.audit_item(owner, entry)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn audit_trail(&self, owner: Owner) -> StoreResult<Vec<AuditEntry>> {
        let items = self.query_partition(schema::audit_pk(owner)).await?;
        items
            .iter()
            .map(|item| {
                let a: AuditItem = decode(item)?;
                Ok(AuditEntry {
                    at: time(&a.at)?,
                    action: a.action,
                    outcome: a.outcome,
                    event_id: a.event_id.as_deref().map(event_id).transpose()?,
                    session_id: a
                        .about_session_id
                        .as_deref()
                        .map(|s| {
                            SessionId::parse(s).map_err(|e| StoreError::Corrupt(e.to_string()))
                        })
                        .transpose()?,
                    detail: a.detail,
                })
            })
            .collect()
    }
}

#[async_trait]
impl CreationLease for DynamoStore {
    async fn acquire_creation_lease(
        &self,
        uid: Uid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let token = LeaseToken(uuid::Uuid::new_v4());
        let mut expr = Expr::default();
        let lease_until = expr.name(attr::CREATION_LEASE_UNTIL);
        let set = format!(
            "SET {} = {}, {} = {}, {} = {}, {lease_until} = {}, {} = {}",
            expr.name(attr::ENTITY),
            expr.string("entity", entity::PROFILE),
            expr.name(attr::OWNER_TYPE),
            expr.string("ownerType", schema::owner_type(Owner::User(uid))),
            expr.name(attr::OWNER_ID),
            expr.string("ownerId", uid.to_string()),
            expr.value("until", ts(until)),
            expr.name(attr::CREATION_LEASE_TOKEN),
            expr.string("token", token.0.to_string()),
        );
        let condition = format!(
            "attribute_not_exists({lease_until}) OR {lease_until} < {}",
            expr.value("now", ts(now))
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(schema::user_pk(uid), schema::PROFILE_SK)))
            .update_expression(set)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Lease::Acquired(token)),
            Err(err) => {
                if let Some(UpdateItemError::ConditionalCheckFailedException(e)) =
                    err.as_service_error()
                {
                    let held = e
                        .item()
                        .and_then(|item| item.get(attr::CREATION_LEASE_UNTIL))
                        .and_then(|v| v.as_s().ok())
                        .map(|s| time(s))
                        .transpose()?
                        .unwrap_or(until);
                    return Ok(Lease::Held { until: held });
                }
                Err(sdk_error("UpdateItem", err))
            }
        }
    }

    async fn store_created_session(
        &self,
        record: &SessionRecord,
        buckets: &[ExpiryBucket],
        lease: LeaseToken,
    ) -> StoreResult<StoredSession> {
        let Owner::User(uid) = record.owner else {
            return self.store_session(record, buckets).await;
        };
        // The usual case, a session nobody has heard of yet: store it and free the lease in
        // one transaction. A webhook that got there first, or a lease taken over meanwhile,
        // sends us the long way round, which reports the stored state exactly.
        let (mut session_expr, set) = Self::session_store_update(record, buckets)?;
        let session_condition = format!("attribute_not_exists({})", session_expr.name(attr::PK));
        let mut lease_expr = Expr::default();
        let until = lease_expr.name(attr::CREATION_LEASE_UNTIL);
        let token = lease_expr.name(attr::CREATION_LEASE_TOKEN);
        let release = format!("REMOVE {until}, {token}");
        let lease_condition = format!(
            "{token} = {}",
            lease_expr.string("token", lease.0.to_string())
        );
        let items = vec![
            self.update(
                schema::owner_pk(record.owner),
                schema::session_sk(record.session_id),
                &session_expr,
                set,
                session_condition,
            )?,
            self.update(
                schema::user_pk(uid),
                schema::PROFILE_SK.into(),
                &lease_expr,
                release,
                lease_condition,
            )?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(StoredSession::Stored(record.clone())),
            Err(Err(err)) => Err(err),
            Err(Ok(reasons)) => {
                let failed =
                    |i: usize| reasons.get(i).and_then(|r| r.code()) == Some(CONDITION_FAILED);
                if !failed(0) && !failed(1) {
                    return Err(StoreError::Unavailable(
                        "session transaction cancelled".into(),
                    ));
                }
                let stored = self.store_session(record, buckets).await?;
                if failed(0) && !failed(1) {
                    self.release_creation_lease(uid, lease).await?;
                }
                Ok(stored)
            }
        }
    }

    async fn release_creation_lease(&self, uid: Uid, token: LeaseToken) -> StoreResult<()> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(schema::user_pk(uid), schema::PROFILE_SK)))
            .update_expression("REMOVE #until, #token")
            .condition_expression("#token = :token")
            .expression_attribute_names("#until", attr::CREATION_LEASE_UNTIL)
            .expression_attribute_names("#token", attr::CREATION_LEASE_TOKEN)
            .expression_attribute_values(":token", s(token.0.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else's lease now, or gone: nothing of ours to release.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(sdk_error("UpdateItem", err)),
        }
    }
}
