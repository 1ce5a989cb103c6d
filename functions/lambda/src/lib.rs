//! This crate is one release binary for the six functions. Each function's template entry
//! names it in `Handler`, which Lambda passes to the process as `_HANDLER`, and this crate runs
//! that function.
//!
//! One binary means one fat-LTO link per `make build` instead of six, and the links were most
//! of a deploy build's time on a 2-core machine (see BENCHMARKS.md for what it costs in
//! start-up and size). Each function keeps its own role, so the code it carries but does not
//! run gains no permission.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A function running in the Lambda runtime, until the runtime stops.
pub type Running = Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>>>>;

/// A function's entry: its handler name (the name of its crate) and how to start it.
pub type Entry = (&'static str, fn() -> Running);

/// Lists each function by the handler name the template gives it.
pub const FUNCTIONS: [Entry; 6] = [
    ("create-session", || {
        Box::pin(idv_create_session::lambda::run())
    }),
    ("webhook", || Box::pin(idv_webhook::lambda::run())),
    ("account-gate", || Box::pin(idv_account_gate::lambda::run())),
    ("expiry-watcher", || {
        Box::pin(idv_expiry_watcher::lambda::run())
    }),
    ("event-publisher", || {
        Box::pin(idv_event_publisher::lambda::run())
    }),
    ("reconciler", || Box::pin(idv_reconciler::lambda::run())),
];

/// The error when `_HANDLER` is missing or names no function of this binary.
#[derive(Debug)]
pub struct UnknownHandler(pub Option<String>);

impl fmt::Display for UnknownHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => write!(f, "_HANDLER is not set"),
            Some(name) => write!(f, "_HANDLER is {name:?}"),
        }?;
        let names: Vec<&str> = FUNCTIONS.iter().map(|(name, _)| *name).collect();
        write!(
            f,
            ": set the function's Handler to one of {}",
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownHandler {}

/// Runs the function `handler` names until the runtime stops.
pub async fn run(handler: Option<&str>) -> Result<(), lambda_runtime::Error> {
    let function = FUNCTIONS
        .iter()
        .find(|(name, _)| Some(*name) == handler)
        .map(|(_, function)| function);
    match function {
        Some(function) => function().await,
        None => Err(UnknownHandler(handler.map(str::to_owned)).into()),
    }
}
