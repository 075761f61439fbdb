//! A policy as collected, with where it came from: the one shape every layer is reported in
//! (snapshots, the resource seam, verdicts).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Where a collected policy came from, with the version identifier read (for compare-and-swap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySource {
    /// `inline`, `managed`, `scp`, `rcp`, `trust`, `session` or `resource`.
    pub kind: String,
    /// The entity or target it is attached to (`role/dev`, `group/devs`, `ou-abcd-11111111`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to: Option<String>,
    /// The policy ARN (managed policies, SCPs, RCPs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The policy ID (`p-...` for Organizations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// The version read (managed policies: the default version, `v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The call that read it (`iam:GetPolicyVersion`), or `file` for `--session-policy`.
    pub read_by: String,
    /// Service settings a plugin read beside a resource policy (S3: Object Ownership, Block
    /// Public Access, default encryption; SQS: the queue's KMS key, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Json>,
}

/// A policy as collected: the name it is reported under, the document, its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcedPolicy {
    /// The name in verdicts (`inline:deploy (role/dev)`, a policy ARN, `deny-ec2 (p-...)`).
    pub name: String,
    /// The policy document.
    pub document: Json,
    /// Where it came from.
    pub source: PolicySource,
}
