//! CloudFormation: find a target's stack and logical ID, patch the template (YAML with short-form
//! intrinsics, or JSON) keeping its layout, render the patched policy with intrinsics resolved.
//!
//! Modules: [`node`] (positioned YAML tree), [`json`] (positioned JSON tree and span edits),
//! [`yaml`] (line edits and the style-keeping emitter), [`template`], [`intrinsics`] (render),
//! [`locate`], [`style`] (new ARNs written with the template's references).

pub mod intrinsics;
pub mod json;
pub mod locate;
pub mod node;
pub mod style;
pub mod template;
pub mod yaml;

use serde_json::{json, Value as Json};

use crate::delta::{Op, Seg};
use crate::model::{Backend, FileEdit, IacError, Located, Patched, Sources, Tool, Wanted};
use node::Kind;
use template::{Format, Template};

/// The CloudFormation backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct CloudFormation;

impl Backend for CloudFormation {
    fn tool(&self) -> Tool {
        Tool::Cloudformation
    }

    fn locate(&self, wanted: &Wanted, sources: &Sources) -> (Vec<Located>, Vec<IacError>) {
        locate::locate(&wanted.slot, wanted.edit.before.as_ref(), sources)
    }

    fn patch(&self, wanted: &Wanted, located: &Located, sources: &Sources) -> Result<Patched, IacError> {
        patch(wanted, located, sources)
    }
}

fn path_of(v: &Json) -> Vec<Json> {
    v.as_array().cloned().unwrap_or_default()
}

/// The absolute template path of a delta path under the document at `doc` (keys matched
/// ignoring case, as written in the template).
fn resolve(tpl: &Template, doc: &[Json], rel: &[Seg]) -> Option<Vec<Json>> {
    let mut path = doc.to_vec();
    let mut cur = tpl.node_at(doc)?;
    for s in rel {
        match s {
            Seg::Key(k) => {
                let (key, v) = cur.entry(k)?;
                path.push(json!(key.name));
                cur = v;
            }
            Seg::Index(i) => {
                let Kind::Seq(l) = &cur.kind else { return None };
                cur = l.get(*i)?;
                path.push(json!(i));
            }
        }
    }
    Some(path)
}

/// Whether a node on the way to `path` (the value itself excluded) is written in flow style
/// (`{ AWS: x }`, `[a, b]`): the YAML line edits do not go inside those.
fn inside_flow(tpl: &Template, path: &[Json]) -> bool {
    tpl.format == Format::Yaml && (0..path.len()).any(|i| tpl.node_at(&path[..i]).is_some_and(|n| n.flow))
}

/// Append `v` to the list at `path`.
fn do_append(tpl: &Template, path: &[Json], v: &Json, st: &yaml::YStyle) -> Result<String, String> {
    if inside_flow(tpl, path) {
        return Err("the list is inside a flow-style {..}/[..] value; write it in block style or patch it by hand".into());
    }
    let node = tpl.node_at(path).ok_or("the list is not in the template")?;
    if !matches!(node.kind, Kind::Seq(_)) || node.tag.is_some() {
        return Err("the value is not a plain list in the template (an intrinsic builds it)".into());
    }
    match tpl.format {
        Format::Json => json::append(&tpl.text, node, v),
        Format::Yaml => {
            let (k, _) = tpl.entry_at(path).ok_or("a list that is not the value of a key")?;
            yaml::append(&tpl.text, k, node, v, st)
        }
    }
}

fn do_insert(tpl: &Template, path: &[Json], key: &str, v: &Json, after: Option<&str>, st: &yaml::YStyle) -> Result<String, String> {
    if inside_flow(tpl, path) {
        return Err("the mapping is inside a flow-style {..}/[..] value; write it in block style or patch it by hand".into());
    }
    let node = tpl.node_at(path).ok_or("the mapping is not in the template")?;
    if !matches!(node.kind, Kind::Map(_)) || node.tag.is_some() {
        return Err("the value is not a plain mapping in the template".into());
    }
    match tpl.format {
        Format::Json => json::insert(&tpl.text, node, key, v, after),
        Format::Yaml => yaml::insert(&tpl.text, node, key, v, after, st),
    }
}

fn do_promote(tpl: &Template, path: &[Json], added: &[Json], st: &yaml::YStyle) -> Result<String, String> {
    if inside_flow(tpl, path) {
        return Err("the value is inside a flow-style {..}/[..] mapping; write it in block style or patch it by hand".into());
    }
    let node = tpl.node_at(path).ok_or("the value is not in the template")?;
    match tpl.format {
        Format::Json => json::promote(&tpl.text, node, added),
        Format::Yaml => {
            let (k, n) = tpl.entry_at(path).ok_or("a value that is not the value of a key")?;
            yaml::promote(&tpl.text, k, n, added, st)
        }
    }
}

/// The first policy document of the template (its quoting is the one new documents follow).
fn first_doc(n: &node::Node) -> Option<&node::Node> {
    match &n.kind {
        Kind::Map(m) => m.iter().find_map(|(k, v)| {
            if ["PolicyDocument", "AssumeRolePolicyDocument", "KeyPolicy", "ResourcePolicy"].contains(&k.name.as_str()) && matches!(v.kind, Kind::Map(_)) {
                Some(v)
            } else {
                first_doc(v)
            }
        }),
        Kind::Seq(l) => l.iter().find_map(first_doc),
        _ => None,
    }
}

/// Whether every mapping of the document has its keys sorted (the CDK writes them so).
fn sorted_keys(n: &node::Node) -> bool {
    match &n.kind {
        Kind::Map(m) => m.windows(2).all(|w| w[0].0.name <= w[1].0.name) && m.iter().all(|(_, v)| sorted_keys(v)),
        Kind::Seq(l) => l.iter().all(sorted_keys),
        _ => true,
    }
}

fn sort_keys(v: &Json) -> Json {
    match v {
        Json::Object(o) => {
            let mut e: Vec<(String, Json)> = o.iter().map(|(k, x)| (k.clone(), sort_keys(x))).collect();
            e.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(e.into_iter().collect())
        }
        Json::Array(l) => Json::Array(l.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// A patched text with the original's CRLF line ends kept (when every line had one).
fn keep_newlines(orig: &str, new: String) -> String {
    let crlf = orig.matches("\r\n").count();
    if crlf == 0 || crlf != orig.matches('\n').count() {
        return new;
    }
    new.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn reparse(file: &str, text: &str) -> Result<Template, IacError> {
    match template::parse(file, text)? {
        Some(t) => Ok(t),
        None => Err(IacError::new(file, "-", "the patched text is no longer a template (internal error)")),
    }
}

fn patch(wanted: &Wanted, located: &Located, sources: &Sources) -> Result<Patched, IacError> {
    let err = |m: String| IacError::new(&located.file, &located.resource, m);
    if let Some(stack) = located.file.strip_prefix("stack:") {
        return Err(err(format!("the template of stack {stack} is only known from CloudFormation (GetTemplate): no local file under the IaC folder to patch; put the template under the folder or apply the API plan")));
    }
    let file = sources.file(&located.file).ok_or_else(|| err("the file is not among the sources".into()))?;
    let tpl = reparse(&file.path, &file.text)?;
    let stack = located.stack.as_ref().and_then(|n| sources.stacks.iter().find(|s| &s.name == n));
    let ctx = tpl.ctx(&sources.live, stack);
    let d = &located.detail;
    let owner = match d.get("create").and_then(Json::as_str) {
        Some("resource") => String::new(),
        _ => located.resource.clone(),
    };
    let styler = style::Styler::new(&tpl, &ctx, &owner);
    let mut notes = Vec::new();
    let (text, doc_after, rendered_before) = if let Some(doc) = d.get("doc") {
        let doc = path_of(doc);
        let node = tpl.node_at(&doc).ok_or_else(|| err("the resource has no policy document".into()))?;
        if matches!(node.kind, Kind::Str(_)) || node.tag.is_some() {
            return Err(err("the policy document is written as a string or built by an intrinsic (Fn::Sub of JSON text, ...): patch it by hand".into()));
        }
        let before = ctx.value(&node.to_json());
        let st = yaml::detect(&tpl.text, &tpl.root, Some(node));
        let sorted = sorted_keys(node) && matches!(&node.kind, Kind::Map(m) if m.len() > 1);
        let styled = |v: &Json| if sorted { sort_keys(&styler.value(v)) } else { styler.value(v) };
        let mut cur = tpl.clone();
        for op in &wanted.edit.ops {
            let text = match op {
                Op::Append { path, value } => {
                    let p = resolve(&cur, &doc, path).ok_or_else(|| err("the policy in the template does not have the plan's shape (a list is missing)".into()))?;
                    do_append(&cur, &p, &styled(value), &st)
                }
                Op::Insert { path, key, value } => {
                    let p = resolve(&cur, &doc, path).ok_or_else(|| err("the policy in the template does not have the plan's shape (a mapping is missing)".into()))?;
                    do_insert(&cur, &p, key, &styled(value), None, &st)
                }
                Op::Promote { path, added } => {
                    let p = resolve(&cur, &doc, path).ok_or_else(|| err("the policy in the template does not have the plan's shape (a value is missing)".into()))?;
                    let added: Vec<Json> = added.iter().map(styled).collect();
                    do_promote(&cur, &p, &added, &st)
                }
            }
            .map_err(err)?;
            cur = reparse(&file.path, &keep_newlines(&file.text, text))?;
        }
        notes.push(format!("patched {} of {} in place", doc.last().and_then(Json::as_str).unwrap_or("the policy"), located.resource));
        (cur.text, doc, Some(before))
    } else {
        let st = yaml::detect(&tpl.text, &tpl.root, first_doc(&tpl.root));
        let doc_value = styler.value(&wanted.edit.after);
        match d.get("create").and_then(Json::as_str) {
            Some("policies_entry") => {
                let name = d.get("policy_name").and_then(Json::as_str).unwrap_or_default();
                let logical = &located.resource;
                let entry = json!({"PolicyName": name, "PolicyDocument": doc_value});
                let props = vec![json!("Resources"), json!(logical), json!("Properties")];
                let (text, idx) = match tpl.node_at(&props).map(|p| p.get("Policies")) {
                    Some(Some(pol)) => {
                        let n = match &pol.kind {
                            Kind::Seq(l) => l.len(),
                            _ => return Err(err("Policies is not a list".into())),
                        };
                        let mut pp = props.clone();
                        pp.push(json!(tpl.node_at(&props).and_then(|p| p.entry("Policies")).map(|e| e.0.name.clone()).unwrap_or("Policies".into())));
                        (do_append(&tpl, &pp, &entry, &st).map_err(err)?, n)
                    }
                    Some(None) => (do_insert(&tpl, &props, "Policies", &json!([entry]), None, &st).map_err(err)?, 0),
                    None => return Err(err("the role has no Properties".into())),
                };
                notes.push(format!("new inline policy {name} added to the Policies of {logical}"));
                let mut doc = props;
                doc.extend([json!("Policies"), json!(idx), json!("PolicyDocument")]);
                (text, doc, None)
            }
            Some("resource") => {
                let after = d.get("after").and_then(Json::as_str);
                let ty = d.get("type").and_then(Json::as_str).unwrap_or_default();
                let tk = d.get("target_key").and_then(Json::as_str).unwrap_or_default();
                let dk = d.get("doc_key").and_then(Json::as_str).unwrap_or("PolicyDocument");
                let mut props = serde_json::Map::new();
                props.insert(tk.to_string(), d.get("target").cloned().unwrap_or(Json::Null));
                props.insert(dk.to_string(), doc_value);
                let res = json!({"Type": ty, "Properties": props});
                let text = do_insert(&tpl, &[json!("Resources")], &located.resource, &res, after, &st).map_err(err)?;
                notes.push(format!("new {ty} {} added after {}", located.resource, after.unwrap_or("the last resource")));
                (text, vec![json!("Resources"), json!(located.resource), json!("Properties"), json!(dk)], None)
            }
            _ => return Err(err("nothing to patch (internal error: no document and no creation)".into())),
        }
    };
    let text = keep_newlines(&file.text, text);
    let new = reparse(&file.path, &text)?;
    let ctx2 = new.ctx(&sources.live, stack);
    let rendered_after = match new.node_at(&doc_after) {
        Some(n) => ctx2.value(&n.to_json()),
        None => return Err(err("the patched policy cannot be found again (internal error)".into())),
    };
    Ok(Patched {
        located: located.clone(),
        edits: vec![FileEdit { path: file.path.clone(), before: Some(file.text.clone()), after: text }],
        rendered_after,
        rendered_before,
        notes,
    })
}

#[cfg(test)]
mod tests;
