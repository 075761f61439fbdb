//! In-place edits of the policy expression: an HCL `jsonencode({...})` object, a heredoc's or a
//! policy file's JSON text, a `data "aws_iam_policy_document"`'s blocks. Every edit splices new
//! text at the spans `hcl-edit` reports, so comments, order and layout stay as they were.

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Block, Body};
use hcl_edit::Span;
use serde_json::Value as Json;

use super::jsontext::line_indent;
use super::style::{hcl_key, Style};
use crate::delta::{Op, Seg};

/// Where the policy attribute is: the block, maybe an `inline_policy` block inside it, the attribute.
#[derive(Debug, Clone)]
pub struct Where {
    /// `resource`, `data`.
    pub ident: String,
    /// The block labels.
    pub labels: Vec<String>,
    /// The `inline_policy` block named so.
    pub inline: Option<String>,
    /// The attribute.
    pub attr: String,
}

/// The block `w` names in `body`.
pub fn block<'a>(body: &'a Body, w: &Where) -> Option<&'a Block> {
    let l: Vec<&str> = w.labels.iter().map(String::as_str).collect();
    body.blocks().find(|b| b.ident.as_str() == w.ident && super::hcl::labels(b) == l)
}

/// The policy attribute's expression.
pub fn attr<'a>(body: &'a Body, w: &Where) -> Option<&'a Expression> {
    let b = block(body, w)?;
    match &w.inline {
        None => b.body.get_attribute(&w.attr).map(|a| &a.value),
        Some(n) => b.body.get_blocks("inline_policy").find(|ib| ib.body.get_attribute("name").and_then(|a| a.value.as_str()) == Some(n.as_str()))?.body.get_attribute(&w.attr).map(|a| &a.value),
    }
}

/// The `jsonencode(...)` argument of the policy attribute.
pub fn jsonencode_arg<'a>(body: &'a Body, w: &Where) -> Option<&'a Expression> {
    match attr(body, w)? {
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" && f.args.len() == 1 => f.args.get(0),
        _ => None,
    }
}

fn key_text(k: &ObjectKey) -> Option<String> {
    match k {
        ObjectKey::Ident(i) => Some(i.as_str().to_string()),
        ObjectKey::Expression(Expression::String(s)) => Some(s.value().clone()),
        _ => None,
    }
}

fn find<'a>(e: &'a Expression, path: &[Seg]) -> Option<&'a Expression> {
    let mut cur = e;
    for s in path {
        cur = match (s, cur) {
            (Seg::Key(k), Expression::Object(o)) => o.iter().find(|(ok, _)| key_text(ok).map(|t| t.eq_ignore_ascii_case(k)).unwrap_or(false))?.1.expr(),
            (Seg::Index(i), Expression::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn span(e: &impl Span) -> Result<(usize, usize), String> {
    e.span().map(|r| (r.start, r.end)).ok_or_else(|| "no span".to_string())
}

fn splice(text: &str, s: usize, e: usize, new: &str) -> String {
    format!("{}{}{}", &text[..s], new, &text[e..])
}

/// End of the element at `end`, past a trailing comma if there is one: (position, had comma).
fn past_comma(text: &str, end: usize) -> (usize, bool) {
    let rest = &text[end..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[skipped..].starts_with(',') {
        (end + skipped + 1, true)
    } else {
        (end, false)
    }
}

/// Append `new` (already written) to the HCL array `a` in `text`.
pub fn append_to_array(text: &str, a: &Expression, new_of: &dyn Fn(&str) -> String, style: &Style) -> Result<String, String> {
    let Expression::Array(arr) = a else { return Err("not a list".into()) };
    let (s, e) = span(a)?;
    match arr.iter().last() {
        Some(last) => {
            let (ls, le) = span(last)?;
            let ind = line_indent(text, ls);
            if !text[s..ls].contains('\n') {
                return Ok(splice(text, le, le, &format!(", {}", new_of(&ind))));
            }
            let (at, comma) = past_comma(text, le);
            if comma {
                Ok(splice(text, at, at, &format!("\n{ind}{},", new_of(&ind))))
            } else {
                let tc = if style.trailing_comma { "," } else { "" };
                Ok(splice(text, le, le, &format!(",\n{ind}{}{tc}", new_of(&ind))))
            }
        }
        None => {
            let ind = line_indent(text, s);
            let inner = format!("{ind}{}", style.unit);
            Ok(splice(text, s + 1, e - 1, &format!("\n{inner}{},\n{ind}", new_of(&inner))))
        }
    }
}

/// The style of a sibling object: member commas, one-line small objects.
fn sibling(style: &Style, text: &str, e: Option<&Expression>) -> Style {
    let mut s = style.clone();
    if let Some(Expression::Object(o)) = e {
        s.obj_commas = o.iter().any(|(_, v)| matches!(v.terminator(), hcl_edit::expr::ObjectValueTerminator::Comma));
        let objects: Vec<bool> = o.iter().filter(|(_, v)| v.expr().is_object()).map(|(_, v)| v.expr().span().map(|r| !text[r].contains('\n')).unwrap_or(false)).collect();
        if !objects.is_empty() {
            s.inline_objects = objects.iter().any(|x| *x);
        }
    }
    s
}

/// Apply one op to the `jsonencode` object at `doc` in `text`.
pub fn hcl_op(text: &str, doc: &Expression, op: &Op, style: &Style) -> Result<String, String> {
    let near = match op {
        Op::Append { path, .. } => find(doc, path).and_then(|a| a.as_array()).and_then(|a| a.iter().last()),
        Op::Insert { path, .. } | Op::Promote { path, .. } => find(doc, &path[..path.len().saturating_sub(1)]),
    };
    let style = &sibling(style, text, near);
    match op {
        Op::Append { path, value } => {
            let a = find(doc, path).ok_or_else(|| format!("{} is not a literal list in the HCL", show(path)))?;
            append_to_array(text, a, &|ind| style.hcl(value, ind), style)
        }
        Op::Insert { path, key, value } => {
            let o = find(doc, path).ok_or_else(|| format!("{} is not a literal object in the HCL", show(path)))?;
            let Expression::Object(obj) = o else { return Err(format!("{} is not a literal object in the HCL", show(path))) };
            let (s, e) = span(o)?;
            let k = hcl_key(key);
            match obj.iter().last() {
                Some((lk, lv)) => {
                    let (ks, _) = span(lk)?;
                    let (_, ve) = span(lv.expr())?;
                    let ind = line_indent(text, ks);
                    if !text[s..ve].contains('\n') {
                        let (at, _) = past_comma(text, ve);
                        return Ok(splice(text, at, at, &format!("{} {k} = {}", if at == ve { "," } else { "" }, style.hcl(value, &ind))));
                    }
                    let (at, comma) = past_comma(text, ve);
                    Ok(splice(text, at, at, &format!("\n{ind}{k} = {}{}", style.hcl(value, &ind), if comma { "," } else { "" })))
                }
                None => {
                    let ind = line_indent(text, s);
                    let inner = format!("{ind}{}", style.unit);
                    Ok(splice(text, s + 1, e - 1, &format!("\n{inner}{k} = {}\n{ind}", style.hcl(value, &inner))))
                }
            }
        }
        Op::Promote { path, added } => {
            let x = find(doc, path).ok_or_else(|| format!("{} is not a literal value in the HCL", show(path)))?;
            if x.is_array() {
                return Err(format!("{} is already a list", show(path)));
            }
            let (s, e) = span(x)?;
            // Inside a one-line object, the list stays on the line.
            let parent_one_line = find(doc, &path[..path.len().saturating_sub(1)]).and_then(|p| p.span()).map(|r| !text[r].contains('\n')).unwrap_or(false);
            if parent_one_line && !text[s..e].contains('\n') {
                let mut items = vec![text[s..e].to_string()];
                items.extend(added.iter().map(|a| style.hcl(a, "")));
                return Ok(splice(text, s, e, &format!("[{}]", items.join(", "))));
            }
            let ind = line_indent(text, s);
            let inner = format!("{ind}{}", style.unit);
            let old = text[s..e].replace('\n', &format!("\n{}", style.unit));
            let mut new = format!("[\n{inner}{old}");
            for a in added {
                new.push_str(&format!(",\n{inner}{}", style.hcl(a, &inner)));
            }
            if style.trailing_comma {
                new.push(',');
            }
            new.push_str(&format!("\n{ind}]"));
            Ok(splice(text, s, e, &new))
        }
    }
}

/// `Statement.0.Condition`.
pub fn show(path: &[Seg]) -> String {
    path.iter().map(|s| match s {
        Seg::Key(k) => k.clone(),
        Seg::Index(i) => i.to_string(),
    }).collect::<Vec<_>>().join(".")
}

/// A JSON value written for a heredoc (references interpolated).
pub fn heredoc_value(v: &Json, ind: &str, style: &Style) -> String {
    match v {
        Json::String(s) => style.heredoc_string(s),
        Json::Array(l) if l.is_empty() => "[]".into(),
        Json::Object(o) if o.is_empty() => "{}".into(),
        Json::Array(l) => {
            let inner = format!("{ind}{}", style.unit);
            let items: Vec<String> = l.iter().map(|x| format!("{inner}{}", heredoc_value(x, &inner, style))).collect();
            format!("[\n{}\n{ind}]", items.join(",\n"))
        }
        Json::Object(o) => {
            let inner = format!("{ind}{}", style.unit);
            let items: Vec<String> = o.iter().map(|(k, x)| format!("{inner}{}: {}", Json::String(k.clone()), heredoc_value(x, &inner, style))).collect();
            format!("{{\n{}\n{ind}}}", items.join(",\n"))
        }
        other => other.to_string(),
    }
}

/// The byte range of a heredoc's body (the lines between `<<EOF` and `EOF`) in `text`.
pub fn heredoc_body(text: &str, h: &Expression) -> Result<(usize, usize), String> {
    let (s, e) = span(h)?;
    let raw = &text[s..e];
    let first = raw.find('\n').ok_or("a heredoc without lines")? + 1;
    let last = raw.trim_end().rfind('\n').ok_or("a heredoc without an end")? + 1;
    if last < first {
        return Err("an empty heredoc".into());
    }
    Ok((s + first, s + last))
}
