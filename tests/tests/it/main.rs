//! This binary holds every integration test of this crate, so the AWS SDK is linked once
//! instead of once per file. Each module is one former test file, so test names keep their
//! module as a prefix and a filter by name still finds them.

mod api_contract;
mod domain_events;
mod dropped_webhooks;
mod erasure;
mod event_schemas;
mod exactly_once;
mod exactly_once_schedules;
mod lambda_samples;
mod lifecycles;
mod priming;
mod template_consistency;
mod workspace;
