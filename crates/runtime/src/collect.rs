//! Collect every policy layer for one request: identity policies, permissions boundary, trust
//! policy, SCPs and RCPs from the account up to the root, session policies, and the resource
//! policy through the plugins. Independent calls run concurrently; each thing is read once.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use denyctl_eval::{LayerKind, UnknownLayer};
use denyctl_plugin_api::Hop;
use denyctl_policy::{Principal, PrincipalKind};
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::calls::Failure;
use crate::config::{Clients, Memo, Session};
use crate::decode;
use crate::error::{ReadError, RuntimeError};
use crate::resource::{resource_policy_reader, Registry, ResourceRead};
use crate::snapshot::{CallSummary, Snapshot, SnapshotHop, SnapshotLevel, SnapshotPolicies, SnapshotRequest, FORMAT, MAX_HOP_DEPTH};
use crate::whoami::{self, Identity, OrgSummary};

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

/// What to collect for.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// The principal as the denial names it; `None`: the live caller.
    pub principal: Option<String>,
    /// The action.
    pub action: String,
    /// The resource ARN or `*`.
    pub resource: String,
    /// The account that owns the resource, when the ARN does not say (S3).
    pub resource_account: Option<String>,
    /// Context keys given by the user (they win over derived ones).
    pub context: Vec<(String, Vec<String>)>,
    /// Session policies given with `--session-policy` (name, document).
    pub session_policies: Vec<(String, Json)>,
}

/// The result of a collection: the snapshot and the live caller.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Everything read.
    pub snapshot: Snapshot,
    /// The live caller (whoami), when it could be established.
    pub live_caller: Option<Identity>,
}

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
#[derive(Debug, Clone, PartialEq)]
struct OrgPolicy {
    id: String,
    name: String,
    arn: Option<String>,
    document: Json,
}

type R<T> = Result<T, Failure>;

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

fn tags_of(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

fn invalid(call: &str, target: &str, e: impl std::fmt::Display) -> Failure {
    Failure::Read(ReadError::Invalid { call: call.into(), target: target.into(), detail: e.to_string() })
}

/// The last `/`-separated segment of an IAM resource name (the entity name without its path).
fn entity_name(resource: &str) -> &str {
    resource.rsplit('/').next().unwrap_or(resource)
}

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

    async fn root_id(&self, wave: usize) -> R<String> {
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

    async fn parent(&self, child: &str, wave: usize) -> R<(String, String)> {
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

    async fn target_policy_ids(&self, target: &str, ty: OrgType, wave: usize) -> R<Vec<String>> {
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

    async fn org_policy(&self, id: &str, wave: usize) -> R<OrgPolicy> {
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
enum OrgType {
    Scp,
    Rcp,
}

impl OrgType {
    fn api(self) -> &'static str {
        match self {
            OrgType::Scp => "SERVICE_CONTROL_POLICY",
            OrgType::Rcp => "RESOURCE_CONTROL_POLICY",
        }
    }
    fn filter(self) -> aws_sdk_organizations::types::PolicyType {
        match self {
            OrgType::Scp => aws_sdk_organizations::types::PolicyType::ServiceControlPolicy,
            OrgType::Rcp => aws_sdk_organizations::types::PolicyType::ResourceControlPolicy,
        }
    }
    fn kind(self) -> &'static str {
        match self {
            OrgType::Scp => "scp",
            OrgType::Rcp => "rcp",
        }
    }
}

/// One level of the organization with the SCPs and RCPs asked for.
#[derive(Debug, Clone, Default)]
struct Level {
    target: String,
    target_type: String,
    scp: Vec<SourcedPolicy>,
    rcp: Vec<SourcedPolicy>,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Session {
    async fn level_policies(&self, target: &str, ty: OrgType, wave: usize) -> R<Vec<SourcedPolicy>> {
        let ids = self.target_policy_ids(target, ty, wave).await?;
        let pols = join_all(ids.iter().map(|id| self.org_policy(id, wave + 1))).await;
        pols.into_iter()
            .map(|p| {
                let p = p?;
                Ok(SourcedPolicy {
                    name: format!("{} ({})", p.name, p.id),
                    document: p.document,
                    source: PolicySource {
                        kind: ty.kind().into(),
                        attached_to: Some(target.to_string()),
                        arn: p.arn,
                        policy_id: Some(p.id),
                        version_id: None,
                        read_by: "organizations:DescribePolicy".into(),
                        extra: None,
                    },
                })
            })
            .collect()
    }

    /// Levels below the root down to `target`: its parent chain is walked while this level's
    /// policies are read.
    fn org_chain<'a>(&'a self, target: String, target_type: String, types: &'a [OrgType], wave: usize) -> BoxFut<'a, R<Vec<Level>>> {
        Box::pin(async move {
            let up = async {
                let (pid, ptype) = self.parent(&target, wave).await?;
                if ptype == "ROOT" {
                    // The root's policies are read from ListRoots in the first wave.
                    return Ok(Vec::new());
                }
                self.org_chain(pid, ptype, types, wave + 1).await
            };
            let here = async {
                let want = |t| types.contains(&t);
                let (scp, rcp) = futures::join!(
                    async { if want(OrgType::Scp) { self.level_policies(&target, OrgType::Scp, wave).await } else { Ok(vec![]) } },
                    async { if want(OrgType::Rcp) { self.level_policies(&target, OrgType::Rcp, wave).await } else { Ok(vec![]) } }
                );
                Ok::<_, Failure>(Level { target: target.clone(), target_type: target_type.clone(), scp: scp?, rcp: rcp? })
            };
            let (up, here) = futures::join!(up, here);
            let mut chain = up?;
            chain.push(here?);
            Ok(chain)
        })
    }
}

/// Layers that hang off the principal.
#[derive(Default)]
struct PrincipalLayers {
    identity: Vec<SourcedPolicy>,
    boundary: Option<SourcedPolicy>,
    tags: BTreeMap<String, String>,
    entity_arn: Option<String>,
    unknown: Vec<UnknownLayer>,
    notes: Vec<String>,
    /// The principal's IAM entity does not exist (GetRole/GetUser said NoSuchEntity).
    missing: Option<ReadError>,
}

fn fatal_or(f: Failure, layer: LayerKind, out: &mut Vec<UnknownLayer>) -> Result<(), RuntimeError> {
    match f {
        Failure::Fatal(e) => Err(e),
        Failure::Read(e) => {
            out.push(e.unknown(layer));
            Ok(())
        }
    }
}

/// Which IAM entity owns the policies (`role`, `user`, `group`) and its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entity {
    Role,
    User,
    Group,
}

impl Entity {
    fn word(self) -> &'static str {
        match self {
            Entity::Role => "role",
            Entity::User => "user",
            Entity::Group => "group",
        }
    }
}

impl Session {
    async fn inline_policies(&self, e: Entity, name: &str, wave: usize) -> (Vec<SourcedPolicy>, Vec<Failure>) {
        let iam = &self.operator.iam;
        let owner = format!("{}/{name}", e.word());
        let (list_call, get_call) = match e {
            Entity::Role => ("iam:ListRolePolicies", "iam:GetRolePolicy"),
            Entity::User => ("iam:ListUserPolicies", "iam:GetUserPolicy"),
            Entity::Group => ("iam:ListGroupPolicies", "iam:GetGroupPolicy"),
        };
        let mut names: Vec<String> = Vec::new();
        let mut marker: Option<String> = None;
        let mut w = wave;
        loop {
            let page = match e {
                Entity::Role => self
                    .call(&self.operator, list_call, &owner, w, iam.list_role_policies().role_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (o.policy_names().to_vec(), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
                Entity::User => self
                    .call(&self.operator, list_call, &owner, w, iam.list_user_policies().user_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (o.policy_names().to_vec(), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
                Entity::Group => self
                    .call(&self.operator, list_call, &owner, w, iam.list_group_policies().group_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (o.policy_names().to_vec(), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
            };
            match page {
                Ok((n, next)) => {
                    names.extend(n);
                    match next {
                        Some(m) => marker = Some(m),
                        None => break,
                    }
                }
                Err(f) => return (Vec::new(), vec![f]),
            }
            w += 1;
        }
        let w = w + 1;
        let owner = &owner;
        let got = join_all(names.iter().map(|pn| async move {
            let target = format!("{owner} policy {pn}");
            let doc = match e {
                Entity::Role => self
                    .call(&self.operator, get_call, &target, w, iam.get_role_policy().role_name(name).policy_name(pn).send())
                    .await
                    .map(|o| o.policy_document().to_string()),
                Entity::User => self
                    .call(&self.operator, get_call, &target, w, iam.get_user_policy().user_name(name).policy_name(pn).send())
                    .await
                    .map(|o| o.policy_document().to_string()),
                Entity::Group => self
                    .call(&self.operator, get_call, &target, w, iam.get_group_policy().group_name(name).policy_name(pn).send())
                    .await
                    .map(|o| o.policy_document().to_string()),
            }?;
            let document = decode::policy_document(&doc).map_err(|err| invalid(get_call, &target, err))?;
            Ok::<_, Failure>(SourcedPolicy {
                name: format!("inline:{pn} ({owner})"),
                document,
                source: PolicySource {
                    kind: "inline".into(),
                    attached_to: Some(owner.clone()),
                    arn: None,
                    policy_id: None,
                    version_id: None,
                    read_by: get_call.into(),
                    extra: None,
                },
            })
        }))
        .await;
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for g in got {
            match g {
                Ok(p) => ok.push(p),
                Err(f) => failed.push(f),
            }
        }
        (ok, failed)
    }

    async fn attached_policies(&self, e: Entity, name: &str, wave: usize) -> (Vec<SourcedPolicy>, Vec<Failure>) {
        let iam = &self.operator.iam;
        let owner = format!("{}/{name}", e.word());
        let list_call = match e {
            Entity::Role => "iam:ListAttachedRolePolicies",
            Entity::User => "iam:ListAttachedUserPolicies",
            Entity::Group => "iam:ListAttachedGroupPolicies",
        };
        let mut arns: Vec<String> = Vec::new();
        let mut marker: Option<String> = None;
        let mut w = wave;
        loop {
            let arns_of = |ps: &[aws_sdk_iam::types::AttachedPolicy]| ps.iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect::<Vec<_>>();
            let page = match e {
                Entity::Role => self
                    .call(&self.operator, list_call, &owner, w, iam.list_attached_role_policies().role_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (arns_of(o.attached_policies()), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
                Entity::User => self
                    .call(&self.operator, list_call, &owner, w, iam.list_attached_user_policies().user_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (arns_of(o.attached_policies()), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
                Entity::Group => self
                    .call(&self.operator, list_call, &owner, w, iam.list_attached_group_policies().group_name(name).set_marker(marker.clone()).send())
                    .await
                    .map(|o| (arns_of(o.attached_policies()), o.is_truncated().then(|| o.marker().map(str::to_string)).flatten())),
            };
            match page {
                Ok((a, next)) => {
                    arns.extend(a);
                    match next {
                        Some(m) => marker = Some(m),
                        None => break,
                    }
                }
                Err(f) => return (Vec::new(), vec![f]),
            }
            w += 1;
        }
        let got = join_all(arns.iter().map(|arn| self.managed(arn, w + 1))).await;
        let mut ok = Vec::new();
        let mut failed = Vec::new();
        for g in got {
            match g {
                Ok(m) => ok.push(managed_sourced(&m, "managed", Some(owner.clone()))),
                Err(f) => failed.push(f),
            }
        }
        (ok, failed)
    }

    async fn boundary(&self, arn: Option<String>, owner: &str, wave: usize) -> Result<Option<SourcedPolicy>, Failure> {
        match arn {
            None => Ok(None),
            Some(a) => {
                let m = self.managed(&a, wave).await?;
                Ok(Some(managed_sourced(&m, "permissions_boundary", Some(owner.to_string()))))
            }
        }
    }

    /// Everything that hangs off one IAM role.
    async fn role_layers(&self, name: &str, wave: usize) -> Result<PrincipalLayers, RuntimeError> {
        let owner = format!("role/{name}");
        let role_side = async {
            let role = self.role(name, wave).await?;
            let b = self.boundary(role.boundary.clone(), &owner, wave + 1).await;
            Ok::<_, Failure>((role, b))
        };
        let (role_side, (inl, inl_err), (att, att_err)) =
            futures::join!(role_side, self.inline_policies(Entity::Role, name, wave), self.attached_policies(Entity::Role, name, wave));
        let mut out = PrincipalLayers::default();
        out.identity.extend(inl);
        out.identity.extend(att);
        for f in inl_err.into_iter().chain(att_err) {
            fatal_or(f, LayerKind::Identity, &mut out.unknown)?;
        }
        match role_side {
            Ok((role, b)) => {
                out.tags = role.tags;
                out.entity_arn = Some(role.arn);
                match b {
                    Ok(b) => out.boundary = b,
                    Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut out.unknown)?,
                }
            }
            Err(Failure::Read(e @ ReadError::NotFound { .. })) => out.missing = Some(e),
            Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut out.unknown)?,
        }
        Ok(out)
    }

    /// Everything that hangs off one IAM user, with its groups.
    async fn user_layers(&self, name: &str, wave: usize) -> Result<PrincipalLayers, RuntimeError> {
        let owner = format!("user/{name}");
        let user_side = async {
            let u = self.user(name, wave).await?;
            let b = self.boundary(u.boundary.clone(), &owner, wave + 1).await;
            Ok::<_, Failure>((u, b))
        };
        let groups_side = async {
            let groups = match self.groups_of(name, wave).await {
                Ok(g) => g,
                Err(f) => return (Vec::new(), vec![f]),
            };
            let per_group = join_all(groups.iter().map(|g| async move {
                let ((a, ae), (b, be)) =
                    futures::join!(self.inline_policies(Entity::Group, g, wave + 1), self.attached_policies(Entity::Group, g, wave + 1));
                (a.into_iter().chain(b).collect::<Vec<_>>(), ae.into_iter().chain(be).collect::<Vec<_>>())
            }))
            .await;
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            for (p, f) in per_group {
                ok.extend(p);
                failed.extend(f);
            }
            (ok, failed)
        };
        let (user_side, (inl, inl_err), (att, att_err), (grp, grp_err)) = futures::join!(
            user_side,
            self.inline_policies(Entity::User, name, wave),
            self.attached_policies(Entity::User, name, wave),
            groups_side
        );
        let mut out = PrincipalLayers::default();
        for p in inl.into_iter().chain(att).chain(grp) {
            if !out.identity.iter().any(|q| q.name == p.name) {
                out.identity.push(p);
            }
        }
        for f in inl_err.into_iter().chain(att_err).chain(grp_err) {
            fatal_or(f, LayerKind::Identity, &mut out.unknown)?;
        }
        match user_side {
            Ok((u, b)) => {
                out.tags = u.tags;
                out.entity_arn = Some(u.arn);
                match b {
                    Ok(b) => out.boundary = b,
                    Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut out.unknown)?,
                }
            }
            Err(Failure::Read(e @ ReadError::NotFound { .. })) => out.missing = Some(e),
            Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut out.unknown)?,
        }
        Ok(out)
    }

    async fn principal_layers(&self, p: &Principal, wave: usize) -> Result<PrincipalLayers, RuntimeError> {
        match &p.kind {
            PrincipalKind::AssumedRole { role, .. } => self.role_layers(role, wave).await,
            PrincipalKind::Role { name, .. } => self.role_layers(name, wave).await,
            PrincipalKind::User { name, .. } => self.user_layers(name, wave).await,
            PrincipalKind::Root => Ok(PrincipalLayers {
                notes: vec!["the account root user is not limited by identity policies or boundaries (SCPs still apply)".into()],
                identity: vec![SourcedPolicy {
                    name: "root user".into(),
                    document: serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                    source: PolicySource { kind: "implicit".into(), attached_to: None, arn: None, policy_id: None, version_id: None, read_by: "none".into(), extra: None },
                }],
                ..Default::default()
            }),
            PrincipalKind::FederatedUser { .. } => Ok(PrincipalLayers {
                unknown: vec![UnknownLayer {
                    layer: LayerKind::Identity,
                    reason: "a federated user's permissions are those of the IAM user that called sts:GetFederationToken, \
                             intersected with its session policy; AWS does not say which user that was"
                        .into(),
                }],
                ..Default::default()
            }),
        }
    }
}

fn managed_sourced(m: &ManagedPolicy, kind: &str, owner: Option<String>) -> SourcedPolicy {
    SourcedPolicy {
        name: m.arn.clone(),
        document: m.document.clone(),
        source: PolicySource {
            kind: kind.into(),
            attached_to: owner,
            arn: Some(m.arn.clone()),
            policy_id: None,
            version_id: Some(m.version_id.clone()),
            read_by: "iam:GetPolicyVersion".into(),
            extra: None,
        },
    }
}

fn levels_of(chain: &[Level], ty: OrgType) -> Vec<SnapshotLevel> {
    chain
        .iter()
        .map(|l| SnapshotLevel {
            target: l.target.clone(),
            target_type: l.target_type.clone(),
            policies: match ty {
                OrgType::Scp => l.scp.clone(),
                OrgType::Rcp => l.rcp.clone(),
            },
        })
        .collect()
}

fn org_unknown_reason(e: &ReadError) -> String {
    format!(
        "{e}. SCPs and RCPs are read with organizations:DescribeOrganization, ListParents, ListPoliciesForTarget and \
         DescribePolicy, from the management account or a delegated administrator (--org-profile)"
    )
}

/// What the organization layers came to.
struct OrgLayers {
    summary: Option<OrgSummary>,
    scp: Option<Vec<SnapshotLevel>>,
    rcp: Option<Vec<SnapshotLevel>>,
    unknown: Vec<UnknownLayer>,
    org_paths: Option<String>,
}

fn out_root(chain: &R<Vec<Level>>) -> Option<Level> {
    chain.as_ref().ok().and_then(|c| c.first().cloned())
}

impl Session {
    async fn org_chain_level(&self, target: &str, types: &[OrgType], wave: usize) -> R<Level> {
        let want = |t| types.contains(&t);
        let (scp, rcp) = futures::join!(
            async { if want(OrgType::Scp) { self.level_policies(target, OrgType::Scp, wave).await } else { Ok(vec![]) } },
            async { if want(OrgType::Rcp) { self.level_policies(target, OrgType::Rcp, wave).await } else { Ok(vec![]) } }
        );
        Ok(Level { target: target.to_string(), target_type: "ROOT".into(), scp: scp?, rcp: rcp? })
    }

    async fn org_layers(&self, principal_account: &str, resource_account: &str, wave: usize) -> Result<OrgLayers, RuntimeError> {
        let same = principal_account == resource_account;
        let types_p: &[OrgType] = if same { &[OrgType::Scp, OrgType::Rcp] } else { &[OrgType::Scp] };
        let all: &[OrgType] = &[OrgType::Scp, OrgType::Rcp];
        let root = async {
            let id = self.root_id(wave).await?;
            let types = if same { types_p } else { all };
            let here = self.org_chain_level(&id, types, wave + 1).await?;
            Ok::<_, Failure>(here)
        };
        let (summary, root, chain_p, chain_r) = futures::join!(
            self.organization(wave),
            root,
            self.org_chain(principal_account.to_string(), "ACCOUNT".into(), types_p, wave),
            async {
                if same {
                    None
                } else {
                    Some(self.org_chain(resource_account.to_string(), "ACCOUNT".into(), &[OrgType::Rcp], wave).await)
                }
            }
        );
        let mut out = OrgLayers { summary: None, scp: None, rcp: None, unknown: Vec::new(), org_paths: None };
        let both_unknown = |e: &ReadError, out: &mut OrgLayers| {
            let reason = org_unknown_reason(e);
            out.unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: reason.clone() });
            out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason });
        };
        match summary {
            Ok(None) => return Ok(out), // no organization: no SCP or RCP limits
            Ok(Some(s)) => out.summary = Some(s),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Read(e)) => {
                both_unknown(&e, &mut out);
                return Ok(out);
            }
        }
        let chain_p = match (root, chain_p) {
            (Ok(r), Ok(mut c)) => {
                c.insert(0, r.clone());
                Ok(c)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let root_level = out_root(&chain_p);
        match chain_p {
            Ok(chain) => {
                out.scp = Some(levels_of(&chain, OrgType::Scp));
                if same {
                    out.rcp = Some(levels_of(&chain, OrgType::Rcp));
                }
                if let Some(s) = &out.summary {
                    let path: Vec<&str> = chain.iter().filter(|l| l.target_type != "ACCOUNT").map(|l| l.target.as_str()).collect();
                    out.org_paths = Some(format!("{}/{}/", s.id, path.join("/")));
                }
            }
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Read(e)) => {
                let reason = org_unknown_reason(&e);
                out.unknown.push(UnknownLayer { layer: LayerKind::Scp, reason: reason.clone() });
                if same {
                    out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason });
                }
            }
        }
        match chain_r {
            None => {}
            Some(Ok(mut chain)) => {
                if let Some(r) = root_level {
                    chain.insert(0, r);
                }
                out.rcp = Some(levels_of(&chain, OrgType::Rcp))
            }
            Some(Err(Failure::Fatal(e))) => return Err(e),
            // The resource's account may be outside the organization: then no RCP of ours applies,
            // but we cannot tell that from a failed read.
            Some(Err(Failure::Read(e))) => out.unknown.push(UnknownLayer { layer: LayerKind::Rcp, reason: org_unknown_reason(&e) }),
        }
        Ok(out)
    }

    /// The resource layer: the trust policy for sts:AssumeRole*, a plugin's answer, or nothing.
    async fn resource_layer(&self, plugins: &Registry, action: &str, resource: &str, wave: usize) -> Result<ResourceRead, RuntimeError> {
        let lc = action.to_ascii_lowercase();
        if resource == "*" {
            return Ok(ResourceRead::default());
        }
        if lc.starts_with("sts:assumerole") {
            let name = entity_name(resource);
            let mut out = ResourceRead::default();
            match self.role(name, wave).await {
                Ok(r) => match r.trust {
                    Ok(doc) => {
                        out.policy = Some(SourcedPolicy {
                            name: format!("trust policy of {}", r.arn),
                            document: doc,
                            source: PolicySource { kind: "trust".into(), attached_to: Some(r.arn.clone()), arn: None, policy_id: None, version_id: None, read_by: "iam:GetRole".into(), extra: None },
                        })
                    }
                    Err(e) => out.unknown.push(e.unknown(LayerKind::Resource)),
                },
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Read(e)) => out.unknown.push(e.unknown(LayerKind::Resource)),
            }
            return Ok(out);
        }
        if let Some(p) = plugins.find(action, resource) {
            return Ok(self.plugin_resource(p, action, resource, wave).await);
        }
        let service = lc.split(':').next().unwrap_or("");
        let mut out = ResourceRead::default();
        if let Some(reader) = resource_policy_reader(service) {
            out.unknown.push(UnknownLayer {
                layer: LayerKind::Resource,
                reason: format!("no plugin is registered to read {service} resource policies; the policy of {resource} would be read with {reader}"),
            });
        }
        Ok(out)
    }

    /// The snapshot of a hidden hop: the same principal and principal-side layers as `base`
    /// (identity, boundary, session, SCPs, context), with the hop's action, resource, resource
    /// layer and the RCPs of its resource's account. Reads already made are not repeated.
    async fn hop_snapshot(&self, plugins: &Registry, base: &Snapshot, hop: &Hop, wave: usize) -> Result<(Snapshot, Vec<Hop>), RuntimeError> {
        let resource = self.normalize_resource(plugins, &hop.action, &hop.resource, wave).await?;
        let wave = if resource == hop.resource { wave } else { wave + 1 };
        let principal_account = denyctl_policy::Arn::parse(&base.request.principal).map(|a| a.account).unwrap_or_default();
        let resource_account = denyctl_policy::Arn::parse(&resource)
            .ok()
            .map(|a| a.account)
            .filter(|a| a.len() == 12)
            .unwrap_or_else(|| principal_account.clone());
        let org = async {
            if base.organization.is_none() {
                // No organization (or it could not be read: then SCP/RCP stay unknown, as in `base`).
                Ok(None)
            } else {
                self.org_layers(&principal_account, &resource_account, wave).await.map(Some)
            }
        };
        let (org, res) = futures::join!(org, self.resource_layer(plugins, &hop.action, &resource, wave));
        let (org, res) = (org?, res?);
        let mut s = base.clone();
        s.request.action = hop.action.clone();
        s.request.resource = resource;
        s.request.resource_account = Some(resource_account);
        s.policies.resource = res.policy;
        s.policies.unknown.retain(|u| !matches!(u.layer, LayerKind::Resource));
        if let Some(org) = org {
            s.policies.scp = org.scp;
            s.policies.rcp = org.rcp;
            s.policies.unknown.retain(|u| !matches!(u.layer, LayerKind::Scp | LayerKind::Rcp));
            s.policies.unknown.extend(org.unknown);
        }
        s.policies.unknown.extend(res.unknown);
        s.notes = res.notes;
        s.hops = Vec::new();
        s.authorization = None;
        Ok((s, res.hops))
    }

    /// Follows the hidden hops of `main` breadth first, to [`MAX_HOP_DEPTH`], never visiting the
    /// same (action, resource) twice; hops of one depth are collected concurrently.
    async fn follow_hops(&self, plugins: &Registry, main: &Snapshot, first: Vec<Hop>, wave: usize) -> Result<(Vec<SnapshotHop>, Vec<String>), RuntimeError> {
        let key = |a: &str, r: &str| (a.to_ascii_lowercase(), r.to_string());
        let mut seen: HashSet<(String, String)> = HashSet::from([key(&main.request.action, &main.request.resource)]);
        let after = format!("{} on {}", main.request.action, main.request.resource);
        let mut frontier: Vec<(Hop, String)> = first.into_iter().map(|h| (h, after.clone())).collect();
        let mut out = Vec::new();
        let mut wave = wave;
        for depth in 1..=MAX_HOP_DEPTH {
            frontier.retain(|(h, _)| seen.insert(key(&h.action, &h.resource)));
            if frontier.is_empty() {
                break;
            }
            let got = join_all(frontier.iter().map(|(h, _)| self.hop_snapshot(plugins, main, h, wave))).await;
            let mut next = Vec::new();
            for ((h, after), r) in frontier.into_iter().zip(got) {
                let mut entry = SnapshotHop { action: h.action.clone(), resource: h.resource.clone(), why: h.why.clone(), after, depth, snapshot: None, error: None };
                match r {
                    Ok((snap, hops)) => {
                        seen.insert(key(&h.action, &snap.request.resource));
                        let here = format!("{} on {}", snap.request.action, snap.request.resource);
                        entry.resource = snap.request.resource.clone();
                        next.extend(hops.into_iter().map(|n| (n, here.clone())));
                        entry.snapshot = Some(Box::new(snap));
                    }
                    Err(e @ RuntimeError::UnresolvedResource(_)) => entry.error = Some(e.to_string()),
                    Err(e) => return Err(e),
                }
                out.push(entry);
            }
            frontier = next;
            wave += 2;
        }
        let mut notes = Vec::new();
        let left: Vec<String> =
            frontier.iter().filter(|(h, _)| !seen.contains(&key(&h.action, &h.resource))).map(|(h, _)| format!("{} on {}", h.action, h.resource)).collect();
        if !left.is_empty() {
            notes.push(format!("hops deeper than {MAX_HOP_DEPTH} were not followed: {}", left.join(", ")));
        }
        Ok((out, notes))
    }
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default()
}

/// Collect every layer for a request, and the live caller, in as few sequential waves as the
/// dependencies allow.
pub async fn collect(session: &Session, plugins: &Registry, opts: &CollectOptions) -> Result<Collected, RuntimeError> {
    let given = match &opts.principal {
        Some(p) => Some(Principal::parse(p).map_err(|e| RuntimeError::UnknownPrincipal(format!("principal {p:?}: {e}")))?),
        None => None,
    };
    let live = whoami::whoami_at(session, 1);
    let operator_id = async {
        if session.caller_is_operator {
            None
        } else {
            Some(session.identity_of(&session.operator, 1).await)
        }
    };
    let rest = async {
        // A name, URL or alias given as the resource is turned into its ARN first (one wave,
        // beside the caller's identity); ARNs need no call.
        let resource = session.normalize_resource(plugins, &opts.action, &opts.resource, 1);
        let principal = async {
            match given.clone() {
                Some(p) => Ok((p, 1)),
                None => {
                    let id = session.identity_of(&session.caller, 1).await.map_err(|f| match f {
                        Failure::Fatal(e) => e,
                        Failure::Read(e) => RuntimeError::Credentials {
                            role: "caller".into(),
                            source_desc: session.caller.source_desc.clone(),
                            detail: e.to_string(),
                        },
                    })?;
                    let p = Principal::parse(&id.arn).map_err(|e| RuntimeError::UnknownPrincipal(format!("STS reported {}: {e}", id.arn)))?;
                    Ok::<_, RuntimeError>((p, 2))
                }
            }
        };
        let (resource, principal) = futures::join!(resource, principal);
        let resource = resource?;
        let (principal, wave) = principal?;
        let res_wave = if resource == opts.resource { wave } else { wave.max(2) };
        let resource_account = match &opts.resource_account {
            Some(a) => a.clone(),
            None => denyctl_policy::Arn::parse(&resource)
                .ok()
                .map(|a| a.account)
                .filter(|a| a.len() == 12)
                .unwrap_or_else(|| principal.account().to_string()),
        };
        let (pl, org, res) = futures::join!(
            session.principal_layers(&principal, wave),
            session.org_layers(principal.account(), &resource_account, res_wave),
            session.resource_layer(plugins, &opts.action, &resource, res_wave)
        );
        Ok::<_, RuntimeError>((principal, resource, resource_account, pl?, org?, res?))
    };
    let (live, operator_id, rest) = futures::join!(live, operator_id, rest);
    // With the principal given, the live caller is only needed to warn about a mismatch: an
    // operator may diagnose someone else's denial from a runtime with no caller credentials.
    let mut caller_note = None;
    let live = match live {
        Ok(id) => Some(id),
        Err(e) if given.is_some() => {
            caller_note = Some(format!("the live caller could not be established ({e}); diagnosing the principal given"));
            None
        }
        Err(e) => return Err(e),
    };
    let (principal, resource_arn, resource_account, mut pl, org, res) = rest?;
    let ResourceRead { policy: resource, unknown: res_unknown, notes: res_notes, hops } = res;
    let operator_account = match operator_id {
        None => live.as_ref().map(|l| l.account.clone()),
        Some(Ok(id)) => Some(id.account),
        Some(Err(Failure::Fatal(e))) => return Err(e),
        Some(Err(Failure::Read(_))) => None,
    };
    let mut notes = std::mem::take(&mut pl.notes);
    notes.extend(caller_note);
    notes.extend(res_notes);
    let cross_account_operator = operator_account.as_deref().is_some_and(|a| a != principal.account());
    if let Some(missing) = pl.missing.take() {
        if cross_account_operator {
            let reason = format!(
                "{missing}: the operator is in account {} and the principal in account {}; read its policies with a profile of account {} (--profile)",
                operator_account.as_deref().unwrap_or("?"),
                principal.account(),
                principal.account()
            );
            pl.unknown.push(UnknownLayer { layer: LayerKind::Identity, reason: reason.clone() });
            pl.unknown.push(UnknownLayer { layer: LayerKind::PermissionsBoundary, reason });
        } else {
            return Err(RuntimeError::UnknownPrincipal(format!(
                "{} does not exist in account {} ({missing})",
                principal.entity_arn(),
                principal.account()
            )));
        }
    } else if cross_account_operator {
        notes.push(format!(
            "the operator is in account {} but the principal is in account {}: its IAM policies may not be readable",
            operator_account.as_deref().unwrap_or("?"),
            principal.account()
        ));
    }

    // Context: the user's keys win; then what AWS would set from the principal.
    let mut context = serde_json::Map::new();
    for (k, v) in &opts.context {
        context.insert(k.clone(), if v.len() == 1 { Json::String(v[0].clone()) } else { Json::from(v.clone()) });
    }
    let mut derive = |k: String, v: Json| {
        if !context.keys().any(|have| have.eq_ignore_ascii_case(&k)) {
            context.insert(k, v);
        }
    };
    if let Some(arn) = &pl.entity_arn {
        derive("aws:PrincipalArn".into(), Json::String(arn.clone()));
    }
    for (k, v) in &pl.tags {
        derive(format!("aws:PrincipalTag/{k}"), Json::String(v.clone()));
    }
    if !pl.tags.is_empty() {
        derive("aws:PrincipalTagKeys".into(), Json::String(String::new()));
    }
    if let (Some(s), Some(_)) = (&org.summary, &org.scp) {
        derive("aws:PrincipalOrgID".into(), Json::String(s.id.clone()));
    }
    if let Some(p) = &org.org_paths {
        derive("aws:PrincipalOrgPaths".into(), Json::from(vec![p.clone()]));
    }
    if let Some(live) = live.as_ref().filter(|l| l.arn == principal.arn.to_string()) {
        derive("aws:userid".into(), Json::String(live.user_id.clone()));
    }
    derive("aws:PrincipalIsAWSService".into(), Json::String("false".into()));
    context.retain(|k, v| !(k == "aws:PrincipalTagKeys" && v.as_str() == Some("")));

    let session_layer = if opts.session_policies.is_empty() {
        if matches!(principal.kind, PrincipalKind::AssumedRole { .. } | PrincipalKind::FederatedUser { .. }) {
            notes.push(
                "session policies passed when the session was created cannot be read back (AWS has no API for them); \
                 give them with --session-policy FILE"
                    .into(),
            );
        }
        None
    } else {
        Some(
            opts.session_policies
                .iter()
                .map(|(n, d)| SourcedPolicy {
                    name: n.clone(),
                    document: d.clone(),
                    source: PolicySource { kind: "session".into(), attached_to: None, arn: None, policy_id: None, version_id: None, read_by: "file".into(), extra: None },
                })
                .collect(),
        )
    };
    let mut unknown = pl.unknown;
    unknown.extend(org.unknown);
    unknown.extend(res_unknown);
    let snapshot = Snapshot {
        format: FORMAT.into(),
        collected_at: now_rfc3339(),
        request: SnapshotRequest {
            principal: principal.arn.to_string(),
            action: opts.action.clone(),
            resource: resource_arn,
            resource_account: Some(resource_account),
            context,
        },
        caller: live.clone(),
        organization: org.summary.clone(),
        policies: SnapshotPolicies {
            identity: pl.identity,
            permissions_boundary: pl.boundary,
            session: session_layer,
            scp: org.scp,
            rcp: org.rcp,
            resource,
            management_account: org.summary.as_ref().and_then(|s| s.management_account_id.clone()),
            unknown,
        },
        notes,
        calls: CallSummary { count: session.stats.count(), waves: session.stats.waves() },
        authorization: None,
        hops: Vec::new(),
    };
    let mut snapshot = snapshot;
    if !hops.is_empty() {
        let (followed, notes) = session.follow_hops(plugins, &snapshot, hops, session.stats.waves() + 1).await?;
        snapshot.hops = followed;
        snapshot.notes.extend(notes);
        snapshot.calls = CallSummary { count: session.stats.count(), waves: session.stats.waves() };
    }
    Ok(Collected { snapshot, live_caller: live })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profiles;
    use denyctl_plugin_api::{async_trait, FetchedPolicy, PluginCtx, PluginInfo, ReplayOutcome, ReplayRequest, ServicePlugin};
    use std::sync::Arc;

    /// A plugin whose resources form an endless chain (thing/N needs thing/N+1 and thing/0), and
    /// that makes no AWS call: it exercises the hop walk only.
    struct Chain;

    fn thing(n: usize) -> String {
        format!("arn:aws:chain:us-east-1:111122223333:thing/{n}")
    }

    #[async_trait]
    impl ServicePlugin for Chain {
        fn info(&self) -> PluginInfo {
            PluginInfo { name: "chain".into(), version: "0".into(), abi_version: 1, services: vec!["chain".into()], description: String::new(), source: Default::default() }
        }
        fn handles(&self, action: &str, _resource: &str) -> bool {
            action.starts_with("chain:")
        }
        async fn normalize_resource(&self, _ctx: &PluginCtx, input: &str) -> denyctl_plugin_api::Result<String> {
            Ok(input.to_string())
        }
        async fn fetch_policy(&self, _ctx: &PluginCtx, arn: &str) -> denyctl_plugin_api::Result<FetchedPolicy> {
            let n: usize = arn.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let hop = |to: usize| Hop { action: "chain:Go".into(), resource: thing(to), why: format!("{arn} needs {}", thing(to)), triggered_by: vec![] };
            Ok(FetchedPolicy { resource_arn: arn.into(), policy: None, version_token: "none".into(), extra: Json::Null, hops: vec![hop(n + 1), hop(0)] })
        }
        async fn put_policy(&self, _: &PluginCtx, _: &str, _: &Json, _: &str) -> denyctl_plugin_api::Result<String> {
            Err(denyctl_plugin_api::PluginError::Unsupported("no".into()))
        }
        async fn replay(&self, _: &PluginCtx, r: &ReplayRequest, _: bool) -> denyctl_plugin_api::Result<ReplayOutcome> {
            Ok(ReplayOutcome::needs_consent(&r.action))
        }
    }

    #[tokio::test]
    async fn hops_stop_at_the_depth_bound_and_never_revisit() {
        let session = Session::new(&Profiles { region: Some("us-east-1".into()), ..Default::default() }).await;
        let mut reg = Registry::new();
        reg.add(Arc::new(Chain)).unwrap();
        let main = Snapshot {
            format: FORMAT.into(),
            collected_at: String::new(),
            request: SnapshotRequest {
                principal: "arn:aws:iam::111122223333:user/u".into(),
                action: "chain:Go".into(),
                resource: thing(0),
                resource_account: Some("111122223333".into()),
                context: Default::default(),
            },
            caller: None,
            organization: None,
            policies: SnapshotPolicies {
                identity: vec![],
                permissions_boundary: None,
                session: None,
                scp: None,
                rcp: None,
                resource: None,
                management_account: None,
                unknown: vec![],
            },
            notes: vec![],
            calls: CallSummary::default(),
            authorization: None,
            hops: vec![],
        };
        let first = session.plugin_resource(reg.find("chain:Go", &thing(0)).unwrap(), "chain:Go", &thing(0), 1).await.hops;
        assert_eq!(first.len(), 2, "thing/1 and back to thing/0");
        let (hops, notes) = session.follow_hops(&reg, &main, first, 2).await.unwrap();
        let got: Vec<(usize, &str)> = hops.iter().map(|h| (h.depth, h.resource.as_str())).collect();
        assert_eq!(got, vec![(1, thing(1).as_str()), (2, thing(2).as_str())], "thing/0 is never revisited; depth stops at {MAX_HOP_DEPTH}");
        assert_eq!(hops[1].after, format!("chain:Go on {}", thing(1)));
        assert!(hops.iter().all(|h| h.snapshot.as_ref().is_some_and(|s| s.hops.is_empty() && s.request.action == "chain:Go")));
        assert_eq!(notes, vec![format!("hops deeper than {MAX_HOP_DEPTH} were not followed: chain:Go on {}", thing(3))]);
        assert_eq!(session.stats.count(), 3, "one fetch per resource, no AWS call");
    }
}
