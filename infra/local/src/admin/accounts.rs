//! `idv-admin accounts` deals with account creations whose outcome at Ralio is uncertain.

use clap::Subcommand;
use idv_account_gate::{AccountGate, Resolution};
use idv_adapters::config::ProcessEnv;
use idv_adapters::store::UserReader;
use idv_adapters::wiring::Wiring;
use idv_model::{AccountId, AccountStatus, Currency};

use crate::parse_uid;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// A user's account records: alias, currency and status (uncertain ones with their
    /// `since`), to find what `accounts resolve` needs.
    List {
        /// The Ralio user id.
        uid: String,
    },
    /// Settle a creation that stays `creation_uncertain` (alarm `AccountCreationUnresolved`)
    /// as you found it at Ralio: the account it made (read from Ralio by id and checked to be
    /// this user's, with this alias and currency), or none, so the next request creates it.
    /// Audited as `account_resolved`.
    Resolve {
        /// The Ralio user id.
        uid: String,
        alias: String,
        /// EUR or USD.
        currency: String,
        /// The id of the account Ralio holds for this request.
        #[arg(long, conflicts_with = "absent", required_unless_present = "absent")]
        found: Option<String>,
        /// Ralio holds no such account (looked up in Ralio's portal or API by a person).
        #[arg(long)]
        absent: bool,
    },
}

pub async fn run(
    wiring: &Wiring<'_, ProcessEnv>,
    command: AccountsCommand,
) -> Result<String, String> {
    match command {
        AccountsCommand::List { uid } => list(wiring, &uid).await,
        AccountsCommand::Resolve {
            uid,
            alias,
            currency,
            found,
            absent: _,
        } => resolve(wiring, &uid, &alias, &currency, found).await,
    }
}

async fn list(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let snapshot = store.load_user(uid).await.map_err(|e| e.to_string())?;
    let mut lines = vec![
        "| currency | alias | status | since / account |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    for record in &snapshot.accounts {
        let (status, about) = match &record.status {
            AccountStatus::Pending { lease_until, .. } => {
                ("pending", format!("until {}", lease_until.to_rfc3339()))
            }
            AccountStatus::Uncertain { since, .. } => ("uncertain", since.to_rfc3339()),
            AccountStatus::Failed => ("failed", String::new()),
            AccountStatus::Created { account, .. } => ("created", account.id.clone()),
        };
        lines.push(format!(
            "| {} | {:?} | {status} | {about} |",
            record.currency.as_str(),
            record.alias
        ));
    }
    if snapshot.accounts.is_empty() {
        lines.push("| (no accounts) | | | |".to_owned());
    }
    Ok(lines.join("\n"))
}

async fn resolve(
    wiring: &Wiring<'_, ProcessEnv>,
    uid: &str,
    alias: &str,
    currency: &str,
    found: Option<String>,
) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let currency = Currency::parse(currency).ok_or("the currency is EUR or USD")?;
    let resolution = match found {
        Some(id) => Resolution::Found(AccountId::parse(&id).map_err(|e| e.to_string())?),
        None => Resolution::Absent,
    };
    let gate = AccountGate::from_env(wiring)
        .await
        .map_err(|e| e.to_string())?;
    gate.resolve_by_operator(uid, alias, currency, resolution)
        .await
        .map_err(|e| e.to_string())
}
