//! Terraform: map a target to its resource address through the state, find the block in the .tf
//! files, patch it with a format-preserving HCL editor, render the patched policy with the state's values.
//!
//! Layout: [`state`] (both state formats), [`locate`] (slot → instance → block), [`hcl`] (module
//! files), [`render`] and [`funcs`] and [`doc`] (evaluation), [`edit`], [`docedit`] and
//! [`jsontext`] (in-place edits), [`create`] (new resources and blocks), [`style`].

pub mod create;
pub mod doc;
pub mod docedit;
pub mod edit;
pub mod funcs;
pub mod hcl;
pub mod jsontext;
pub mod locate;
pub mod render;
pub mod state;
pub mod style;
#[cfg(test)]
mod tests;

use hcl_edit::expr::{Expression, TraversalOperator};
use serde_json::Value as Json;

use crate::model::{Backend, FileEdit, IacError, Located, Patched, SourceFile, Sources, Tool, Unrenderable, Wanted};
use edit::Where;
use locate::{Detail, Form};
use render::{Ctx, Level};
use state::{Instance, State};
use style::Style;

/// The Terraform backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct Terraform;

impl Backend for Terraform {
    fn tool(&self) -> Tool {
        Tool::Terraform
    }

    fn locate(&self, wanted: &Wanted, sources: &Sources) -> (Vec<Located>, Vec<IacError>) {
        let (states, mut errs) = locate::states(sources);
        let mut out = Vec::new();
        for st in &states {
            for (inst, form, attr, policy_name) in locate::matches(st, &wanted.slot) {
                let levels = match locate::levels(sources, &st.dir, &inst.module) {
                    Ok(l) => l,
                    Err(e) => {
                        errs.push(e);
                        continue;
                    }
                };
                let Some(level) = levels.last() else { continue };
                match locate::resource_block(&level.files, &inst.rtype, &inst.name) {
                    Some((fi, _)) if out.iter().any(|l: &Located| l.file == level.files[fi].path && l.resource == inst.address()) => {}
                    Some((fi, _)) => {
                        let detail = Detail { state: st.origin.clone(), dirs: levels.iter().map(|l| l.dir.clone()).collect(), module: inst.module.clone(), rtype: inst.rtype.clone(), name: inst.name.clone(), key: inst.key.clone(), form, attr, policy_name };
                        out.push(Located { tool: Tool::Terraform, file: level.files[fi].path.clone(), resource: inst.address(), stack: None, detail: serde_json::to_value(detail).unwrap_or(Json::Null) });
                    }
                    None => errs.push(IacError::new(
                        if level.dir.is_empty() { "." } else { &level.dir },
                        inst.address(),
                        format!("the state {} has it but no .tf file of the folder declares resource \"{}\" \"{}\"", st.origin, inst.rtype, inst.name),
                    )),
                }
            }
        }
        (out, errs)
    }

    fn patch(&self, wanted: &Wanted, located: &Located, sources: &Sources) -> Result<Patched, IacError> {
        let fail = |m: String| IacError::new(&located.file, &located.resource, m);
        let d: Detail = serde_json::from_value(located.detail.clone()).map_err(|e| fail(format!("not a Terraform location: {e}")))?;
        let (states, _) = locate::states(sources);
        let st = states.iter().find(|s| s.origin == d.state).ok_or_else(|| fail(format!("the state {} is gone", d.state)))?;
        let inst = st.instances.iter().find(|i| i.module == d.module && i.mode == "managed" && i.rtype == d.rtype && i.name == d.name && i.key == d.key).ok_or_else(|| fail("the instance is not in the state".into()))?;
        let w = Where { ident: "resource".into(), labels: vec![d.rtype.clone(), d.name.clone()], inline: (d.form == Form::InlineBlock).then(|| d.policy_name.clone()), attr: d.attr.clone() };
        match d.form {
            Form::Attr | Form::InlineBlock => patch_existing(wanted, located, sources, st, inst, &w),
            Form::CreateInline | Form::CreatePolicy => create::create(wanted, located, sources, st, inst, &d),
        }
    }
}

/// The evaluation context of `inst` over `sources`.
pub(crate) fn context<'a>(sources: &'a Sources, st: &'a State, inst: &Instance, located: &Located) -> Result<Ctx<'a>, IacError> {
    let levels = locate::levels(sources, &st.dir, &inst.module)?;
    let mut ctx = Ctx::new(sources, st, levels);
    if let Some(k) = &inst.key {
        let files = &ctx.levels[ctx.levels.len() - 1].files;
        let block = locate::resource_block(files, &inst.rtype, &inst.name).map(|x| x.1.clone());
        match k {
            Json::Number(_) => ctx.count = Some(k.clone()),
            _ => {
                let value = block
                    .and_then(|b| b.body.get_attribute("for_each").map(|a| a.value.clone()))
                    .and_then(|e| ctx.eval(&e).ok())
                    .and_then(|m| match m {
                        Json::Object(o) => o.get(k.as_str().unwrap_or_default()).cloned(),
                        _ => Some(k.clone()),
                    })
                    .unwrap_or(k.clone());
                ctx.each = Some((k.clone(), value));
            }
        }
    }
    let _ = located;
    Ok(ctx)
}

/// Render a policy expression: a JSON string (jsonencode, heredoc, file) or an object.
pub(crate) fn render_policy(ctx: &Ctx, e: &Expression) -> Result<Json, Unrenderable> {
    match ctx.eval(e)? {
        Json::String(s) => serde_json::from_str(&s).map_err(|x| Unrenderable { expression: e.to_string().trim().to_string(), reason: format!("does not render to JSON: {x}") }),
        o @ Json::Object(_) => Ok(o),
        other => Err(Unrenderable { expression: e.to_string().trim().to_string(), reason: format!("renders to {other}, not a policy") }),
    }
}

/// The sources with `edits` applied.
pub(crate) fn with_edits(sources: &Sources, edits: &[FileEdit]) -> Sources {
    let mut s = sources.clone();
    for e in edits {
        match s.files.iter_mut().find(|f| f.path == e.path) {
            Some(f) => f.text = e.after.clone(),
            None => s.files.push(SourceFile { path: e.path.clone(), text: e.after.clone() }),
        }
    }
    s
}

enum Shape {
    JsonEncode,
    Heredoc,
    Document(String),
    File(String, bool),
}

fn shape(ctx: &Ctx, e: &Expression) -> Result<Shape, String> {
    match e {
        Expression::FuncCall(f) if f.name.name.as_str() == "jsonencode" && f.args.get(0).map(|a| a.is_object()).unwrap_or(false) => Ok(Shape::JsonEncode),
        Expression::FuncCall(f) if matches!(f.name.name.as_str(), "file" | "templatefile") => {
            let arg = f.args.get(0).ok_or("file() without a path")?;
            let p = ctx.eval(arg).map_err(|u| format!("the policy file path {} cannot be resolved: {}", u.expression, u.reason))?;
            let p = p.as_str().ok_or("the policy file path is not a string")?;
            let p = hcl::join("", p).ok_or("the policy file path leaves the IaC folder")?;
            Ok(Shape::File(p, f.name.name.as_str() == "templatefile"))
        }
        Expression::HeredocTemplate(_) => Ok(Shape::Heredoc),
        Expression::Traversal(t) => {
            let names: Vec<&str> = std::iter::once(t.expr.as_variable().map(|v| v.as_str()).unwrap_or(""))
                .chain(t.operators.iter().map(|o| match o.value() {
                    TraversalOperator::GetAttr(a) => a.as_str(),
                    _ => "?",
                }))
                .collect();
            match names.as_slice() {
                ["data", "aws_iam_policy_document", n, "json" | "minified_json"] => Ok(Shape::Document(n.to_string())),
                _ => Err(format!("the policy is `{}`: not a form denyctl edits in place (jsonencode, heredoc, aws_iam_policy_document, file)", e.to_string().trim())),
            }
        }
        _ => Err(format!("the policy is `{}`: not a form denyctl edits in place (jsonencode, heredoc, aws_iam_policy_document, file)", e.to_string().trim())),
    }
}

fn reparse(path: &str, text: &str) -> Result<hcl_edit::structure::Body, String> {
    hcl_edit::parser::parse_body(text).map_err(|e| format!("{path}: the patched text does not parse ({})", e.to_string().lines().next().unwrap_or("")))
}

fn patch_existing(wanted: &Wanted, located: &Located, sources: &Sources, st: &State, inst: &Instance, w: &Where) -> Result<Patched, IacError> {
    let fail = |m: String| IacError::new(&located.file, &located.resource, m);
    let ctx = context(sources, st, inst, located)?;
    let lvl = ctx.levels.len() - 1;
    let level: &Level = &ctx.levels[lvl];
    let file = level.files.iter().find(|f| f.path == located.file).ok_or_else(|| fail("the file is gone".into()))?;
    let expr = edit::attr(&file.body, w).ok_or_else(|| fail(format!("the block has no `{}` attribute", w.attr)))?;
    let before = render_policy(&ctx, expr);
    let style = Style::of(level, st);
    let sh = shape(&ctx, expr).map_err(fail)?;
    let mut notes = Vec::new();
    let (path, original) = match &sh {
        Shape::File(p, _) => (p.clone(), sources.file(p).map(|f| f.text.clone()).ok_or_else(|| fail(format!("the policy file {p} is not among the files read")))?),
        Shape::Document(n) => {
            let (fi, _) = hcl::find_block(&level.files, "data", &["aws_iam_policy_document", n]).ok_or_else(|| fail(format!("data.aws_iam_policy_document.{n} is not declared in {}", if level.dir.is_empty() { "." } else { &level.dir })))?;
            (level.files[fi].path.clone(), level.files[fi].text.clone())
        }
        _ => (file.path.clone(), file.text.clone()),
    };
    let mut text = original.clone();
    for op in &wanted.edit.ops {
        text = match &sh {
            Shape::JsonEncode => {
                let body = reparse(&path, &text).map_err(&fail)?;
                let doc = edit::jsonencode_arg(&body, w).ok_or_else(|| fail("the jsonencode() object is gone".into()))?;
                edit::hcl_op(&text, doc, op, &style).map_err(&fail)?
            }
            Shape::Heredoc => {
                let body = reparse(&path, &text).map_err(&fail)?;
                let h = edit::attr(&body, w).ok_or_else(|| fail("the heredoc is gone".into()))?;
                let (s, e) = edit::heredoc_body(&text, h).map_err(&fail)?;
                let fmt = |v: &Json, ind: &str| edit::heredoc_value(v, ind, &style);
                let inner = jsontext::apply_op(&text[s..e], op, &fmt).map_err(|m| fail(format!("the heredoc's JSON: {m}")))?;
                format!("{}{}{}", &text[..s], inner, &text[e..])
            }
            Shape::File(_, templ) => {
                let plain = Style { unit: jsontext::unit_of(&text), ..Style::default() };
                let fmt = |v: &Json, ind: &str| if *templ { edit::heredoc_value(v, ind, &plain) } else { jsontext::pretty(v, ind, &plain.unit) };
                jsontext::apply_op(&text, op, &fmt).map_err(|m| fail(format!("{path}: {m}")))?
            }
            Shape::Document(n) => {
                let body = reparse(&path, &text).map_err(&fail)?;
                let b = body.blocks().find(|b| b.ident.as_str() == "data" && hcl::labels(b) == ["aws_iam_policy_document", n.as_str()]).ok_or_else(|| fail("the data source is gone".into()))?;
                let skip = doc::source_statements(&ctx, lvl, b).map_err(|u| fail(format!("source_policy_documents cannot be rendered: {} ({})", u.expression, u.reason)))?;
                docedit::doc_op(&text, b, op, &style, skip).map_err(|m| fail(format!("data.aws_iam_policy_document.{n}: {m}")))?
            }
        };
    }
    if path.ends_with(".tf") {
        reparse(&path, &text).map_err(&fail)?;
    } else if !matches!(sh, Shape::File(_, true)) {
        serde_json::from_str::<Json>(&text).map_err(|e| fail(format!("{path}: the patched JSON does not parse ({e})")))?;
    }
    let edits = vec![FileEdit { path: path.clone(), before: Some(original), after: text }];
    let patched_sources = with_edits(sources, &edits);
    let after = {
        let ctx2 = context(&patched_sources, st, inst, located)?;
        let f2 = ctx2.levels[ctx2.levels.len() - 1].files.iter().find(|f| f.path == located.file).ok_or_else(|| fail("the file is gone".into()))?;
        let e2 = edit::attr(&f2.body, w).ok_or_else(|| fail("the policy attribute is gone".into()))?;
        render_policy(&ctx2, e2)
    };
    if let Shape::Document(n) = &sh {
        let needle = format!("data.aws_iam_policy_document.{n}.");
        let uses: usize = level.files.iter().map(|f| f.text.matches(&needle).count()).sum();
        if uses > 1 {
            notes.push(format!("data.aws_iam_policy_document.{n} is used {uses} times in the module: the edit applies to every policy built from it"));
        }
    }
    notes.push(match &sh {
        Shape::JsonEncode => "edited the jsonencode() object".to_string(),
        Shape::Heredoc => "edited the heredoc JSON".to_string(),
        Shape::Document(n) => format!("edited data.aws_iam_policy_document.{n}"),
        Shape::File(p, t) => format!("edited the policy file {p}{}", if *t { " (templatefile)" } else { "" }),
    });
    if let Shape::Document(n) = &sh {
        let needle = format!("data.aws_iam_policy_document.{n}.");
        let uses: usize = level.files.iter().map(|f| f.text.matches(&needle).count()).sum();
        if uses > 1 {
            notes.push(format!("data.aws_iam_policy_document.{n} is used {uses} times in the module: the edit applies to every policy built from it"));
        }
    }
    if let Some(k) = &inst.key {
        notes.push(format!("{} is instance {k} of a block with count/for_each: the edit applies to every instance of {}", located.resource, w.labels.join(".")));
    }
    if let (Ok(b), Some(live)) = (&before, &wanted.edit.before) {
        if !crate::delta::same_policy(b, live) {
            notes.push("the configuration's policy already differs from the live policy (drift)".into());
        }
    }
    Ok(Patched { located: located.clone(), edits, rendered_after: after, rendered_before: Some(before), notes })
}
