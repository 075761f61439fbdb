//! The plan file: what to change, where, from what to what, and what it was checked against.
//! Serialised as JSON (`plan_version` 1); documented in docs/plans.md.

use std::collections::BTreeMap;

use denyctl_eval::LayerKind;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The plan file format version this crate writes.
pub const PLAN_VERSION: u32 = 1;

/// How widely a missing identity allow is granted. Only `Exact` is least privilege; the others
/// are alternatives a person picks, each shown with what it would newly allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The exact action on the exact resource ARN (scoped with the catalog).
    #[default]
    Exact,
    /// The exact action on every resource under the resource's prefix (`bucket/releases/*`).
    Prefix,
    /// The exact action on everything in the bucket / container (`bucket/*`).
    Bucket,
    /// Every action of the service with the same access level, on the exact resource.
    AccessLevel,
}

impl Scope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Exact => "exact",
            Scope::Prefix => "prefix",
            Scope::Bucket => "bucket",
            Scope::AccessLevel => "access_level",
        }
    }
}

/// One version of a managed policy, as `ListPolicyVersions` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVersion {
    /// `v1`, `v2`, ...
    pub version_id: String,
    /// Whether this is the default (active) version.
    pub is_default: bool,
    /// Creation time (ISO 8601), when known; orders versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
}

/// What the planner is told besides the request and the layers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Scope of a missing identity allow (default: exact).
    pub scope: Scope,
    /// Accept a plan that allows more than the intended request (`--accept-widening`).
    pub accept_widening: bool,
    /// Version tokens read with the layers, by policy name as the layers name it (ETag, policy
    /// version id, ...). Offline scenarios have none.
    pub versions: BTreeMap<String, String>,
    /// The versions of managed policies (boundaries, managed identity policies), by policy name.
    pub policy_versions: BTreeMap<String, Vec<PolicyVersion>>,
}

/// Where a change goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// An inline policy of a role or user (`PutRolePolicy` / `PutUserPolicy`).
    InlinePolicy,
    /// A customer managed policy (`CreatePolicyVersion`, or `CreatePolicy` + attach).
    ManagedPolicy,
    /// The managed policy used as the principal's permissions boundary.
    Boundary,
    /// A resource's own policy (bucket, key, queue, secret).
    ResourcePolicy,
    /// A role's trust policy (`UpdateAssumeRolePolicy`).
    TrustPolicy,
    /// A service control policy (organization administrator only).
    Scp,
    /// A resource control policy (organization administrator only).
    Rcp,
    /// A session policy (fixed at session creation: re-issue the session).
    Session,
    /// A VPC endpoint policy (network administrator).
    VpcEndpointPolicy,
}

impl TargetKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::InlinePolicy => "inline_policy",
            TargetKind::ManagedPolicy => "managed_policy",
            TargetKind::Boundary => "boundary",
            TargetKind::ResourcePolicy => "resource_policy",
            TargetKind::TrustPolicy => "trust_policy",
            TargetKind::Scp => "scp",
            TargetKind::Rcp => "rcp",
            TargetKind::Session => "session",
            TargetKind::VpcEndpointPolicy => "vpc_endpoint_policy",
        }
    }
}

/// The policy a change writes, with every identifier the live side needs to find it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// What kind of policy.
    pub kind: TargetKind,
    /// The policy's name as the layers name it (`inline:deploy`, a policy ARN, `bucket-policy`),
    /// or the name of the policy to create (`denyctl-1a2b3c4d`).
    pub policy_name: String,
    /// The policy ARN (managed policies, boundaries, SCPs/RCPs given by ARN), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// The role whose inline policy, attachment or trust policy this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// The user whose inline policy or attachment this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The resource whose policy this is (bucket ARN, key ARN, queue ARN, secret ARN, role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// The service that owns the resource policy (`s3`, `kms`, ...): picks the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The organization target (root, OU or account ID) an SCP/RCP level is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_target: Option<String>,
    /// `true` when the policy does not exist yet and is created (then `before` is null).
    pub create: bool,
}

/// What kind of edit a change makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// A new Allow statement.
    AddAllow,
    /// An explicit Deny narrowed with an exception for the caller (never deleted).
    NarrowDeny,
}

/// One request that a change would newly allow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Access {
    /// The principal.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
    /// Why this request was probed (`another object in the same prefix`, ...).
    pub probe: String,
}

/// How many principals a boundary change affects: a count (live), or `"unknown"` (offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlastRadius {
    /// The number of roles and users that use this boundary.
    Count(u64),
    /// Not counted (offline: `"unknown"`).
    Text(String),
}

/// The IAM size quota a target is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeCheck {
    /// The quota's name (`role inline policies (aggregate)`, `managed policy`, ...).
    pub quota: String,
    /// Characters after the change, counted as AWS does (whitespace not counted).
    pub size: usize,
    /// The quota.
    pub limit: usize,
}

/// What happens to managed-policy versions when this change is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionPlan {
    /// Whether the version list was known when planning.
    pub known: bool,
    /// The number of versions read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// The version to delete first (the oldest non-default one) when there are already five.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_version: Option<String>,
    /// What the live side must do.
    pub note: String,
}

/// One policy change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `c1`, `c2`, ... in plan order.
    pub id: String,
    /// The layer this change is in.
    pub layer: LayerKind,
    /// Add an allow, or narrow a deny (when a target gets both, the first one's kind).
    pub edit: EditKind,
    /// Where it goes.
    pub target: Target,
    /// One line for people.
    pub summary: String,
    /// The statements added or narrowed, as they are after the change.
    pub statements: Vec<Json>,
    /// The policy before (null when created).
    pub before: Option<Json>,
    /// The policy after.
    pub after: Json,
    /// Unified diff of the pretty-printed policy, before → after.
    pub diff: String,
    /// The version token read with `before` (null when none was given, e.g. offline).
    pub version_token: Option<String>,
    /// `false` for hand-offs (SCP, RCP, session, VPC endpoint): someone else applies them.
    pub applicable: bool,
    /// A person must look at this before it is applied.
    pub needs_human: bool,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_human_reason: Option<String>,
    /// For boundaries (and SCPs): how many principals share the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
    /// The size quota after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeCheck>,
    /// Managed-policy version handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<VersionPlan>,
    /// Requests this change alone would newly allow, beyond the intended one.
    pub newly_allowed: Vec<Access>,
    /// Notes (resource scoping, `*` for actions without resource-level permissions, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A change the caller cannot make, written as a request for the person who can.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The change (`c2`) it carries.
    pub change: String,
    /// Who can apply it.
    pub to: String,
    /// A subject line.
    pub subject: String,
    /// The ready-to-send text: policy, target, diff, why.
    pub body: String,
}

/// A wider scope for a missing identity allow, with what it would newly allow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    /// The scope.
    pub scope: Scope,
    /// What it grants, in words.
    pub description: String,
    /// The statement it would add instead.
    pub statement: Json,
    /// Requests it would newly allow beyond the intended one.
    pub newly_allowed: Vec<Access>,
}

/// A decision and the layers behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionSummary {
    /// `allow`, `explicit_deny` or `implicit_deny`.
    pub decision: String,
    /// The layers that deny.
    pub denied_by: Vec<LayerKind>,
}

/// The re-evaluation of the intended request with the changed layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Before any change.
    pub before: DecisionSummary,
    /// With the applicable changes only (what the caller's operator can do now).
    pub after: DecisionSummary,
    /// With the hand-offs applied too.
    pub with_handoffs: DecisionSummary,
    /// What still blocks after the applicable changes, and who can lift it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
    /// `true` when unreadable layers make the result uncertain.
    pub depends_on_unknown: bool,
}

/// The no-new-access check: decisions before and after over a neighbourhood of requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoNewAccess {
    /// How many requests were compared.
    pub checked: usize,
    /// Every request newly allowed beyond the intended one (all changes, hand-offs included).
    pub newly_allowed: Vec<Access>,
    /// Whether the user accepted the widening (`--accept-widening`).
    pub widening_accepted: bool,
}

/// The plan's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The applicable changes allow the request and nothing else: can be applied.
    Ready,
    /// It would allow more than the request and the user did not accept that: must not be applied.
    Refused,
    /// The applicable changes are not enough: the hand-offs must be applied by someone else.
    NeedsHandoff,
    /// No change found that allows the request (see `verification` and `notes`).
    Unresolved,
    /// The request is already allowed: nothing to change.
    AlreadyAllowed,
}

/// The request, as given: what `replay` sends again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// The caller as STS reports it.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource ARN or `*`.
    pub resource: String,
    /// The resource's account.
    pub resource_account: String,
    /// Context keys.
    pub context: BTreeMap<String, Vec<String>>,
}

/// The caller as the plan addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// `role`, `user`, `federated_user` or `root`.
    pub kind: String,
    /// The IAM entity ARN policies name (the role ARN for a role session).
    pub entity_arn: String,
    /// The role or user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The account.
    pub account: String,
}

/// A least-privilege fix plan: reviewable, applicable later by `denyctl apply -f`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Always 1 for this format.
    pub plan_version: u32,
    /// The state: only `ready` plans may be applied.
    pub status: Status,
    /// Why it is not ready, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The denied request.
    pub request: RequestSpec,
    /// The caller.
    pub caller: Caller,
    /// The scope used for a missing identity allow.
    pub scope: Scope,
    /// The version token of every policy read, by name (null when none was given).
    pub versions_read: BTreeMap<String, Option<String>>,
    /// The changes, in the order to apply them.
    pub changes: Vec<Change>,
    /// Requests for the people who must apply the non-applicable changes.
    pub handoffs: Vec<Handoff>,
    /// Wider scopes for the identity allow, each with what it would newly allow.
    pub alternatives: Vec<Alternative>,
    /// Re-evaluation of the request with the changes.
    pub verification: Verification,
    /// The no-new-access check.
    pub no_new_access: NoNewAccess,
    /// Notes for people.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The original request, to replay after applying.
    pub replay: RequestSpec,
}
