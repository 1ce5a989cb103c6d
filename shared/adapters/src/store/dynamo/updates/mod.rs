//! Update and condition expressions are built in one place. Every attribute is referred to as
//! `#name` (several are reserved words) and every value gets a numbered `:vN` placeholder, so that
//! no two parts of a request can collide on a placeholder.
//!
//! The conditions are the model's guards ([`SessionGuard`], [`KycGuard`]) written out for DynamoDB,
//! so the phases, open states and stamp order all come from the model.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use idv_model::{AccountGuard, EventStamp, KycGuard, LeaseGuard, Phase, SessionGuard};

use super::items::{Item, Ts, expiry_source_value, to_value};
use super::schema::{self, attr};
use crate::store::StoreResult;

/// This is a condition on the item that a request writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Absent(&'static str),
    Present(&'static str),
    Eq(&'static str, AttributeValue),
    Lt(&'static str, AttributeValue),
    Le(&'static str, AttributeValue),
    Ge(&'static str, AttributeValue),
    In(&'static str, Vec<AttributeValue>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// These are the names, values, update clauses and condition of one request. It has no `Debug`,
/// because values may hold a hosted page's token.
#[derive(Default)]
pub struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    /// This maps each attribute to its SET clause and that clause's value placeholder, ordered so
    /// that requests are reproducible.
    sets: BTreeMap<String, (String, String)>,
    removes: Vec<String>,
    adds: Vec<String>,
    condition: Option<Rendered>,
    /// This counts the placeholders handed out, so that a removed value's number is never reused.
    next_value: usize,
}

/// This is a rendered condition, and whether it is an AND/OR of several (which needs parentheses
/// inside another join).
#[derive(Debug, Clone)]
struct Rendered {
    text: String,
    joined: bool,
}

impl Rendered {
    fn atom(text: String) -> Self {
        Self {
            text,
            joined: false,
        }
    }

    fn operand(&self) -> String {
        if self.joined {
            format!("({})", self.text)
        } else {
            self.text.clone()
        }
    }
}

impl Expression {
    fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        self.next_value += 1;
        let placeholder = format!(":v{}", self.next_value - 1);
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// Keeps one SET clause per attribute. A later clause replaces an earlier one, and its value
    /// goes, because DynamoDB refuses unused values.
    fn set_clause(&mut self, attribute: &str, clause: String, placeholder: String) {
        if let Some((_, replaced)) = self
            .sets
            .insert(attribute.to_owned(), (clause, placeholder))
        {
            self.values.remove(&replaced);
        }
    }

    /// Adds `SET attribute = value`.
    pub fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, placeholder) = (self.name(attribute), self.value(value));
        self.set_clause(attribute, format!("{name} = {placeholder}"), placeholder);
        self
    }

    /// Adds `SET attribute = if_not_exists(attribute, value)`, which writes a value only where none
    /// is stored. An attribute that this request also sets keeps the set value.
    pub fn fill(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        if self.sets.contains_key(attribute) {
            return self;
        }
        let (name, placeholder) = (self.name(attribute), self.value(value));
        let clause = format!("{name} = if_not_exists({name}, {placeholder})");
        self.set_clause(attribute, clause, placeholder);
        self
    }

    /// Sets every attribute of `item`.
    pub fn set_item(&mut self, item: Item) -> &mut Self {
        for (attribute, value) in item {
            self.set(&attribute, value);
        }
        self
    }

    /// Fills every attribute of `item` where none is stored.
    pub fn fill_item(&mut self, item: Item) -> &mut Self {
        for (attribute, value) in item {
            self.fill(&attribute, value);
        }
        self
    }

    /// Adds `ADD attribute value`, which counts a number up (from 0 when absent).
    pub fn add(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attribute), self.value(value));
        self.adds.push(format!("{name} {value}"));
        self
    }

    pub fn remove(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.removes.push(name);
        self
    }

    /// Adds the request's condition, and several are joined with AND.
    pub fn condition(&mut self, condition: &Cond) -> &mut Self {
        let rendered = self.render(condition);
        self.condition = Some(match self.condition.take() {
            Some(earlier) => Rendered {
                text: format!("{} AND {}", earlier.operand(), rendered.operand()),
                joined: true,
            },
            None => rendered,
        });
        self
    }

    /// DynamoDB refuses redundant parentheses, so only AND/OR operands of a join are wrapped.
    fn render(&mut self, condition: &Cond) -> Rendered {
        match condition {
            Cond::Absent(attribute) => {
                Rendered::atom(format!("attribute_not_exists({})", self.name(attribute)))
            }
            Cond::Present(attribute) => {
                Rendered::atom(format!("attribute_exists({})", self.name(attribute)))
            }
            Cond::Eq(attribute, value) => Rendered::atom(format!(
                "{} = {}",
                self.name(attribute),
                self.value(value.clone())
            )),
            Cond::Lt(attribute, value) => Rendered::atom(format!(
                "{} < {}",
                self.name(attribute),
                self.value(value.clone())
            )),
            Cond::Le(attribute, value) => Rendered::atom(format!(
                "{} <= {}",
                self.name(attribute),
                self.value(value.clone())
            )),
            Cond::Ge(attribute, value) => Rendered::atom(format!(
                "{} >= {}",
                self.name(attribute),
                self.value(value.clone())
            )),
            Cond::In(attribute, values) => {
                let name = self.name(attribute);
                let list: Vec<String> = values.iter().map(|v| self.value(v.clone())).collect();
                Rendered::atom(format!("{name} IN ({})", list.join(", ")))
            }
            Cond::And(parts) => self.join(parts, " AND "),
            Cond::Or(parts) => self.join(parts, " OR "),
        }
    }

    fn join(&mut self, parts: &[Cond], separator: &str) -> Rendered {
        debug_assert!(
            !parts.is_empty(),
            "an empty AND/OR has no DynamoDB spelling"
        );
        let mut rendered: Vec<Rendered> = parts.iter().map(|part| self.render(part)).collect();
        if rendered.len() == 1 {
            return rendered.remove(0);
        }
        let operands: Vec<String> = rendered.iter().map(Rendered::operand).collect();
        Rendered {
            text: operands.join(separator),
            joined: true,
        }
    }

    pub fn update_expression(&self) -> Option<String> {
        let mut clauses = Vec::new();
        if !self.sets.is_empty() {
            let sets: Vec<&str> = self.sets.values().map(|(c, _)| c.as_str()).collect();
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !self.removes.is_empty() {
            clauses.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            clauses.push(format!("ADD {}", self.adds.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    pub fn condition_expression(&self) -> Option<String> {
        self.condition.as_ref().map(|c| c.text.clone())
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Returns the condition under which a session write may apply.
pub fn session_condition(guard: SessionGuard) -> StoreResult<Cond> {
    Ok(match guard {
        SessionGuard::Lifecycle(target) => {
            let mut allowed = Vec::new();
            if target.allowed_when_absent() {
                allowed.push(Cond::Absent(attr::STATE));
            }
            allowed.extend(phase_in(target.allowed_priors())?);
            Cond::Or(allowed)
        }
        SessionGuard::Flag => Cond::And(vec![
            Cond::Or(phase_in(&Phase::OPEN)?),
            Cond::Or(vec![
                Cond::Absent(attr::EXPIRING_SOON),
                Cond::Eq(attr::EXPIRING_SOON, to_value(&false)?),
            ]),
        ]),
        SessionGuard::Creation => Cond::Absent(attr::HOSTED_URL),
        SessionGuard::Marked(seen) => Cond::And(vec![
            Cond::Eq(attr::SWEEP, to_value(&seen.group.as_str())?),
            Cond::Eq(attr::SWEEP_AT, to_value(&Ts(seen.since))?),
            Cond::Eq(attr::SWEEP_VISITS, to_value(&seen.visits)?),
        ]),
    })
}

/// Returns the alternatives of "the stored phase is one of `phases`": a state, and for an expiry,
/// who said so. It is empty when there are no phases to match.
fn phase_in(phases: &[Phase]) -> StoreResult<Vec<Cond>> {
    let mut states = Vec::new();
    let mut expired = Vec::new();
    for phase in phases {
        match phase.expiry_source() {
            None => states.push(to_value(&phase.state())?),
            Some(_) => expired.push(Cond::And(vec![
                Cond::Eq(attr::STATE, to_value(&phase.state())?),
                Cond::Eq(attr::EXPIRY_SOURCE, to_value(&expiry_source_value(*phase))?),
            ])),
        }
    }
    let mut any = Vec::new();
    if !states.is_empty() {
        any.push(Cond::In(attr::STATE, states));
    }
    any.extend(expired);
    Ok(any)
}

/// Returns the condition under which a KYC write may apply: its stamp is newer than the stored one.
pub fn kyc_condition(guard: KycGuard) -> StoreResult<Cond> {
    match guard {
        KycGuard::NewerLevel(stamp) => newer(attr::KYC_AT, attr::KYC_EVENT_ID, stamp),
        KycGuard::NewerReverify(stamp) => newer(attr::REVERIFY_AT, attr::REVERIFY_EVENT_ID, stamp),
    }
}

/// Writes out [`EventStamp`]'s order on stored attributes: by time, then by event id.
fn newer(at: &'static str, event_id: &'static str, stamp: EventStamp) -> StoreResult<Cond> {
    let when = to_value(&Ts(stamp.at))?;
    Ok(Cond::Or(vec![
        Cond::Absent(at),
        Cond::Lt(at, when.clone()),
        Cond::And(vec![
            Cond::Eq(at, when),
            Cond::Lt(event_id, to_value(&stamp.event_id)?),
        ]),
    ]))
}

/// Returns the condition under which a creation-lease write may apply.
pub fn lease_condition(guard: LeaseGuard) -> StoreResult<Cond> {
    Ok(match guard {
        LeaseGuard::Free { now, seen_version } => {
            let version = attr::SESSIONS_VERSION;
            let seen = Cond::Eq(version, to_value(&seen_version)?);
            Cond::And(vec![
                lease_lapsed(attr::CREATION_LEASE_UNTIL, now)?,
                // A version that was never counted is 0.
                if seen_version == 0 {
                    Cond::Or(vec![Cond::Absent(version), seen])
                } else {
                    seen
                },
            ])
        }
        LeaseGuard::HeldBy(token) => Cond::Eq(attr::CREATION_LEASE_TOKEN, to_value(&token.0)?),
    })
}

/// Returns the condition under which an account write may apply.
pub fn account_condition(guard: AccountGuard) -> StoreResult<Cond> {
    let status = |s: &str| to_value(&s);
    Ok(match guard {
        AccountGuard::Reservable => Cond::Or(vec![
            Cond::Absent(attr::PK),
            Cond::Eq(attr::ACCOUNT_STATUS, status(schema::ACCOUNT_FAILED)?),
        ]),
        AccountGuard::HeldBy(token) => Cond::And(vec![
            Cond::In(
                attr::ACCOUNT_STATUS,
                vec![
                    status(schema::ACCOUNT_PENDING)?,
                    status(schema::ACCOUNT_UNCERTAIN)?,
                ],
            ),
            Cond::Eq(attr::RESERVATION_TOKEN, to_value(&token.0)?),
        ]),
        AccountGuard::Created => Cond::Eq(attr::ACCOUNT_STATUS, status(schema::ACCOUNT_CREATED)?),
    })
}

/// Returns the condition that a lease stored in `until` has run out by `now` (or that there is none
/// at all).
fn lease_lapsed(until: &'static str, now: DateTime<Utc>) -> StoreResult<Cond> {
    Ok(Cond::Or(vec![
        Cond::Absent(until),
        Cond::Lt(until, to_value(&Ts(now))?),
    ]))
}

#[cfg(test)]
mod tests;
