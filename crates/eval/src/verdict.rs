//! The verdict: the decision with its reasons, down to the statement and the condition.

use std::sync::Arc;

use denyctl_policy::Effect;
use serde::{Deserialize, Serialize};

use crate::layers::{LayerKind, UnknownLayer};

/// AWS's final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A Deny statement matched.
    ExplicitDeny,
    /// Nothing allowed it (or a required layer did not).
    ImplicitDeny,
}

impl Decision {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::ExplicitDeny => "explicit_deny",
            Decision::ImplicitDeny => "implicit_deny",
        }
    }
}

/// What one layer (or one organization level) said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An Allow statement matched.
    Allow,
    /// A Deny statement matched.
    ExplicitDeny,
    /// No statement allowed the request.
    NoAllow,
    /// The resource policy delegates to the caller's account (account-root principal).
    Delegates,
    /// The layer does not limit this request (e.g. SCPs for the management account).
    NotApplied,
    /// The layer could not be read.
    Unknown,
}

/// A statement, as reported: which policy, which statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementRef {
    /// The policy's name or ARN.
    pub policy: Arc<str>,
    /// Statement index (0-based).
    pub index: usize,
    /// Its Sid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Its effect.
    pub effect: Effect,
}

/// Why a statement whose action matched did not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "failed", rename_all = "snake_case")]
pub enum Miss {
    /// The resource did not match `Resource` / matched `NotResource`.
    Resource {
        /// The statement's resource patterns.
        patterns: Vec<String>,
        /// `true` for NotResource.
        negated: bool,
    },
    /// The principal did not match `Principal` / matched `NotPrincipal`.
    Principal,
    /// A condition did not hold.
    Condition {
        /// The operator as written.
        operator: String,
        /// The context key as written.
        key: String,
        /// The policy's values.
        expected: Vec<String>,
        /// The request's values; `null` when the key is missing from the request.
        actual: Option<Vec<String>>,
    },
    /// A policy variable in the statement has no value in the request.
    MissingVariable {
        /// The variable's key.
        key: String,
    },
}

/// A statement that came close, and why it did not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearMiss {
    /// The statement.
    #[serde(flatten)]
    pub statement: StatementRef,
    /// Why it did not apply.
    #[serde(flatten)]
    pub miss: Miss,
}

/// The result of one layer (for SCPs and RCPs: one organization level).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerReport {
    /// The layer.
    pub layer: LayerKind,
    /// The organization level (SCP/RCP target), when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What it said.
    pub outcome: Outcome,
    /// The statements that decided it (matching Deny statements, or matching Allow statements).
    pub deciding: Vec<StatementRef>,
    /// Statements whose action matched but that did not apply, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near_misses: Vec<NearMiss>,
    /// A note (why a layer was not applied, what kind of resource policy this is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The verdict for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// The layers that denied (see FORMAT.md for the exact rule).
    pub denied_by: Vec<LayerKind>,
    /// Every layer's result, in evaluation order.
    pub layers: Vec<LayerReport>,
    /// Context keys that conditions or variables needed but the request did not carry.
    pub missing_context: Vec<String>,
    /// Layers that could not be read.
    pub unknown_layers: Vec<UnknownLayer>,
    /// `true` when the decision could change once the unknown layers are known.
    pub depends_on_unknown: bool,
    /// Whether the request crosses accounts.
    pub cross_account: bool,
    /// Readings of rules AWS does not document that this decision depends on (empty when none):
    /// the decision would be `otherwise` under the other reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumptions: Vec<Assumption>,
}

/// An undocumented rule the decision depends on, the reading denyctl chose, and the other outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumption {
    /// A stable identifier: `principal_star_boundary`.
    pub id: String,
    /// What is assumed and why, in a sentence or two.
    pub note: String,
    /// The decision under the other reading.
    pub otherwise: Decision,
}

impl Verdict {
    /// The report of a layer (the first, for organization levels).
    pub fn layer(&self, kind: LayerKind) -> Option<&LayerReport> {
        self.layers.iter().find(|l| l.layer == kind)
    }
}
