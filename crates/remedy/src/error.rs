//! The one error type of the planner.

/// Why no plan could be made; every message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemedyError {
    /// The request names no resource, but the action supports resource-level permissions.
    #[error("the request names no resource ARN, and {action} supports resource-level permissions: denyctl will not grant it on \"*\"; give the resource ARN")]
    NoResourceArn {
        /// The action.
        action: String,
    },
    /// The caller cannot carry identity policies of its own.
    #[error("{principal}: {why}")]
    UnsupportedCaller {
        /// The caller.
        principal: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// A policy would exceed its IAM size quota even in the fallback.
    #[error("{target}: the changed policy would be {size} characters, over the {limit}-character quota for {quota}; {what_to_do}")]
    PolicyTooLarge {
        /// The policy.
        target: String,
        /// Its size after the change (whitespace not counted).
        size: usize,
        /// The quota.
        limit: usize,
        /// The quota's name.
        quota: String,
        /// What to do instead.
        what_to_do: String,
    },
    /// A policy document could not be edited (its JSON is not a policy shape the planner can change).
    #[error("{target}: cannot edit the policy: {message}")]
    Edit {
        /// The policy.
        target: String,
        /// What is wrong.
        message: String,
    },
    /// The embedded IAM catalog could not be read.
    #[error(transparent)]
    Catalog(#[from] denyctl_catalog::CatalogError),
}
