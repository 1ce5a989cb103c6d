//! This crate is a Ralio stand-in. It serves the REST endpoints this service calls and the
//! hosted verification page, and sends the signed webhooks Ralio would send when a person (or a
//! test) decides a session's outcome.
//!
//! | route | what |
//! |---|---|
//! | `POST /api/v1/auth/login` | `{api_code, api_key}` → `{token}` |
//! | `POST /api/v1/account/users/{uid}/identity-verifications` | new session, 201 as documented |
//! | `GET /api/v1/account/users/{uid}/identity-verifications` | the user's sessions, paged |
//! | `GET …/identity-verifications/{sid}/checks`, `GET …/{sid}/state-history` | what became of a session, as documented (they change even when its webhooks are dropped) |
//! | `POST /api/v1/account/users/{uid}/accounts` | 201 for a REGULAR user (then `account_activated`), 403 otherwise |
//! | `GET /api/v1/merchant/user/accounts`, `GET /api/v1/merchant/user/accounts/{aid}` | the accounts opened, with their owner |
//! | `GET /hosted/{sessionId}` | the page the end user opens, with outcome buttons |
//! | `POST /sim/sessions/{id}/outcome` | `{"outcome": "start"\|"approve"\|"verify-only"\|"review"\|"reject"\|"expire", "reason": …}` |
//! | `POST /sim/users/{uid}/level` | `{"level": "LIGHT"\|"REGULAR"}`: a level change and its webhook |
//! | `POST /sim/users/{uid}/expiration-warning` | `{"expirationDate": "YYYY-MM-DD", "daysRemaining": n}` |
//! | `POST /sim/faults` | `{"operation": "create-session"\|"create-account", "fault": "act-then-5xx"\|"act-then-hang:15s"\|"act-then-reset"\|"fail-before-acting"\|"act-late:2s", "times": n}`: the next n calls fail so; `{"operation": "deliver-webhooks", "fault": "drop", "times": n}` drops the next n webhooks |
//! | `POST /sim/redeliver` | sends again every webhook a drop fault kept, as Ralio's redelivery on request |
//! | `GET /sim/sessions/{id}`, `GET /sim/accounts`, `GET /sim/deliveries` | what the simulator holds and sent |
//!
//! The Ralio API is in `ralio_api` and `accounts`, the control API in `control`, the hosted page
//! in `page` and the webhooks in `delivery`, and all of them share what `state` holds.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

mod accounts;
mod control;
pub mod delivery;
pub mod faults;
mod outcomes;
mod page;
pub mod payloads;
mod ralio_api;
mod state;

pub use accounts::{AccountList, SimAccount};
pub use delivery::{Chaos, Delivery, Signature};
pub use faults::{Fault, FaultPlan, Operation};
pub use payloads::Generation;
pub use ralio_api::FinalListing;
pub use state::{SimClock, SimConfig, Simulator};

pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/api/v1/auth/login", post(ralio_api::login))
        .route(
            "/api/v1/account/users/{uid}/identity-verifications",
            post(ralio_api::create_session).get(ralio_api::list_sessions),
        )
        .route(
            "/api/v1/account/users/{uid}/identity-verifications/{sid}/checks",
            get(outcomes::checks),
        )
        .route(
            "/api/v1/account/users/{uid}/identity-verifications/{sid}/state-history",
            get(outcomes::state_history),
        )
        .route(
            "/api/v1/account/users/{uid}/accounts",
            post(accounts::create_account),
        )
        .route(
            "/api/v1/merchant/user/accounts",
            get(accounts::list_accounts),
        )
        .route(
            "/api/v1/merchant/user/accounts/{aid}",
            get(accounts::get_account),
        )
        .route("/sim/faults", post(control::sim_faults))
        .route("/sim/accounts", get(control::sim_accounts))
        .route("/hosted/{id}", get(page::hosted_page))
        .route("/hosted/{id}/decide", post(page::hosted_decide))
        .route("/sim/sessions/{id}", get(control::sim_session))
        .route("/sim/sessions/{id}/outcome", post(control::sim_outcome))
        .route("/sim/users/{uid}/level", post(control::sim_level))
        .route(
            "/sim/users/{uid}/expiration-warning",
            post(control::sim_expiration_warning),
        )
        .route("/sim/deliveries", get(control::sim_deliveries))
        .route("/sim/redeliver", post(control::sim_redeliver))
        .with_state(sim)
}
