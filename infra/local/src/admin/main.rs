//! `idv-admin` runs operator commands against a deployed stack. Every command needs AWS
//! credentials and `TABLE_NAME`. `reconcile` and `sweep` also need `RALIO_BASE_URL` and
//! `RALIO_SECRET_ARN` or `RALIO_API_CODE`/`RALIO_API_KEY` (`sweep` reads the reconciler's
//! `SWEEP_AFTER`, `LEVEL_WAIT` and `SWEEP_MAX_USERS` too). `replay-quarantine` also needs `QUEUE_URL`, and reads
//! the webhook's `MAX_CLOCK_SKEW`, `ATTRIBUTION_RETRY_WINDOW` and `QUARANTINE_RETENTION`.
//! `republish` also needs `EVENT_BUS_NAME`, `accounts resolve` also the Ralio variables, and
//! `sessions resolve` the Ralio variables and `QUEUE_URL`. `erase` reads `COMPLIANCE_RETENTION`
//! and `QUARANTINE_RETENTION`.

mod accounts;
mod erasure;
mod quarantine;
mod sessions;
mod trail;

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use idv_adapters::config::ProcessEnv;
use idv_adapters::wiring::Wiring;
use idv_model::Uid;

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
    /// Run the reconciler's sweep once, now: look up at Ralio the sessions whose webhooks may
    /// have been lost and apply what it reports (audited `reconciled_from_ralio`), and count the
    /// verified users whose level never came. Safe to repeat.
    Sweep,
    /// A user's audit trail, oldest first: every event applied or refused, every watcher action
    /// and gate decision.
    History {
        /// The Ralio user id.
        uid: String,
    },
    /// Erase a user's personal data, as POST /users/{uid}/erasure does: hosted links, failure
    /// messages, aliases, notes and payloads naming the user go; the pseudonymous compliance
    /// record stays until COMPLIANCE_RETENTION after the erasure. Safe to repeat.
    Erase {
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
        command: accounts::AccountsCommand,
    },
    /// Session creations whose outcome at Ralio is uncertain.
    Sessions {
        #[command(subcommand)]
        command: sessions::SessionsCommand,
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

fn parse_uid(uid: &str) -> Result<Uid, String> {
    Uid::parse(uid).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    idv_adapters::telemetry::init();
    let env = ProcessEnv;
    let wiring = Wiring::load(&env).await;
    let result = match Args::parse().command {
        Command::Reconcile { uid } => trail::reconcile(&wiring, &uid).await,
        Command::Sweep => trail::sweep(&wiring).await,
        Command::History { uid } => trail::history(&wiring, &uid).await,
        Command::Erase { uid } => erasure::erase(&wiring, &uid).await,
        Command::Quarantined { day } => quarantine::quarantined(&wiring, day).await,
        Command::Republish { uid, since } => trail::republish(&wiring, &uid, since).await,
        Command::Accounts { command } => accounts::run(&wiring, command).await,
        Command::Sessions { command } => sessions::run(&wiring, command).await,
        Command::ReplayQuarantine {
            since,
            reason,
            dry_run,
            spellings,
        } => {
            let asked = quarantine::Replay {
                since,
                reason,
                dry_run,
                spellings,
            };
            quarantine::replay(&wiring, asked).await
        }
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
