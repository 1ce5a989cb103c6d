//! This module creates a user's accounts at Ralio and reads them back (REFERENCE §2.6, §2.8).
//!
//! Reading back is how an uncertain creation is resolved. Ralio documents the list
//! (`GET /api/v1/merchant/user/accounts`) as the merchant's own accounts, yet its items carry
//! `userId` and the single-account answer carries the owning `user`, and Ralio does not state
//! whether the list also holds the accounts of the merchant's users. So the list is used as the
//! best available place to look, its filter only as a hint, and the match is made here on user,
//! alias and currency. "Not found" means "not known yet", never proof of absence.

use idv_model::accounts::is_requested_account;
use idv_model::{AccountId, Currency, RalioAccount, Uid};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::transport::{describe_json_error, expect_json};
use super::{RalioCall, RalioClient, RalioError};

/// This is an account as Ralio's read endpoints describe it. Only ids and account fields are read,
/// because the owner's name and e-mail are not this service's to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAccount {
    pub account: RalioAccount,
    /// This is the owning user's id, as Ralio gives it.
    pub user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountWire {
    id: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    balance: i64,
    #[serde(default)]
    pending_in: i64,
    #[serde(default)]
    pending_out: i64,
    #[serde(default)]
    state: String,
    #[serde(default, rename = "type")]
    account_type: String,
    #[serde(default, alias = "user_id")]
    user_id: Option<String>,
    #[serde(default)]
    user: Option<UserRef>,
}

#[derive(Deserialize)]
struct UserRef {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

impl AccountWire {
    fn listed(self) -> Result<ListedAccount, RalioError> {
        if self.id.trim().is_empty() {
            return Err(RalioError::BadResponse("account without id".into()));
        }
        let nested = self.user.and_then(|u| u.id).map(|id| match id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        });
        Ok(ListedAccount {
            user_id: self.user_id.or(nested),
            account: RalioAccount {
                id: self.id,
                alias: self.alias,
                currency: self.currency,
                balance: self.balance,
                pending_in: self.pending_in,
                pending_out: self.pending_out,
                state: self.state,
                account_type: self.account_type,
            },
        })
    }
}

/// Says what Ralio's account list says of a requested account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSearch {
    Found(RalioAccount),
    /// The account is not in a list that looks whole.
    Absent,
    /// The account is not in a list that may be one full page of several, so its absence proves
    /// nothing.
    Inconclusive {
        listed: usize,
    },
}

/// Returns whether a list of `len` items may be one full page of a longer one. No paging is
/// documented, and the filter matches other users' accounts of the same alias and currency, so the
/// list can be long, and a server that pages silently fills its pages to a round size. A whole list
/// rarely has exactly such a length, and when it does, the next creation by anyone changes it.
pub fn list_may_be_a_page(len: usize) -> bool {
    len >= 10 && (len.is_multiple_of(10) || len.is_multiple_of(25))
}

/// Returns the filter that Ralio's list is asked for: the currency always, and the alias only when
/// it cannot break the `field_operator=value&…` syntax (the match is made here either way).
fn list_filter(alias: &str, currency: Currency) -> String {
    let plain = alias
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'));
    if plain {
        format!("alias_eq={alias}&currency_eq={}", currency.as_str())
    } else {
        format!("currency_eq={}", currency.as_str())
    }
}

/// The list answers an array, but an object wrapping one is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum AccountList {
    /// Entries are read one by one, so one that does not decode is skipped rather than fatal to the
    /// list.
    Items(Vec<serde_json::Value>),
    Wrapped {
        #[serde(alias = "accounts", alias = "data")]
        items: Vec<serde_json::Value>,
    },
}

impl RalioCall<'_> {
    /// Creates an account. It is not retried once sent, because the caller records what became of
    /// it.
    pub async fn create_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<RalioAccount, RalioError> {
        let body = json!({ "alias": alias, "currency": currency.as_str() });
        let path = format!("/api/v1/account/users/{uid}/accounts");
        let response = self
            .authorized(false, Method::POST, &path, Some(&body))
            .await?;
        let wire: AccountWire = expect_json(response).await?;
        let mut account = wire.listed()?.account;
        if account.alias.is_empty() {
            account.alias = alias.to_owned();
        }
        if account.currency.is_empty() {
            account.currency = currency.as_str().to_owned();
        }
        Ok(account)
    }

    /// Returns whether Ralio's list shows the account `(uid, alias, currency)`.
    pub async fn find_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<AccountSearch, RalioError> {
        let path = "/api/v1/merchant/user/accounts";
        let query = encode_query(&[("filter", list_filter(alias, currency))]);
        let response = self
            .authorized(true, Method::GET, &format!("{path}?{query}"), None)
            .await?;
        let items = match expect_json::<AccountList>(response).await? {
            AccountList::Items(items) | AccountList::Wrapped { items } => items,
        };
        let listed = items.len();
        let mut unusable = 0;
        for (index, entry) in items.into_iter().enumerate() {
            let read = AccountWire::deserialize(entry)
                .map_err(|e| RalioError::BadResponse(describe_json_error(&e)))
                .and_then(AccountWire::listed);
            let listed = match read {
                Ok(listed) => listed,
                Err(why) => {
                    tracing::warn!(why = %why, index, "Ralio listed an account this service cannot read: skipped");
                    unusable += 1;
                    continue;
                }
            };
            let user = listed.user_id.as_deref().unwrap_or_default();
            let account = &listed.account;
            if is_requested_account(
                user,
                &account.alias,
                &account.currency,
                uid,
                alias,
                currency,
            ) {
                return Ok(AccountSearch::Found(listed.account));
            }
        }
        // An entry that could not be read may be the requested account.
        Ok(if unusable > 0 || list_may_be_a_page(listed) {
            AccountSearch::Inconclusive { listed }
        } else {
            AccountSearch::Absent
        })
    }

    /// Returns one account by Ralio's id, with its owner (for an activation).
    pub async fn get_account(&self, id: &AccountId) -> Result<ListedAccount, RalioError> {
        let path = format!("/api/v1/merchant/user/accounts/{id}");
        let response = self.authorized(true, Method::GET, &path, None).await?;
        expect_json::<AccountWire>(response).await?.listed()
    }
}

/// Encodes a query string with `url`'s form encoder.
fn encode_query(pairs: &[(&str, String)]) -> String {
    let mut url = reqwest::Url::parse("http://query.invalid/").expect("a fixed, valid URL");
    url.query_pairs_mut()
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    url.query().unwrap_or_default().to_owned()
}

impl RalioClient {
    /// It is [`RalioCall::create_account`] without a deadline.
    pub async fn create_account(
        &self,
        uid: Uid,
        alias: &str,
        currency: Currency,
    ) -> Result<RalioAccount, RalioError> {
        self.unbounded().create_account(uid, alias, currency).await
    }
}
