//! IAM policy documents for denyctl: faithful parsing with precise errors, ARNs per partition,
//! wildcard and variable matching, and condition operators. Pure: no I/O.

pub mod arn;
pub mod condition;
mod document;
pub mod glob;
pub mod pattern;
pub mod tree;

pub use arn::{Arn, ArnError, Principal, PrincipalError, PrincipalKind};
pub use condition::{Base, Condition, Operator, SetQualifier};
pub use document::{Effect, PatternSet, Policy, PolicyError, PrincipalSet, PrincipalType, Statement};
pub use pattern::{Match, Pattern};
pub use tree::Tree;
