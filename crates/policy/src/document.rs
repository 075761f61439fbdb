//! IAM policy documents: every valid JSON shape, parsed faithfully, with precise errors.

use std::sync::OnceLock;

use serde_json::Value as Json;

use crate::condition::{Condition, Operator, Value};
use crate::pattern::Pattern;
use crate::tree::Tree;

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

/// A parsed policy document. [`Policy::raw`] keeps the original JSON (key order and values) so
/// that a changed policy can be written back with a minimal diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `Version` (`2012-10-17`, `2008-10-17`, or absent).
    pub version: Option<String>,
    /// `Id`.
    pub id: Option<String>,
    /// The statements, in order.
    pub statements: Vec<Statement>,
    /// The document as given.
    raw: RawDocument,
}

/// The document as given: its JSON value, or (read from text) the text, turned into the value
/// the first time someone asks (evaluation never does; planning a fix does).
#[derive(Clone)]
struct RawDocument {
    text: Option<Box<str>>,
    json: OnceLock<Json>,
}

impl RawDocument {
    fn json(&self) -> &Json {
        self.json.get_or_init(|| {
            let text = self.text.as_deref().unwrap_or("{}");
            // The text was read as JSON when the policy was parsed: it reads again.
            serde_json::from_str(text).unwrap_or_else(|_| Json::Object(Default::default()))
        })
    }
}

impl PartialEq for RawDocument {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl std::fmt::Debug for RawDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.json().fmt(f)
    }
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

/// What the parser needs of a JSON value: implemented by `serde_json::Value` and by the
/// borrowed [`Tree`] read straight from text, so that both are read by the same code.
trait Node: Sized {
    type Entries<'n>: Iterator<Item = (&'n str, &'n Self)> + Clone
    where
        Self: 'n;
    fn as_str(&self) -> Option<&str>;
    fn as_list(&self) -> Option<&[Self]>;
    fn entries(&self) -> Option<Self::Entries<'_>>;
    /// A boolean or a number in its JSON spelling.
    fn scalar_text(&self) -> Option<String>;
    fn kind_of(&self) -> &'static str;
}

impl Node for Json {
    type Entries<'n> = std::iter::Map<
        serde_json::map::Iter<'n>,
        fn((&'n String, &'n Json)) -> (&'n str, &'n Json),
    >;
    fn as_str(&self) -> Option<&str> {
        self.as_str()
    }
    fn as_list(&self) -> Option<&[Json]> {
        self.as_array().map(Vec::as_slice)
    }
    fn entries(&self) -> Option<Self::Entries<'_>> {
        fn pair<'n>((k, v): (&'n String, &'n Json)) -> (&'n str, &'n Json) {
            (k.as_str(), v)
        }
        self.as_object().map(|m| m.iter().map(pair as fn(_) -> _))
    }
    fn scalar_text(&self) -> Option<String> {
        match self {
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn kind_of(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "a list",
            Json::Object(_) => "an object",
        }
    }
}

fn tree_pair<'n, 'a>((k, v): &'n (std::borrow::Cow<'a, str>, Tree<'a>)) -> (&'n str, &'n Tree<'a>) {
    (k, v)
}

impl<'a> Node for Tree<'a> {
    type Entries<'n> = std::iter::Map<
        std::slice::Iter<'n, (std::borrow::Cow<'a, str>, Tree<'a>)>,
        fn(&'n (std::borrow::Cow<'a, str>, Tree<'a>)) -> (&'n str, &'n Tree<'a>),
    >
    where
        Self: 'n;
    fn as_str(&self) -> Option<&str> {
        match self {
            Tree::String(s) => Some(s),
            _ => None,
        }
    }
    fn as_list(&self) -> Option<&[Tree<'a>]> {
        match self {
            Tree::Array(items) => Some(items),
            _ => None,
        }
    }
    fn entries(&self) -> Option<Self::Entries<'_>> {
        match self {
            Tree::Object(entries) => Some(entries.iter().map(tree_pair as fn(_) -> _)),
            _ => None,
        }
    }
    fn scalar_text(&self) -> Option<String> {
        match self {
            Tree::Bool(b) => Some(b.to_string()),
            Tree::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn kind_of(&self) -> &'static str {
        match self {
            Tree::Null => "null",
            Tree::Bool(_) => "a boolean",
            Tree::Number(_) => "a number",
            Tree::String(_) => "a string",
            Tree::Array(_) => "a list",
            Tree::Object(_) => "an object",
        }
    }
}

fn kind_of<N: Node>(v: &N) -> &'static str {
    v.kind_of()
}

/// Look up an element of an object by name, case-insensitively (AWS accepts `action` for `Action`).
fn get<'n, N: Node>(obj: &'n N, name: &str) -> Option<&'n N> {
    let entries = obj.entries()?;
    entries
        .clone()
        .find(|(k, _)| *k == name)
        .or_else(|| entries.clone().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v)
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
fn strings<'n, N: Node>(ctx: &Ctx, field: &str, v: &'n N) -> Result<Vec<&'n str>, PolicyError> {
    if let Some(s) = v.as_str() {
        return Ok(vec![s]);
    }
    match v.as_list() {
        Some(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.as_str() {
                Some(s) => Ok(s),
                None => Err(ctx.err(format!("{field}[{i}]"), format!("expected a string, found {}", kind_of(item)))),
            })
            .collect(),
        None => Err(ctx.err(field, format!("expected a string or a list of strings, found {}", kind_of(v)))),
    }
}

fn pattern_set<N: Node>(
    ctx: &Ctx,
    obj: &N,
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

fn principal_set<N: Node>(ctx: &Ctx, obj: &N) -> Result<Option<PrincipalSet>, PolicyError> {
    let (field, negated, v) = match (get(obj, "Principal"), get(obj, "NotPrincipal")) {
        (Some(_), Some(_)) => return Err(ctx.err("Principal", "a statement may have Principal or NotPrincipal, not both")),
        (Some(v), None) => ("Principal", false, v),
        (None, Some(v)) => ("NotPrincipal", true, v),
        (None, None) => return Ok(None),
    };
    let mut set = PrincipalSet { negated, any: false, entries: Vec::new() };
    match (v.as_str(), v.entries()) {
        (Some("*"), _) => set.any = true,
        (Some(s), _) => {
            return Err(ctx.err(field, format!("{s:?}: a principal string must be \"*\"; name others as {{\"AWS\": ...}}")))
        }
        (None, Some(m)) => {
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
                        set.entries.push((ty, s.to_string()));
                    }
                }
            }
        }
        (None, None) => return Err(ctx.err(field, format!("expected \"*\" or an object, found {}", kind_of(v)))),
    }
    Ok(Some(set))
}

/// `field` names the element for an error (built only then: this runs for every value).
fn condition_value<N: Node>(ctx: &Ctx, field: &dyn Fn() -> String, v: &N, vars: bool) -> Result<Value, PolicyError> {
    let raw = match v.as_str().map(str::to_string).or_else(|| v.scalar_text()) {
        Some(raw) => raw,
        None => {
            return Err(ctx.err(field(), format!("a condition value must be a string, number or boolean, found {}", kind_of(v))))
        }
    };
    Ok(Value::new(raw, vars))
}

fn conditions<N: Node>(ctx: &Ctx, v: &N, vars: bool) -> Result<Vec<Condition>, PolicyError> {
    let Some(ops) = v.entries() else {
        return Err(ctx.err("Condition", format!("expected an object, found {}", kind_of(v))));
    };
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let field = || format!("Condition.{op_name}");
        let operator = Operator::parse(op_name).ok_or_else(|| {
            let hint = Operator::suggest(op_name).map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
            ctx.err(field(), format!("unknown condition operator{hint}"))
        })?;
        let Some(keys) = block.entries() else {
            return Err(ctx.err(field(), format!("expected an object of condition keys, found {}", kind_of(block))));
        };
        for (key, vals) in keys {
            let kf = || format!("Condition.{op_name}.{key}");
            let values = match vals.as_list() {
                Some(items) => {
                    items.iter().map(|i| condition_value(ctx, &kf, i, vars)).collect::<Result<Vec<_>, _>>()?
                }
                None => vec![condition_value(ctx, &kf, vals, vars)?],
            };
            if key.is_empty() {
                return Err(ctx.err(kf(), "empty condition key"));
            }
            out.push(Condition {
                operator_raw: op_name.to_string(),
                operator,
                key: key.to_string(),
                key_lc: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn unknown_element<N: Node>(ctx: &Ctx, obj: &N, known: &[&str]) -> Result<(), PolicyError> {
    for (k, _) in obj.entries().into_iter().flatten() {
        if !known.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            let hint = known
                .iter()
                .map(|n| (n, crate::condition::edit_distance(&k.to_ascii_lowercase(), &n.to_ascii_lowercase())))
                .filter(|(_, d)| *d <= 2)
                .min_by_key(|(_, d)| *d)
                .map(|(n, _)| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            return Err(ctx.err(k, format!("unknown policy element{hint}")));
        }
    }
    Ok(())
}

fn statement<N: Node>(index: usize, v: &N, vars: bool) -> Result<Statement, PolicyError> {
    let mut ctx = Ctx { index: Some(index), sid: None };
    if v.entries().is_none() {
        return Err(ctx.err("Statement", format!("expected an object, found {}", kind_of(v))));
    }
    let obj = v;
    ctx.sid = match get(obj, "Sid") {
        None => None,
        Some(s) => match s.as_str() {
            Some(s) => Some(s.to_string()),
            None => return Err(ctx.err("Sid", format!("expected a string, found {}", kind_of(s)))),
        },
    };
    unknown_element(&ctx, obj, STMT_ELEMENTS)?;
    let effect = match get(obj, "Effect").map(|e| (e, e.as_str())) {
        Some((_, Some("Allow"))) => Effect::Allow,
        Some((_, Some("Deny"))) => Effect::Deny,
        Some((_, Some(s))) => return Err(ctx.err("Effect", format!("{s:?} is not Allow or Deny (case matters)"))),
        Some((other, None)) => {
            return Err(ctx.err("Effect", format!("expected \"Allow\" or \"Deny\", found {}", kind_of(other))))
        }
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
        action.patterns.iter().map(|p| p.action_service()).collect::<Option<Vec<_>>>().map(|mut v| {
            v.sort_unstable();
            v.dedup();
            v.into_iter().map(Box::<str>::from).collect()
        })
    };
    Ok(Statement { index, sid: ctx.sid, effect, action, resource, principal, conditions, services })
}

impl Policy {
    /// Parse a document from JSON text. Read straight from the text (no `serde_json::Value` is
    /// built unless [`Policy::raw`] is asked for); the same answer, errors included, as
    /// parsing the text into a `Value` and calling [`Policy::from_json`].
    pub fn parse_str(text: &str) -> Result<Policy, PolicyError> {
        match Tree::parse(text) {
            Ok(tree) => Policy::from_tree(&tree, text),
            // Invalid JSON, or an object that repeats a key: the `Value` path reads and words it.
            Err(_) => Policy::parse_str_json(text),
        }
    }

    fn parse_str_json(text: &str) -> Result<Policy, PolicyError> {
        let raw: Json = serde_json::from_str(text).map_err(|e| PolicyError {
            statement: None,
            sid: None,
            field: "document".into(),
            message: format!("not valid JSON: {e}"),
        })?;
        Policy::from_json(raw)
    }

    /// Parse a document read into a [`Tree`] from `text` (which [`Policy::raw`] is read from
    /// when asked for): the same answer as [`Policy::from_json`] on the same text's `Value`.
    pub fn from_tree(tree: &Tree<'_>, text: &str) -> Result<Policy, PolicyError> {
        let (version, id, statements) = parse(tree)?;
        let raw = RawDocument { text: Some(text.into()), json: OnceLock::new() };
        Ok(Policy { version, id, statements, raw })
    }

    /// Parse a document from a JSON value (kept as [`Policy::raw`]).
    pub fn from_json(raw: Json) -> Result<Policy, PolicyError> {
        let (version, id, statements) = parse(&raw)?;
        Ok(Policy { version, id, statements, raw: RawDocument { text: None, json: OnceLock::from(raw) } })
    }

    /// The empty document `{}`: no statement.
    pub fn empty() -> Policy {
        Policy {
            version: None,
            id: None,
            statements: Vec::new(),
            raw: RawDocument { text: None, json: OnceLock::from(Json::Object(Default::default())) },
        }
    }

    /// The document as given (key order and values).
    pub fn raw(&self) -> &Json {
        self.raw.json()
    }
}

type Parts = (Option<String>, Option<String>, Vec<Statement>);

fn parse<N: Node>(raw: &N) -> Result<Parts, PolicyError> {
    let ctx = Ctx { index: None, sid: None };
    if raw.entries().is_none() {
        return Err(ctx.err("document", format!("a policy must be a JSON object, found {}", kind_of(raw))));
    }
    let obj = raw;
    unknown_element(&ctx, obj, TOP_ELEMENTS)?;
    let version = match get(obj, "Version").map(|v| (v, v.as_str())) {
        None => None,
        Some((_, Some(v))) if v == "2012-10-17" || v == "2008-10-17" => Some(v.to_string()),
        Some((_, Some(v))) => {
            return Err(ctx.err("Version", format!("{v:?} is not a policy language version (use \"2012-10-17\")")))
        }
        Some((other, None)) => return Err(ctx.err("Version", format!("expected a string, found {}", kind_of(other)))),
    };
    let id = match get(obj, "Id").map(|v| (v, v.as_str())) {
        None => None,
        Some((_, Some(s))) => Some(s.to_string()),
        Some((other, None)) => return Err(ctx.err("Id", format!("expected a string, found {}", kind_of(other)))),
    };
    // Policy variables exist only in version 2012-10-17; older documents treat `${...}` literally.
    let vars = version.as_deref() == Some("2012-10-17");
    let statements = match get(obj, "Statement") {
        None => Vec::new(),
        Some(v) => match (v.as_list(), v.entries()) {
            (Some(items), _) => items.iter().enumerate().map(|(i, s)| statement(i, s, vars)).collect::<Result<_, _>>()?,
            (None, Some(_)) => vec![statement(0, v, vars)?],
            (None, None) => {
                return Err(ctx.err("Statement", format!("expected an object or a list, found {}", kind_of(v))))
            }
        },
    };
    Ok((version, id, statements))
}
