//! New values in the template's own style: an ARN of a resource of the template becomes
//! `Fn::GetAtt X.Arn`; an ARN under a resource (`bucket/key`) or holding the partition, account or
//! region becomes `Fn::Sub` with `${X}` and the pseudo parameters (or `Fn::Join` in templates that
//! join, like the CDK's); literal otherwise.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value as Json};

use super::intrinsics::Ctx;
use super::template::Template;

/// How the template writes computed strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Sub,
    Join,
    Literal,
}

/// The template's known values, to write new ARNs with.
pub struct Styler {
    form: Form,
    /// (logical ID, ARN, ARN prefix written with `${X}` when `Ref X` is the name).
    known: Vec<(String, String, Option<String>, bool)>,
    pseudo: Vec<(&'static str, String)>,
}

impl Styler {
    /// Read the template's style and its resources' ARNs; `owner` is the resource the new values
    /// go into (resources that depend on it are not referenced: that would be a cycle).
    pub fn new(tpl: &Template, ctx: &Ctx, owner: &str) -> Styler {
        let graph = deps(tpl);
        let t = &tpl.text;
        let form = if t.contains("Fn::Sub") || t.contains("!Sub") {
            Form::Sub
        } else if t.contains("Fn::Join") || t.contains("!Join") || t.contains("Fn::GetAtt") || t.contains("!GetAtt") {
            Form::Join
        } else {
            Form::Literal
        };
        let mut known = Vec::new();
        for (id, ty, _) in tpl.resources() {
            let arn = match ty.as_str() {
                "AWS::IAM::ManagedPolicy" | "AWS::SecretsManager::Secret" => ctx.reference(&id, 0),
                _ => ctx.get_att(&id, "Arn", 0),
            };
            let Ok(arn) = arn else { continue };
            if reaches(&graph, &id, owner) {
                continue;
            }
            let by_ref = ty == "AWS::IAM::ManagedPolicy" || ty == "AWS::SecretsManager::Secret";
            let prefix = match ty.as_str() {
                "AWS::S3::Bucket" => Some(format!("arn:${{AWS::Partition}}:s3:::${{{id}}}")),
                "AWS::KMS::Key" => Some(format!("arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/${{{id}}}")),
                _ => None,
            };
            known.push((id, arn, prefix, by_ref));
        }
        let l = &ctx.live;
        let mut pseudo = Vec::new();
        for (name, v) in [("AWS::Partition", &l.partition), ("AWS::Region", &l.region), ("AWS::AccountId", &l.account)] {
            if t.contains(name) && !v.is_empty() {
                pseudo.push((name, v.clone()));
            }
        }
        Styler { form, known, pseudo }
    }

    /// `v` with every ARN string written in the template's style.
    pub fn value(&self, v: &Json) -> Json {
        match v {
            Json::Object(o) => Json::Object(o.iter().map(|(k, x)| (k.clone(), self.value(x))).collect()),
            Json::Array(l) => Json::Array(l.iter().map(|x| self.value(x)).collect()),
            Json::String(s) if s.starts_with("arn:") => self.arn(s),
            other => other.clone(),
        }
    }

    fn arn(&self, s: &str) -> Json {
        if self.form == Form::Literal {
            return Json::String(s.into());
        }
        for (id, arn, _, by_ref) in &self.known {
            if arn == s {
                return if *by_ref { json!({"Ref": id}) } else { json!({"Fn::GetAtt": [id, "Arn"]}) };
            }
        }
        let mut sub = None;
        for (_, arn, prefix, _) in &self.known {
            if let (Some(p), Some(rest)) = (prefix, s.strip_prefix(arn.as_str())) {
                if rest.starts_with('/') && !rest.contains("${") {
                    sub = Some(format!("{p}{rest}"));
                    break;
                }
            }
        }
        let sub = match sub {
            Some(x) => x,
            None => {
                let parts: Vec<&str> = s.splitn(6, ':').collect();
                if parts.len() != 6 || s.contains("${") {
                    return Json::String(s.into());
                }
                let mut out: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
                let mut changed = false;
                for (i, want) in [(1, "AWS::Partition"), (3, "AWS::Region"), (4, "AWS::AccountId")] {
                    if let Some((_, v)) = self.pseudo.iter().find(|(n, _)| *n == want) {
                        if parts[i] == v {
                            out[i] = format!("${{{want}}}");
                            changed = true;
                        }
                    }
                }
                if let Some((_, acct)) = self.pseudo.iter().find(|(n, _)| *n == "AWS::AccountId") {
                    if out[5].contains(acct.as_str()) {
                        out[5] = out[5].replace(acct.as_str(), "${AWS::AccountId}");
                        changed = true;
                    }
                }
                if !changed {
                    return Json::String(s.into());
                }
                out.join(":")
            }
        };
        match self.form {
            Form::Join => join_of(&sub),
            _ => json!({"Fn::Sub": sub}),
        }
    }
}

/// Each resource's references to other resources (Ref, GetAtt, Sub, DependsOn).
fn deps(tpl: &Template) -> BTreeMap<String, BTreeSet<String>> {
    let mut g = BTreeMap::new();
    if let Some(Json::Object(r)) = tpl.json.get("Resources") {
        for (id, v) in r {
            let mut out = BTreeSet::new();
            refs(v, &mut out);
            g.insert(id.clone(), out);
        }
    }
    g
}

fn refs(v: &Json, out: &mut BTreeSet<String>) {
    match v {
        Json::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("Ref", Json::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("Fn::GetAtt", Json::Array(l)) => {
                        if let Some(s) = l.first().and_then(Json::as_str) {
                            out.insert(s.to_string());
                        }
                    }
                    ("DependsOn", Json::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("DependsOn", Json::Array(l)) => out.extend(l.iter().filter_map(Json::as_str).map(String::from)),
                    ("Fn::Sub", _) => {
                        let tpl = match x {
                            Json::Array(l) => l.first().and_then(Json::as_str).unwrap_or_default(),
                            other => other.as_str().unwrap_or_default(),
                        };
                        for part in tpl.split("${").skip(1) {
                            let name = part.split('}').next().unwrap_or_default();
                            out.insert(name.split('.').next().unwrap_or_default().to_string());
                        }
                        refs(x, out);
                    }
                    _ => refs(x, out),
                }
            }
        }
        Json::Array(l) => l.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Whether `from` is `to` or depends on it, directly or not.
fn reaches(g: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(x) = todo.pop() {
        if x == to {
            return true;
        }
        if seen.insert(x.clone()) {
            if let Some(n) = g.get(&x) {
                todo.extend(n.iter().cloned());
            }
        }
    }
    false
}

/// A `Fn::Sub` string (no variables map) as `Fn::Join ["", [...]]`.
fn join_of(sub: &str) -> Json {
    let mut parts = Vec::new();
    let mut rest = sub;
    while let Some(i) = rest.find("${") {
        if i > 0 {
            parts.push(Json::String(rest[..i].into()));
        }
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else { break };
        let name = &after[..j];
        match name.split_once('.').filter(|_| !name.starts_with("AWS::")) {
            Some((r, a)) => parts.push(json!({"Fn::GetAtt": [r, a]})),
            None => parts.push(json!({"Ref": name})),
        }
        rest = &after[j + 1..];
    }
    if !rest.is_empty() {
        parts.push(Json::String(rest.into()));
    }
    json!({"Fn::Join": ["", parts]})
}
