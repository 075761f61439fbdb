//! The Terraform functions policies use, evaluated to JSON.

use hcl_edit::expr::{Expression, FuncCall};
use serde_json::{Map, Value as Json};

use super::hcl;
use super::render::{as_text, un, Ctx};
use crate::model::Unrenderable;

fn list(v: Json) -> Vec<Json> {
    match v {
        Json::Array(l) => l,
        Json::Object(o) => o.into_iter().map(|x| x.1).collect(),
        other => vec![other],
    }
}

impl Ctx<'_> {
    /// Read a file named relative to the IaC folder.
    pub fn read(&self, path: &str, e: &Expression) -> Result<String, Unrenderable> {
        let p = hcl::join("", path).ok_or_else(|| un(e, "the path leaves the IaC folder"))?;
        self.sources.file(&p).map(|f| f.text.clone()).ok_or_else(|| un(e, format!("{p} is not among the files read")))
    }

    pub(super) fn call(&self, lvl: usize, f: &FuncCall, tv: Option<&Map<String, Json>>, e: &Expression) -> Result<Json, Unrenderable> {
        let name = f.name.name.as_str();
        if f.name.is_namespaced() {
            return Err(un(e, "provider functions are not rendered"));
        }
        let args = || f.args.iter().map(|a| self.eval_at(lvl, a, tv)).collect::<Result<Vec<_>, _>>();
        let text = |v: &Json| as_text(v).ok_or_else(|| un(e, "expected a string argument"));
        let a = match name {
            "file" | "templatefile" | "jsonencode" | "format" | "join" | "concat" | "lower" | "upper" | "replace" | "tolist" | "toset" | "merge" | "distinct" | "flatten" | "jsondecode" | "trimspace" | "tostring" => args()?,
            _ => return Err(un(e, format!("the function {name}() is not rendered"))),
        };
        let arg = |i: usize| a.get(i).ok_or_else(|| un(e, format!("{name}() needs more arguments")));
        Ok(match name {
            "jsonencode" => Json::String(arg(0)?.to_string()),
            "jsondecode" => serde_json::from_str(&text(arg(0)?)?).map_err(|x| un(e, format!("not JSON: {x}")))?,
            "file" => Json::String(self.read(&text(arg(0)?)?, e)?),
            "templatefile" => {
                let body = self.read(&text(arg(0)?)?, e)?;
                let vars = arg(1)?.as_object().cloned().ok_or_else(|| un(e, "templatefile() variables must be an object"))?;
                let t = hcl_edit::parser::parse_template(&body).map_err(|x| un(e, format!("the template does not parse: {}", x.to_string().lines().next().unwrap_or(""))))?;
                Json::String(self.eval_template(&t, &vars)?)
            }
            "format" => {
                let fmt = text(arg(0)?)?;
                let mut out = String::new();
                let mut rest = a[1..].iter();
                let mut chars = fmt.chars();
                while let Some(c) = chars.next() {
                    if c != '%' {
                        out.push(c);
                        continue;
                    }
                    match chars.next() {
                        Some('%') => out.push('%'),
                        Some('s') | Some('d') | Some('v') => out.push_str(&text(rest.next().ok_or_else(|| un(e, "format() lacks arguments"))?)?),
                        _ => return Err(un(e, "format() verbs other than %s %d %v are not rendered")),
                    }
                }
                Json::String(out)
            }
            "join" => {
                let sep = text(arg(0)?)?;
                let mut parts = Vec::new();
                for l in &a[1..] {
                    for x in list(l.clone()) {
                        parts.push(text(&x)?);
                    }
                }
                Json::String(parts.join(&sep))
            }
            "concat" | "flatten" => Json::Array(a.into_iter().flat_map(list).collect()),
            "lower" => Json::String(text(arg(0)?)?.to_lowercase()),
            "upper" => Json::String(text(arg(0)?)?.to_uppercase()),
            "trimspace" => Json::String(text(arg(0)?)?.trim().to_string()),
            "tostring" => Json::String(text(arg(0)?)?),
            "replace" => {
                let s = text(arg(0)?)?;
                let from = text(arg(1)?)?;
                if from.len() > 1 && from.starts_with('/') && from.ends_with('/') {
                    return Err(un(e, "regular expressions in replace() are not rendered"));
                }
                Json::String(s.replace(&from, &text(arg(2)?)?))
            }
            "tolist" => Json::Array(list(arg(0)?.clone())),
            "toset" | "distinct" => {
                let mut out: Vec<Json> = Vec::new();
                for x in list(arg(0)?.clone()) {
                    if !out.contains(&x) {
                        out.push(x);
                    }
                }
                if name == "toset" {
                    out.sort_by_key(|x| x.to_string());
                }
                Json::Array(out)
            }
            "merge" => {
                let mut m = Map::new();
                for x in a {
                    if let Json::Object(o) = x {
                        m.extend(o);
                    }
                }
                Json::Object(m)
            }
            _ => return Err(un(e, format!("the function {name}() is not rendered"))),
        })
    }
}
