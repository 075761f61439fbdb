//! The request being evaluated, and its context keys.

use denyctl_policy::{Principal, PrincipalKind};
use serde::Serialize;

/// Request context: case-insensitive keys, each with one or more string values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Context {
    /// (key as given, key lower-cased, values). A short list: a linear scan beats hashing here.
    #[serde(skip)]
    entries: Vec<(String, String, Vec<String>)>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Context {
        Context::default()
    }

    /// Set a key (replacing an earlier value of the same key, compared case-insensitively).
    pub fn insert(&mut self, key: &str, values: Vec<String>) {
        let lc = key.to_ascii_lowercase();
        match self.entries.iter_mut().find(|(_, k, _)| *k == lc) {
            Some(e) => e.2 = values,
            None => self.entries.push((key.to_string(), lc, values)),
        }
    }

    /// Set a key only when it is not already present.
    pub fn insert_default(&mut self, key: &str, value: String) {
        if self.get(&key.to_ascii_lowercase()).is_none() {
            self.insert(key, vec![value]);
        }
    }

    /// Values of a key; `key_lc` must be lower-cased.
    pub fn get(&self, key_lc: &str) -> Option<&[String]> {
        self.entries.iter().find(|(_, k, _)| k == key_lc).map(|(_, _, v)| v.as_slice())
    }

    /// Every (key as given, values) pair.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, _, v)| (k.as_str(), v.as_slice()))
    }
}

/// A request: who, what, on which resource, in which context.
#[derive(Debug, Clone)]
pub struct Request {
    /// The caller as STS reports it.
    pub principal: Principal,
    /// The caller's principal string as given (for service principals and display).
    pub principal_raw: String,
    /// The action (`s3:PutObject`), as given.
    pub action: String,
    /// The action lower-cased, for matching.
    pub action_lc: String,
    /// Where the colon is in `action_lc`.
    colon: usize,
    /// The resource ARN, or `*`.
    pub resource: String,
    /// The account that owns the resource.
    pub resource_account: String,
    /// Context keys, including the ones derived from the principal.
    pub context: Context,
    /// The IAM entity ARN policies name: role ARN (with path when known) or the ARN itself.
    pub entity_arn: String,
}

/// Why a request is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The principal is not a caller ARN.
    #[error("request.principal: {0}")]
    Principal(#[from] denyctl_policy::PrincipalError),
    /// The action is not `service:Action`.
    #[error("request.action: {0:?} is not an action (expected service:Action, e.g. s3:GetObject)")]
    Action(String),
    /// The resource is neither `*` nor an ARN.
    #[error("request.resource: {0}")]
    Resource(#[from] denyctl_policy::ArnError),
    /// The resource account is not an account ID.
    #[error("request.resource_account: {0:?} is not a 12-digit account ID")]
    Account(String),
}

impl Request {
    /// Build a request, validating its parts and deriving the context keys AWS sets itself:
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:username` (IAM users),
    /// unless the caller gave them.
    pub fn new(
        principal: &str,
        action: &str,
        resource: &str,
        resource_account: Option<&str>,
        mut context: Context,
    ) -> Result<Request, RequestError> {
        let p = Principal::parse(principal)?;
        match action.split_once(':') {
            Some((s, a)) if !s.is_empty() && !a.is_empty() && !a.contains(':') && !action.contains('*') => {}
            _ => return Err(RequestError::Action(action.to_string())),
        }
        let resource_acct = if resource == "*" {
            None
        } else {
            let arn = denyctl_policy::Arn::parse(resource)?;
            (!arn.account.is_empty() && arn.account != "aws").then_some(arn.account)
        };
        let resource_account = match resource_account {
            Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => a.to_string(),
            Some(a) => return Err(RequestError::Account(a.to_string())),
            None => resource_acct.unwrap_or_else(|| p.account().to_string()),
        };
        // A role ARN given as aws:PrincipalArn carries the role's path; prefer it.
        let entity_arn = match context.get("aws:principalarn") {
            Some([arn]) if matches!(p.kind, PrincipalKind::AssumedRole { .. }) => arn.clone(),
            _ => p.entity_arn(),
        };
        context.insert_default("aws:PrincipalArn", entity_arn.clone());
        context.insert_default("aws:PrincipalAccount", p.account().to_string());
        let ptype = match p.kind {
            PrincipalKind::User { .. } => "User",
            PrincipalKind::Role { .. } | PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::FederatedUser { .. } => "FederatedUser",
            PrincipalKind::Root => "Account",
        };
        context.insert_default("aws:PrincipalType", ptype.to_string());
        if let PrincipalKind::User { name, .. } = &p.kind {
            context.insert_default("aws:username", name.clone());
        }
        Ok(Request {
            principal_raw: principal.to_string(),
            action: action.to_string(),
            action_lc: action.to_ascii_lowercase(),
            colon: action.find(':').unwrap_or(0),
            resource: resource.to_string(),
            resource_account,
            context,
            entity_arn,
            principal: p,
        })
    }

    /// Whether the resource belongs to another account than the caller.
    pub fn is_cross_account(&self) -> bool {
        self.resource_account != self.principal.account()
    }

    /// The service prefix of the action, lower-cased.
    pub fn service(&self) -> &str {
        &self.action_lc[..self.colon]
    }

    /// The action name after the colon, lower-cased.
    pub fn action_name(&self) -> &str {
        &self.action_lc[self.colon + 1..]
    }
}
