//! Every integration test of this crate is in one binary, so the AWS SDK is linked once instead of
//! once per file. Each module is one former test file, so test names keep their module as a prefix
//! and a filter by name still finds them.

mod activation_window;
mod data_map;
mod dynamodb_budget_and_races;
mod erasure;
mod lambda_config;
mod ralio_client;
mod ralio_lists;
mod reconcile;
mod store_contract;
mod store_equivalence;
mod sweep;
mod sweep_faults;
