//! Least-privilege fix plans for an AWS AccessDenied. Pure: no I/O.
//!
//! [`plan`] takes the denied request, every policy layer and the verdict, and proposes for
//! each blocking layer the smallest change: one Allow statement naming the exact action and
//! resource (scoped with the IAM catalog), or an exception that narrows an explicit Deny
//! (never deleting it); hand-offs for what the caller cannot change (SCPs, RCPs, session and
//! VPC endpoint policies). It then re-evaluates the request with the changes and runs the
//! no-new-access check over a neighbourhood of requests. The [`Plan`] is a serialisable file
//! (`plan_version` 1, docs/plans.md) that a live runtime can apply with compare-and-swap.

#![forbid(unsafe_code)]

mod check;
pub use check::Neighbourhood;
pub mod diff;
pub mod edit;
pub mod equiv;
mod error;
pub mod grant;
pub mod integrity;
pub mod limits;
pub mod trust;
mod model;
mod plan;

pub use error::RemedyError;
pub use model::*;
pub use plan::plan;
