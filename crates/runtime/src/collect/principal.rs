//! The layers that hang off the principal: identity policies (inline, managed, its groups') and
//! the permissions boundary.

use std::collections::BTreeMap;

use denyctl_eval::{LayerKind, UnknownLayer};
use denyctl_policy::{Principal, PrincipalKind};
use futures::future::join_all;

use crate::calls::Failure;
use crate::config::Session;
use crate::decode;
use crate::error::{ReadError, RuntimeError};
use crate::reads::{invalid, ManagedPolicy};
use crate::sourced::{PolicySource, SourcedPolicy};

/// Layers that hang off the principal.
#[derive(Default)]
pub(super) struct PrincipalLayers {
    pub(super) identity: Vec<SourcedPolicy>,
    pub(super) boundary: Option<SourcedPolicy>,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) entity_arn: Option<String>,
    pub(super) unknown: Vec<UnknownLayer>,
    pub(super) notes: Vec<String>,
    /// The principal's IAM entity does not exist (GetRole/GetUser said NoSuchEntity).
    pub(super) missing: Option<ReadError>,
}

/// A role's or user's own record, as read: its tags, its ARN, and its boundary (or why that
/// could not be read).
type EntitySide = Result<(BTreeMap<String, String>, String, Result<Option<SourcedPolicy>, Failure>), Failure>;

impl PrincipalLayers {
    /// Take the role's or user's own record: a role or user that does not exist is `missing`; a
    /// boundary (or the entity itself) that cannot be read is an unknown boundary layer.
    fn take_entity(&mut self, side: EntitySide) -> Result<(), RuntimeError> {
        match side {
            Ok((tags, arn, b)) => {
                self.tags = tags;
                self.entity_arn = Some(arn);
                match b {
                    Ok(b) => self.boundary = b,
                    Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut self.unknown)?,
                }
            }
            Err(Failure::Read(e @ ReadError::NotFound { .. })) => self.missing = Some(e),
            Err(f) => fatal_or(f, LayerKind::PermissionsBoundary, &mut self.unknown)?,
        }
        Ok(())
    }
}

pub(super) fn fatal_or(f: Failure, layer: LayerKind, out: &mut Vec<UnknownLayer>) -> Result<(), RuntimeError> {
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
            Ok::<_, Failure>((role.tags, role.arn, b))
        };
        let (role_side, (inl, inl_err), (att, att_err)) =
            futures::join!(role_side, self.inline_policies(Entity::Role, name, wave), self.attached_policies(Entity::Role, name, wave));
        let mut out = PrincipalLayers::default();
        out.identity.extend(inl);
        out.identity.extend(att);
        for f in inl_err.into_iter().chain(att_err) {
            fatal_or(f, LayerKind::Identity, &mut out.unknown)?;
        }
        out.take_entity(role_side)?;
        Ok(out)
    }

    /// Everything that hangs off one IAM user, with its groups.
    async fn user_layers(&self, name: &str, wave: usize) -> Result<PrincipalLayers, RuntimeError> {
        let owner = format!("user/{name}");
        let user_side = async {
            let u = self.user(name, wave).await?;
            let b = self.boundary(u.boundary.clone(), &owner, wave + 1).await;
            Ok::<_, Failure>((u.tags, u.arn, b))
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
        out.take_entity(user_side)?;
        Ok(out)
    }

    pub(super) async fn principal_layers(&self, p: &Principal, wave: usize) -> Result<PrincipalLayers, RuntimeError> {
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
