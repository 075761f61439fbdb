//! The single reads a collection is made of (STS GetCallerIdentity, IAM GetRole, GetUser,
//! ListGroupsForUser, managed policies, Organizations), each made once per run through the
//! session's memos.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::calls::Failure;
use crate::config::{Clients, Memo, Session};
use crate::decode;
use crate::error::ReadError;
use crate::whoami::OrgSummary;

/// The identity of a credential source (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// ARN as STS reports it.
    pub arn: String,
    /// Account.
    pub account: String,
    /// UserId (`AROA...:session`).
    pub user_id: String,
}

/// A role as GetRole reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleInfo {
    /// ARN with path.
    pub arn: String,
    /// Path.
    pub path: String,
    /// Trust policy (decoded), or why it could not be.
    pub trust: Result<Json, ReadError>,
    /// Max session duration (seconds).
    pub max_session: Option<i32>,
    /// Boundary policy ARN.
    pub boundary: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A user as GetUser reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// ARN with path.
    pub arn: String,
    /// Boundary policy ARN.
    pub boundary: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// A managed policy at its default version.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPolicy {
    /// ARN.
    pub arn: String,
    /// Default version ID.
    pub version_id: String,
    /// Document.
    pub document: Json,
}

/// An Organizations policy.

/// An Organizations policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrgPolicy {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) arn: Option<String>,
    pub(crate) document: Json,
}

pub(crate) type R<T> = Result<T, Failure>;

/// The per-run caches: each thing is read once.
#[derive(Default)]
pub(crate) struct Memos {
    ids: Memo<R<CallerId>>,
    roles: Memo<R<RoleInfo>>,
    users: Memo<R<UserInfo>>,
    groups_of: Memo<R<Vec<String>>>,
    managed: Memo<R<ManagedPolicy>>,
    org: Memo<R<Option<OrgSummary>>>,
    parents: Memo<R<(String, String)>>,
    root: Memo<R<String>>,
    targets: Memo<R<Vec<String>>>,
    org_policies: Memo<R<OrgPolicy>>,
}

impl<V: Clone> Default for Memo<V> {
    fn default() -> Self {
        Memo::new()
    }
}

pub(crate) fn tags_of(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

pub(crate) fn invalid(call: &str, target: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Read(ReadError::Invalid { call: call.into(), target: target.into(), detail: e.to_string() })
}

/// The last `/`-separated segment of an IAM resource name (the entity name without its path).

impl Session {
    /// STS GetCallerIdentity for one identity (once per run).
    pub async fn identity_of(&self, who: &Clients, wave: usize) -> R<CallerId> {
        let key = format!("{:?}", who.profile);
        self.memo
            .ids
            .get(&key, || async {
                let out = self.call(who, "sts:GetCallerIdentity", "caller", wave, who.sts.get_caller_identity().send()).await?;
                Ok(CallerId {
                    arn: out.arn().unwrap_or_default().to_string(),
                    account: out.account().unwrap_or_default().to_string(),
                    user_id: out.user_id().unwrap_or_default().to_string(),
                })
            })
            .await
    }

    /// IAM GetRole (once per run).
    pub async fn role(&self, name: &str, wave: usize) -> R<RoleInfo> {
        self.memo
            .roles
            .get(name, || async {
                let iam = &self.operator.iam;
                let out = self.call(&self.operator, "iam:GetRole", &format!("role/{name}"), wave, iam.get_role().role_name(name).send()).await?;
                let role = out.role().ok_or_else(|| invalid("iam:GetRole", name, "the answer has no Role"))?;
                let trust = match role.assume_role_policy_document() {
                    Some(d) => decode::policy_document(d).map_err(|e| ReadError::Invalid {
                        call: "iam:GetRole".into(),
                        target: role.arn().into(),
                        detail: format!("trust policy: {e}"),
                    }),
                    None => Err(ReadError::Invalid { call: "iam:GetRole".into(), target: role.arn().into(), detail: "no trust policy in the answer".into() }),
                };
                Ok(RoleInfo {
                    arn: role.arn().to_string(),
                    path: role.path().to_string(),
                    trust,
                    max_session: role.max_session_duration(),
                    boundary: role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()).map(str::to_string),
                    tags: tags_of(role.tags()),
                })
            })
            .await
    }

    /// IAM GetUser (once per run).
    pub async fn user(&self, name: &str, wave: usize) -> R<UserInfo> {
        self.memo
            .users
            .get(name, || async {
                let iam = &self.operator.iam;
                let out = self.call(&self.operator, "iam:GetUser", &format!("user/{name}"), wave, iam.get_user().user_name(name).send()).await?;
                let user = out.user().ok_or_else(|| invalid("iam:GetUser", name, "the answer has no User"))?;
                Ok(UserInfo {
                    arn: user.arn().to_string(),
                    boundary: user.permissions_boundary().and_then(|b| b.permissions_boundary_arn()).map(str::to_string),
                    tags: tags_of(user.tags()),
                })
            })
            .await
    }

    /// IAM ListGroupsForUser (all pages, once per run); returns the pages' last wave too.
    pub async fn groups_of(&self, user: &str, wave: usize) -> R<Vec<String>> {
        self.memo
            .groups_of
            .get(user, || async {
                let mut names = Vec::new();
                let mut marker: Option<String> = None;
                let mut w = wave;
                loop {
                    let req = self.operator.iam.list_groups_for_user().user_name(user).set_marker(marker.clone());
                    let out = self.call(&self.operator, "iam:ListGroupsForUser", &format!("user/{user}"), w, req.send()).await?;
                    names.extend(out.groups().iter().map(|g| g.group_name().to_string()));
                    match out.marker() {
                        Some(m) if out.is_truncated() => marker = Some(m.to_string()),
                        _ => break,
                    }
                    w += 1;
                }
                Ok(names)
            })
            .await
    }

    /// A managed policy at its default version: GetPolicy, then GetPolicyVersion (once per run).
    pub async fn managed(&self, arn: &str, wave: usize) -> R<ManagedPolicy> {
        self.memo
            .managed
            .get(arn, || async {
                let iam = &self.operator.iam;
                let p = self.call(&self.operator, "iam:GetPolicy", arn, wave, iam.get_policy().policy_arn(arn).send()).await?;
                let version = p
                    .policy()
                    .and_then(|p| p.default_version_id())
                    .ok_or_else(|| invalid("iam:GetPolicy", arn, "no default version in the answer"))?
                    .to_string();
                let v = self
                    .call(&self.operator, "iam:GetPolicyVersion", arn, wave + 1, iam.get_policy_version().policy_arn(arn).version_id(&version).send())
                    .await?;
                let raw = v.policy_version().and_then(|v| v.document()).ok_or_else(|| invalid("iam:GetPolicyVersion", arn, "no document in the answer"))?;
                let document = decode::policy_document(raw).map_err(|e| invalid("iam:GetPolicyVersion", arn, e))?;
                Ok(ManagedPolicy { arn: arn.to_string(), version_id: version, document })
            })
            .await
    }

    /// Organizations DescribeOrganization; `None` when the account is in no organization.
    pub async fn organization(&self, wave: usize) -> R<Option<OrgSummary>> {
        self.memo
            .org
            .get("org", || async {
                let who = &self.org_reader;
                match self.call(who, "organizations:DescribeOrganization", "organization", wave, who.org.describe_organization().send()).await {
                    Ok(out) => {
                        let o = out.organization();
                        Ok(o.map(|o| OrgSummary {
                            id: o.id().unwrap_or_default().to_string(),
                            arn: o.arn().map(str::to_string),
                            management_account_id: o.master_account_id().map(str::to_string),
                        }))
                    }
                    Err(Failure::Read(e)) if e.code() == Some("AWSOrganizationsNotInUseException") => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await
    }

    pub(crate) async fn root_id(&self, wave: usize) -> R<String> {
        self.memo
            .root
            .get("root", || async {
                let who = &self.org_reader;
                let out = self.call(who, "organizations:ListRoots", "organization", wave, who.org.list_roots().send()).await?;
                let r = out.roots().first().and_then(|r| r.id()).ok_or_else(|| invalid("organizations:ListRoots", "organization", "no root in the answer"))?;
                Ok(r.to_string())
            })
            .await
    }

    pub(crate) async fn parent(&self, child: &str, wave: usize) -> R<(String, String)> {
        self.memo
            .parents
            .get(child, || async {
                let who = &self.org_reader;
                let out = self.call(who, "organizations:ListParents", child, wave, who.org.list_parents().child_id(child).send()).await?;
                let p = out.parents().first().ok_or_else(|| invalid("organizations:ListParents", child, "no parent in the answer"))?;
                let kind = p.r#type().map(|t| t.as_str().to_string()).unwrap_or_default();
                Ok((p.id().unwrap_or_default().to_string(), kind))
            })
            .await
    }

    pub(crate) async fn target_policy_ids(&self, target: &str, ty: OrgType, wave: usize) -> R<Vec<String>> {
        self.memo
            .targets
            .get(&format!("{target}|{}", ty.api()), || async {
                let who = &self.org_reader;
                let mut ids = Vec::new();
                let mut token: Option<String> = None;
                let mut w = wave;
                loop {
                    let req = who.org.list_policies_for_target().target_id(target).filter(ty.filter()).set_next_token(token.clone());
                    let out = self.call(who, "organizations:ListPoliciesForTarget", &format!("{target} ({})", ty.api()), w, req.send()).await?;
                    ids.extend(out.policies().iter().filter_map(|p| p.id().map(str::to_string)));
                    match out.next_token() {
                        Some(t) => token = Some(t.to_string()),
                        None => break,
                    }
                    w += 1;
                }
                Ok(ids)
            })
            .await
    }

    pub(crate) async fn org_policy(&self, id: &str, wave: usize) -> R<OrgPolicy> {
        self.memo
            .org_policies
            .get(id, || async {
                let who = &self.org_reader;
                let out = self.call(who, "organizations:DescribePolicy", id, wave, who.org.describe_policy().policy_id(id).send()).await?;
                let p = out.policy().ok_or_else(|| invalid("organizations:DescribePolicy", id, "no policy in the answer"))?;
                let s = p.policy_summary();
                let content = p.content().ok_or_else(|| invalid("organizations:DescribePolicy", id, "no content in the answer"))?;
                let document = decode::policy_document(content).map_err(|e| invalid("organizations:DescribePolicy", id, e))?;
                Ok(OrgPolicy {
                    id: id.to_string(),
                    name: s.and_then(|s| s.name()).unwrap_or(id).to_string(),
                    arn: s.and_then(|s| s.arn()).map(str::to_string),
                    document,
                })
            })
            .await
    }
}

/// SCP or RCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrgType {
    Scp,
    Rcp,
}

impl OrgType {
    pub(crate) fn api(self) -> &'static str {
        match self {
            OrgType::Scp => "SERVICE_CONTROL_POLICY",
            OrgType::Rcp => "RESOURCE_CONTROL_POLICY",
        }
    }
    pub(crate) fn filter(self) -> aws_sdk_organizations::types::PolicyType {
        match self {
            OrgType::Scp => aws_sdk_organizations::types::PolicyType::ServiceControlPolicy,
            OrgType::Rcp => aws_sdk_organizations::types::PolicyType::ResourceControlPolicy,
        }
    }
    pub(crate) fn kind(self) -> &'static str {
        match self {
            OrgType::Scp => "scp",
            OrgType::Rcp => "rcp",
        }
    }
}
