//! Scenario files (../shared/scenarios/FORMAT.md): a request, every layer, and the expected answer.

use denyctl_policy::Policy;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::layers::{LayerKind, Layers, NamedPolicy, OrgLevel, UnknownLayer};
use crate::request::{Context, Request};

/// Why a scenario cannot be used, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    /// JSON path (`policies.identity[0].document`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn err(path: impl Into<String>, message: impl std::fmt::Display) -> ScenarioError {
    ScenarioError { path: path.into(), message: message.to_string() }
}

#[derive(Deserialize)]
struct RawNamed {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    document: Option<Json>,
}

#[derive(Deserialize)]
struct RawLevel {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    policies: Vec<RawNamed>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    #[serde(default)]
    identity: Option<Vec<RawNamed>>,
    #[serde(default)]
    permissions_boundary: Option<RawNamed>,
    #[serde(default)]
    session: Option<Vec<RawNamed>>,
    #[serde(default)]
    scp: Option<Vec<RawLevel>>,
    #[serde(default)]
    rcp: Option<Vec<RawLevel>>,
    #[serde(default)]
    resource: Option<RawNamed>,
    #[serde(default)]
    vpc_endpoint: Option<RawNamed>,
    #[serde(default)]
    management_account: Option<String>,
    #[serde(default)]
    unknown: Vec<UnknownLayer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    principal: Option<String>,
    action: Option<String>,
    resource: Option<String>,
    #[serde(default)]
    resource_account: Option<String>,
    #[serde(default)]
    context: serde_json::Map<String, Json>,
}

/// The fields of a scenario (tests/scenarios/FORMAT.md; `versions`: the version tokens `fix --scenario` carries).
const TOP_LEVEL: &[&str] = &["name", "description", "request", "policies", "expect", "versions"];

/// The expected answer a scenario carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Expect {
    /// `allow`, `explicit_deny` or `implicit_deny`.
    pub decision: String,
    /// Layer names.
    #[serde(default)]
    pub denied_by: Vec<String>,
}

/// A parsed scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// The request.
    pub request: Request,
    /// The layers.
    pub layers: Layers,
    /// `expect`, when given.
    pub expect: Option<Expect>,
}

fn named(path: &str, raw: RawNamed, default_name: &str) -> Result<NamedPolicy, ScenarioError> {
    let doc = raw.document.unwrap_or_else(|| Json::Object(Default::default()));
    let policy = Policy::from_json(doc).map_err(|e| err(format!("{path}.document"), e))?;
    Ok(NamedPolicy::new(raw.name.as_deref().unwrap_or(default_name), policy))
}

fn named_list(path: &str, raw: Vec<RawNamed>) -> Result<Vec<NamedPolicy>, ScenarioError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| named(&format!("{path}[{i}]"), r, &format!("{path}[{i}]")))
        .collect()
}

fn levels(path: &str, raw: Vec<RawLevel>) -> Result<Vec<OrgLevel>, ScenarioError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, l)| {
            let p = format!("{path}[{i}]");
            Ok(OrgLevel {
                target: l.target.unwrap_or_else(|| format!("level {i}")),
                policies: named_list(&format!("{p}.policies"), l.policies)?,
            })
        })
        .collect()
}

fn context(map: serde_json::Map<String, Json>) -> Result<Context, ScenarioError> {
    let mut ctx = Context::new();
    for (k, v) in map {
        let path = format!("request.context.{k}");
        let scalar = |v: &Json| -> Result<String, ScenarioError> {
            match v {
                Json::String(s) => Ok(s.clone()),
                Json::Bool(b) => Ok(b.to_string()),
                Json::Number(n) => Ok(n.to_string()),
                other => Err(err(&path, format!("a context value must be a string or a list of strings, found {other}"))),
            }
        };
        let values = match &v {
            Json::Array(items) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
            other => vec![scalar(other)?],
        };
        ctx.insert(&k, values);
    }
    Ok(ctx)
}

impl Scenario {
    /// Parse a scenario from JSON text.
    pub fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
        let v: Json = serde_json::from_str(text).map_err(|e| err("scenario", format!("not valid JSON: {e}")))?;
        Scenario::from_json(v)
    }

    /// Parse a scenario from a JSON value.
    pub fn from_json(v: Json) -> Result<Scenario, ScenarioError> {
        let Json::Object(mut obj) = v else { return Err(err("scenario", "expected a JSON object")) };
        // A misspelled key would silently drop a layer or a request field and change the verdict.
        // (A snapshot, `"format": "denyctl-snapshot/1"`, carries more: it is read through here too.)
        let snapshot = obj.contains_key("format");
        if let Some(k) = obj.keys().find(|k| !snapshot && !TOP_LEVEL.contains(&k.as_str())) {
            return Err(err(k.as_str(), format!("unknown field; a scenario has {}", TOP_LEVEL.join(", "))));
        }
        let text = |obj: &serde_json::Map<String, Json>, k: &str| obj.get(k).and_then(Json::as_str).map(str::to_string);
        let name = text(&obj, "name");
        let description = text(&obj, "description");
        let raw_req = obj.remove("request").ok_or_else(|| err("request", "missing (a scenario needs a request)"))?;
        let raw_req: RawRequest = serde_json::from_value(raw_req).map_err(|e| err("request", e))?;
        let principal = raw_req.principal.ok_or_else(|| err("request.principal", "missing"))?;
        let action = raw_req.action.ok_or_else(|| err("request.action", "missing"))?;
        let resource = raw_req.resource.unwrap_or_else(|| "*".to_string());
        let ctx = context(raw_req.context)?;
        let request = Request::new(&principal, &action, &resource, raw_req.resource_account.as_deref(), ctx)
            .map_err(|e| err("request", e))?;
        let policies: RawPolicies = match obj.remove("policies") {
            None | Some(Json::Null) => RawPolicies::default(),
            Some(p) => serde_json::from_value(p).map_err(|e| err("policies", e))?,
        };
        let layers = Layers {
            identity: named_list("policies.identity", policies.identity.unwrap_or_default())?,
            permissions_boundary: policies
                .permissions_boundary
                .map(|r| named("policies.permissions_boundary", r, "permissions boundary"))
                .transpose()?,
            session: policies.session.map(|s| named_list("policies.session", s)).transpose()?,
            scp: policies.scp.map(|l| levels("policies.scp", l)).transpose()?,
            rcp: policies.rcp.map(|l| levels("policies.rcp", l)).transpose()?,
            resource: policies.resource.map(|r| named("policies.resource", r, "resource policy")).transpose()?,
            vpc_endpoint: policies.vpc_endpoint.map(|r| named("policies.vpc_endpoint", r, "VPC endpoint policy")).transpose()?,
            management_account: policies.management_account,
            unknown: policies.unknown,
        };
        let expect = match obj.remove("expect") {
            None | Some(Json::Null) => None,
            Some(e) => Some(serde_json::from_value(e).map_err(|e| err("expect", e))?),
        };
        Ok(Scenario { name, description, request, layers, expect })
    }
}

/// Parse a `denied_by` name.
pub fn layer_from_name(s: &str) -> Option<LayerKind> {
    serde_json::from_value(Json::String(s.to_string())).ok()
}
