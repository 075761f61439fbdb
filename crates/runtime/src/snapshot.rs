//! The snapshot file (docs/snapshot.md): everything `collect` read, with the version identifiers,
//! loadable offline as a request and its layers (it is a superset of the scenario format).

use denyctl_eval::scenario::Scenario;
use denyctl_eval::{Layers, Request, UnknownLayer};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::sourced::SourcedPolicy;
use crate::whoami::{Identity, OrgSummary};

/// The format tag of this version.
pub const FORMAT: &str = "denyctl-snapshot/1";

/// The request a snapshot was collected for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    /// The principal as STS reports it.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource ARN or `*`.
    pub resource: String,
    /// The account that owns the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_account: Option<String>,
    /// Context keys: given ones and those derived from the principal (tags, organization).
    #[serde(default)]
    pub context: serde_json::Map<String, Json>,
}

/// One organization level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotLevel {
    /// Root, OU or account ID.
    pub target: String,
    /// `ROOT`, `ORGANIZATIONAL_UNIT` or `ACCOUNT`.
    #[serde(rename = "type", default)]
    pub target_type: String,
    /// Policies attached there.
    pub policies: Vec<SourcedPolicy>,
}

/// Every layer read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPolicies {
    /// Identity-based policies.
    pub identity: Vec<SourcedPolicy>,
    /// The permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<SourcedPolicy>,
    /// Session policies given with `--session-policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Vec<SourcedPolicy>>,
    /// SCP levels from the root down to the account (absent: no organization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<Vec<SnapshotLevel>>,
    /// RCP levels from the root down to the resource's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcp: Option<Vec<SnapshotLevel>>,
    /// The resource's policy (or the role trust policy for sts:AssumeRole*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<SourcedPolicy>,
    /// The organization's management account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_account: Option<String>,
    /// Layers that could not be read, with the reason and the call that would read them.
    #[serde(default)]
    pub unknown: Vec<UnknownLayer>,
}

/// How many calls a collection made, how often the SDK retried, and which calls failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSummary {
    /// AWS calls.
    pub count: usize,
    /// Sequential waves.
    pub waves: usize,
    /// Requests sent again by the SDK's standard retries (throttling, 5xx, resets, timeouts).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: usize,
    /// The calls that failed (denied, throttled, timed out, ...), each with its attempts: the
    /// layer each one read is `unknown`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedCall>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A call that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCall {
    /// `iam:GetRole`.
    pub call: String,
    /// What it read.
    pub target: String,
    /// `unavailable` (AWS kept failing), `denied`, `failed`, ...
    pub result: String,
    /// How many times it was sent (1 + retries).
    pub attempts: usize,
}

impl CallSummary {
    /// The summary of a run's calls so far.
    pub fn of(stats: &crate::CallStats) -> CallSummary {
        let mut failed: Vec<FailedCall> = stats
            .records()
            .into_iter()
            .filter(|r| !matches!(r.result.as_str(), "ok" | "not found" | "no organization"))
            .map(|r| FailedCall { call: r.call, target: r.target, result: r.result, attempts: r.attempts })
            .collect();
        failed.sort_by(|a, b| (&a.call, &a.target).cmp(&(&b.call, &b.target)));
        CallSummary { count: stats.count(), waves: stats.waves(), retries: stats.retries(), failed }
    }
}

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `denyctl-snapshot/1`.
    pub format: String,
    /// When it was collected (RFC 3339, UTC).
    pub collected_at: String,
    /// The request.
    pub request: SnapshotRequest,
    /// The live caller when it was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<Identity>,
    /// The organization, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrgSummary>,
    /// Every layer.
    pub policies: SnapshotPolicies,
    /// Things a reader should know (session policies not readable back, ...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Calls made.
    #[serde(default)]
    pub calls: CallSummary,
    /// AWS's own record of the denial (IAM Toolbox GetRequestAuthorizationDetails), when the
    /// message carried an authorization ID and the operator could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<denyctl_authz::AuthzRecord>,
    /// The hidden hops the request needs (an SSE-KMS bucket: kms:GenerateDataKey on its key),
    /// each with the layers collected for it; one flat list, in the order they were found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<SnapshotHop>,
}

/// The deepest hop followed (a hop of a hop is depth 2).
pub const MAX_HOP_DEPTH: usize = 2;

/// A hidden hop and what was collected for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHop {
    /// The hop's action (`kms:GenerateDataKey`).
    pub action: String,
    /// The resource it is made on (the key ARN).
    pub resource: String,
    /// Why it is needed, in one sentence (from the plugin).
    pub why: String,
    /// The request that needs it: `ACTION on RESOURCE`.
    pub after: String,
    /// 1 for a hop of the original request, 2 for a hop of a hop.
    pub depth: usize,
    /// The hop's own snapshot (same principal and principal-side layers; its resource layer and
    /// RCPs); absent when it could not be collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Box<Snapshot>>,
    /// Why it could not be collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a snapshot cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON, or not the snapshot shape.
    #[error("not a denyctl snapshot: {0}")]
    Shape(String),
    /// Another format version.
    #[error("snapshot format {0:?} is not supported (this denyctl reads {FORMAT:?})")]
    Version(String),
    /// The request or a policy in it is not valid.
    #[error("{0}")]
    Content(String),
}

impl Snapshot {
    /// Parse a snapshot and check that it can be evaluated.
    pub fn parse_str(text: &str) -> Result<Snapshot, SnapshotError> {
        let v: Json = serde_json::from_str(text).map_err(|e| SnapshotError::Shape(e.to_string()))?;
        match v.get("format").and_then(Json::as_str) {
            Some(FORMAT) => {}
            Some(other) => return Err(SnapshotError::Version(other.to_string())),
            None => return Err(SnapshotError::Shape("no \"format\" field".into())),
        }
        let s: Snapshot = serde_json::from_value(v).map_err(|e| SnapshotError::Shape(e.to_string()))?;
        s.evaluable()?;
        Ok(s)
    }

    /// The request and layers, as the evaluator takes them (through the scenario reader, so a
    /// snapshot and a scenario mean the same thing).
    pub fn evaluable(&self) -> Result<(Request, Layers), SnapshotError> {
        let v = serde_json::to_value(self).map_err(|e| SnapshotError::Shape(e.to_string()))?;
        let sc = Scenario::from_json(v).map_err(|e| SnapshotError::Content(e.to_string()))?;
        Ok((sc.request, sc.layers))
    }
}
