//! This binary holds every integration test of this crate, so the AWS SDK is linked once
//! instead of once per file. Each module is one test file, so test names keep their module as
//! a prefix.

mod replay;
mod settings;
