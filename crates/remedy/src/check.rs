//! The no-new-access check: decisions before and after a change over a neighbourhood of the
//! intended request — every catalog action of the service on the same resource and its
//! siblings, and, when a policy with principals changes, the same requests by other principals.

use std::sync::Arc;

use denyctl_catalog::catalog;
use denyctl_eval::{evaluate, Context, Decision, Layers, NamedPolicy, Request};
use denyctl_policy::{Arn, Policy};
use serde_json::json;

use crate::model::Access;

/// Who a probe is, which decides the layers it is evaluated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The caller: the layers as given.
    Caller,
    /// Another role in the caller's account with no identity policy of its own (what the
    /// resource policy alone grants it).
    SameAccount,
    /// A principal in another account whose own account allows it everything (the worst case).
    OtherAccount,
}

struct Probe {
    req: Request,
    who: Who,
    /// The resource is not governed by the request's resource policy (another bucket, key,
    /// queue...): its own policy is unknown, so it is evaluated without one.
    foreign: bool,
    label: String,
}

/// A neighbourhood of requests with their decisions before the change.
pub struct Neighbourhood {
    probes: Vec<Probe>,
    before: Vec<bool>,
}

/// Resources near `resource`, each with a label. The first is the resource itself.
fn resources(resource: &str) -> Vec<(String, String)> {
    let mut out = vec![(resource.to_string(), "the same resource".to_string())];
    let Ok(arn) = Arn::parse(resource) else { return out };
    let prefix = format!("arn:{}:{}:{}:{}:", arn.partition, arn.service, arn.region, arn.account);
    let res = arn.resource.as_str();
    let mut add = |r: String, label: &str| {
        if !out.iter().any(|(x, _)| *x == r) {
            out.push((r, label.to_string()));
        }
    };
    let parts: Vec<&str> = res.split('/').collect();
    if arn.service == "s3" {
        let bucket = parts[0];
        if parts.len() >= 2 {
            let dir = parts[..parts.len() - 1].join("/");
            add(format!("{prefix}{dir}/denyctl-probe-sibling"), "another object in the same prefix");
            add(format!("{prefix}{bucket}/denyctl-probe-other/object"), "an object elsewhere in the bucket");
            add(format!("{prefix}{bucket}"), "the bucket");
            add(format!("{prefix}{bucket}-denyctl-probe/{}", parts[1..].join("/")), "the same key in another bucket");
        } else {
            add(format!("{prefix}{bucket}/denyctl-probe-object"), "an object in the bucket");
        }
        add(format!("{prefix}{bucket}-denyctl-probe"), "another bucket");
        return out;
    }
    if parts.len() >= 2 {
        let dir = parts[..parts.len() - 1].join("/");
        add(format!("{prefix}{dir}/denyctl-probe-sibling"), "another resource of the same type");
        if parts.len() >= 3 {
            add(format!("{prefix}{}/denyctl-probe-other/resource", parts[0]), "a resource elsewhere under the same parent");
        }
    } else if let Some((head, _)) = res.rsplit_once(':') {
        add(format!("{prefix}{head}:denyctl-probe-sibling"), "another resource of the same type");
    } else if !res.is_empty() && res != "*" {
        add(format!("{prefix}{res}-denyctl-probe"), "another resource of the same type");
    }
    out
}

/// Context without the keys AWS derives from the caller (for probes by other principals).
fn foreign_context(ctx: &Context) -> Context {
    let mut out = Context::new();
    for (k, v) in ctx.iter() {
        let lc = k.to_ascii_lowercase();
        if lc.starts_with("aws:principal") || lc == "aws:username" || lc == "aws:userid" {
            continue;
        }
        out.insert(k, v.to_vec());
    }
    out
}

fn allow_all() -> NamedPolicy {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    NamedPolicy {
        name: Arc::from("probe: everything allowed in its own account"),
        policy: Arc::new(Policy::from_json(doc).unwrap_or_else(|_| Policy::empty())),
    }
}

/// The layers a probe is evaluated with, derived from the plan's layers.
fn layers_for(who: Who, foreign: bool, layers: &Layers) -> Layers {
    let mut l = layers_by_who(who, layers);
    if foreign {
        l.resource = None;
    }
    l
}

fn layers_by_who(who: Who, layers: &Layers) -> Layers {
    match who {
        Who::Caller => layers.clone(),
        Who::SameAccount => Layers {
            identity: Vec::new(),
            permissions_boundary: None,
            session: None,
            vpc_endpoint: None,
            ..layers.clone()
        },
        Who::OtherAccount => Layers {
            identity: vec![allow_all()],
            permissions_boundary: None,
            session: None,
            vpc_endpoint: None,
            scp: None,
            ..layers.clone()
        },
    }
}

const WHO: [Who; 3] = [Who::Caller, Who::SameAccount, Who::OtherAccount];

fn allowed(p: &Probe, sets: &[Layers; 6]) -> bool {
    let i = WHO.iter().position(|w| *w == p.who).unwrap_or(0) * 2 + usize::from(p.foreign);
    evaluate(&p.req, &sets[i]).decision == Decision::Allow
}

/// The six layer sets: (who, foreign resource) pairs.
fn sets(layers: &Layers) -> [Layers; 6] {
    WHO.map(|w| [layers_for(w, false, layers), layers_for(w, true, layers)])
        .concat()
        .try_into()
        .unwrap_or_else(|_| std::array::from_fn(|_| layers.clone()))
}

/// The resource whose policy governs `resource`: an S3 object's bucket, else the resource itself.
pub fn policy_holder(resource: &str) -> String {
    match Arn::parse(resource) {
        Ok(a) if a.service == "s3" => format!("arn:{}:s3:::{}", a.partition, a.resource.split('/').next().unwrap_or("")),
        _ => resource.to_string(),
    }
}

impl Neighbourhood {
    /// Build the neighbourhood of `req` and decide each probe against `before`. With
    /// `other_principals`, the same requests by another role of the account and by principals
    /// of another account are probed too.
    pub fn build(req: &Request, before: &Layers, other_principals: bool) -> Neighbourhood {
        let resources = resources(&req.resource);
        let service = req.service().to_string();
        // Which of the service's actions apply to which of the resources (catalog resource types).
        let cat = catalog().ok();
        let svc = cat.and_then(|c| c.service(&service).ok());
        let types: Vec<Option<String>> = resources
            .iter()
            .map(|(r, _)| svc.and_then(|s| s.classify_arn(r)).map(|m| m.resource_type.name().to_string()))
            .collect();
        let mut pairs: Vec<(String, String, String)> = Vec::new();
        let mut push = |a: &str, r: &str, label: &str| {
            if !pairs.iter().any(|(pa, pr, _)| pa.eq_ignore_ascii_case(a) && pr == r) {
                pairs.push((a.to_string(), r.to_string(), label.to_string()));
            }
        };
        for (r, label) in &resources {
            push(&req.action, r, label);
        }
        if let Some(s) = svc {
            for a in s.actions() {
                if !a.supports_resource_level_permissions() {
                    push(a.qualified_name(), "*", "no resource-level permissions");
                    continue;
                }
                for ((r, label), t) in resources.iter().zip(&types) {
                    if t.as_deref().is_some_and(|t| a.resource_type(t).is_some()) {
                        push(a.qualified_name(), r, label);
                    }
                }
            }
        }
        let holder = policy_holder(&req.resource);
        let foreign = |r: &str| policy_holder(r) != holder;
        let mut probes = Vec::new();
        let caller_ctx = req.context.clone();
        for (a, r, label) in &pairs {
            if a.eq_ignore_ascii_case(&req.action) && *r == req.resource {
                continue; // the intended request itself
            }
            if let Ok(q) = Request::new(&req.principal_raw, a, r, Some(&req.resource_account), caller_ctx.clone()) {
                probes.push(Probe { req: q, who: Who::Caller, foreign: foreign(r), label: label.clone() });
            }
        }
        if other_principals {
            let acct = req.principal.account();
            let other = ["999999999999", "999999999998", "999999999997"]
                .into_iter()
                .find(|a| *a != acct && *a != req.resource_account)
                .unwrap_or("999999999996");
            let part = &req.principal.arn.partition;
            let who = [
                (format!("arn:{part}:sts::{acct}:assumed-role/denyctl-probe-role/probe"), Who::SameAccount, "another role in the caller's account"),
                (format!("arn:{part}:iam::{other}:root"), Who::OtherAccount, "another account's root"),
                (
                    format!("arn:{part}:sts::{other}:assumed-role/denyctl-probe-role/probe"),
                    Who::OtherAccount,
                    "an unrelated role in another account (stands for anyone)",
                ),
            ];
            let ctx = foreign_context(&req.context);
            for (p, w, plabel) in &who {
                for (a, r, label) in &pairs {
                    let same_action = a.eq_ignore_ascii_case(&req.action);
                    if !same_action && *r != req.resource {
                        continue;
                    }
                    if let Ok(q) = Request::new(p, a, r, Some(&req.resource_account), ctx.clone()) {
                        probes.push(Probe { req: q, who: *w, foreign: foreign(r), label: format!("{plabel}; {label}") });
                    }
                }
            }
        }
        let s = sets(before);
        let before = probes.iter().map(|p| allowed(p, &s)).collect();
        Neighbourhood { probes, before }
    }

    /// How many requests are compared.
    pub fn len(&self) -> usize {
        self.probes.len()
    }

    /// The requests whose decision differs between `a` and `b` (each with the decision under `a`).
    pub fn differing(&self, a: &Layers, b: &Layers) -> Vec<(Access, bool)> {
        let (sa, sb) = (sets(a), sets(b));
        self.probes
            .iter()
            .filter_map(|p| {
                let x = allowed(p, &sa);
                (x != allowed(p, &sb)).then(|| {
                    let access = Access {
                        principal: p.req.principal_raw.clone(),
                        action: p.req.action.clone(),
                        resource: p.req.resource.clone(),
                        probe: p.label.clone(),
                    };
                    (access, x)
                })
            })
            .collect()
    }

    /// The requests that `after` allows and the layers before did not.
    pub fn newly_allowed(&self, after: &Layers) -> Vec<Access> {
        let s = sets(after);
        self.probes
            .iter()
            .zip(&self.before)
            .filter(|(p, was)| !**was && allowed(p, &s))
            .map(|(p, _)| Access {
                principal: p.req.principal_raw.clone(),
                action: p.req.action.clone(),
                resource: p.req.resource.clone(),
                probe: p.label.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_neighbours() {
        let r = resources("arn:aws:s3:::b/releases/app.zip");
        let arns: Vec<&str> = r.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:s3:::b/releases/app.zip",
                "arn:aws:s3:::b/releases/denyctl-probe-sibling",
                "arn:aws:s3:::b/denyctl-probe-other/object",
                "arn:aws:s3:::b",
                "arn:aws:s3:::b-denyctl-probe/releases/app.zip",
                "arn:aws:s3:::b-denyctl-probe",
            ]
        );
        let q = resources("arn:aws:sqs:us-east-1:111122223333:orders");
        assert_eq!(q[1].0, "arn:aws:sqs:us-east-1:111122223333:orders-denyctl-probe");
        let s = resources("arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf");
        assert_eq!(s[1].0, "arn:aws:secretsmanager:us-east-1:111122223333:secret:denyctl-probe-sibling");
        assert_eq!(resources("*").len(), 1);
    }
}
