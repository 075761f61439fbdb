//! IAM policy documents: every valid JSON shape, parsed faithfully, with precise errors.

use serde_json::{Map, Value as Json};

use crate::condition::{Condition, Operator, Value};
use crate::pattern::Pattern;

/// A statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// `Action` / `NotAction` or `Resource` / `NotResource`: a list of patterns, maybe negated.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSet {
    /// `true` for the `Not...` form.
    pub negated: bool,
    /// The patterns.
    pub patterns: Vec<Pattern>,
}

/// The principal types of a `Principal` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PrincipalType {
    /// `"AWS"`: accounts, users, roles, sessions.
    Aws,
    /// `"Service"`: service principals.
    Service,
    /// `"Federated"`: identity providers.
    Federated,
    /// `"CanonicalUser"`: S3 canonical IDs.
    CanonicalUser,
}

/// `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalSet {
    /// `true` for `NotPrincipal`.
    pub negated: bool,
    /// `"*"` (or `{"AWS": "*"}`): everyone.
    pub any: bool,
    /// The listed principals.
    pub entries: Vec<(PrincipalType, String)>,
}

/// One statement, with its position for reporting.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Index in the policy's statement list (0-based).
    pub index: usize,
    /// `Sid`, when present.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` / `NotAction`.
    pub action: PatternSet,
    /// `Resource` / `NotResource`; `None` when absent (trust and some resource policies).
    pub resource: Option<PatternSet>,
    /// `Principal` / `NotPrincipal`; `None` when absent (identity-side policies).
    pub principal: Option<PrincipalSet>,
    /// Condition entries (all must hold).
    pub conditions: Vec<Condition>,
    /// The service prefixes `Action` can match, when every pattern names one literally
    /// (`None` for `NotAction` or a wildcard service): lets evaluation skip statements cheaply.
    pub services: Option<Box<[Box<str>]>>,
}

impl Statement {
    /// Whether the statement can possibly match an action of this service (lower-cased).
    #[inline]
    pub fn may_match_service(&self, service_lc: &str) -> bool {
        match &self.services {
            Some(list) => list.iter().any(|s| **s == *service_lc),
            None => true,
        }
    }
}

/// A parsed policy document. `raw` keeps the original JSON (key order and values) so that a
/// changed policy can be written back with a minimal diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version` (`2012-10-17`, `2008-10-17`, or absent).
    pub version: Option<String>,
    /// `Id`.
    pub id: Option<String>,
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// The document as given.
    pub raw: Json,
}

/// What is wrong with a policy document, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", location(.statement, .sid))]
pub struct PolicyError {
    /// Statement index (0-based), if the error is inside a statement.
    pub statement: Option<usize>,
    /// That statement's Sid.
    pub sid: Option<String>,
    /// The element (`Action`, `Condition.StringEquals`, ...).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn location(index: &Option<usize>, sid: &Option<String>) -> String {
    match (index, sid) {
        (Some(i), Some(s)) => format!("statement {i} (Sid {s:?}): "),
        (Some(i), None) => format!("statement {i}: "),
        _ => String::new(),
    }
}

const TOP_ELEMENTS: &[&str] = &["Version", "Id", "Statement"];
const STMT_ELEMENTS: &[&str] = &[
    "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition",
];

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// Look up an element by name, case-insensitively (AWS accepts `action` for `Action`).
fn get<'a>(obj: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

struct Ctx {
    index: Option<usize>,
    sid: Option<String>,
}

impl Ctx {
    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError { statement: self.index, sid: self.sid.clone(), field: field.into(), message: message.into() }
    }
}

/// A string or a list of strings (as `Action`, `Resource` and principal values are written).
fn strings(ctx: &Ctx, field: &str, v: &Json) -> Result<Vec<String>, PolicyError> {
    match v {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Json::String(s) => Ok(s.clone()),
                other => Err(ctx.err(format!("{field}[{i}]"), format!("expected a string, found {}", kind_of(other)))),
            })
            .collect(),
        other => Err(ctx.err(field, format!("expected a string or a list of strings, found {}", kind_of(other)))),
    }
}

fn pattern_set(
    ctx: &Ctx,
    obj: &Map<String, Json>,
    pos: &str,
    neg: &str,
    make: &dyn Fn(&str) -> Pattern,
) -> Result<Option<PatternSet>, PolicyError> {
    match (get(obj, pos), get(obj, neg)) {
        (Some(_), Some(_)) => Err(ctx.err(pos, format!("a statement may have {pos} or {neg}, not both"))),
        (Some(v), None) => {
            Ok(Some(PatternSet { negated: false, patterns: strings(ctx, pos, v)?.iter().map(|s| make(s)).collect() }))
        }
        (None, Some(v)) => {
            Ok(Some(PatternSet { negated: true, patterns: strings(ctx, neg, v)?.iter().map(|s| make(s)).collect() }))
        }
        (None, None) => Ok(None),
    }
}

fn check_action(ctx: &Ctx, field: &str, a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    match a.split_once(':') {
        Some((svc, name))
            if !svc.is_empty()
                && !name.is_empty()
                && svc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !name.contains(':') =>
        {
            Ok(())
        }
        _ => Err(ctx.err(field, format!("{a:?} is not an action (expected service:Action, e.g. s3:GetObject, or *)"))),
    }
}

fn principal_set(ctx: &Ctx, obj: &Map<String, Json>) -> Result<Option<PrincipalSet>, PolicyError> {
    let (field, negated, v) = match (get(obj, "Principal"), get(obj, "NotPrincipal")) {
        (Some(_), Some(_)) => return Err(ctx.err("Principal", "a statement may have Principal or NotPrincipal, not both")),
        (Some(v), None) => ("Principal", false, v),
        (None, Some(v)) => ("NotPrincipal", true, v),
        (None, None) => return Ok(None),
    };
    let mut set = PrincipalSet { negated, any: false, entries: Vec::new() };
    match v {
        Json::String(s) if s == "*" => set.any = true,
        Json::String(s) => {
            return Err(ctx.err(field, format!("{s:?}: a principal string must be \"*\"; name others as {{\"AWS\": ...}}")))
        }
        Json::Object(m) => {
            for (k, vals) in m {
                let ty = match k.to_ascii_lowercase().as_str() {
                    "aws" => crate::PrincipalType::Aws,
                    "service" => crate::PrincipalType::Service,
                    "federated" => crate::PrincipalType::Federated,
                    "canonicaluser" => crate::PrincipalType::CanonicalUser,
                    _ => {
                        return Err(ctx.err(
                            format!("{field}.{k}"),
                            "unknown principal type (expected AWS, Service, Federated or CanonicalUser)",
                        ))
                    }
                };
                for s in strings(ctx, &format!("{field}.{k}"), vals)? {
                    if s == "*" && ty == crate::PrincipalType::Aws {
                        set.any = true;
                    } else {
                        set.entries.push((ty, s));
                    }
                }
            }
        }
        other => return Err(ctx.err(field, format!("expected \"*\" or an object, found {}", kind_of(other)))),
    }
    Ok(Some(set))
}

fn condition_value(ctx: &Ctx, field: &str, v: &Json, vars: bool) -> Result<Value, PolicyError> {
    let raw = match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        other => return Err(ctx.err(field, format!("a condition value must be a string, number or boolean, found {}", kind_of(other)))),
    };
    Ok(Value::new(raw, vars))
}

fn conditions(ctx: &Ctx, v: &Json, vars: bool) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(ops) = v else {
        return Err(ctx.err("Condition", format!("expected an object, found {}", kind_of(v))));
    };
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let field = format!("Condition.{op_name}");
        let operator = Operator::parse(op_name).ok_or_else(|| {
            let hint = Operator::suggest(op_name).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
            ctx.err(&field, format!("unknown condition operator{hint}"))
        })?;
        let Json::Object(keys) = block else {
            return Err(ctx.err(&field, format!("expected an object of condition keys, found {}", kind_of(block))));
        };
        for (key, vals) in keys {
            let kf = format!("{field}.{key}");
            let values = match vals {
                Json::Array(items) => {
                    items.iter().map(|i| condition_value(ctx, &kf, i, vars)).collect::<Result<Vec<_>, _>>()?
                }
                single => vec![condition_value(ctx, &kf, single, vars)?],
            };
            if key.is_empty() {
                return Err(ctx.err(&kf, "empty condition key"));
            }
            out.push(Condition {
                operator_raw: op_name.clone(),
                operator,
                key: key.clone(),
                key_lc: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn unknown_element(ctx: &Ctx, obj: &Map<String, Json>, known: &[&str]) -> Result<(), PolicyError> {
    for k in obj.keys() {
        if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            let hint = known
                .iter()
                .map(|n| (n, crate::condition::edit_distance(&k.to_ascii_lowercase(), &n.to_ascii_lowercase())))
                .filter(|(_, d)| *d <= 2)
                .min_by_key(|(_, d)| *d)
                .map(|(n, _)| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            return Err(ctx.err(k.as_str(), format!("unknown policy element{hint}")));
        }
    }
    Ok(())
}

fn statement(index: usize, v: &Json, vars: bool) -> Result<Statement, PolicyError> {
    let mut ctx = Ctx { index: Some(index), sid: None };
    let Json::Object(obj) = v else {
        return Err(ctx.err("Statement", format!("expected an object, found {}", kind_of(v))));
    };
    ctx.sid = match get(obj, "Sid") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => return Err(ctx.err("Sid", format!("expected a string, found {}", kind_of(other)))),
    };
    unknown_element(&ctx, obj, STMT_ELEMENTS)?;
    let effect = match get(obj, "Effect") {
        Some(Json::String(s)) if s == "Allow" => Effect::Allow,
        Some(Json::String(s)) if s == "Deny" => Effect::Deny,
        Some(Json::String(s)) => return Err(ctx.err("Effect", format!("{s:?} is not Allow or Deny (case matters)"))),
        Some(other) => return Err(ctx.err("Effect", format!("expected \"Allow\" or \"Deny\", found {}", kind_of(other)))),
        None => return Err(ctx.err("Effect", "missing (every statement needs Allow or Deny)")),
    };
    let action = pattern_set(&ctx, obj, "Action", "NotAction", &Pattern::action)?
        .ok_or_else(|| ctx.err("Action", "missing (a statement needs Action or NotAction)"))?;
    let field = if action.negated { "NotAction" } else { "Action" };
    for p in &action.patterns {
        check_action(&ctx, field, &p.raw)?;
    }
    let resource = pattern_set(&ctx, obj, "Resource", "NotResource", &|s| Pattern::resource(s, vars))?;
    if let Some(r) = &resource {
        let field = if r.negated { "NotResource" } else { "Resource" };
        for p in &r.patterns {
            if p.raw.is_empty() {
                return Err(ctx.err(field, "empty resource (use an ARN or *)"));
            }
        }
    }
    let principal = principal_set(&ctx, obj)?;
    let conditions = match get(obj, "Condition") {
        Some(c) => conditions(&ctx, c, vars)?,
        None => Vec::new(),
    };
    let services = if action.negated {
        None
    } else {
        action
            .patterns
            .iter()
            .map(|p| p.action_service().map(Box::<str>::from))
            .collect::<Option<Vec<_>>>()
            .map(|mut v| {
                v.sort();
                v.dedup();
                v.into_boxed_slice()
            })
    };
    Ok(Statement { index, sid: ctx.sid, effect, action, resource, principal, conditions, services })
}

impl Policy {
    /// Parse a document from JSON text.
    pub fn parse_str(text: &str) -> Result<Policy, PolicyError> {
        let raw: Json = serde_json::from_str(text).map_err(|e| PolicyError {
            statement: None,
            sid: None,
            field: "document".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        Policy::from_json(raw)
    }

    /// Parse a document from a JSON value (kept as `raw`).
    pub fn from_json(raw: Json) -> Result<Policy, PolicyError> {
        let ctx = Ctx { index: None, sid: None };
        let Json::Object(obj) = &raw else {
            return Err(ctx.err("document", format!("a policy must be a JSON object, found {}", kind_of(&raw))));
        };
        unknown_element(&ctx, obj, TOP_ELEMENTS)?;
        let version = match get(obj, "Version") {
            None => None,
            Some(Json::String(v)) if v == "2012-10-17" || v == "2008-10-17" => Some(v.clone()),
            Some(Json::String(v)) => {
                return Err(ctx.err("Version", format!("{v:?} is not a policy language version (use \"2012-10-17\")")))
            }
            Some(other) => return Err(ctx.err("Version", format!("expected a string, found {}", kind_of(other)))),
        };
        let id = match get(obj, "Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => return Err(ctx.err("Id", format!("expected a string, found {}", kind_of(other)))),
        };
        // Policy variables exist only in version 2012-10-17; older documents treat `${...}` literally.
        let vars = version.as_deref() == Some("2012-10-17");
        let statements = match get(obj, "Statement") {
            None => Vec::new(),
            Some(Json::Array(items)) => {
                items.iter().enumerate().map(|(i, s)| statement(i, s, vars)).collect::<Result<_, _>>()?
            }
            Some(single @ Json::Object(_)) => vec![statement(0, single, vars)?],
            Some(other) => {
                return Err(ctx.err("Statement", format!("expected an object or a list, found {}", kind_of(other))))
            }
        };
        Ok(Policy { version, id, statements, raw })
    }
}
