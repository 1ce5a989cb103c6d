//! Every integration test of this crate in one binary (one link of the AWS SDK instead of
//! one per file); each module is one former test file, so test names keep their
//! module as a prefix and a filter by name still finds them.

mod fixtures;
mod layers;
mod lifecycle_properties;
mod webhook_variants;
