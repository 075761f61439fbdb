//! Scenario files (../shared/scenarios/FORMAT.md): a request, every layer, and the expected answer.

use std::borrow::Cow;

use denyctl_policy::{Policy, Tree};
use serde::Deserialize;
use serde_json::value::RawValue;
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
    /// Parse a scenario from JSON text: read straight from the text (borrowed strings, no
    /// `serde_json::Value` for the policies) when it is well formed; the same answer, errors
    /// included, as [`Scenario::parse_json_str`].
    pub fn parse_str(text: &str) -> Result<Scenario, ScenarioError> {
        // Whatever the direct reading does not accept (bad input, rare shapes) is read again
        // the slow way, which words the error.
        fast::parse(text).or_else(|()| Scenario::parse_json_str(text))
    }

    /// Parse a scenario from JSON text through a `serde_json::Value` (the reference reading).
    pub fn parse_json_str(text: &str) -> Result<Scenario, ScenarioError> {
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

/// The direct reading of a scenario: the top level, the request and the layer lists through
/// typed borrowed structures, each policy document read by [`Policy::from_tree`] from its own
/// text. It accepts exactly what the reference reading accepts or gives up (`Err(())`): every
/// byte it accepts is read by `serde_json` as a `Value` would read it (no value is skipped
/// unread), an object that repeats a key or a field the layer lists do not name gives up, and
/// so does a document nested deeper than any policy is.
mod fast {
    use super::*;

    /// A policy document nests a few levels; deeper ones are left to the reference reading
    /// (which counts serde_json's recursion limit from the scenario's root).
    const MAX_DOCUMENT_DEPTH: usize = 32;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named<'a> {
        #[serde(default, borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        document: Option<&'a RawValue>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Level<'a> {
        #[serde(default)]
        target: Option<String>,
        #[serde(default, borrow)]
        policies: Vec<Named<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Policies<'a> {
        #[serde(default, borrow)]
        identity: Option<Vec<Named<'a>>>,
        #[serde(default, borrow)]
        permissions_boundary: Option<Named<'a>>,
        #[serde(default, borrow)]
        session: Option<Vec<Named<'a>>>,
        #[serde(default, borrow)]
        scp: Option<Vec<Level<'a>>>,
        #[serde(default, borrow)]
        rcp: Option<Vec<Level<'a>>>,
        #[serde(default, borrow)]
        resource: Option<Named<'a>>,
        #[serde(default, borrow)]
        vpc_endpoint: Option<Named<'a>>,
        #[serde(default)]
        management_account: Option<String>,
        /// Read in full, then as the reference reading reads it (from the value).
        #[serde(default = "no_unknown", borrow)]
        unknown: Tree<'a>,
    }

    fn no_unknown<'a>() -> Tree<'a> {
        Tree::Array(Vec::new())
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request<'a> {
        #[serde(borrow)]
        principal: Option<Cow<'a, str>>,
        #[serde(borrow)]
        action: Option<Cow<'a, str>>,
        #[serde(borrow)]
        resource: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        resource_account: Option<Cow<'a, str>>,
        #[serde(default = "no_context", borrow)]
        context: Tree<'a>,
    }

    fn no_context<'a>() -> Tree<'a> {
        Tree::Object(Vec::new())
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Expect {
        decision: String,
        #[serde(default)]
        denied_by: Vec<String>,
    }

    /// The top level: a scenario's fields; any other field is read in full and counted
    /// (a snapshot, which has `format`, carries more).
    #[derive(Default)]
    struct Top<'a> {
        name: Option<Tree<'a>>,
        description: Option<Tree<'a>>,
        request: Option<Request<'a>>,
        /// `None`: absent; `Some(None)`: `null`.
        policies: Option<Option<Policies<'a>>>,
        expect: Option<Option<Expect>>,
        format: bool,
        others: usize,
    }

    impl<'de> Deserialize<'de> for Top<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Top<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a scenario object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
                    let mut top = Top::default();
                    let mut seen: Vec<Cow<'de, str>> = Vec::new();
                    while let Some(key) = map.next_key::<Tree<'de>>()? {
                        let Tree::String(key) = key else { return Err(serde::de::Error::custom("a key")) };
                        if seen.contains(&key) {
                            return Err(serde::de::Error::custom("a repeated key"));
                        }
                        match &*key {
                            "name" => top.name = Some(map.next_value()?),
                            "description" => top.description = Some(map.next_value()?),
                            "request" => top.request = Some(map.next_value()?),
                            "policies" => top.policies = Some(map.next_value()?),
                            "expect" => top.expect = Some(map.next_value()?),
                            "versions" => {
                                map.next_value::<Tree<'de>>()?;
                            }
                            "format" => {
                                map.next_value::<Tree<'de>>()?;
                                top.format = true;
                            }
                            _ => {
                                map.next_value::<Tree<'de>>()?;
                                top.others += 1;
                            }
                        }
                        seen.push(key);
                    }
                    Ok(top)
                }
            }
            d.deserialize_map(V)
        }
    }

    fn named(raw: Named<'_>, default_name: &str) -> Result<NamedPolicy, ()> {
        let policy = match raw.document {
            Some(doc) => {
                let tree = Tree::parse(doc.get()).map_err(|_| ())?;
                if tree.depth() > MAX_DOCUMENT_DEPTH {
                    return Err(());
                }
                Policy::from_tree(&tree, doc.get()).map_err(|_| ())?
            }
            None => Policy::empty(),
        };
        Ok(NamedPolicy::new(raw.name.as_deref().unwrap_or(default_name), policy))
    }

    fn named_list(path: &str, raw: Vec<Named<'_>>) -> Result<Vec<NamedPolicy>, ()> {
        raw.into_iter().enumerate().map(|(i, r)| named(r, &format!("{path}[{i}]"))).collect()
    }

    fn levels(path: &str, raw: Vec<Level<'_>>) -> Result<Vec<OrgLevel>, ()> {
        raw.into_iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(OrgLevel {
                    target: l.target.unwrap_or_else(|| format!("level {i}")),
                    policies: named_list(&format!("{path}[{i}].policies"), l.policies)?,
                })
            })
            .collect()
    }

    fn context(tree: Tree<'_>) -> Result<Context, ()> {
        let mut ctx = Context::new();
        let Tree::Object(entries) = tree else { return Err(()) };
        let scalar = |v: Tree<'_>| -> Result<String, ()> {
            match v {
                Tree::String(s) => Ok(s.into_owned()),
                Tree::Bool(b) => Ok(b.to_string()),
                Tree::Number(n) => Ok(n.to_string()),
                _ => Err(()),
            }
        };
        for (k, v) in entries {
            let values = match v {
                Tree::Array(items) => items.into_iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other)?],
            };
            ctx.insert(&k, values);
        }
        Ok(ctx)
    }

    pub(super) fn parse(text: &str) -> Result<Scenario, ()> {
        let top: Top<'_> = serde_json::from_str(text).map_err(|_| ())?;
        if !top.format && top.others > 0 {
            return Err(());
        }
        let text_of = |t: Option<Tree<'_>>| match t {
            Some(Tree::String(s)) => Some(s.into_owned()),
            _ => None,
        };
        let name = text_of(top.name);
        let description = text_of(top.description);
        let req = top.request.ok_or(())?;
        let principal = req.principal.ok_or(())?;
        let action = req.action.ok_or(())?;
        let resource = req.resource.unwrap_or(Cow::Borrowed("*"));
        let ctx = context(req.context)?;
        let request = crate::request::Request::new(&principal, &action, &resource, req.resource_account.as_deref(), ctx)
            .map_err(|_| ())?;
        let policies = top.policies.flatten().unwrap_or(Policies {
            identity: None,
            permissions_boundary: None,
            session: None,
            scp: None,
            rcp: None,
            resource: None,
            vpc_endpoint: None,
            management_account: None,
            unknown: no_unknown(),
        });
        let layers = Layers {
            identity: named_list("policies.identity", policies.identity.unwrap_or_default())?,
            permissions_boundary: policies.permissions_boundary.map(|r| named(r, "permissions boundary")).transpose()?,
            session: policies.session.map(|s| named_list("policies.session", s)).transpose()?,
            scp: policies.scp.map(|l| levels("policies.scp", l)).transpose()?,
            rcp: policies.rcp.map(|l| levels("policies.rcp", l)).transpose()?,
            resource: policies.resource.map(|r| named(r, "resource policy")).transpose()?,
            vpc_endpoint: policies.vpc_endpoint.map(|r| named(r, "VPC endpoint policy")).transpose()?,
            management_account: policies.management_account,
            unknown: match policies.unknown {
                Tree::Array(items) if items.is_empty() => Vec::new(),
                u => serde_json::from_value(u.to_json()).map_err(|_| ())?,
            },
        };
        let expect = top.expect.flatten().map(|e| super::Expect { decision: e.decision, denied_by: e.denied_by });
        Ok(Scenario { name, description, request, layers, expect })
    }
}
