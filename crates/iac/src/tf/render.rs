//! Evaluate Terraform expressions to JSON with the state's values: literals, templates,
//! references to resources and data sources, `var.`, `local.`, `each.`, `count.`, `path.module`,
//! and the functions policies use. Anything else is [`Unrenderable`], naming the expression.

use std::cell::Cell;

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::structure::Block;
use hcl_edit::template::{Element, Template};
use serde_json::{Map, Value as Json};

use super::hcl::{self, TfFile};
use super::state::State;
use crate::model::{Sources, Unrenderable};

/// One module level: its folder, module path, files, and the `module` block calling it.
#[derive(Debug, Clone)]
pub struct Level {
    /// The module folder.
    pub dir: String,
    /// The module path from the root.
    pub module: Vec<String>,
    /// Its parsed `.tf` files.
    pub files: Vec<TfFile>,
    /// The `module "x" {}` block in the parent level calling it (none at the root).
    pub call: Option<Block>,
}

/// The evaluation context of one resource instance.
pub struct Ctx<'a> {
    /// The sources (for `file()`, `.tfvars`).
    pub sources: &'a Sources,
    /// The state.
    pub state: &'a State,
    /// Root first.
    pub levels: Vec<Level>,
    /// `each.key`, `each.value`.
    pub each: Option<(Json, Json)>,
    /// `count.index`.
    pub count: Option<Json>,
    depth: Cell<usize>,
}

pub(super) fn un(e: &dyn std::fmt::Display, reason: impl Into<String>) -> Unrenderable {
    Unrenderable { expression: e.to_string().trim().to_string(), reason: reason.into() }
}

/// A JSON value as a template string.
pub fn as_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl<'a> Ctx<'a> {
    /// A context over `levels` (root first).
    pub fn new(sources: &'a Sources, state: &'a State, levels: Vec<Level>) -> Self {
        Ctx { sources, state, levels, each: None, count: None, depth: Cell::new(0) }
    }

    /// Evaluate at the innermost level.
    pub fn eval(&self, e: &Expression) -> Result<Json, Unrenderable> {
        self.eval_at(self.levels.len().saturating_sub(1), e, None)
    }

    /// Evaluate a template text (`templatefile`) with `vars` as its only variables.
    pub fn eval_template(&self, t: &Template, vars: &Map<String, Json>) -> Result<String, Unrenderable> {
        self.template(self.levels.len().saturating_sub(1), t, Some(vars))
    }

    fn template(&self, lvl: usize, t: &Template, tv: Option<&Map<String, Json>>) -> Result<String, Unrenderable> {
        let mut s = String::new();
        for el in t.iter() {
            match el {
                Element::Literal(l) => s.push_str(l.value()),
                Element::Interpolation(i) => {
                    let v = self.eval_at(lvl, &i.expr, tv)?;
                    s.push_str(&as_text(&v).ok_or_else(|| un(&i.expr, "not a string"))?);
                }
                Element::Directive(_) => return Err(un(t, "template directives (%{...}) are not rendered")),
            }
        }
        Ok(s)
    }

    pub(super) fn eval_at(&self, lvl: usize, e: &Expression, tv: Option<&Map<String, Json>>) -> Result<Json, Unrenderable> {
        let d = self.depth.get();
        if d > 48 {
            return Err(un(e, "references nest too deep (a cycle?)"));
        }
        self.depth.set(d + 1);
        let r = self.eval_inner(lvl, e, tv);
        self.depth.set(d);
        r
    }

    fn eval_inner(&self, lvl: usize, e: &Expression, tv: Option<&Map<String, Json>>) -> Result<Json, Unrenderable> {
        match e {
            Expression::Null(_) => Ok(Json::Null),
            Expression::Bool(b) => Ok(Json::Bool(*b.value())),
            Expression::Number(n) => serde_json::from_str(&n.value().to_string()).map_err(|_| un(e, "not a number")),
            Expression::String(s) => Ok(Json::String(s.value().clone())),
            Expression::Array(a) => a.iter().map(|x| self.eval_at(lvl, x, tv)).collect::<Result<Vec<_>, _>>().map(Json::Array),
            Expression::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(i) => i.as_str().to_string(),
                        ObjectKey::Expression(x) => as_text(&self.eval_at(lvl, x, tv)?).ok_or_else(|| un(x, "not a string key"))?,
                    };
                    m.insert(key, self.eval_at(lvl, v.expr(), tv)?);
                }
                Ok(Json::Object(m))
            }
            Expression::StringTemplate(t) => {
                let mut s = String::new();
                for el in t.iter() {
                    match el {
                        Element::Literal(l) => s.push_str(l.value()),
                        Element::Interpolation(i) => {
                            let v = self.eval_at(lvl, &i.expr, tv)?;
                            s.push_str(&as_text(&v).ok_or_else(|| un(&i.expr, "not a string"))?);
                        }
                        Element::Directive(_) => return Err(un(e, "template directives (%{...}) are not rendered")),
                    }
                }
                Ok(Json::String(s))
            }
            Expression::HeredocTemplate(h) => Ok(Json::String(self.template(lvl, &h.template, tv)?)),
            Expression::Parenthesis(p) => self.eval_at(lvl, p.inner(), tv),
            Expression::Variable(v) => match tv.and_then(|m| m.get(v.as_str())) {
                Some(x) => Ok(x.clone()),
                None => Err(un(e, "an unknown name")),
            },
            Expression::Traversal(t) => {
                let mut ops = t.operators.iter().map(|o| o.value());
                let mut cur = match (&t.expr, tv) {
                    (Expression::Variable(v), None) => self.root(lvl, v.as_str(), &mut ops, e)?,
                    (Expression::Variable(v), Some(m)) => m.get(v.as_str()).cloned().ok_or_else(|| un(e, "an unknown template variable"))?,
                    (x, _) => self.eval_at(lvl, x, tv)?,
                };
                for op in ops {
                    cur = match op {
                        TraversalOperator::GetAttr(a) => cur.get(a.as_str()).cloned().ok_or_else(|| un(e, format!("no attribute {} in the state", a.as_str())))?,
                        TraversalOperator::Index(ix) => {
                            let k = self.eval_at(lvl, ix, tv)?;
                            match (&cur, &k) {
                                (Json::Array(l), Json::Number(n)) => n.as_u64().and_then(|i| l.get(i as usize)).cloned(),
                                (Json::Object(o), k) => as_text(k).and_then(|k| o.get(&k).cloned()),
                                _ => None,
                            }
                            .ok_or_else(|| un(e, "no such element in the state"))?
                        }
                        TraversalOperator::LegacyIndex(i) => cur.get(*i.value() as usize).cloned().ok_or_else(|| un(e, "no such element"))?,
                        _ => return Err(un(e, "splat expressions are not rendered")),
                    };
                }
                Ok(cur)
            }
            Expression::FuncCall(f) => self.call(lvl, f, tv, e),
            _ => Err(un(e, "this kind of expression is not rendered")),
        }
    }

    fn root(&self, lvl: usize, name: &str, ops: &mut dyn Iterator<Item = &TraversalOperator>, e: &Expression) -> Result<Json, Unrenderable> {
        let mut attr = |what: &str| -> Result<String, Unrenderable> {
            match ops.next() {
                Some(TraversalOperator::GetAttr(a)) => Ok(a.as_str().to_string()),
                _ => Err(un(e, format!("expected {what}"))),
            }
        };
        let level = self.levels.get(lvl).ok_or_else(|| un(e, "no module"))?;
        match name {
            "var" => {
                let n = attr("a variable name")?;
                self.variable(lvl, &n, e)
            }
            "local" => {
                let n = attr("a local name")?;
                for f in &level.files {
                    for b in f.body.get_blocks("locals") {
                        if let Some(a) = b.body.get_attribute(&n) {
                            return self.eval_at(lvl, &a.value, None);
                        }
                    }
                }
                Err(un(e, format!("local.{n} is not defined")))
            }
            "each" => {
                let n = attr("key or value")?;
                match (&self.each, n.as_str()) {
                    (Some((k, _)), "key") => Ok(k.clone()),
                    (Some((_, v)), "value") => Ok(v.clone()),
                    _ => Err(un(e, "no for_each instance here")),
                }
            }
            "count" => self.count.clone().ok_or_else(|| un(e, "no count instance here")),
            "path" => {
                let n = attr("module or root")?;
                let d = if n == "root" { &self.levels[0].dir } else { &level.dir };
                Ok(Json::String(if d.is_empty() { ".".into() } else { d.clone() }))
            }
            "terraform" | "module" | "self" => Err(un(e, format!("{name}.* values are not in the state"))),
            "data" => {
                let t = attr("a data source type")?;
                let n = attr("a data source name")?;
                self.resource(lvl, "data", &t, &n, e)
            }
            t => {
                let n = attr("a resource name")?;
                self.resource(lvl, "managed", t, &n, e)
            }
        }
    }

    fn resource(&self, lvl: usize, mode: &str, t: &str, n: &str, e: &Expression) -> Result<Json, Unrenderable> {
        let module = &self.levels[lvl].module;
        let found: Vec<_> = self.state.instances.iter().filter(|i| &i.module == module && i.mode == mode && i.rtype == t && i.name == n).collect();
        // A policy document is built from the configuration (it may be the part being patched).
        if mode == "data" && t == "aws_iam_policy_document" && hcl::find_block(&self.levels[lvl].files, "data", &[t, n]).is_some() {
            return self.policy_document(lvl, n, e);
        }
        if found.is_empty() {
            return Err(un(e, format!("{} is not in the state {}", if mode == "data" { format!("data.{t}.{n}") } else { format!("{t}.{n}") }, self.state.origin)));
        }
        match &found[0].key {
            None => Ok(found[0].attrs.clone()),
            Some(Json::String(_)) => Ok(Json::Object(found.iter().filter_map(|i| Some((i.key.as_ref()?.as_str()?.to_string(), i.attrs.clone()))).collect())),
            Some(_) => {
                let mut v: Vec<_> = found.iter().map(|i| (i.key.as_ref().and_then(Json::as_u64).unwrap_or(0), i.attrs.clone())).collect();
                v.sort_by_key(|x| x.0);
                Ok(Json::Array(v.into_iter().map(|x| x.1).collect()))
            }
        }
    }

    fn policy_document(&self, lvl: usize, n: &str, e: &Expression) -> Result<Json, Unrenderable> {
        let (_, b) = hcl::find_block(&self.levels[lvl].files, "data", &["aws_iam_policy_document", n]).ok_or_else(|| un(e, format!("data.aws_iam_policy_document.{n} is not defined")))?;
        let doc = super::doc::render(self, lvl, b)?;
        let mut m = Map::new();
        m.insert("json".into(), Json::String(doc.to_string()));
        m.insert("minified_json".into(), Json::String(doc.to_string()));
        Ok(Json::Object(m))
    }

    /// Evaluate an expression at a level (for the policy document builder).
    pub fn eval_level(&self, lvl: usize, e: &Expression) -> Result<Json, Unrenderable> {
        self.eval_at(lvl, e, None)
    }

    fn variable(&self, lvl: usize, n: &str, e: &Expression) -> Result<Json, Unrenderable> {
        let level = &self.levels[lvl];
        if lvl > 0 {
            if let Some(a) = level.call.as_ref().and_then(|c| c.body.get_attribute(n)) {
                return self.eval_at(lvl - 1, &a.value, None);
            }
        } else {
            // *.tfvars in the root folder: terraform.tfvars first, then the others (later wins).
            let mut tfvars: Vec<_> = self.sources.files.iter().filter(|f| hcl::dir_of(&f.path) == level.dir && (f.path.ends_with(".tfvars"))).collect();
            tfvars.sort_by_key(|f| (!f.path.ends_with("terraform.tfvars"), f.path.clone()));
            let mut found = None;
            for f in tfvars {
                if let Ok(b) = hcl_edit::parser::parse_body(&f.text) {
                    if let Some(a) = b.get_attribute(n) {
                        found = Some(self.eval_at(lvl, &a.value, None)?);
                    }
                }
            }
            if let Some(v) = found {
                return Ok(v);
            }
        }
        for f in &level.files {
            for b in f.body.get_blocks("variable") {
                if hcl::labels(b) == [n] {
                    if let Some(d) = b.body.get_attribute("default") {
                        return self.eval_at(lvl, &d.value, None);
                    }
                }
            }
        }
        Err(un(e, format!("var.{n} has no value (no .tfvars entry, no default)")))
    }
}
