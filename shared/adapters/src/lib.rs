//! Everything that does I/O for the Ralio IDV service, behind small traits so the functions
//! compose them and the tests swap them: the store (DynamoDB and in memory), AWS clients and
//! their request counting.

pub mod aws;
pub mod store;
