//! New values in the configuration's own style: HCL objects laid out as `terraform fmt` does
//! (aligned `=`, trailing commas when the file uses them), and ARNs the configuration knows
//! written as references (`aws_iam_role.deploy.arn`, `"${aws_s3_bucket.artifacts.arn}/*"`).

use serde_json::Value as Json;

use super::render::Level;
use super::state::{key_suffix, State};

/// How new values are written.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// One indentation level.
    pub unit: String,
    /// Align `=` of consecutive one-line attributes.
    pub align: bool,
    /// Lists spread over lines end with a comma.
    pub trailing_comma: bool,
    /// Known values and the reference that writes them, longest value first.
    pub refs: Vec<(String, String)>,
    /// Object members end with a comma (`Effect = "Allow",`).
    pub obj_commas: bool,
    /// Small objects are written on one line (`Principal = { AWS = "..." }`).
    pub inline_objects: bool,
    /// ARN fields written with data sources: (field index, value, reference), e.g.
    /// `(4, "111122223333", "data.aws_caller_identity.current.account_id")`.
    pub pseudo: Vec<(usize, String, String)>,
}

const ARN_TYPES: [&str; 7] = ["aws_s3_bucket", "aws_iam_role", "aws_iam_user", "aws_kms_key", "aws_sqs_queue", "aws_secretsmanager_secret", "aws_iam_policy"];

impl Style {
    /// The style of a module level: its files' indentation and whether they use references.
    pub fn of(level: &Level, state: &State) -> Style {
        let text: String = level.files.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("\n");
        let unit = text.lines().find_map(|l| {
            let ind: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!ind.is_empty() && !l.trim().is_empty()).then_some(ind)
        });
        let lines: Vec<&str> = text.lines().collect();
        let trailing_comma = lines.windows(2).any(|w| w[0].trim_end().ends_with(',') && w[1].trim_start().starts_with(']'));
        let uses_refs = text.contains(".arn") || text.contains("${aws_") || text.contains("${data.");
        let mut refs = Vec::new();
        if uses_refs {
            for i in state.instances.iter().filter(|i| i.module == level.module && i.mode == "managed" && ARN_TYPES.contains(&i.rtype.as_str())) {
                let declared = level.files.iter().any(|f| f.body.blocks().any(|b| b.ident.as_str() == "resource" && super::hcl::labels(b) == [i.rtype.as_str(), i.name.as_str()]));
                if let (Some(arn), true) = (i.attr("arn"), declared) {
                    refs.push((arn.to_string(), format!("{}.{}{}.arn", i.rtype, i.name, key_suffix(i.key.as_ref()))));
                }
            }
            refs.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        }
        let mut pseudo = Vec::new();
        if uses_refs {
            for i in state.instances.iter().filter(|i| i.module == level.module && i.mode == "data" && i.key.is_none()) {
                let declared = level.files.iter().any(|f| f.body.blocks().any(|b| b.ident.as_str() == "data" && super::hcl::labels(b) == [i.rtype.as_str(), i.name.as_str()]));
                let (field, attr) = match i.rtype.as_str() {
                    "aws_partition" => (1, "partition"),
                    "aws_region" => (3, "name"),
                    "aws_caller_identity" => (4, "account_id"),
                    _ => continue,
                };
                if let (Some(v), true) = (i.attr(attr), declared) {
                    pseudo.push((field, v.to_string(), format!("data.{}.{}.{attr}", i.rtype, i.name)));
                }
            }
        }
        let inline_objects = text.lines().any(|l| {
            let t = l.trim();
            t.contains("= { ") && t.ends_with('}') && !t.ends_with("{}")
        });
        Style { unit: unit.unwrap_or_else(|| "  ".into()), align: true, trailing_comma, refs, obj_commas: false, inline_objects, pseudo }
    }

    /// A string as a reference or a template with one: `(text, is_bare_reference)`.
    fn reference(&self, s: &str) -> Option<(String, bool)> {
        for (v, r) in &self.refs {
            if s == v {
                return Some((r.clone(), true));
            }
            if let Some(rest) = s.strip_prefix(v.as_str()) {
                if rest.starts_with('/') {
                    return Some((format!("${{{r}}}{}", escape_tpl(rest)), false));
                }
            }
        }
        None
    }

    /// An ARN whose partition/region/account fields are written with the data sources the
    /// configuration declares, as template text (`None` when nothing is replaced).
    fn pseudo_arn(&self, s: &str) -> Option<String> {
        if !s.starts_with("arn:") || self.pseudo.is_empty() {
            return None;
        }
        let mut parts: Vec<String> = s.splitn(6, ':').map(escape_tpl).collect();
        let mut hit = false;
        for (field, value, r) in &self.pseudo {
            if s.splitn(6, ':').nth(*field) == Some(value.as_str()) && parts.len() == 6 {
                parts[*field] = format!("${{{r}}}");
                hit = true;
            }
        }
        hit.then(|| parts.join(":"))
    }

    /// An HCL string literal or reference for `s`.
    pub fn hcl_string(&self, s: &str) -> String {
        match self.reference(s) {
            Some((r, true)) => r,
            Some((t, false)) => format!("\"{}\"", t.replace('"', "\\\"")),
            None => match self.pseudo_arn(s) {
                Some(t) => format!("\"{}\"", t.replace('"', "\\\"")),
                None => format!("\"{}\"", escape_tpl(&escape_str(s))),
            },
        }
    }

    /// A JSON string literal for a heredoc (references as `${...}`, literal `${` escaped).
    pub fn heredoc_string(&self, s: &str) -> String {
        match self.reference(s) {
            Some((r, true)) => format!("\"${{{r}}}\""),
            Some((t, false)) => format!("\"{t}\""),
            None => match self.pseudo_arn(s) {
                Some(t) => format!("\"{t}\""),
                None => escape_tpl(&Json::String(s.to_string()).to_string()),
            },
        }
    }

    /// An HCL value, multi-line values indented from `ind`.
    pub fn hcl(&self, v: &Json, ind: &str) -> String {
        match v {
            Json::String(s) => self.hcl_string(s),
            Json::Array(l) if l.iter().all(|x| !x.is_object() && !x.is_array()) && l.len() <= 1 => {
                format!("[{}]", l.iter().map(|x| self.hcl(x, ind)).collect::<Vec<_>>().join(", "))
            }
            Json::Array(l) => {
                let inner = format!("{ind}{}", self.unit);
                let mut out = "[\n".to_string();
                for (n, x) in l.iter().enumerate() {
                    out.push_str(&format!("{inner}{}", self.hcl(x, &inner)));
                    out.push_str(if n + 1 < l.len() || self.trailing_comma { ",\n" } else { "\n" });
                }
                out.push_str(&format!("{ind}]"));
                out
            }
            Json::Object(o) if o.is_empty() => "{}".into(),
            Json::Object(o) if self.inline_objects && o.len() == 1 && o.values().all(|x| !(x.is_object() || x.as_array().map(|l| l.len() > 1).unwrap_or(false))) => {
                let (k, x) = o.iter().next().map(|(k, x)| (hcl_key(k), self.hcl(x, ind))).unwrap_or_default();
                format!("{{ {k} = {x} }}")
            }
            Json::Object(o) => {
                let inner = format!("{ind}{}", self.unit);
                let rows: Vec<(String, String)> = o.iter().map(|(k, x)| (hcl_key(k), self.hcl(x, &inner))).collect();
                let mut body = self.attrs(&rows, &inner);
                if self.obj_commas {
                    body = body.split('\n').map(|l| l.to_string()).collect::<Vec<_>>().join("\n");
                    body = comma_rows(&body, &inner);
                }
                format!("{{\n{body}\n{ind}}}")
            }
            other => other.to_string(),
        }
    }

    /// `key = value` lines at `ind`, `=` aligned within runs of one-line values.
    pub fn attrs(&self, rows: &[(String, String)], ind: &str) -> String {
        let mut out = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let mut j = i;
            while j < rows.len() && !rows[j].1.contains('\n') {
                j += 1;
            }
            // A multi-line value stands alone; a run of one-line values is aligned.
            let end = if j == i { i + 1 } else { j };
            let width = if self.align { rows[i..end].iter().map(|r| r.0.len()).max().unwrap_or(0) } else { 0 };
            for r in &rows[i..end] {
                out.push(format!("{ind}{:<width$} = {}", r.0, r.1, width = width));
            }
            i = end;
        }
        out.join("\n")
    }
}

/// A comma after every member of an object body whose members start at `inner`.
fn comma_rows(body: &str, inner: &str) -> String {
    let lines: Vec<&str> = body.split('\n').collect();
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        // A member ends where the next line starts a member at `inner` (or at the end).
        let next_is_member = lines.get(i + 1).map(|n| n.starts_with(inner) && !n[inner.len()..].starts_with([' ', '\t', '}', ']'])).unwrap_or(true);
        out.push(if next_is_member { format!("{l},") } else { l.to_string() });
    }
    out.join("\n")
}

/// An HCL object key: bare when it is an identifier.
pub fn hcl_key(k: &str) -> String {
    let ident = k.chars().next().map(|c| c.is_ascii_alphabetic() || c == '_').unwrap_or(false) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident {
        k.to_string()
    } else {
        format!("\"{}\"", escape_tpl(&escape_str(k)))
    }
}

fn escape_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Escape template sequences (`${` → `$${`, `%{` → `%%{`).
pub fn escape_tpl(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}
