//! Every integration test of this crate in one binary (one link of the AWS SDK instead of
//! one per file); each module is one test file, so test names keep their module as a prefix.

mod replay;
mod settings;
