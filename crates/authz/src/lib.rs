//! AWS's own record of a denial: the IAM Toolbox (preview) `GetRequestAuthorizationDetails` API,
//! read with the AWS SDK, turned into denyctl's terms, and compared with denyctl's verdict.
//! `record` is pure; `client` does the one API call.

pub mod client;
pub mod record;

pub use client::{fetch, valid_id, AuthzError};
pub use record::{compare, AuthzRecord, Comparison};
