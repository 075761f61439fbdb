//! Render a template value to plain JSON with the live values: `Ref`, `Fn::Sub`, `Fn::GetAtt`,
//! `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If` with the template's conditions,
//! `Fn::FindInMap` over its mappings, `AWS::NoValue`. Anything else is [`Unrenderable`].

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::model::{Live, Unrenderable};

/// What a render resolves names with.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// Partition, account, region.
    pub live: Live,
    /// The stack name (`AWS::StackName`), when known.
    pub stack_name: Option<String>,
    /// Parameter values: the stack's, else the defaults.
    pub params: BTreeMap<String, Json>,
    /// Resources by logical ID: type and properties.
    pub resources: BTreeMap<String, (String, Json)>,
    /// Physical IDs by logical ID (from the stack).
    pub physical: BTreeMap<String, String>,
    /// The template's `Conditions`.
    pub conditions: Map<String, Json>,
    /// The template's `Mappings`.
    pub mappings: Map<String, Json>,
}

fn un(expression: impl Into<String>, reason: impl Into<String>) -> Unrenderable {
    Unrenderable { expression: expression.into(), reason: reason.into() }
}

const DEPTH: usize = 64;

impl Ctx {
    /// Render `v` (None: `AWS::NoValue`).
    pub fn render(&self, v: &Json) -> Result<Option<Json>, Unrenderable> {
        self.r(v, 0)
    }

    /// Render to a value (`AWS::NoValue` at the top is an error).
    pub fn value(&self, v: &Json) -> Result<Json, Unrenderable> {
        self.render(v)?.ok_or_else(|| un("AWS::NoValue", "the whole value is removed"))
    }

    fn r(&self, v: &Json, d: usize) -> Result<Option<Json>, Unrenderable> {
        if d > DEPTH {
            return Err(un(short(v), "nested too deeply (a reference cycle?)"));
        }
        match v {
            Json::Object(o) if o.len() == 1 => {
                let (k, a) = o.iter().next().ok_or_else(|| un("{}", "empty"))?;
                if k == "Ref" || k.starts_with("Fn::") {
                    return self.intrinsic(k, a, d);
                }
                self.plain(v, d)
            }
            _ => self.plain(v, d),
        }
    }

    fn plain(&self, v: &Json, d: usize) -> Result<Option<Json>, Unrenderable> {
        Ok(Some(match v {
            Json::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    if let Some(y) = self.r(x, d + 1)? {
                        out.insert(k.clone(), y);
                    }
                }
                Json::Object(out)
            }
            Json::Array(l) => {
                let mut out = Vec::new();
                for x in l {
                    if let Some(y) = self.r(x, d + 1)? {
                        out.push(y);
                    }
                }
                Json::Array(out)
            }
            other => other.clone(),
        }))
    }

    fn s(&self, v: &Json, d: usize) -> Result<String, Unrenderable> {
        match self.r(v, d + 1)? {
            Some(Json::String(s)) => Ok(s),
            Some(Json::Number(n)) => Ok(n.to_string()),
            Some(Json::Bool(b)) => Ok(b.to_string()),
            _ => Err(un(short(v), "not a string")),
        }
    }

    fn intrinsic(&self, k: &str, a: &Json, d: usize) -> Result<Option<Json>, Unrenderable> {
        let expr = || format!("{k}: {}", short(a));
        match k {
            "Ref" => {
                let name = a.as_str().ok_or_else(|| un(expr(), "Ref of a non-string"))?;
                if name == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(name, d).map(|s| Some(Json::String(s)))
            }
            "Fn::GetAtt" => {
                let (res, att) = match a {
                    Json::Array(l) if l.len() == 2 => (self.s(&l[0], d)?, self.s(&l[1], d)?),
                    Json::String(s) => match s.split_once('.') {
                        Some((x, y)) => (x.to_string(), y.to_string()),
                        None => return Err(un(expr(), "GetAtt without an attribute")),
                    },
                    _ => return Err(un(expr(), "malformed GetAtt")),
                };
                self.get_att(&res, &att, d).map(|s| Some(Json::String(s)))
            }
            "Fn::Sub" => {
                let (tpl, vars) = match a {
                    Json::String(s) => (s.clone(), Map::new()),
                    Json::Array(l) if l.len() == 2 => (self.s(&l[0], d)?, l[1].as_object().cloned().unwrap_or_default()),
                    _ => return Err(un(expr(), "malformed Sub")),
                };
                self.sub(&tpl, &vars, d).map(|s| Some(Json::String(s)))
            }
            "Fn::Join" => {
                let l = a.as_array().filter(|l| l.len() == 2).ok_or_else(|| un(expr(), "malformed Join"))?;
                let sep = self.s(&l[0], d)?;
                let parts = match self.r(&l[1], d + 1)? {
                    Some(Json::Array(p)) => p,
                    _ => return Err(un(expr(), "Join of a non-list")),
                };
                let mut out = Vec::new();
                for p in &parts {
                    out.push(self.s(p, d)?);
                }
                Ok(Some(Json::String(out.join(&sep))))
            }
            "Fn::Select" => {
                let l = a.as_array().filter(|l| l.len() == 2).ok_or_else(|| un(expr(), "malformed Select"))?;
                let i: usize = self.s(&l[0], d)?.parse().map_err(|_| un(expr(), "Select index is not a number"))?;
                match self.r(&l[1], d + 1)? {
                    Some(Json::Array(p)) => p.get(i).cloned().map(Some).ok_or_else(|| un(expr(), "Select index out of range")),
                    _ => Err(un(expr(), "Select of a non-list")),
                }
            }
            "Fn::Split" => {
                let l = a.as_array().filter(|l| l.len() == 2).ok_or_else(|| un(expr(), "malformed Split"))?;
                let sep = self.s(&l[0], d)?;
                let s = self.s(&l[1], d)?;
                Ok(Some(Json::Array(s.split(sep.as_str()).map(|x| Json::String(x.into())).collect())))
            }
            "Fn::If" => {
                let l = a.as_array().filter(|l| l.len() == 3).ok_or_else(|| un(expr(), "malformed If"))?;
                let c = l[0].as_str().ok_or_else(|| un(expr(), "If condition name is not a string"))?;
                if self.condition(c, d)? {
                    self.r(&l[1], d + 1)
                } else {
                    self.r(&l[2], d + 1)
                }
            }
            "Fn::FindInMap" => {
                let l = a.as_array().filter(|l| l.len() >= 3).ok_or_else(|| un(expr(), "malformed FindInMap"))?;
                let (m, x, y) = (self.s(&l[0], d)?, self.s(&l[1], d)?, self.s(&l[2], d)?);
                self.mappings.get(&m).and_then(|v| v.get(&x)).and_then(|v| v.get(&y)).cloned().map(Some).ok_or_else(|| un(expr(), "no such entry in the template's Mappings"))
            }
            "Fn::ImportValue" => Err(un(expr(), "an export of another stack, only known to CloudFormation")),
            "Fn::GetAZs" => Err(un(expr(), "the region's availability zones are not read")),
            other => Err(un(expr(), format!("{other} is not rendered"))),
        }
    }

    fn condition(&self, name: &str, d: usize) -> Result<bool, Unrenderable> {
        let c = self.conditions.get(name).ok_or_else(|| un(format!("Condition {name}"), "no such condition"))?;
        self.cond(c, d + 1)
    }

    fn cond(&self, c: &Json, d: usize) -> Result<bool, Unrenderable> {
        if d > DEPTH {
            return Err(un(short(c), "nested too deeply"));
        }
        let o = c.as_object().filter(|o| o.len() == 1).ok_or_else(|| un(short(c), "not a condition"))?;
        let Some((k, a)) = o.iter().next() else { return Err(un(short(c), "empty condition")) };
        let list = || a.as_array().cloned().unwrap_or_default();
        match k.as_str() {
            "Condition" => self.condition(a.as_str().unwrap_or_default(), d),
            "Fn::Equals" => {
                let l = list();
                if l.len() != 2 {
                    return Err(un(short(c), "Equals takes two values"));
                }
                Ok(self.r(&l[0], d + 1)? == self.r(&l[1], d + 1)?)
            }
            "Fn::Not" => Ok(!self.cond(list().first().unwrap_or(&Json::Null), d + 1)?),
            "Fn::And" => {
                for x in list() {
                    if !self.cond(&x, d + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            "Fn::Or" => {
                for x in list() {
                    if self.cond(&x, d + 1)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            _ => Err(un(short(c), "not a condition function")),
        }
    }

    fn sub(&self, tpl: &str, vars: &Map<String, Json>, d: usize) -> Result<String, Unrenderable> {
        let mut out = String::new();
        let mut rest = tpl;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(j) = after.find('}') else { return Err(un(tpl, "an unclosed ${")) };
            let name = &after[..j];
            if let Some(lit) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(lit);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(&self.s(v, d)?);
            } else if let Some((r, att)) = name.split_once('.').filter(|_| !name.starts_with("AWS::")) {
                out.push_str(&self.get_att(r, att, d)?);
            } else {
                out.push_str(&self.reference(name, d)?);
            }
            rest = &after[j + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value of `Ref name`.
    pub fn reference(&self, name: &str, d: usize) -> Result<String, Unrenderable> {
        let l = &self.live;
        match name {
            "AWS::Partition" => return Ok(l.partition.clone()),
            "AWS::AccountId" => return Ok(l.account.clone()),
            "AWS::Region" => return Ok(l.region.clone()),
            "AWS::URLSuffix" => return Ok(if l.partition == "aws-cn" { "amazonaws.com.cn".into() } else { "amazonaws.com".into() }),
            "AWS::StackName" => return self.stack_name.clone().ok_or_else(|| un("Ref AWS::StackName", "the stack is not known")),
            "AWS::StackId" | "AWS::NotificationARNs" => return Err(un(format!("Ref {name}"), "only known to CloudFormation")),
            _ => {}
        }
        if let Some(v) = self.params.get(name) {
            return match v {
                Json::String(s) => Ok(s.clone()),
                Json::Array(a) => Ok(a.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(",")),
                other => Ok(other.to_string()),
            };
        }
        if let Some(p) = self.physical.get(name) {
            return Ok(p.clone());
        }
        let Some((ty, props)) = self.resources.get(name) else { return Err(un(format!("Ref {name}"), "no such parameter or resource")) };
        let prop = |k: &str| -> Result<String, Unrenderable> {
            match props.get(k) {
                Some(v) => self.s(v, d + 1),
                None => Err(un(format!("Ref {name}"), format!("{ty} {name} has no {k}: its name is generated by CloudFormation (give the stacks)"))),
            }
        };
        match ty.as_str() {
            "AWS::IAM::Role" => prop("RoleName"),
            "AWS::IAM::User" => prop("UserName"),
            "AWS::S3::Bucket" => prop("BucketName"),
            "AWS::SQS::Queue" => Ok(format!("https://sqs.{}.{}/{}/{}", l.region, url_suffix(l), l.account, prop("QueueName")?)),
            "AWS::IAM::ManagedPolicy" => Ok(format!("arn:{}:iam::{}:policy{}{}", l.partition, l.account, path_of(props), prop("ManagedPolicyName")?)),
            _ => Err(un(format!("Ref {name}"), format!("the physical ID of {ty} {name} is only known to CloudFormation (give the stacks)"))),
        }
    }

    /// The value of `Fn::GetAtt [res, att]`.
    pub fn get_att(&self, res: &str, att: &str, d: usize) -> Result<String, Unrenderable> {
        let expr = format!("Fn::GetAtt {res}.{att}");
        let Some((ty, props)) = self.resources.get(res) else { return Err(un(expr, "no such resource")) };
        let l = &self.live;
        let id = || self.reference(res, d + 1);
        match (ty.as_str(), att) {
            ("AWS::IAM::Role", "Arn") => Ok(format!("arn:{}:iam::{}:role{}{}", l.partition, l.account, path_of(props), id()?)),
            ("AWS::IAM::User", "Arn") => Ok(format!("arn:{}:iam::{}:user{}{}", l.partition, l.account, path_of(props), id()?)),
            ("AWS::IAM::ManagedPolicy", "PolicyArn") => id(),
            ("AWS::S3::Bucket", "Arn") => Ok(format!("arn:{}:s3:::{}", l.partition, id()?)),
            ("AWS::KMS::Key", "Arn") => Ok(format!("arn:{}:kms:{}:{}:key/{}", l.partition, l.region, l.account, id()?)),
            ("AWS::KMS::Key", "KeyId") => id(),
            ("AWS::SQS::Queue", "Arn") => Ok(format!("arn:{}:sqs:{}:{}:{}", l.partition, l.region, l.account, id()?.rsplit('/').next().unwrap_or_default())),
            ("AWS::SQS::Queue", "QueueUrl") => id(),
            ("AWS::SQS::Queue", "QueueName") => Ok(id()?.rsplit('/').next().unwrap_or_default().to_string()),
            ("AWS::SecretsManager::Secret", "Id") => id(),
            _ => Err(un(expr, format!("{ty}.{att} is only known to CloudFormation"))),
        }
    }
}

fn url_suffix(l: &Live) -> &'static str {
    if l.partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

fn path_of(props: &Json) -> String {
    match props.get("Path").and_then(Json::as_str) {
        Some(p) if p.starts_with('/') && p.ends_with('/') => p.to_string(),
        _ => "/".into(),
    }
}

/// A short text of a value for messages.
pub fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}
