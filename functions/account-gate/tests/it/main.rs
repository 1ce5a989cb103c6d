//! This binary holds every integration test of this crate, so the AWS SDK is linked once
//! instead of once per file. Each module is one former test file, so test names keep their
//! module as a prefix and a filter by name still finds them.

mod api;
mod common;
mod erasure;
mod history;
