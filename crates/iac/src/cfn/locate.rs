//! Find the owner of a slot: the stack and logical ID of the target (by physical ID with stacks,
//! by its name property offline), its template (a local file matched to the stack, or the stack's
//! body), and where in the template the policy document lives (or is to be created).

use serde_json::{json, Value as Json};

use super::intrinsics::Ctx;
use super::template::{is_candidate, parse, Template};
use crate::model::{IacError, Located, Slot, Sources, Stack, Tool};

/// What the target entity is: its type and how its physical ID is matched.
struct Target {
    ty: &'static str,
    /// The physical ID wanted (role name, policy ARN, bucket name, key id, queue name, secret ARN).
    id: String,
}

fn target(slot: &Slot) -> Option<Target> {
    Some(match slot {
        Slot::InlinePolicy { role_name: Some(r), .. } => Target { ty: "AWS::IAM::Role", id: r.clone() },
        Slot::InlinePolicy { user_name: Some(u), .. } => Target { ty: "AWS::IAM::User", id: u.clone() },
        Slot::InlinePolicy { .. } => return None,
        Slot::ManagedPolicy { policy_arn, .. } | Slot::Boundary { policy_arn, .. } => Target { ty: "AWS::IAM::ManagedPolicy", id: policy_arn.clone() },
        Slot::TrustPolicy { role_name, .. } => Target { ty: "AWS::IAM::Role", id: role_name.clone() },
        Slot::ResourcePolicy { service, resource_arn, .. } => {
            let last = |sep: char| resource_arn.rsplit(sep).next().unwrap_or_default().to_string();
            match service.as_str() {
                "s3" => Target { ty: "AWS::S3::Bucket", id: resource_arn.rsplit(":::").next().unwrap_or_default().to_string() },
                "kms" => Target { ty: "AWS::KMS::Key", id: last('/') },
                "sqs" => Target { ty: "AWS::SQS::Queue", id: last(':') },
                "secretsmanager" => Target { ty: "AWS::SecretsManager::Secret", id: resource_arn.clone() },
                _ => return None,
            }
        }
    })
}

/// Whether a physical ID (from a stack) is the target's.
fn physical_matches(t: &Target, phys: &str) -> bool {
    match t.ty {
        "AWS::SQS::Queue" => phys.rsplit('/').next() == Some(t.id.as_str()),
        _ => phys == t.id,
    }
}

/// Whether a template resource is the target, offline (by its name property). A KMS key has no
/// name property: offline it is the key whose rendered `KeyPolicy` is the live policy (`before`).
fn offline_matches(t: &Target, ctx: &Ctx, logical: &str, props: &Json, before: Option<&Json>) -> bool {
    let rendered = |k: &str| props.get(k).and_then(|v| ctx.value(v).ok()).and_then(|v| v.as_str().map(String::from));
    match t.ty {
        "AWS::KMS::Key" => match (before, props.get("KeyPolicy").and_then(|p| ctx.value(p).ok())) {
            (Some(b), Some(r)) => crate::delta::same_policy(b, &r),
            _ => false,
        },
        "AWS::SQS::Queue" => rendered("QueueName").as_deref() == Some(t.id.as_str()),
        "AWS::SecretsManager::Secret" => {
            let name = t.id.split(":secret:").nth(1).unwrap_or_default();
            let base = if name.len() > 7 && name.as_bytes()[name.len() - 7] == b'-' { &name[..name.len() - 7] } else { name };
            rendered("Name").is_some_and(|n| n == base || n == name)
        }
        _ => ctx.reference(logical, 0).is_ok_and(|v| v == t.id),
    }
}

fn stack_matches_template(s: &Stack, t: &Template) -> bool {
    let res = t.resources();
    !s.resources.is_empty() && s.resources.iter().all(|r| res.iter().any(|(id, ty, _)| *id == r.logical_id && *ty == r.resource_type))
}

/// Every owner of `slot` in the sources.
pub fn locate(slot: &Slot, before: Option<&Json>, sources: &Sources) -> (Vec<Located>, Vec<IacError>) {
    let mut errs = Vec::new();
    let mut templates = Vec::new();
    for f in sources.files.iter().filter(|f| is_candidate(&f.path)) {
        match parse(&f.path, &f.text) {
            Ok(Some(t)) => templates.push(t),
            Ok(None) => {}
            Err(e) => errs.push(e),
        }
    }
    let Some(t) = target(slot) else { return (Vec::new(), errs) };
    let mut out = Vec::new();
    if sources.stacks.is_empty() {
        for tpl in &templates {
            let ctx = tpl.ctx(&sources.live, None);
            for (id, ty, props) in tpl.resources() {
                if ty == t.ty && offline_matches(&t, &ctx, &id, &props, before) {
                    out.extend(owners(slot, tpl, &ctx, &id, None));
                }
            }
        }
        return (out, errs);
    }
    for s in &sources.stacks {
        let Some(r) = s.resources.iter().find(|r| r.resource_type == t.ty && r.physical_id.as_deref().is_some_and(|p| physical_matches(&t, p))) else { continue };
        let local: Vec<&Template> = templates.iter().filter(|tpl| stack_matches_template(s, tpl)).collect();
        let body;
        let chosen: Vec<&Template> = if !local.is_empty() {
            local
        } else {
            match s.template_body.as_deref().map(|b| parse(&format!("stack:{}", s.name), b)) {
                Some(Ok(Some(tpl))) => {
                    body = tpl;
                    vec![&body]
                }
                Some(Err(e)) => {
                    errs.push(e);
                    continue;
                }
                _ => {
                    errs.push(IacError::new(format!("stack:{}", s.name), &r.logical_id, "the stack owns the target but no template under the IaC folder matches its resources, and its template was not read"));
                    continue;
                }
            }
        };
        for tpl in chosen {
            let ctx = tpl.ctx(&sources.live, Some(s));
            out.extend(owners(slot, tpl, &ctx, &r.logical_id, Some(&s.name)));
        }
    }
    (out, errs)
}

fn loc(tpl: &Template, resource: &str, stack: Option<&str>, detail: Json) -> Located {
    Located { tool: Tool::Cloudformation, file: tpl.file.clone(), resource: resource.to_string(), stack: stack.map(String::from), detail }
}

/// Whether `v` names the resource `logical` (a Ref/GetAtt to it, or its rendered physical ID).
fn names(v: &Json, logical: &str, ctx: &Ctx, extra_att: &str) -> bool {
    if v.get("Ref").and_then(Json::as_str) == Some(logical) {
        return true;
    }
    if let Some(Json::Array(l)) = v.get("Fn::GetAtt") {
        if l.first().and_then(Json::as_str) == Some(logical) && l.get(1).and_then(Json::as_str) == Some(extra_att) {
            return true;
        }
    }
    let mine = ctx.reference(logical, 0).ok();
    mine.is_some() && ctx.value(v).ok().and_then(|x| x.as_str().map(String::from)) == mine
}

fn list_names(v: Option<&Json>, logical: &str, ctx: &Ctx, att: &str) -> bool {
    match v {
        Some(Json::Array(l)) => l.iter().any(|x| names(x, logical, ctx, att)),
        Some(x) => names(x, logical, ctx, att),
        None => false,
    }
}

fn str_of(ctx: &Ctx, v: Option<&Json>) -> Option<String> {
    v.and_then(|v| ctx.value(v).ok()).and_then(|v| v.as_str().map(String::from))
}

fn doc_path(id: &str, rest: &[Json]) -> Json {
    let mut p = vec![json!("Resources"), json!(id), json!("Properties")];
    p.extend(rest.iter().cloned());
    Json::Array(p)
}

fn owners(slot: &Slot, tpl: &Template, ctx: &Ctx, logical: &str, stack: Option<&str>) -> Vec<Located> {
    let res = tpl.resources();
    let props_of = |id: &str| res.iter().find(|(i, _, _)| i == id).map(|(_, _, p)| p.clone()).unwrap_or(Json::Null);
    let mut out = Vec::new();
    match slot {
        Slot::InlinePolicy { role_name, policy_name, create, .. } => {
            let is_role = role_name.is_some();
            let (list_key, single_ty, single_key) = if is_role { ("Roles", "AWS::IAM::RolePolicy", "RoleName") } else { ("Users", "AWS::IAM::UserPolicy", "UserName") };
            if let Some(Json::Array(ps)) = props_of(logical).get("Policies") {
                for (i, p) in ps.iter().enumerate() {
                    if str_of(ctx, p.get("PolicyName")).as_deref() == Some(policy_name) {
                        out.push(loc(tpl, logical, stack, json!({"doc": doc_path(logical, &[json!("Policies"), json!(i), json!("PolicyDocument")])})));
                    }
                }
            }
            for (id, ty, p) in &res {
                let named = str_of(ctx, p.get("PolicyName")).as_deref() == Some(policy_name);
                let attached = (ty == "AWS::IAM::Policy" && list_names(p.get(list_key), logical, ctx, "Arn")) || (ty == single_ty && p.get(single_key).is_some_and(|v| names(v, logical, ctx, "Arn")));
                if named && attached {
                    out.push(loc(tpl, id, stack, json!({"doc": doc_path(id, &[json!("PolicyDocument")])})));
                }
            }
            if out.is_empty() && *create {
                out.push(loc(tpl, logical, stack, json!({"create": "policies_entry", "policy_name": policy_name})));
            }
        }
        Slot::ManagedPolicy { .. } | Slot::Boundary { .. } => out.push(loc(tpl, logical, stack, json!({"doc": doc_path(logical, &[json!("PolicyDocument")])}))),
        Slot::TrustPolicy { .. } => out.push(loc(tpl, logical, stack, json!({"doc": doc_path(logical, &[json!("AssumeRolePolicyDocument")])}))),
        Slot::ResourcePolicy { service, .. } => {
            if service == "kms" {
                out.push(loc(tpl, logical, stack, json!({"doc": doc_path(logical, &[json!("KeyPolicy")])})));
                return out;
            }
            let (pty, pkey, doc_key, att) = match service.as_str() {
                "s3" => ("AWS::S3::BucketPolicy", "Bucket", "PolicyDocument", "Arn"),
                "sqs" => ("AWS::SQS::QueuePolicy", "Queues", "PolicyDocument", "QueueUrl"),
                _ => ("AWS::SecretsManager::ResourcePolicy", "SecretId", "ResourcePolicy", "Id"),
            };
            for (id, ty, p) in &res {
                if ty == pty && list_names(p.get(pkey), logical, ctx, att) {
                    out.push(loc(tpl, id, stack, json!({"doc": doc_path(id, &[json!(doc_key)])})));
                }
            }
            if out.is_empty() {
                let mut name = format!("{logical}Policy");
                while res.iter().any(|(i, _, _)| *i == name) {
                    name.push('2');
                }
                let target = if service == "sqs" { json!([{"Ref": logical}]) } else { json!({"Ref": logical}) };
                out.push(loc(tpl, &name, stack, json!({"create": "resource", "after": logical, "type": pty, "target_key": pkey, "target": target, "doc_key": doc_key})));
            }
        }
    }
    out
}
