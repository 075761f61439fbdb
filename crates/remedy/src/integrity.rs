//! Plan integrity: `apply` recomputes, from the plan file alone, what each change's after-image
//! newly allows compared with its before-image, over the no-new-access neighbourhood of the
//! plan's request. A change edited after the plan was made (a statement widened to
//! `"Action": "*"`, a resource turned into `*`, a principal added) shows up as requests it
//! newly allows beyond the intended one, whatever the rest of the file says. Pure: no I/O.
//!
//! The check looks at each changed policy on its own (the other layers are not in the plan
//! file): for an identity policy, what the policy alone grants the caller; for a boundary,
//! what it lets through with everything else allowed; for a resource or trust policy, what it
//! grants the caller, another role of the account, and principals of another account.
//!
//! A federated request (`sts:AssumeRoleWithWebIdentity` / `SAML` by an identity provider, not an
//! IAM principal) has no such neighbourhood: its trust-policy change is recomputed instead
//! ([`crate::trust::fix_trust`] from the before-image and the request's claims) and must be
//! exactly the plan's after-image.

use std::sync::Arc;

use denyctl_eval::claims::{context_of, TrustRequest};
use denyctl_eval::{Context, Layers, NamedPolicy, Request};
use denyctl_policy::{Policy, PrincipalType};
use serde_json::{json, Value as Json};

use crate::check::Neighbourhood;
use crate::model::{Access, Change, Plan, RequestSpec, TargetKind};

/// What the re-check found for one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    /// The change id.
    pub change: String,
    /// Requests the after-image allows and the before-image did not, beyond the intended one.
    pub newly_allowed: Vec<Access>,
    /// The change cannot be checked (its policy does not parse, the request is malformed).
    pub error: Option<String>,
}

impl Recheck {
    /// Nothing beyond the intended request, and the change could be checked.
    pub fn passes(&self) -> bool {
        self.error.is_none() && self.newly_allowed.is_empty()
    }
}

fn request(spec: &RequestSpec) -> Result<Request, String> {
    let mut ctx = Context::new();
    for (k, v) in &spec.context {
        ctx.insert(k, v.clone());
    }
    Request::new(&spec.principal, &spec.action, &spec.resource, Some(&spec.resource_account), ctx).map_err(|e| format!("the plan's request is not valid: {e}"))
}

fn named(name: &str, doc: &Json) -> Result<NamedPolicy, String> {
    let policy = Policy::from_json(doc.clone()).map_err(|e| format!("the policy does not parse: {e}"))?;
    Ok(NamedPolicy { name: Arc::from(name), policy: Arc::new(policy) })
}

fn allow_all() -> Json {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

fn everyone_allowed() -> Json {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
}

/// The layers holding only this change's policy (`doc`, or none). A cross-account request
/// needs the other side too: it is taken as allowing everything (the worst case), so that the
/// changed policy alone decides.
fn layers(c: &Change, doc: Option<&Json>, cross_account: bool) -> Result<Layers, String> {
    let mut l = Layers::default();
    let name = c.target.policy_name.as_str();
    let p = doc.map(|d| named(name, d)).transpose()?;
    let other_side = || named("the other account: everything allowed", &everyone_allowed());
    match c.target.kind {
        TargetKind::InlinePolicy | TargetKind::ManagedPolicy => {
            l.identity = p.into_iter().collect();
            if cross_account {
                l.resource = Some(other_side()?);
            }
        }
        TargetKind::Boundary => {
            l.identity = vec![named("everything", &allow_all())?];
            l.permissions_boundary = p;
            if cross_account {
                l.resource = Some(other_side()?);
            }
        }
        TargetKind::ResourcePolicy | TargetKind::TrustPolicy => {
            l.resource = p;
            if cross_account {
                l.identity = vec![named("the caller's account: everything allowed", &allow_all())?];
            }
        }
        _ => return Err("not a policy denyctl writes".into()),
    }
    Ok(l)
}

/// A federated trust change: the after-image must be the exact fix for the request's claims
/// (with or without session tags and source identity, which the plan file does not record).
fn recheck_federated(spec: &RequestSpec, c: &Change) -> Result<Vec<Access>, String> {
    let before = c.before.as_ref().ok_or("a trust policy always exists, but the plan has no before-image")?;
    let pairs: Vec<(String, Vec<String>)> = spec.context.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (session_tags, source_identity) in [(false, false), (true, false), (false, true), (true, true)] {
        let req = TrustRequest {
            action: spec.action.clone(),
            principal: spec.principal.clone(),
            principal_type: PrincipalType::Federated,
            context: context_of(&pairs),
            session_tags,
            source_identity,
        };
        if crate::trust::fix_trust(before, &req).is_ok_and(|f| f.after == c.after) {
            return Ok(Vec::new());
        }
    }
    Ok(vec![Access {
        principal: spec.principal.clone(),
        action: spec.action.clone(),
        resource: spec.resource.clone(),
        probe: "not the exact trust change for the request's claims".into(),
    }])
}

fn federated(spec: &RequestSpec, c: &Change) -> bool {
    c.target.kind == TargetKind::TrustPolicy
        && ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"].iter().any(|a| a.eq_ignore_ascii_case(&spec.action))
}

/// Re-check every applicable change of `plan` (hand-offs are never written, so not checked).
pub fn recheck(plan: &Plan) -> Vec<Recheck> {
    let req = request(&plan.request);
    plan.changes
        .iter()
        .filter(|c| c.applicable)
        .map(|c| {
            let mut r = Recheck { change: c.id.clone(), newly_allowed: Vec::new(), error: None };
            let res = if federated(&plan.request, c) { recheck_federated(&plan.request, c) } else { req.clone().and_then(|req| {
                let cross = req.resource_account != req.principal.account();
                let before = layers(c, c.before.as_ref(), cross)?;
                let after = layers(c, Some(&c.after), cross).map_err(|e| format!("its after-image: {e}"))?;
                let others = matches!(c.target.kind, TargetKind::ResourcePolicy | TargetKind::TrustPolicy);
                Ok(Neighbourhood::build(&req, &before, others).newly_allowed(&after))
            }) };
            match res {
                Ok(n) => r.newly_allowed = n,
                Err(e) => r.error = Some(e),
            }
            r
        })
        .collect()
}
