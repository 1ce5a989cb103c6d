//! This crate does the I/O of the Ralio IDV service behind small traits, so that the functions
//! compose them and the tests swap them: the store (DynamoDB and in memory), AWS clients and their
//! request counting, the clock, configuration, secrets, HTTP answers and telemetry.

pub mod aws;
pub mod clock;
pub mod config;
pub mod expiry;
pub mod http;
pub mod metrics;
pub mod origin_secret;
pub mod publish;
pub mod queue;
pub mod ralio;
pub mod reconcile;
pub mod secrets;
pub mod signing_keys;
pub mod store;
#[cfg(feature = "stream-reader")]
pub mod stream;
pub mod sweep;
pub mod telemetry;
pub mod tls;
pub mod wiring;

#[cfg(feature = "test-support")]
pub mod testing;
