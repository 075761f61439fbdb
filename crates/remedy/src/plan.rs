//! The planner: for each blocking layer, the minimal change; repeated until the request is
//! allowed or no change can be found; then re-evaluated and checked for new access.

use std::collections::BTreeMap;
use std::sync::Arc;

use denyctl_eval::{evaluate, Decision, LayerKind, LayerReport, Layers, NamedPolicy, Outcome, Request, Verdict};
use denyctl_policy::{Arn, Effect, Policy, PrincipalKind};
use serde_json::{json, Map, Value as Json};

use crate::check::Neighbourhood;
use crate::diff;
use crate::edit;
use crate::error::RemedyError;
use crate::grant::{grant_for, scoped, Grant};
use crate::limits;
use crate::model::*;

/// Rounds of "evaluate, change the blocking layers" before giving up (each round fixes at
/// least one layer; there are seven).
const MAX_ROUNDS: usize = 8;

/// Where a policy sits in the layers, to put its changed version back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Identity(String),
    Boundary,
    Session(String),
    Resource,
    Vpce,
    Org { kind: LayerKind, target: String, name: String },
}

/// (role name, user name, inline quota, quota name) of the caller.
type Entity = (Option<String>, Option<String>, usize, &'static str);

/// Where a narrowed Deny goes: target, applicable, hand-off, versions, size, blast radius.
type NarrowTarget = (Target, bool, Option<&'static str>, Option<VersionPlan>, Option<SizeCheck>, Option<BlastRadius>);

/// A change being built.
struct Draft {
    slot: Slot,
    layer: LayerKind,
    edit: EditKind,
    target: Target,
    summaries: Vec<String>,
    statements: Vec<Json>,
    before: Option<Json>,
    after: Json,
    applicable: bool,
    needs_human: Vec<String>,
    blast_radius: Option<BlastRadius>,
    size: Option<SizeCheck>,
    versions: Option<VersionPlan>,
    notes: Vec<String>,
    handoff_to: Option<&'static str>,
    /// For an identity allow: the statement position, to swap in alternatives.
    alt_index: Option<usize>,
}

struct Planner<'a> {
    req: Request,
    opts: &'a Options,
    original: &'a Layers,
    all: Layers,
    grant: Result<Grant, RemedyError>,
    drafts: Vec<Draft>,
    notes: Vec<String>,
}

/// A VPC endpoint policy (owned by the network administrator) as a change target.
fn vpce_target(name: &str) -> Target {
    Target {
        kind: TargetKind::VpcEndpointPolicy,
        policy_name: name.to_string(),
        policy_arn: None,
        role_name: None,
        user_name: None,
        resource_arn: None,
        service: Some("ec2".into()),
        org_target: None,
        create: false,
    }
}

/// FNV-1a, 32 bits: a stable short name for denyctl's own policy per principal.
fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

fn caller_of(req: &Request) -> Caller {
    let (kind, name) = match &req.principal.kind {
        PrincipalKind::User { name, .. } => ("user", Some(name.clone())),
        PrincipalKind::Role { name, .. } => ("role", Some(name.clone())),
        PrincipalKind::AssumedRole { role, .. } => ("role", Some(role.clone())),
        PrincipalKind::FederatedUser { name } => ("federated_user", Some(name.clone())),
        PrincipalKind::Root => ("root", None),
    };
    Caller { kind: kind.into(), entity_arn: req.entity_arn.clone(), name, account: req.principal.account().to_string() }
}

fn spec(req: &Request) -> RequestSpec {
    RequestSpec {
        principal: req.principal_raw.clone(),
        action: req.action.clone(),
        resource: req.resource.clone(),
        resource_account: req.resource_account.clone(),
        context: req.context.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
    }
}

fn summary(v: &Verdict) -> DecisionSummary {
    DecisionSummary { decision: v.decision.as_str().to_string(), denied_by: v.denied_by.clone() }
}

/// Every policy of the layers with its name.
fn all_policies(l: &Layers) -> Vec<&NamedPolicy> {
    let mut v: Vec<&NamedPolicy> = Vec::new();
    for lv in l.scp.iter().flatten().chain(l.rcp.iter().flatten()) {
        v.extend(lv.policies.iter());
    }
    v.extend(l.permissions_boundary.iter());
    v.extend(l.session.iter().flatten());
    v.extend(l.identity.iter());
    v.extend(l.resource.iter());
    v.extend(l.vpc_endpoint.iter());
    v
}

fn get_policy<'l>(l: &'l Layers, slot: &Slot) -> Option<&'l NamedPolicy> {
    match slot {
        Slot::Identity(n) => l.identity.iter().find(|p| &*p.name == n),
        Slot::Boundary => l.permissions_boundary.as_ref(),
        Slot::Session(n) => l.session.as_ref()?.iter().find(|p| &*p.name == n),
        Slot::Resource => l.resource.as_ref(),
        Slot::Vpce => l.vpc_endpoint.as_ref(),
        Slot::Org { kind, target, name } => {
            let levels = if *kind == LayerKind::Scp { l.scp.as_ref()? } else { l.rcp.as_ref()? };
            levels.iter().find(|lv| &lv.target == target)?.policies.iter().find(|p| &*p.name == name)
        }
    }
}

fn set_policy(l: &mut Layers, slot: &Slot, policy: Policy) {
    let name: Arc<str> = match slot {
        Slot::Identity(n) | Slot::Session(n) | Slot::Org { name: n, .. } => Arc::from(n.as_str()),
        Slot::Boundary => l.permissions_boundary.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from("permissions boundary")),
        Slot::Resource => l.resource.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from("resource policy")),
        Slot::Vpce => l.vpc_endpoint.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from("VPC endpoint policy")),
    };
    let np = NamedPolicy { name, policy: Arc::new(policy) };
    let put = |list: &mut Vec<NamedPolicy>, np: NamedPolicy| match list.iter_mut().find(|p| p.name == np.name) {
        Some(p) => *p = np,
        None => list.push(np),
    };
    match slot {
        Slot::Identity(_) => put(&mut l.identity, np),
        Slot::Boundary => l.permissions_boundary = Some(np),
        Slot::Session(_) => put(l.session.get_or_insert_with(Vec::new), np),
        Slot::Resource => l.resource = Some(np),
        Slot::Vpce => l.vpc_endpoint = Some(np),
        Slot::Org { kind, target, .. } => {
            let levels = if *kind == LayerKind::Scp { l.scp.get_or_insert_with(Vec::new) } else { l.rcp.get_or_insert_with(Vec::new) };
            if let Some(lv) = levels.iter_mut().find(|lv| &lv.target == target) {
                put(&mut lv.policies, np);
            }
        }
    }
}

/// Whether an identity policy name is an inline policy (`inline:NAME`, or a bare name).
fn is_inline(name: &str) -> bool {
    !(name.starts_with("arn:") || name.starts_with("managed:") || name.starts_with("group:"))
}

/// The service that owns a resource ARN's policy, and the ARN of the policy holder
/// (an S3 object's policy is its bucket's).
fn policy_holder(resource: &str) -> (Option<String>, String) {
    (Arn::parse(resource).ok().map(|a| a.service), crate::check::policy_holder(resource))
}

fn is_trust(req: &Request) -> bool {
    req.service() == "sts" && req.action_name().starts_with("assumerole") && req.resource.contains(":role/")
}

fn is_key_policy(req: &Request) -> bool {
    req.service() == "kms" && req.resource.contains(":key/")
}

impl<'a> Planner<'a> {
    fn grant(&self) -> Result<&Grant, RemedyError> {
        self.grant.as_ref().map_err(Clone::clone)
    }

    fn base(&self, slot: &Slot) -> Option<Json> {
        get_policy(&self.all, slot).map(|p| p.policy.raw().clone())
    }

    /// The caller's role or user name, its inline-policy quota and the quota's name.
    fn entity(&self) -> Result<Entity, RemedyError> {
        match &self.req.principal.kind {
            PrincipalKind::User { name, .. } => Ok((None, Some(name.clone()), limits::USER_INLINE, "user inline policies (aggregate)")),
            PrincipalKind::Role { name, .. } | PrincipalKind::AssumedRole { role: name, .. } => {
                Ok((Some(name.clone()), None, limits::ROLE_INLINE, "role inline policies (aggregate)"))
            }
            PrincipalKind::FederatedUser { .. } => Err(RemedyError::UnsupportedCaller {
                principal: self.req.principal_raw.clone(),
                why: "a federated user has no policies of its own: grant the permission to the IAM user that calls GetFederationToken and pass it in the session policy".into(),
            }),
            PrincipalKind::Root => Err(RemedyError::UnsupportedCaller {
                principal: self.req.principal_raw.clone(),
                why: "the root user has no identity policies: a denial of root comes from an SCP, an RCP or a resource policy".into(),
            }),
        }
    }

    /// Record an edit of `slot` (whose policy is now `after`) and put it into the layers.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        slot: Slot,
        layer: LayerKind,
        edit: EditKind,
        target: Target,
        summary: String,
        statement: Json,
        after: Json,
        applicable: bool,
        extra: impl FnOnce(&mut Draft),
    ) -> Result<bool, RemedyError> {
        let parsed = Policy::from_json(after.clone())
            .map_err(|e| RemedyError::Edit { target: target.policy_name.clone(), message: e.to_string() })?;
        if self.base(&slot).as_ref() == Some(&after) {
            return Ok(false);
        }
        set_policy(&mut self.all, &slot, parsed);
        match self.drafts.iter_mut().find(|d| d.slot == slot) {
            Some(d) => {
                d.summaries.push(summary);
                d.statements.push(statement);
                d.after = after;
                extra(d);
            }
            None => {
                let before = get_policy(self.original, &slot).map(|p| p.policy.raw().clone()).filter(|_| !target.create);
                let mut d = Draft {
                    slot,
                    layer,
                    edit,
                    target,
                    summaries: vec![summary],
                    statements: vec![statement],
                    before,
                    after,
                    applicable,
                    needs_human: Vec::new(),
                    blast_radius: None,
                    size: None,
                    versions: None,
                    notes: Vec::new(),
                    handoff_to: None,
                    alt_index: None,
                };
                extra(&mut d);
                self.drafts.push(d);
            }
        }
        Ok(true)
    }

    /// The Allow statement for the request: `Action`/`Resource` per scope, with `Principal` for
    /// policies that name principals. `resource: None` leaves `Resource` out (trust policies).
    fn allow_statement(&self, doc: &Json, action: Json, resource: Option<&str>, principal: bool) -> Json {
        let mut m = Map::new();
        m.insert("Sid".into(), Json::String(edit::fresh_sid(doc, &self.req.action)));
        m.insert("Effect".into(), Json::String("Allow".into()));
        if principal {
            m.insert("Principal".into(), json!({"AWS": self.req.entity_arn}));
        }
        m.insert("Action".into(), action);
        if let Some(r) = resource {
            m.insert("Resource".into(), Json::String(r.to_string()));
        }
        Json::Object(m)
    }

    fn add_identity_allow(&mut self) -> Result<bool, RemedyError> {
        let (role, user, inline_limit, quota) = self.entity()?;
        let grant = self.grant()?.clone();
        let (action, resource, desc) = match scoped(&grant, self.opts.scope) {
            Some(s) => s,
            None => {
                self.notes.push(format!("scope {} does not apply to {}: the exact scope is used", self.opts.scope.as_str(), grant.resource));
                scoped(&grant, Scope::Exact).ok_or_else(|| RemedyError::Edit { target: "identity".into(), message: "no exact scope".into() })?
            }
        };
        let hash = short_hash(&self.req.entity_arn);
        let own = format!("denyctl-{hash}");
        let who = role.as_deref().map(|r| format!("role {r}")).or(user.as_deref().map(|u| format!("user {u}"))).unwrap_or_default();
        // Inline first: extend denyctl's inline policy, or create it.
        let inline_slot = self
            .all
            .identity
            .iter()
            .find(|p| *p.name == *own || *p.name == *format!("inline:{own}"))
            .map(|p| Slot::Identity(p.name.to_string()))
            .unwrap_or_else(|| Slot::Identity(format!("inline:{own}")));
        let exists = self.base(&inline_slot).is_some();
        let mut doc = self.base(&inline_slot).unwrap_or_else(edit::new_document);
        let stmt = self.allow_statement(&doc, action.clone(), Some(&resource), false);
        let index = edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: own.clone(), message: m })?;
        let others: usize = self
            .original
            .identity
            .iter()
            .filter(|p| is_inline(&p.name) && Slot::Identity(p.name.to_string()) != inline_slot)
            .map(|p| limits::policy_size(p.policy.raw()))
            .sum();
        let total = others + limits::policy_size(&doc);
        let mut notes = grant.notes.clone();
        if total <= inline_limit {
            let target = Target {
                kind: TargetKind::InlinePolicy,
                policy_name: own.clone(),
                policy_arn: None,
                role_name: role.clone(),
                user_name: user.clone(),
                resource_arn: None,
                service: None,
                org_target: None,
                create: !exists,
            };
            if role.is_some() && matches!(self.req.principal.kind, PrincipalKind::AssumedRole { .. }) {
                notes.push(format!("the caller is a session of role {}: the permission goes on the role, not the session", role.as_deref().unwrap_or("")));
            }
            let summary = format!("allow {desc} in inline policy {own} of {who}");
            let size = SizeCheck { quota: quota.into(), size: total, limit: inline_limit };
            return self.record(inline_slot, LayerKind::Identity, EditKind::AddAllow, target, summary, stmt, doc, true, |d| {
                d.size = Some(size);
                d.notes.extend(notes);
                d.alt_index = Some(index);
            });
        }
        // Fallback: a customer managed policy of denyctl's, attached to the role or user.
        let arn = format!("arn:{}:iam::{}:policy/{own}", self.req.principal.arn.partition, self.req.principal.account());
        let slot = Slot::Identity(arn.clone());
        let exists = self.base(&slot).is_some();
        let mut doc = self.base(&slot).unwrap_or_else(edit::new_document);
        let stmt = self.allow_statement(&doc, action, Some(&resource), false);
        let index = edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: arn.clone(), message: m })?;
        let size = limits::policy_size(&doc);
        if size > limits::MANAGED {
            return Err(RemedyError::PolicyTooLarge {
                target: arn,
                size,
                limit: limits::MANAGED,
                quota: "a managed policy".into(),
                what_to_do: format!("the {who}'s inline policies are also full ({total} > {inline_limit}); consolidate its policies or attach another managed policy by hand"),
            });
        }
        notes.push(format!(
            "the {who}'s inline policies would total {total} characters, over the {inline_limit}-character quota: the statement goes into a customer managed policy {own}, attached to the {who} (attached managed policies are limited to 10 per role or user by default)"
        ));
        let versions = exists.then(|| limits::version_plan(self.opts.policy_versions.get(&arn).map(Vec::as_slice)));
        let target = Target {
            kind: TargetKind::ManagedPolicy,
            policy_name: own,
            policy_arn: Some(arn),
            role_name: role,
            user_name: user,
            resource_arn: None,
            service: None,
            org_target: None,
            create: !exists,
        };
        let summary = format!("allow {desc} in managed policy {} attached to {who}", target.policy_name);
        let sc = SizeCheck { quota: "managed policy".into(), size, limit: limits::MANAGED };
        self.record(slot, LayerKind::Identity, EditKind::AddAllow, target, summary, stmt, doc, true, |d| {
            d.size = Some(sc);
            d.versions = versions;
            d.notes.extend(notes);
            d.alt_index = Some(index);
        })
    }

    fn add_boundary_allow(&mut self) -> Result<bool, RemedyError> {
        let grant = self.grant()?.clone();
        let Some(b) = self.all.permissions_boundary.as_ref() else { return Ok(false) };
        let name = b.name.to_string();
        let mut doc = b.policy.raw().clone();
        let stmt = self.allow_statement(&doc, Json::String(grant.action.clone()), Some(&grant.resource), false);
        edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
        let size = limits::policy_size(&doc);
        if size > limits::MANAGED {
            return Err(RemedyError::PolicyTooLarge {
                target: name,
                size,
                limit: limits::MANAGED,
                quota: "a managed policy (permissions boundary)".into(),
                what_to_do: "shorten the boundary (merge statements with the same Effect and Resource) or use another boundary policy".into(),
            });
        }
        let target = self.boundary_target(&name);
        let versions = limits::version_plan(self.opts.policy_versions.get(&name).map(Vec::as_slice));
        let summary = format!("allow {} on {} in permissions boundary {name}", grant.action, grant.resource);
        let mut notes = grant.notes.clone();
        notes.push("a permissions boundary is shared: this change also lifts the limit for every other role and user that uses it (blast_radius)".into());
        self.record(Slot::Boundary, LayerKind::PermissionsBoundary, EditKind::AddAllow, target, summary, stmt, doc, true, |d| {
            d.size = Some(SizeCheck { quota: "managed policy (permissions boundary)".into(), size, limit: limits::MANAGED });
            d.versions = Some(versions);
            d.blast_radius = Some(BlastRadius::Text("unknown".into()));
            d.notes.extend(notes);
        })
    }

    fn add_resource_allow(&mut self) -> Result<bool, RemedyError> {
        let trust = is_trust(&self.req);
        let key = is_key_policy(&self.req);
        let grant = self.grant()?.clone();
        let resource: Option<String> = if trust {
            None
        } else if key {
            Some("*".into())
        } else {
            Some(grant.resource.clone())
        };
        let exists = self.all.resource.is_some();
        let name = self.all.resource.as_ref().map(|p| p.name.to_string()).unwrap_or_else(|| if trust { "trust policy".into() } else { "resource policy".into() });
        let mut doc = self.base(&Slot::Resource).unwrap_or_else(edit::new_document);
        let stmt = self.allow_statement(&doc, Json::String(grant.action.clone()), resource.as_deref(), true);
        edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
        let (service, holder) = policy_holder(&self.req.resource);
        let mut notes = grant.notes.clone();
        notes.push(format!(
            "the statement names {} (the IAM entity), not the session and not the account root: other sessions of the same role are included, other principals of the account are not",
            self.req.entity_arn
        ));
        if key {
            notes.push("in a key policy, Resource \"*\" means this key only".into());
        }
        let (kind, size_limit) = if trust {
            (TargetKind::TrustPolicy, Some((limits::TRUST, "role trust policy (default quota; can be raised to 4,096)")))
        } else {
            (TargetKind::ResourcePolicy, service.as_deref().and_then(limits::resource_policy_limit))
        };
        let size = limits::policy_size(&doc);
        if let Some((limit, quota)) = size_limit {
            if size > limit {
                return Err(RemedyError::PolicyTooLarge {
                    target: holder,
                    size,
                    limit,
                    quota: quota.into(),
                    what_to_do: "merge statements that share Effect, Principal and Action, or grant through the caller's identity policy where the service allows it".into(),
                });
            }
        }
        let role_name = if trust { Arn::parse(&holder).ok().and_then(|a| a.resource.rsplit('/').next().map(str::to_string)) } else { None };
        let target = Target {
            kind,
            policy_name: name.clone(),
            policy_arn: None,
            role_name,
            user_name: None,
            resource_arn: Some(holder.clone()),
            service,
            org_target: None,
            create: !exists,
        };
        let what = if trust { "trust policy of" } else { "resource policy of" };
        let summary = format!("allow {} to {} {} in the {what} {holder}", self.req.entity_arn, grant.action, resource.as_deref().unwrap_or("(assume the role)"));
        self.record(Slot::Resource, LayerKind::Resource, EditKind::AddAllow, target, summary, stmt, doc, true, |d| {
            d.size = size_limit.map(|(limit, quota)| SizeCheck { quota: quota.into(), size, limit });
            d.notes.extend(notes);
        })
    }

    fn add_session_allow(&mut self) -> Result<bool, RemedyError> {
        let grant = self.grant()?.clone();
        let Some(first) = self.all.session.as_ref().and_then(|s| s.first()) else { return Ok(false) };
        let name = first.name.to_string();
        let mut doc = first.policy.raw().clone();
        let stmt = self.allow_statement(&doc, Json::String(grant.action.clone()), Some(&grant.resource), false);
        edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
        let summary = format!("re-issue the session with a session policy that also allows {} on {}", grant.action, grant.resource);
        let target = self.session_target(&name);
        self.record(Slot::Session(name), LayerKind::Session, EditKind::AddAllow, target, summary, stmt, doc, false, |d| {
            d.handoff_to = Some("whoever creates the caller's session (the CI job, SSO or script that calls AssumeRole)");
            d.notes.extend(grant.notes.clone());
        })
    }

    fn session_target(&self, name: &str) -> Target {
        let role = match &self.req.principal.kind {
            PrincipalKind::AssumedRole { role, .. } => Some(role.clone()),
            _ => None,
        };
        Target {
            kind: TargetKind::Session,
            policy_name: name.to_string(),
            policy_arn: None,
            role_name: role,
            user_name: None,
            resource_arn: None,
            service: None,
            org_target: None,
            create: false,
        }
    }

    fn org_target(&self, kind: LayerKind, level: &str, name: &str, create: bool) -> Target {
        Target {
            kind: if kind == LayerKind::Scp { TargetKind::Scp } else { TargetKind::Rcp },
            policy_name: name.to_string(),
            policy_arn: name.starts_with("arn:").then(|| name.to_string()),
            role_name: None,
            user_name: None,
            resource_arn: None,
            service: None,
            org_target: Some(level.to_string()),
            create,
        }
    }

    fn add_scp_allow(&mut self, level: &str) -> Result<bool, RemedyError> {
        let grant = self.grant()?.clone();
        let Some(lv) = self.all.scp.as_ref().and_then(|l| l.iter().find(|lv| lv.target == level)) else { return Ok(false) };
        let (name, create, mut doc) = match lv.policies.first() {
            Some(p) => (p.name.to_string(), false, p.policy.raw().clone()),
            None => (format!("denyctl-allow-{}", self.req.service()), true, edit::new_document()),
        };
        if create {
            // The level holds no policy to extend: create one there.
            if let Some(levels) = self.all.scp.as_mut() {
                if let Some(l) = levels.iter_mut().find(|l| l.target == level) {
                    l.policies.push(NamedPolicy::new(&name, Policy::from_json(edit::new_document()).map_err(|e| RemedyError::Edit { target: name.clone(), message: e.to_string() })?));
                }
            }
        }
        let stmt = self.allow_statement(&doc, Json::String(grant.action.clone()), Some(&grant.resource), false);
        edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
        let size = limits::policy_size(&doc);
        let target = self.org_target(LayerKind::Scp, level, &name, create);
        let summary = format!("allow {} on {} in SCP {name} at {level}", grant.action, grant.resource);
        let slot = Slot::Org { kind: LayerKind::Scp, target: level.to_string(), name };
        self.record(slot, LayerKind::Scp, EditKind::AddAllow, target, summary, stmt, doc, false, |d| {
            d.handoff_to = Some("the organization's administrator (management account)");
            d.size = Some(SizeCheck { quota: "service control policy".into(), size, limit: limits::ORG_POLICY });
            d.blast_radius = Some(BlastRadius::Text(format!("every principal in {level}")));
            d.notes.extend(grant.notes.clone());
        })
    }

    fn add_vpce_allow(&mut self) -> Result<bool, RemedyError> {
        let grant = self.grant()?.clone();
        let Some(p) = self.all.vpc_endpoint.as_ref() else { return Ok(false) };
        let name = p.name.to_string();
        let mut doc = p.policy.raw().clone();
        let stmt = self.allow_statement(&doc, Json::String(grant.action.clone()), Some(&grant.resource), true);
        edit::add_statement(&mut doc, stmt.clone()).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
        let target = vpce_target(&name);
        let summary = format!("allow {} to {} on {} in VPC endpoint policy {name}", self.req.entity_arn, grant.action, grant.resource);
        self.record(Slot::Vpce, LayerKind::VpcEndpoint, EditKind::AddAllow, target, summary, stmt, doc, false, |d| {
            d.handoff_to = Some("the network administrator who owns the VPC endpoint");
            d.notes.extend(grant.notes.clone());
        })
    }

    /// Narrow every deciding Deny statement of a layer report.
    fn narrow(&mut self, report: &LayerReport) -> Result<bool, RemedyError> {
        let mut progressed = false;
        for sref in report.deciding.iter().filter(|s| s.effect == Effect::Deny) {
            let name = sref.policy.to_string();
            let slot = match report.layer {
                LayerKind::Identity => Slot::Identity(name.clone()),
                LayerKind::PermissionsBoundary => Slot::Boundary,
                LayerKind::Session => Slot::Session(name.clone()),
                LayerKind::Resource => Slot::Resource,
                LayerKind::VpcEndpoint => Slot::Vpce,
                LayerKind::Scp | LayerKind::Rcp => Slot::Org { kind: report.layer, target: report.target.clone().unwrap_or_default(), name: name.clone() },
            };
            let Some(np) = get_policy(&self.all, &slot) else { continue };
            let parsed = np.policy.statements.iter().find(|s| s.index == sref.index);
            let mut guard: Vec<String> = parsed.and_then(edit::guardrail).into_iter().collect();
            let names_caller = parsed.and_then(|s| s.principal.as_ref()).is_some_and(|p| {
                !p.negated && p.entries.iter().any(|(_, e)| *e == self.req.entity_arn || *e == self.req.principal_raw)
            });
            if names_caller {
                guard.push(format!(
                    "this Deny names the caller ({}) explicitly: an exception for the caller switches it off entirely, and it was written on purpose",
                    self.req.entity_arn
                ));
            }
            let mut doc = np.policy.raw().clone();
            let original = edit::statement_at(&doc, sref.index).cloned();
            let stmt = edit::narrow_deny(&mut doc, sref.index, &self.req.entity_arn).map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?;
            // On a Deny over every resource, the exception is made exact with a twin statement
            // that keeps denying the caller everything but this one resource.
            let twin_sid = format!("{}ExceptOnlyThis", sref.sid.as_deref().filter(|s| !s.is_empty()).unwrap_or("Deny"));
            let twins = match &original {
                Some(o) => edit::exact_exception_for(&mut doc, o, &self.req.entity_arn, &self.req.resource, Some(&self.req.action), &twin_sid)
                    .map_err(|m| RemedyError::Edit { target: name.clone(), message: m })?,
                None => Vec::new(),
            };
            let twin = (!twins.is_empty()).then_some(());
            if report.layer == LayerKind::Identity && is_inline(&name) && twins.len() < 2 {
                guard.push(
                    "this Deny is in an inline policy of the caller itself: an exception for the caller switches it off for more than this request"
                        .into(),
                );
            }
            let sid = sref.sid.as_deref().map(|s| format!(" (Sid {s})")).unwrap_or_default();
            let summary = format!(
                "narrow Deny statement {}{sid} of {name}: add {} {{\"{}\": \"{}\"}} so it no longer applies to the caller (the Deny stays for everyone else)",
                sref.index,
                edit::EXCEPTION_OPERATOR,
                edit::EXCEPTION_KEY,
                self.req.entity_arn
            );
            let mut notes = vec![match &twin {
                Some(_) if twins.len() > 1 => format!(
                    "the exception is exact: twin statements ({twin_sid}, {twin_sid}Action) keep denying the caller everything this Deny covered except {} on {}",
                    self.req.action, self.req.resource
                ),
                Some(_) => format!(
                    "the exception is exact for the resource: a twin statement ({twin_sid}) keeps denying the caller everything this Deny covered except {}",
                    self.req.resource
                ),
                None => "the exception is per principal: every other request of the caller that this Deny blocked is also let through; the no-new-access check lists them".to_string(),
            }];
            let (target, applicable, handoff, versions, size, blast): NarrowTarget = match report.layer {
                LayerKind::Identity => {
                    let (role, user, limit, quota) = self.entity()?;
                    let managed = name.starts_with("arn:") && name.contains(":policy/");
                    if managed {
                        let aws_managed = Arn::parse(&name).map(|a| a.account == "aws").unwrap_or(false);
                        let sz = limits::policy_size(&doc);
                        let t = Target {
                            kind: TargetKind::ManagedPolicy,
                            policy_name: name.clone(),
                            policy_arn: Some(name.clone()),
                            role_name: role,
                            user_name: user,
                            resource_arn: None,
                            service: None,
                            org_target: None,
                            create: false,
                        };
                        if sz > limits::MANAGED {
                            return Err(RemedyError::PolicyTooLarge { target: name, size: sz, limit: limits::MANAGED, quota: "a managed policy".into(), what_to_do: "shorten the policy, or move the Deny into a separate managed policy".into() });
                        }
                        if aws_managed {
                            notes.push("an AWS managed policy cannot be edited: detach it from the caller instead, or ask its owner".into());
                        }
                        let v = limits::version_plan(self.opts.policy_versions.get(&name).map(Vec::as_slice));
                        let h = aws_managed.then_some("the account's IAM administrator");
                        (t, !aws_managed, h, Some(v), Some(SizeCheck { quota: "managed policy".into(), size: sz, limit: limits::MANAGED }), None)
                    } else {
                        let others: usize = self
                            .original
                            .identity
                            .iter()
                            .filter(|p| is_inline(&p.name) && *p.name != *name)
                            .map(|p| limits::policy_size(p.policy.raw()))
                            .sum();
                        let total = others + limits::policy_size(&doc);
                        if total > limit {
                            return Err(RemedyError::PolicyTooLarge { target: name, size: total, limit, quota: quota.into(), what_to_do: "move some inline statements into a managed policy first".into() });
                        }
                        let policy_name = name.strip_prefix("inline:").unwrap_or(&name).to_string();
                        let t = Target {
                            kind: TargetKind::InlinePolicy,
                            policy_name,
                            policy_arn: None,
                            role_name: role,
                            user_name: user,
                            resource_arn: None,
                            service: None,
                            org_target: None,
                            create: false,
                        };
                        (t, true, None, None, Some(SizeCheck { quota: quota.into(), size: total, limit }), None)
                    }
                }
                LayerKind::PermissionsBoundary => {
                    let sz = limits::policy_size(&doc);
                    let t = self.boundary_target(&name);
                    let v = limits::version_plan(self.opts.policy_versions.get(&name).map(Vec::as_slice));
                    (t, true, None, Some(v), Some(SizeCheck { quota: "managed policy (permissions boundary)".into(), size: sz, limit: limits::MANAGED }), Some(BlastRadius::Text("unknown".into())))
                }
                LayerKind::Resource => {
                    let (service, holder) = policy_holder(&self.req.resource);
                    let trust = is_trust(&self.req);
                    let sz = limits::policy_size(&doc);
                    let lim = if trust { Some((limits::TRUST, "role trust policy")) } else { service.as_deref().and_then(limits::resource_policy_limit) };
                    let t = Target {
                        kind: if trust { TargetKind::TrustPolicy } else { TargetKind::ResourcePolicy },
                        policy_name: name.clone(),
                        policy_arn: None,
                        role_name: None,
                        user_name: None,
                        resource_arn: Some(holder),
                        service,
                        org_target: None,
                        create: false,
                    };
                    (t, true, None, None, lim.map(|(limit, q)| SizeCheck { quota: q.into(), size: sz, limit }), None)
                }
                LayerKind::Session => (self.session_target(&name), false, Some("whoever creates the caller's session (the CI job, SSO or script that calls AssumeRole)"), None, None, None),
                LayerKind::VpcEndpoint => {
                    let t = vpce_target(&name);
                    (t, false, Some("the network administrator who owns the VPC endpoint"), None, None, None)
                }
                LayerKind::Scp | LayerKind::Rcp => {
                    let level = report.target.clone().unwrap_or_default();
                    let sz = limits::policy_size(&doc);
                    let t = self.org_target(report.layer, &level, &name, false);
                    let q = if report.layer == LayerKind::Scp { "service control policy" } else { "resource control policy" };
                    (t, false, Some("the organization's administrator (management account)"), None, Some(SizeCheck { quota: q.into(), size: sz, limit: limits::ORG_POLICY }), Some(BlastRadius::Text(format!("every principal or resource in {level}"))))
                }
            };
            let mut human = guard;
            if matches!(report.layer, LayerKind::Scp | LayerKind::Rcp) {
                human.push("an organization policy is a guardrail set by the organization's administrators".into());
            }
            progressed |= self.record(slot, report.layer, EditKind::NarrowDeny, target, summary, stmt, doc, applicable, |d| {
                d.statements.extend(twins);
                d.needs_human.extend(human);
                d.notes.extend(notes);
                if d.versions.is_none() {
                    d.versions = versions;
                }
                d.size = size.or(d.size.take());
                if d.blast_radius.is_none() {
                    d.blast_radius = blast;
                }
                if d.handoff_to.is_none() {
                    d.handoff_to = handoff;
                }
            })?;
        }
        Ok(progressed)
    }

    /// The caller's permissions boundary (a managed policy) as a change target.
    fn boundary_target(&self, name: &str) -> Target {
        let (role, user, _, _) = self.entity().unwrap_or((None, None, 0, ""));
        Target {
            kind: TargetKind::Boundary,
            policy_name: name.to_string(),
            policy_arn: name.starts_with("arn:").then(|| name.to_string()),
            role_name: role,
            user_name: user,
            resource_arn: None,
            service: None,
            org_target: None,
            create: false,
        }
    }

    /// One round: propose a change for every blocking layer of `v`.
    fn round(&mut self, v: &Verdict) -> Result<bool, RemedyError> {
        let mut progressed = false;
        let mut reports: Vec<LayerReport> = v.layers.iter().filter(|r| v.denied_by.contains(&r.layer)).cloned().collect();
        // Within one account the identity and the resource grants are alternatives: one change is
        // enough. A KMS key policy or a role trust policy must allow anyway, so the grant goes
        // there alone (naming the role); for other resources the identity grant is the usual
        // least-privilege place. Across accounts both sides must allow: both are changed.
        let no_allow = |k: LayerKind| reports.iter().any(|r| r.layer == k && r.outcome == Outcome::NoAllow);
        if v.decision == Decision::ImplicitDeny && !v.cross_account && no_allow(LayerKind::Identity) && no_allow(LayerKind::Resource) {
            let resource_must_allow = self.req.service() == "kms" || self.req.action_lc.starts_with("sts:assumerole");
            let drop = if resource_must_allow { LayerKind::Identity } else { LayerKind::Resource };
            reports.retain(|r| r.layer != drop);
        }
        for r in &reports {
            let p = match (v.decision, r.outcome) {
                (Decision::ExplicitDeny, Outcome::ExplicitDeny) => self.narrow(r)?,
                (Decision::ImplicitDeny, Outcome::NoAllow) => match r.layer {
                    LayerKind::Identity => self.add_identity_allow()?,
                    LayerKind::PermissionsBoundary => self.add_boundary_allow()?,
                    LayerKind::Resource => self.add_resource_allow()?,
                    LayerKind::Session => self.add_session_allow()?,
                    LayerKind::Scp => self.add_scp_allow(r.target.as_deref().unwrap_or(""))?,
                    LayerKind::VpcEndpoint => self.add_vpce_allow()?,
                    LayerKind::Rcp => false,
                },
                _ => false,
            };
            progressed |= p;
        }
        Ok(progressed)
    }
}

/// The handoff text for a change someone else must apply.
fn handoff(c: &Change, to: &str, req: &Request, before: &Verdict) -> Handoff {
    let why_layers: Vec<&str> = before.denied_by.iter().map(|k| k.title()).collect();
    let mut body = String::new();
    let place = match (&c.target.org_target, &c.target.role_name) {
        (Some(t), _) => format!(" attached to {t}"),
        (None, Some(r)) if c.target.kind == TargetKind::Session => format!(" of a session of role {r}"),
        _ => String::new(),
    };
    body.push_str(&format!("Request: {} is denied {} on {}", req.principal_raw, req.action, req.resource));
    if !why_layers.is_empty() {
        body.push_str(&format!(" (blocked by the {})", why_layers.join(" and the ")));
    }
    body.push_str(".\n");
    body.push_str(&format!("Policy: {} {}{place}\n", c.target.kind.as_str(), c.target.policy_name));
    body.push_str(&format!("Change: {}\n", c.summary));
    if c.target.kind == TargetKind::Session {
        body.push_str(&format!(
            "Session policies are fixed when the session is created and cannot be edited. Re-issue the session with the policy below, e.g.\n  aws sts assume-role --role-arn {} --role-session-name NAME --policy file://session-policy.json\nor without --policy/--policy-arns if the session does not need to be limited.\n",
            req.entity_arn
        ));
    }
    if let Some(r) = &c.needs_human_reason {
        body.push_str(&format!("Note: {r}\n"));
    }
    if !c.newly_allowed.is_empty() {
        body.push_str(&format!("This change alone would also allow {} other request(s); see the plan's newly_allowed.\n", c.newly_allowed.len()));
    }
    body.push_str("Diff:\n");
    body.push_str(&c.diff);
    Handoff {
        change: c.id.clone(),
        to: to.to_string(),
        subject: format!("Please change {} {}: {} needs {} on {}", c.target.kind.as_str(), c.target.policy_name, req.entity_arn, req.action, req.resource),
        body,
    }
}

/// Make a least-privilege plan for a denied request: for each blocking layer of `verdict`, the
/// minimal change, repeated until the request is allowed; then re-evaluated and checked for
/// new access. Pure: no I/O.
pub fn plan(req: &Request, layers: &Layers, verdict: &Verdict, opts: &Options) -> Result<Plan, RemedyError> {
    let grant = grant_for(&req.action, &req.resource);
    let mut notes = Vec::new();
    // When the catalog scopes the action to another ARN (s3:ListBucket on an object → the
    // bucket), the intended request is the scoped one.
    let intended = match &grant {
        Ok(g) if g.resource != "*" && g.resource != req.resource => {
            match Request::new(&req.principal_raw, &req.action, &g.resource, Some(&req.resource_account), req.context.clone()) {
                Ok(r) => {
                    notes.push(format!("{} applies to {}: the plan is made and checked for that ARN", req.action, g.resource));
                    r
                }
                Err(_) => req.clone(),
            }
        }
        _ => req.clone(),
    };
    let first = if intended.resource == req.resource { verdict.clone() } else { evaluate(&intended, layers) };
    let versions_read: BTreeMap<String, Option<String>> =
        all_policies(layers).into_iter().map(|p| (p.name.to_string(), opts.versions.get(&*p.name).cloned())).collect();
    let mut p = Planner { req: intended, opts, original: layers, all: layers.clone(), grant, drafts: Vec::new(), notes };
    if first.decision != Decision::Allow {
        let mut v = first.clone();
        for _ in 0..MAX_ROUNDS {
            if !p.round(&v)? {
                break;
            }
            v = evaluate(&p.req, &p.all);
            if v.decision == Decision::Allow {
                break;
            }
        }
    }
    let Planner { req: intended, all, drafts, mut notes, .. } = p;

    // Layers with the applicable changes only.
    let mut applied = layers.clone();
    for d in drafts.iter().filter(|d| d.applicable) {
        if let Some(np) = get_policy(&all, &d.slot) {
            set_policy(&mut applied, &d.slot, (*np.policy).clone());
        }
    }
    let after = evaluate(&intended, &applied);
    let with_handoffs = evaluate(&intended, &all);

    // The no-new-access check.
    let others = drafts.iter().any(|d| matches!(d.layer, LayerKind::Resource | LayerKind::Scp | LayerKind::Rcp | LayerKind::VpcEndpoint));
    let hood = Neighbourhood::build(&intended, layers, others);
    let newly = hood.newly_allowed(&all);
    let mut changes: Vec<Change> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let mut solo = layers.clone();
        if let Some(np) = get_policy(&all, &d.slot) {
            set_policy(&mut solo, &d.slot, (*np.policy).clone());
        }
        // The diff's file name: the resource whose policy it is, else the policy's name.
        let label = d.target.resource_arn.clone().unwrap_or_else(|| d.target.policy_name.clone());
        let version_token = if d.target.create { None } else { opts.versions.get(&slot_name(&d.slot, layers)).cloned() };
        changes.push(Change {
            id: format!("c{}", i + 1),
            layer: d.layer,
            edit: d.edit,
            target: d.target.clone(),
            summary: d.summaries.join("; "),
            statements: d.statements.clone(),
            before: d.before.clone(),
            after: d.after.clone(),
            diff: diff::unified(&label, d.before.as_ref(), Some(&d.after)),
            version_token,
            applicable: d.applicable,
            needs_human: !d.needs_human.is_empty(),
            needs_human_reason: (!d.needs_human.is_empty()).then(|| d.needs_human.join("; ")),
            blast_radius: d.blast_radius.clone(),
            size: d.size.clone(),
            versions: d.versions.clone(),
            newly_allowed: hood.newly_allowed(&solo),
            notes: d.notes.clone(),
        });
    }

    // Alternatives: wider scopes for the identity allow, each with what it would newly allow.
    let mut alternatives = Vec::new();
    if let (Some(d), Ok(g)) = (drafts.iter().find(|d| d.alt_index.is_some()), grant_for(&intended.action, &intended.resource)) {
        for scope in [Scope::Exact, Scope::Prefix, Scope::Bucket, Scope::AccessLevel] {
            if scope == opts.scope {
                continue;
            }
            let Some((action, resource, description)) = scoped(&g, scope) else { continue };
            let mut doc = d.after.clone();
            let Some(idx) = d.alt_index else { continue };
            let Some(stmt) = doc.get_mut("Statement").and_then(|s| s.get_mut(idx)).filter(|s| s.is_object()) else { continue };
            stmt["Action"] = action;
            stmt["Resource"] = Json::String(resource);
            let statement = stmt.clone();
            let Ok(parsed) = Policy::from_json(doc) else { continue };
            let mut alt = all.clone();
            set_policy(&mut alt, &d.slot, parsed);
            alternatives.push(Alternative { scope, description, statement, newly_allowed: hood.newly_allowed(&alt) });
        }
    }

    let handoffs: Vec<Handoff> = changes
        .iter()
        .zip(&drafts)
        .filter(|(c, _)| !c.applicable)
        .map(|(c, d)| handoff(c, d.handoff_to.unwrap_or("the policy's owner"), &intended, &first))
        .collect();

    let next_hop = (after.decision != Decision::Allow).then(|| {
        after
            .denied_by
            .iter()
            .map(|k| match changes.iter().find(|c| c.layer == *k && !c.applicable) {
                Some(c) => format!("{}: hand-off {} to {}", k.as_str(), c.id, handoffs.iter().find(|h| h.change == c.id).map(|h| h.to.as_str()).unwrap_or("its owner")),
                None => format!("{}: no change found (see notes)", k.as_str()),
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    let widening = !newly.is_empty();
    let (status, status_reason) = if first.decision == Decision::Allow {
        (Status::AlreadyAllowed, Some("the request is already allowed by these layers: nothing to change".to_string()))
    } else if widening && !opts.accept_widening {
        (
            Status::Refused,
            Some(format!(
                "the changes would also allow {} request(s) beyond the intended one (see no_new_access.newly_allowed); narrow the scope, or accept with --accept-widening",
                newly.len()
            )),
        )
    } else if after.decision == Decision::Allow {
        (Status::Ready, None)
    } else if with_handoffs.decision == Decision::Allow {
        (Status::NeedsHandoff, Some(format!("the caller's side cannot lift every block: {}", next_hop.clone().unwrap_or_default())))
    } else {
        (Status::Unresolved, Some(format!("no set of changes found that allows the request: still {} by {}", with_handoffs.decision.as_str(), with_handoffs.denied_by.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))))
    };
    if first.depends_on_unknown {
        notes.push("some layers could not be read: the re-evaluation assumes they neither allow nor deny".into());
    }
    Ok(Plan {
        plan_version: PLAN_VERSION,
        status,
        status_reason,
        request: spec(req),
        caller: caller_of(req),
        scope: opts.scope,
        versions_read,
        changes,
        handoffs,
        alternatives,
        verification: Verification {
            before: summary(&first),
            after: summary(&after),
            with_handoffs: summary(&with_handoffs),
            next_hop,
            depends_on_unknown: first.depends_on_unknown || after.depends_on_unknown,
        },
        no_new_access: NoNewAccess { checked: hood.len(), newly_allowed: newly, widening_accepted: widening && opts.accept_widening },
        notes,
        replay: spec(req),
    })
}

/// The name under which a slot's policy was read (for its version token).
fn slot_name(slot: &Slot, l: &Layers) -> String {
    match slot {
        Slot::Identity(n) | Slot::Session(n) | Slot::Org { name: n, .. } => n.clone(),
        Slot::Boundary => l.permissions_boundary.as_ref().map(|p| p.name.to_string()).unwrap_or_default(),
        Slot::Resource => l.resource.as_ref().map(|p| p.name.to_string()).unwrap_or_default(),
        Slot::Vpce => l.vpc_endpoint.as_ref().map(|p| p.name.to_string()).unwrap_or_default(),
    }
}
