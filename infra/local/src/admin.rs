//! `idv-admin`: operator commands against a deployed stack (AWS credentials, `TABLE_NAME`;
//! `reconcile` also needs `RALIO_BASE_URL` and `RALIO_SECRET_ARN` or
//! `RALIO_API_CODE`/`RALIO_API_KEY`; `replay-quarantine` also `QUEUE_URL`, and reads the
//! webhook's `MAX_CLOCK_SKEW`, `ATTRIBUTION_RETRY_WINDOW` and `QUARANTINE_RETENTION`;
//! `republish` also `EVENT_BUS_NAME`; `accounts resolve` also the Ralio variables; `sessions
//! resolve` the Ralio variables and `QUEUE_URL`).

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use std::sync::Arc;

use idv_account_gate::{AccountGate, Resolution};
use idv_adapters::clock::SystemClock;
use idv_adapters::config::ProcessEnv;
use idv_adapters::publish::Publisher;
use idv_adapters::reconcile::reconcile_user;
use idv_adapters::store::{AuditLog, QuarantineReader, UserReader};
use idv_adapters::wiring::Wiring;
use idv_create_session::CreateSession;
use idv_create_session::resolution::SessionResolution;
use idv_local::replay::{ReplayFilter, replay_quarantine};
use idv_model::{AccountId, AccountStatus, Currency, LearntSpellings, Owner, SessionId, Uid};
use idv_webhook::Webhook;

#[derive(Parser)]
#[command(
    name = "idv-admin",
    version,
    about = "Operator commands for the Ralio IDV service"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Catch a user's sessions up with Ralio's list endpoint: store sessions we lack and apply
    /// reported states we missed (through the same rules as webhooks; safe to repeat).
    Reconcile {
        /// The Ralio user id.
        uid: String,
    },
    /// A user's audit trail, oldest first: every event applied or refused, every watcher action
    /// and gate decision.
    History {
        /// The Ralio user id.
        uid: String,
    },
    /// The signed webhooks kept without being applied on one day (UTC): reason, event id and
    /// type, and the body's size. Bodies are not printed: they may hold personal data.
    Quarantined {
        /// The day, as YYYY-MM-DD.
        day: NaiveDate,
    },
    /// Send a user's domain events again from their trail, to the bus at `EVENT_BUS_NAME`
    /// (after the publisher gave up on stream records). Same event ids as the first time, so
    /// consumers drop what they already had.
    Republish {
        /// The Ralio user id.
        uid: String,
        /// Only changes applied from then on (RFC 3339, e.g. 2026-05-04T00:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Accounts whose creation at Ralio is uncertain.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Session creations whose outcome at Ralio is uncertain.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Run quarantined payloads again through the webhook's code path (once their cause is
    /// gone: a session since stored, a fixed parser). Safe to repeat; audited as `replayed`.
    ReplayQuarantine {
        /// First day (UTC) to look at, YYYY-MM-DD (default: 30 days ago).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Only payloads kept for this reason (`unknown_session`, `ambiguous_owner`, …).
        #[arg(long)]
        reason: Option<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// An event-type spelling Ralio sent that this release does not know, and the type it
        /// means, as SPELLING=TYPE (e.g. kyc.session.verified=kyc_session_verified); repeatable.
        /// Only this replay reads it: live deliveries are never interpreted on a guess.
        #[arg(long = "spelling", value_name = "SPELLING=TYPE")]
        spellings: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
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

#[derive(Subcommand)]
enum SessionsCommand {
    /// Settle a session creation that stays `creation_uncertain` (alarm
    /// `SessionCreationUnresolved`) as you found it at Ralio: the session it made (listed by
    /// Ralio for this user, with its hosted page), or none this service can use, so the next
    /// request creates one. Refused while Ralio's list shows a session the creation may have
    /// left. Audited as `session_creation_resolved`.
    Resolve {
        /// The Ralio user id.
        uid: String,
        /// The id of the session Ralio holds for this creation.
        #[arg(long, conflicts_with = "absent", required_unless_present = "absent")]
        found: Option<String>,
        /// Ralio holds no session this service can use (looked up by a person).
        #[arg(long)]
        absent: bool,
    },
}

async fn resolve_session(
    wiring: &Wiring<'_, ProcessEnv>,
    uid: &str,
    found: Option<String>,
) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let resolution = match found {
        Some(id) => SessionResolution::Found(SessionId::parse(&id).map_err(|e| e.to_string())?),
        None => SessionResolution::Absent,
    };
    let store = wiring.store().map_err(|e| e.to_string())?;
    let creator = CreateSession::from_env(wiring)
        .await
        .map_err(|e| e.to_string())?;
    creator
        .resolve_by_operator(store.as_ref(), uid, resolution)
        .await
        .map_err(|e| e.to_string())
}

async fn list_accounts(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
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

async fn resolve_account(
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

fn parse_uid(uid: &str) -> Result<Uid, String> {
    Uid::parse(uid).map_err(|e| e.to_string())
}

async fn reconcile(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let ralio = wiring.ralio().map_err(|e| e.to_string())?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let report = reconcile_user(uid, &ralio, store.as_ref(), chrono::Utc::now())
        .await
        .map_err(|e| e.to_string())?;
    let outcomes: Vec<String> = report
        .outcomes
        .iter()
        .map(|(id, o)| format!("  {id}: {}", o.as_str()))
        .collect();
    Ok(format!(
        "sessions added: {}\nunknown states skipped: {}\nreported states:\n{}",
        report.added,
        report.unknown_states,
        if outcomes.is_empty() {
            "  (none)".into()
        } else {
            outcomes.join("\n")
        }
    ))
}

async fn history(wiring: &Wiring<'_, ProcessEnv>, uid: &str) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let trail = store
        .audit_trail(Owner::User(uid))
        .await
        .map_err(|e| e.to_string())?;
    let lines: Vec<String> = trail
        .iter()
        .map(|entry| {
            let session = entry
                .session_id
                .map(|s| format!(" session {s}"))
                .unwrap_or_default();
            let event = entry
                .event_id
                .map(|e| format!(" event {e}"))
                .unwrap_or_default();
            format!(
                "{} {} {}{session}{event} {}",
                entry.at.to_rfc3339(),
                entry.action,
                entry.outcome,
                entry.detail
            )
        })
        .collect();
    Ok(if lines.is_empty() {
        "(no entries)".into()
    } else {
        lines.join("\n")
    })
}

async fn quarantined(wiring: &Wiring<'_, ProcessEnv>, day: NaiveDate) -> Result<String, String> {
    let store = wiring.store().map_err(|e| e.to_string())?;
    let kept = store.quarantined(day).await.map_err(|e| e.to_string())?;
    let lines: Vec<String> = kept
        .iter()
        .map(|entry| {
            format!(
                "{} {} event={} type={} bytes={} ({})",
                entry.received_at.to_rfc3339(),
                entry.reason_code,
                entry.event_id.as_deref().unwrap_or("-"),
                entry.event_type.as_deref().unwrap_or("-"),
                entry.body.len(),
                entry.reason
            )
        })
        .collect();
    Ok(if lines.is_empty() {
        "(nothing quarantined)".into()
    } else {
        lines.join("\n")
    })
}

async fn republish(
    wiring: &Wiring<'_, ProcessEnv>,
    uid: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<String, String> {
    let uid = parse_uid(uid)?;
    let store = wiring.store().map_err(|e| e.to_string())?;
    let sink = wiring.event_sink().map_err(|e| e.to_string())?;
    let publisher = Publisher::new(store.clone(), store, sink);
    match publisher.republish(Owner::User(uid), since).await {
        Ok(sent) => Ok(format!("{sent} events sent again")),
        Err(failure) => Err(format!(
            "stopped at the trail's change {}: {}",
            failure.index, failure.error
        )),
    }
}

async fn replay(
    wiring: &Wiring<'_, ProcessEnv>,
    since: Option<NaiveDate>,
    reason: Option<String>,
    dry_run: bool,
    spellings: &[String],
) -> Result<String, String> {
    let store = wiring.store().map_err(|e| e.to_string())?;
    // A replayed announcement of a new session needs its expiry ticks, as a live one would;
    // a dry run writes nothing.
    let scheduler = if dry_run {
        None
    } else {
        Some(wiring.scheduler(store.clone()).map_err(|e| e.to_string())?)
    };
    let settings = idv_webhook::settings(wiring.env()).map_err(|e| e.to_string())?;
    let mut learnt = LearntSpellings::default();
    for pair in spellings {
        learnt.learn_pair(pair)?;
    }
    let webhook = Webhook::new(idv_webhook::Parts {
        ledger: store.clone(),
        keys: idv_webhook::unknowable_keys(),
        clock: Arc::new(SystemClock),
        scheduler,
        settings,
        spellings: learnt,
    });
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let filter = ReplayFilter {
        since: since.unwrap_or(today - chrono::Duration::days(30)),
        until: today,
        reason,
        dry_run,
    };
    let report = replay_quarantine(&webhook, store.as_ref(), &filter, now).await?;
    Ok(report.table())
}

#[tokio::main]
async fn main() -> ExitCode {
    idv_adapters::telemetry::init();
    let env = ProcessEnv;
    let wiring = Wiring::load(&env).await;
    let result = match Args::parse().command {
        Command::Reconcile { uid } => reconcile(&wiring, &uid).await,
        Command::History { uid } => history(&wiring, &uid).await,
        Command::Quarantined { day } => quarantined(&wiring, day).await,
        Command::Republish { uid, since } => republish(&wiring, &uid, since).await,
        Command::Accounts {
            command: AccountsCommand::List { uid },
        } => list_accounts(&wiring, &uid).await,
        Command::Accounts {
            command:
                AccountsCommand::Resolve {
                    uid,
                    alias,
                    currency,
                    found,
                    absent: _,
                },
        } => resolve_account(&wiring, &uid, &alias, &currency, found).await,
        Command::Sessions {
            command:
                SessionsCommand::Resolve {
                    uid,
                    found,
                    absent: _,
                },
        } => resolve_session(&wiring, &uid, found).await,
        Command::ReplayQuarantine {
            since,
            reason,
            dry_run,
            spellings,
        } => replay(&wiring, since, reason, dry_run, &spellings).await,
    };
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("idv-admin: {message}");
            ExitCode::FAILURE
        }
    }
}
