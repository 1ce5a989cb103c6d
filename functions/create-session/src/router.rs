//! This module names create-session's route and builds the router that serves it.

use std::sync::Arc;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

use crate::CreateSession;
use crate::create::create;

/// A route as (method, path), as the template's API events name it.
type Route = (&'static str, &'static str);

const CREATE: Route = ("POST", "/users/{uid}/idv-sessions");

/// Lists every route the function serves, so that a test can hold the template's API events to
/// them.
pub const ROUTES: &[(&str, &str)] = &[CREATE];

pub fn router(app: Arc<CreateSession>) -> Router {
    Router::new()
        .route(CREATE.1, on(method(CREATE), create))
        .method_not_allowed_fallback(idv_adapters::http::route_method_not_allowed)
        .with_state(app)
}

/// Returns the method a route is served on. It panics on a route spelled wrong, so that every
/// test that builds the router fails.
fn method((name, path): Route) -> MethodFilter {
    Method::from_bytes(name.as_bytes())
        .ok()
        .and_then(|method| MethodFilter::try_from(method).ok())
        .unwrap_or_else(|| panic!("{path}: {name} is not a method a route can be served on"))
}
