//! Every integration test of this crate is in one binary, so that the AWS SDK is linked once
//! instead of once per file. Each module is one former test file, so test names keep their
//! module as a prefix and a filter by name still finds them.

mod fixtures;
mod layers;
mod lifecycle_properties;
mod webhook_variants;
