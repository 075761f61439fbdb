//! A parsed template: its format, positioned tree, long-form JSON, and the render context for a
//! stack (or offline).

use serde_json::{Map, Value as Json};

use super::intrinsics::Ctx;
use super::json::parse_json;
use super::node::{parse_yaml, Node, ParseError};
use crate::model::{IacError, Live, Stack};

/// The syntax of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (short-form tags allowed).
    Yaml,
    /// JSON.
    Json,
}

/// A template read from a file or a stack.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file (`stack:NAME` for a stack's body).
    pub file: String,
    /// The text.
    pub text: String,
    /// YAML or JSON.
    pub format: Format,
    /// The positioned tree.
    pub root: Node,
    /// The whole template as JSON, intrinsics in long form.
    pub json: Json,
}

/// Whether a file name can be a template.
pub fn is_candidate(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [".yaml", ".yml", ".json", ".template"].iter().any(|e| p.ends_with(e))
}

fn looks_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Parse `text` as a template. `Ok(None)`: it parses but is not a template (no `Resources`
/// mapping); `Err`: it looks like a template but does not parse.
pub fn parse(file: &str, text: &str) -> Result<Option<Template>, IacError> {
    let (format, res) = if looks_json(text) { (Format::Json, parse_json(text)) } else { (Format::Yaml, parse_yaml(text)) };
    let root = match res {
        Ok(r) => r,
        Err(ParseError { line, message }) => {
            let templ = text.contains("Resources") && (text.contains("AWS::") || text.contains("AWSTemplateFormatVersion"));
            if !templ {
                return Ok(None);
            }
            let kind = if format == Format::Json { "JSON" } else { "YAML" };
            return Err(IacError::new(file, "-", format!("the template does not parse as {kind}: line {line}: {message}")));
        }
    };
    if !matches!(root.get("Resources").map(|r| &r.kind), Some(super::node::Kind::Map(_))) {
        return Ok(None);
    }
    let json = root.to_json();
    Ok(Some(Template { file: file.to_string(), text: text.to_string(), format, root, json }))
}

impl Template {
    /// The resources: logical ID, type, properties.
    pub fn resources(&self) -> Vec<(String, String, Json)> {
        let Some(Json::Object(r)) = self.json.get("Resources") else { return Vec::new() };
        r.iter()
            .map(|(k, v)| (k.clone(), v.get("Type").and_then(Json::as_str).unwrap_or_default().to_string(), v.get("Properties").cloned().unwrap_or(Json::Object(Map::new()))))
            .collect()
    }

    /// The render context: the stack's parameters and physical IDs when given, else defaults.
    pub fn ctx(&self, live: &Live, stack: Option<&Stack>) -> Ctx {
        let mut c = Ctx { live: live.clone(), stack_name: stack.map(|s| s.name.clone()), ..Ctx::default() };
        if let Some(Json::Object(ps)) = self.json.get("Parameters") {
            for (k, p) in ps {
                if let Some(d) = p.get("Default") {
                    c.params.insert(k.clone(), d.clone());
                }
            }
        }
        if let Some(s) = stack {
            for (k, v) in &s.parameters {
                c.params.insert(k.clone(), Json::String(v.clone()));
            }
            for r in &s.resources {
                if let Some(p) = &r.physical_id {
                    c.physical.insert(r.logical_id.clone(), p.clone());
                }
            }
        }
        for (id, ty, props) in self.resources() {
            c.resources.insert(id, (ty, props));
        }
        if let Some(Json::Object(m)) = self.json.get("Conditions") {
            c.conditions = m.clone();
        }
        if let Some(Json::Object(m)) = self.json.get("Mappings") {
            c.mappings = m.clone();
        }
        c
    }

    /// The node at a path of keys/indices from the root.
    pub fn node_at(&self, path: &[Json]) -> Option<&Node> {
        let mut cur = &self.root;
        for seg in path {
            cur = match (seg, &cur.kind) {
                (Json::String(k), _) => cur.get(k)?,
                (Json::Number(i), super::node::Kind::Seq(l)) => l.get(i.as_u64()? as usize)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The key of the entry at `path` (its last segment must be a key), with its value.
    pub fn entry_at(&self, path: &[Json]) -> Option<(&super::node::Key, &Node)> {
        let (last, parent) = path.split_last()?;
        let p = self.node_at(parent)?;
        let (k, v) = p.entry(last.as_str()?)?;
        Some((k, v))
    }
}
