//! Terraform states: `terraform.tfstate` (format 4) and `terraform show -json`, flattened to
//! resource instances with their module path, instance key and attribute values.

use serde_json::Value as Json;

/// One resource instance of a state.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The module call names from the root (`["ci", "inner"]`), instance keys dropped.
    pub module: Vec<String>,
    /// `managed` or `data`.
    pub mode: String,
    /// The resource type (`aws_iam_role`).
    pub rtype: String,
    /// The resource name (`deploy`).
    pub name: String,
    /// The `count` index (number) or `for_each` key (string), if any.
    pub key: Option<Json>,
    /// The attribute values.
    pub attrs: Json,
}

impl Instance {
    /// The full address (`module.ci.aws_iam_role.deploy["k"]`).
    pub fn address(&self) -> String {
        let mut s: String = self.module.iter().map(|m| format!("module.{m}.")).collect();
        s.push_str(&self.local_address());
        s
    }

    /// The address inside its module (`aws_iam_role.deploy[0]`, `data.x.y`).
    pub fn local_address(&self) -> String {
        let mut s = String::new();
        if self.mode == "data" {
            s.push_str("data.");
        }
        s.push_str(&format!("{}.{}{}", self.rtype, self.name, key_suffix(self.key.as_ref())));
        s
    }

    /// A string attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Json::as_str)
    }
}

/// `[0]`, `["k"]` or nothing.
pub fn key_suffix(key: Option<&Json>) -> String {
    match key {
        Some(Json::String(s)) => format!("[{}]", Json::String(s.clone())),
        Some(k) => format!("[{k}]"),
        None => String::new(),
    }
}

/// A parsed state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Where it came from.
    pub origin: String,
    /// The root module's folder, relative to the IaC folder.
    pub dir: String,
    /// Every instance.
    pub instances: Vec<Instance>,
}

fn module_path(s: &str) -> Vec<String> {
    // `module.a.module.b["k"]` → [a, b]
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(r) = rest.strip_prefix("module.") {
        let end = r.find(['.', '[']).unwrap_or(r.len());
        out.push(r[..end].to_string());
        let mut tail = &r[end..];
        if tail.starts_with('[') {
            tail = tail.find(']').map(|i| &tail[i + 1..]).unwrap_or("");
        }
        rest = tail.strip_prefix('.').unwrap_or(tail);
    }
    out
}

/// Parse a state text (either form).
pub fn parse(text: &str, origin: &str, dir: &str) -> Result<State, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("not a Terraform state (JSON: {e})"))?;
    let mut instances = Vec::new();
    if let Some(resources) = doc.get("resources").and_then(Json::as_array) {
        let v = doc.get("version").and_then(Json::as_u64).unwrap_or(0);
        if v != 4 {
            return Err(format!("state format version {v} is not supported (4 is)"));
        }
        for r in resources {
            let module = r.get("module").and_then(Json::as_str).map(module_path).unwrap_or_default();
            let field = |k: &str| r.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
            for i in r.get("instances").and_then(Json::as_array).into_iter().flatten() {
                instances.push(Instance {
                    module: module.clone(),
                    mode: field("mode"),
                    rtype: field("type"),
                    name: field("name"),
                    key: i.get("index_key").cloned(),
                    attrs: i.get("attributes").cloned().unwrap_or(Json::Null),
                });
            }
        }
    } else if let Some(root) = doc.get("values").and_then(|v| v.get("root_module")) {
        walk_show(root, &mut instances);
    } else {
        return Err("not a Terraform state: no `resources` (tfstate) nor `values.root_module` (show -json)".into());
    }
    Ok(State { origin: origin.to_string(), dir: dir.to_string(), instances })
}

fn walk_show(m: &Json, out: &mut Vec<Instance>) {
    for r in m.get("resources").and_then(Json::as_array).into_iter().flatten() {
        let field = |k: &str| r.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
        let addr = field("address");
        let module = addr.rfind("module.").map(|_| module_path(&addr)).unwrap_or_default();
        out.push(Instance {
            module,
            mode: field("mode"),
            rtype: field("type"),
            name: field("name"),
            key: r.get("index").cloned(),
            attrs: r.get("values").cloned().unwrap_or(Json::Null),
        });
    }
    for c in m.get("child_modules").and_then(Json::as_array).into_iter().flatten() {
        walk_show(c, out);
    }
}

/// The accounts the state's resources live in: the account field of each resource's own `arn`
/// and `data.aws_caller_identity`'s `account_id` (ARNs inside policies may name other accounts
/// on purpose, so they are not counted).
pub fn accounts(state: &State) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |a: &str| {
        if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) && !out.iter().any(|x| x == a) {
            out.push(a.to_string());
        }
    };
    for i in &state.instances {
        if let Some(arn) = i.attr("arn") {
            if let Some(a) = arn.split(':').nth(4) {
                add(a);
            }
        }
        if i.rtype == "aws_caller_identity" {
            if let Some(a) = i.attr("account_id") {
                add(a);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths() {
        assert_eq!(module_path("module.a.module.b[\"k\"]"), vec!["a", "b"]);
        assert_eq!(module_path("module.ci[0].module.x"), vec!["ci", "x"]);
        assert!(module_path("").is_empty());
    }
}
