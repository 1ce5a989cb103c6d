//! This module keeps accounts as Ralio keeps them. They are opened for a REGULAR user, listed
//! back with their owner (`GET /api/v1/merchant/user/accounts`, filters `alias_eq` and
//! `currency_eq`), read one by one, and announced ready with `account_activated`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Operation;
use crate::payloads;
use crate::ralio_api::{authorised, error};
use crate::state::Simulator;

/// One account the simulator opened.
#[derive(Debug, Clone)]
pub struct SimAccount {
    pub id: String,
    pub uid: String,
    pub alias: String,
    pub currency: String,
    pub state: &'static str,
}

impl SimAccount {
    fn json(&self) -> Value {
        json!({
            "alias": self.alias, "balance": 0, "currency": self.currency, "id": self.id,
            "pendingIn": 0, "pendingOut": 0, "purpose": "OPERATIONAL", "state": self.state,
            "type": "USER", "userId": self.uid
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct NewAccount {
    alias: String,
    currency: String,
}

pub(crate) async fn create_account(
    State(sim): State<Arc<Simulator>>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorised(&sim, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let Ok(request) = serde_json::from_slice::<NewAccount>(&body) else {
        return error(StatusCode::BAD_REQUEST, "alias and currency are required");
    };
    if !matches!(request.currency.as_str(), "EUR" | "USD") {
        return error(StatusCode::BAD_REQUEST, "currency must be EUR or USD");
    }
    let level = sim
        .state()
        .users
        .get(&uid)
        .map(|u| u.level)
        .unwrap_or("LIGHT");
    if level != "REGULAR" {
        return error(StatusCode::FORBIDDEN, "the user's KYC level is not REGULAR");
    }
    let fault = sim.take_fault(Operation::CreateAccount);
    if let Some(fault) = fault.filter(|f| !f.acts()) {
        if let Some(after) = fault.acts_after() {
            sim.act_late(after, move |sim| {
                sim.open_account(uid, request);
            });
        }
        return fault.answer(().into_response()).await;
    }
    let account = sim.open_account(uid, request);
    let answer = (StatusCode::CREATED, axum::Json(account.json())).into_response();
    match fault {
        Some(fault) => fault.answer(answer).await,
        None => answer,
    }
}

/// Says what `GET /api/v1/merchant/user/accounts` lists. Ralio does not document it (REFERENCE
/// §2.8), so each plausible reading is a mode, and the tests run them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AccountList {
    /// The merchant's users' accounts, filtered by `alias_eq` and `currency_eq` (the service's
    /// reading).
    #[default]
    UsersAccounts,
    /// Only the merchant's own accounts: never a user's.
    MerchantOnly,
    /// `filter=alias_eq=…&currency_eq=…` taken literally, as one condition nothing meets.
    LiteralFilter,
}

#[derive(Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    alias_eq: Option<String>,
    #[serde(default)]
    currency_eq: Option<String>,
}

impl Filters {
    /// Returns whether the account matches `alias_eq` and `currency_eq`, given as parameters or
    /// inside `filter=alias_eq=…`.
    fn matches(&self, account: &SimAccount) -> bool {
        let mut wanted: HashMap<&str, &str> = HashMap::new();
        if let Some(filter) = &self.filter {
            for pair in filter.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    wanted.insert(k, v);
                }
            }
        }
        if let Some(a) = &self.alias_eq {
            wanted.insert("alias_eq", a);
        }
        if let Some(c) = &self.currency_eq {
            wanted.insert("currency_eq", c);
        }
        wanted.get("alias_eq").is_none_or(|a| *a == account.alias)
            && wanted
                .get("currency_eq")
                .is_none_or(|c| *c == account.currency)
    }
}

pub(crate) async fn list_accounts(
    State(sim): State<Arc<Simulator>>,
    Query(filters): Query<Filters>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let items: Vec<Value> = match sim.config.account_list {
        AccountList::UsersAccounts => sim
            .state()
            .accounts
            .iter()
            .filter(|a| filters.matches(a))
            .map(SimAccount::json)
            .collect(),
        // Only the merchant's own accounts are listed, and the simulator opens none for the
        // merchant.
        AccountList::MerchantOnly => Vec::new(),
        // `filter` is taken as one literal condition no account satisfies, and the separate
        // parameters are ignored.
        AccountList::LiteralFilter if filters.filter.is_some() => Vec::new(),
        AccountList::LiteralFilter => sim.state().accounts.iter().map(SimAccount::json).collect(),
    };
    axum::Json(Value::Array(items)).into_response()
}

pub(crate) async fn get_account(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&sim, &headers) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let found = sim.state().accounts.iter().find(|a| a.id == id).cloned();
    match found {
        Some(account) => {
            let mut body = account.json();
            body["user"] = json!({
                "country": "ES", "createdAt": "2026-01-01T00:00:00Z", "displayType": "individual",
                "email": "person@example.com", "id": account.uid, "name": "A Person", "type": 1
            });
            axum::Json(body).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no such account"),
    }
}

impl Simulator {
    /// Opens an account for `uid` and announces it ready.
    fn open_account(&self, uid: String, request: NewAccount) -> SimAccount {
        let account = SimAccount {
            id: uuid::Uuid::new_v4().to_string(),
            uid,
            alias: request.alias,
            currency: request.currency,
            state: "PENDING",
        };
        self.state().accounts.push(account.clone());
        self.activate_later(account.id.clone());
        account
    }

    /// Marks an account ready and sends `account_activated`, as Ralio does after a creation.
    fn activate_later(&self, id: String) {
        if let Some(account) = self.state().accounts.iter_mut().find(|a| a.id == id) {
            account.state = "ACTIVE";
        }
        if self.config.announce_accounts {
            self.send(vec![payloads::account_activated(&id)]);
        }
    }

    /// Returns the accounts opened so far, for tests and the control API.
    pub fn accounts(&self) -> Vec<SimAccount> {
        self.state().accounts.clone()
    }
}
