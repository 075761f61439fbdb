//! The policy layers that AWS evaluates for a request.

use std::sync::Arc;

use denyctl_policy::Policy;
use serde::{Deserialize, Serialize};

/// The layer kinds, in the vocabulary of `denied_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Service control policies (per organization level).
    Scp,
    /// Resource control policies (per organization level).
    Rcp,
    /// The principal's permissions boundary.
    PermissionsBoundary,
    /// Session policies passed when the session was created.
    Session,
    /// Identity-based policies (inline, managed, group).
    Identity,
    /// The resource's own policy (bucket, key, queue, secret, role trust policy).
    Resource,
    /// The VPC endpoint policy the request travelled through.
    VpcEndpoint,
}

impl LayerKind {
    /// The `denied_by` name.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Scp => "scp",
            LayerKind::Rcp => "rcp",
            LayerKind::PermissionsBoundary => "permissions_boundary",
            LayerKind::Session => "session",
            LayerKind::Identity => "identity",
            LayerKind::Resource => "resource",
            LayerKind::VpcEndpoint => "vpc_endpoint",
        }
    }

    /// A name for people.
    pub fn title(self) -> &'static str {
        match self {
            LayerKind::Scp => "service control policies",
            LayerKind::Rcp => "resource control policies",
            LayerKind::PermissionsBoundary => "permissions boundary",
            LayerKind::Session => "session policies",
            LayerKind::Identity => "identity-based policies",
            LayerKind::Resource => "resource-based policy",
            LayerKind::VpcEndpoint => "VPC endpoint policy",
        }
    }
}

/// A policy with the name it is reported under (`inline:deploy`, a managed policy ARN, ...).
#[derive(Debug, Clone)]
pub struct NamedPolicy {
    /// Display name / identifier.
    pub name: Arc<str>,
    /// The document.
    pub policy: Arc<Policy>,
}

impl NamedPolicy {
    /// Wrap a policy.
    pub fn new(name: &str, policy: Policy) -> NamedPolicy {
        NamedPolicy { name: Arc::from(name), policy: Arc::new(policy) }
    }
}

/// One level of the organization tree (root, an OU, the account) and the policies attached there.
#[derive(Debug, Clone)]
pub struct OrgLevel {
    /// The target ID (`r-abcd`, `ou-abcd-11111111`, an account ID).
    pub target: String,
    /// Policies attached at this level (a union).
    pub policies: Vec<NamedPolicy>,
}

/// A layer that could not be read: never treated as allow or as empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnknownLayer {
    /// Which layer.
    pub layer: LayerKind,
    /// Why it could not be read, and the call/permission that would read it.
    pub reason: String,
}

/// Every policy layer for one request. Absent means "does not apply"; unreadable layers are
/// listed in `unknown` instead.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// SCP levels from the root down to the account; `None` when the account is in no organization.
    pub scp: Option<Vec<OrgLevel>>,
    /// RCP levels (the default full-access RCP is implied at every level).
    pub rcp: Option<Vec<OrgLevel>>,
    /// The permissions boundary.
    pub permissions_boundary: Option<NamedPolicy>,
    /// Session policies; `None` when the session was created without any.
    pub session: Option<Vec<NamedPolicy>>,
    /// Identity-based policies.
    pub identity: Vec<NamedPolicy>,
    /// The resource's policy; `None` when it has none.
    pub resource: Option<NamedPolicy>,
    /// The VPC endpoint policy, when the request goes through an endpoint.
    pub vpc_endpoint: Option<NamedPolicy>,
    /// The organization's management account (SCPs do not limit its principals, nor RCPs its resources).
    pub management_account: Option<String>,
    /// Layers that could not be read.
    pub unknown: Vec<UnknownLayer>,
}

impl Layers {
    /// Whether a layer is unknown.
    pub fn is_unknown(&self, layer: LayerKind) -> bool {
        self.unknown.iter().any(|u| u.layer == layer)
    }
}
