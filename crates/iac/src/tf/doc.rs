//! `data "aws_iam_policy_document"`: the JSON the AWS provider builds from its blocks.

use hcl_edit::structure::Block;
use serde_json::{Map, Value as Json};

use super::render::{un, Ctx};
use crate::model::Unrenderable;

fn one_or_list(v: Vec<Json>) -> Json {
    if v.len() == 1 {
        v.into_iter().next().unwrap_or(Json::Null)
    } else {
        Json::Array(v)
    }
}

fn strings(v: Json) -> Vec<Json> {
    match v {
        Json::Array(l) => l,
        Json::Null => vec![],
        x => vec![x],
    }
}

/// How many statements `source_policy_documents` put before the block's own.
pub fn source_statements(ctx: &Ctx, lvl: usize, b: &Block) -> Result<usize, Unrenderable> {
    Ok(sources(ctx, lvl, b)?.len())
}

fn sources(ctx: &Ctx, lvl: usize, b: &Block) -> Result<Vec<Json>, Unrenderable> {
    let mut out = Vec::new();
    if let Some(a) = b.body.get_attribute("source_policy_documents") {
        for d in strings(ctx.eval_level(lvl, &a.value)?) {
            let s = d.as_str().ok_or_else(|| un(&a.value, "not a JSON string"))?;
            let doc: Json = serde_json::from_str(s).map_err(|x| un(&a.value, format!("not JSON: {x}")))?;
            out.extend(strings(doc.get("Statement").cloned().unwrap_or(Json::Null)));
        }
    }
    Ok(out)
}

/// Render the data source's document.
pub fn render(ctx: &Ctx, lvl: usize, b: &Block) -> Result<Json, Unrenderable> {
    if let Some(a) = b.body.get_attribute("override_policy_documents") {
        return Err(un(&a.value, "override_policy_documents are not rendered"));
    }
    let mut doc = Map::new();
    let version = match b.body.get_attribute("version") {
        Some(a) => ctx.eval_level(lvl, &a.value)?,
        None => Json::String("2012-10-17".into()),
    };
    doc.insert("Version".into(), version);
    if let Some(a) = b.body.get_attribute("policy_id") {
        doc.insert("Id".into(), ctx.eval_level(lvl, &a.value)?);
    }
    let mut stmts = sources(ctx, lvl, b)?;
    for s in b.body.get_blocks("statement") {
        if s.body.get_blocks("dynamic").next().is_some() {
            return Err(un(&s.body, "dynamic blocks are not rendered"));
        }
        let mut st = Map::new();
        let get = |k: &str| -> Result<Option<Json>, Unrenderable> { s.body.get_attribute(k).map(|a| ctx.eval_level(lvl, &a.value)).transpose() };
        if let Some(v) = get("sid")? {
            st.insert("Sid".into(), v);
        }
        st.insert("Effect".into(), get("effect")?.unwrap_or(Json::String("Allow".into())));
        for (k, out) in [("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")] {
            if let Some(v) = get(k)? {
                st.insert(out.into(), one_or_list(strings(v)));
            }
        }
        for (blk, out) in [("principals", "Principal"), ("not_principals", "NotPrincipal")] {
            let mut p = Map::new();
            let mut star = false;
            for pb in s.body.get_blocks(blk) {
                let t = pb.body.get_attribute("type").map(|a| ctx.eval_level(lvl, &a.value)).transpose()?.and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                let ids = pb.body.get_attribute("identifiers").map(|a| ctx.eval_level(lvl, &a.value)).transpose()?.map(strings).unwrap_or_default();
                if t == "*" {
                    star = true;
                    continue;
                }
                let entry = p.entry(t).or_insert(Json::Array(vec![]));
                if let Json::Array(l) = entry {
                    l.extend(ids);
                }
            }
            if star {
                st.insert(out.into(), Json::String("*".into()));
            } else if !p.is_empty() {
                st.insert(out.into(), Json::Object(p.into_iter().map(|(k, v)| (k, one_or_list(strings(v)))).collect()));
            }
        }
        let mut cond = Map::new();
        for cb in s.body.get_blocks("condition") {
            let g = |k: &str| cb.body.get_attribute(k).map(|a| ctx.eval_level(lvl, &a.value)).transpose();
            let test = g("test")?.and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let var = g("variable")?.and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let values = g("values")?.map(strings).unwrap_or_default();
            if let Json::Object(m) = cond.entry(test).or_insert(Json::Object(Map::new())) {
                m.insert(var, one_or_list(values));
            }
        }
        if !cond.is_empty() {
            st.insert("Condition".into(), Json::Object(cond));
        }
        stmts.push(Json::Object(st));
    }
    doc.insert("Statement".into(), Json::Array(stmts));
    Ok(Json::Object(doc))
}
