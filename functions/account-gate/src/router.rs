//! This module lists the gate's routes and builds the router that serves them.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

use crate::AccountGate;
use crate::create::create_account;
use crate::erasure::erase;
use crate::history::history;
use crate::status::status;

/// A route as (method, path), as the template's API events name it.
type Route = (&'static str, &'static str);

const STATUS: Route = ("GET", "/users/{uid}/kyc");
const CREATE: Route = ("POST", "/users/{uid}/accounts");
const HISTORY: Route = ("GET", "/users/{uid}/history");
const ERASURE: Route = ("POST", "/users/{uid}/erasure");

/// Lists every route the gate serves, so that a test can hold the template's API events to them.
pub const ROUTES: &[(&str, &str)] = &[STATUS, CREATE, HISTORY, ERASURE];

/// An account request is a few dozen bytes, so a larger body is refused before it is read (with
/// problem+json, not the framework's plain-text 413 at 2 MB).
pub const MAX_ACCOUNT_REQUEST: usize = 16 * 1024;

pub fn router(gate: Arc<AccountGate>) -> Router {
    Router::new()
        .route(STATUS.1, on(method(STATUS), status))
        .route(
            CREATE.1,
            on(method(CREATE), create_account).layer(DefaultBodyLimit::max(MAX_ACCOUNT_REQUEST)),
        )
        .route(HISTORY.1, on(method(HISTORY), history))
        .route(ERASURE.1, on(method(ERASURE), erase))
        .method_not_allowed_fallback(idv_adapters::http::route_method_not_allowed)
        .with_state(gate)
}

/// Returns the method a route is served on. It panics on a route spelled wrong, so that every
/// test that builds the router fails.
fn method((name, path): Route) -> MethodFilter {
    Method::from_bytes(name.as_bytes())
        .ok()
        .and_then(|method| MethodFilter::try_from(method).ok())
        .unwrap_or_else(|| panic!("{path}: {name} is not a method a route can be served on"))
}
