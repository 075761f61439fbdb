//! Edits of a `data "aws_iam_policy_document"`: a new `statement` block, a new `condition`
//! block, or values appended to an existing condition's `values`.

use hcl_edit::structure::{Block, Body};
use hcl_edit::Span;
use serde_json::{Map, Value as Json};

use super::edit::{append_to_array, show};
use super::jsontext::line_indent;
use super::style::Style;
use crate::delta::{Op, Seg};

fn strs(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(l) => l.clone(),
        x => vec![x.clone()],
    }
}

fn list(style: &Style, v: &Json, ind: &str) -> String {
    style.hcl(&Json::Array(strs(v)), ind)
}

/// A `condition` block per test/variable of `cond`, at `ind`.
fn conditions(style: &Style, test: &str, vars: &Map<String, Json>, ind: &str) -> Vec<String> {
    let inner = format!("{ind}{}", style.unit);
    vars.iter()
        .map(|(var, vals)| {
            let rows = vec![("test".to_string(), style.hcl_string(test)), ("variable".to_string(), style.hcl_string(var)), ("values".to_string(), list(style, vals, &inner))];
            format!("{ind}condition {{\n{}\n{ind}}}", style.attrs(&rows, &inner))
        })
        .collect()
}

/// A `statement { ... }` block for a policy statement, at `ind`.
pub fn statement(style: &Style, st: &Json, ind: &str) -> Result<String, String> {
    let o = st.as_object().ok_or("a statement that is not an object")?;
    let inner = format!("{ind}{}", style.unit);
    let mut rows = Vec::new();
    let mut blocks = Vec::new();
    for (k, v) in o {
        match k.to_ascii_lowercase().as_str() {
            "sid" => rows.push(("sid".to_string(), style.hcl(v, &inner))),
            "effect" => rows.push(("effect".to_string(), style.hcl(v, &inner))),
            "action" => rows.push(("actions".to_string(), list(style, v, &inner))),
            "notaction" => rows.push(("not_actions".to_string(), list(style, v, &inner))),
            "resource" => rows.push(("resources".to_string(), list(style, v, &inner))),
            "notresource" => rows.push(("not_resources".to_string(), list(style, v, &inner))),
            p @ ("principal" | "notprincipal") => {
                let name = if p == "principal" { "principals" } else { "not_principals" };
                let i2 = format!("{inner}{}", style.unit);
                let pairs: Vec<(String, Json)> = match v {
                    Json::String(s) if s == "*" => vec![("*".into(), Json::String("*".into()))],
                    Json::Object(m) => m.iter().map(|(t, ids)| (t.clone(), ids.clone())).collect(),
                    _ => return Err("a principal that is neither \"*\" nor an object".into()),
                };
                for (t, ids) in pairs {
                    let r = vec![("type".to_string(), style.hcl_string(&t)), ("identifiers".to_string(), list(style, &ids, &i2))];
                    blocks.push(format!("{inner}{name} {{\n{}\n{inner}}}", style.attrs(&r, &i2)));
                }
            }
            "condition" => {
                for (test, vars) in v.as_object().ok_or("a condition that is not an object")? {
                    blocks.extend(conditions(style, test, vars.as_object().ok_or("a condition operator that is not an object")?, &inner));
                }
            }
            other => return Err(format!("the statement element {other} has no aws_iam_policy_document form")),
        }
    }
    let mut body = style.attrs(&rows, &inner);
    for b in blocks {
        body.push_str("\n\n");
        body.push_str(&b);
    }
    Ok(format!("{ind}statement {{\n{body}\n{ind}}}"))
}

fn span(b: &impl Span) -> Result<(usize, usize), String> {
    b.span().map(|r| (r.start, r.end)).ok_or_else(|| "no span".to_string())
}

/// Insert `blocks` (each already indented) before the closing brace of `b`.
fn add_blocks(text: &str, b: &Block, blocks: &[String]) -> Result<String, String> {
    let (_, e) = span(b)?;
    let close = text[..e].rfind('}').ok_or("a block without `}`")?;
    let line_start = text[..close].rfind('\n').map(|i| i + 1).unwrap_or(close);
    let mut ins = String::new();
    for bl in blocks {
        ins.push_str("\n\n");
        ins.push_str(bl);
    }
    if !text[line_start..close].trim().is_empty() {
        ins.push('\n');
        return Ok(format!("{}{}{}", &text[..close], ins, &text[close..]));
    }
    let at = line_start.saturating_sub(1);
    Ok(format!("{}{}{}", &text[..at], ins, &text[at..]))
}

fn statements(doc: &Block) -> Vec<&Block> {
    doc.body.get_blocks("statement").collect()
}

fn str_attr(b: &Body, k: &str) -> Option<String> {
    b.get_attribute(k).and_then(|a| a.value.as_str().map(String::from))
}

/// Apply one op to the data source block `doc` (found again in `text` by the caller).
/// `skip` statements come first from `source_policy_documents`.
pub fn doc_op(text: &str, doc: &Block, op: &Op, style: &Style, skip: usize) -> Result<String, String> {
    let stmt = |i: usize| -> Result<&Block, String> {
        if i < skip {
            return Err(format!("statement {i} comes from source_policy_documents: edit that document"));
        }
        statements(doc).get(i - skip).copied().ok_or_else(|| format!("statement {i} is not a literal `statement` block"))
    };
    let ind_of = |b: &Block| -> Result<String, String> { Ok(line_indent(text, span(b)?.0)) };
    match op {
        Op::Append { path, value } if matches!(path.as_slice(), [Seg::Key(k)] if k.eq_ignore_ascii_case("Statement")) => {
            let last = statements(doc).last().copied();
            let ind = match last {
                Some(b) => ind_of(b)?,
                None => format!("{}{}", ind_of(doc)?, style.unit),
            };
            let st = statement(style, value, &ind)?;
            match last {
                Some(b) => {
                    let (_, e) = span(b)?;
                    Ok(format!("{}\n\n{st}{}", &text[..e], &text[e..]))
                }
                None => add_blocks(text, doc, &[st]),
            }
        }
        Op::Append { path, .. } | Op::Promote { path, .. } if path.len() == 5 => {
            let [Seg::Key(s), Seg::Index(i), Seg::Key(c), Seg::Key(test), Seg::Key(var)] = path.as_slice() else {
                return Err(format!("{} has no aws_iam_policy_document form", show(path)));
            };
            if !s.eq_ignore_ascii_case("Statement") || !c.eq_ignore_ascii_case("Condition") {
                return Err(format!("{} has no aws_iam_policy_document form", show(path)));
            }
            let added: Vec<Json> = match op {
                Op::Promote { added, .. } => added.clone(),
                Op::Append { value, .. } => vec![value.clone()],
                Op::Insert { .. } => vec![],
            };
            let b = stmt(*i)?;
            let cb = b
                .body
                .get_blocks("condition")
                .find(|cb| str_attr(&cb.body, "test").as_deref() == Some(test.as_str()) && str_attr(&cb.body, "variable").as_deref() == Some(var.as_str()))
                .ok_or_else(|| format!("no literal condition block {test} {var} in statement {i}"))?;
            let values = cb.body.get_attribute("values").ok_or("a condition block without values")?;
            // The added values are written as one tail of the list.
            let written: Vec<String> = added.iter().map(|v| style.hcl(v, "")).collect();
            let joined = written.join(", ");
            append_to_array(text, &values.value, &|_| joined.clone(), style)
        }
        Op::Insert { path, key, value } => {
            let (i, cond): (usize, Map<String, Json>) = match path.as_slice() {
                [Seg::Key(s), Seg::Index(i)] if s.eq_ignore_ascii_case("Statement") && key.eq_ignore_ascii_case("Condition") => (*i, value.as_object().cloned().ok_or("a condition that is not an object")?),
                [Seg::Key(s), Seg::Index(i), Seg::Key(c)] if s.eq_ignore_ascii_case("Statement") && c.eq_ignore_ascii_case("Condition") => (*i, [(key.clone(), value.clone())].into_iter().collect()),
                [Seg::Key(s), Seg::Index(i), Seg::Key(c), Seg::Key(t)] if s.eq_ignore_ascii_case("Statement") && c.eq_ignore_ascii_case("Condition") => {
                    let mut m = Map::new();
                    let mut inner = Map::new();
                    inner.insert(key.clone(), value.clone());
                    m.insert(t.clone(), Json::Object(inner));
                    (*i, m)
                }
                _ => return Err(format!("adding {key} at {} has no aws_iam_policy_document form", show(path))),
            };
            let b = stmt(i)?;
            let ind = format!("{}{}", ind_of(b)?, style.unit);
            let mut blocks = Vec::new();
            for (test, vars) in &cond {
                blocks.extend(conditions(style, test, vars.as_object().ok_or("a condition operator that is not an object")?, &ind));
            }
            add_blocks(text, b, &blocks)
        }
        _ => Err(format!("this change ({op:?}) has no aws_iam_policy_document form")),
    }
}
