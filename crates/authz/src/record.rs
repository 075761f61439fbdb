//! AWS's record of a request's authorization, in denyctl's terms, and its comparison with
//! denyctl's own verdict. Pure: no I/O.

use std::collections::BTreeMap;

use denyctl_eval::{Decision, LayerKind, Verdict};
use serde::{Deserialize, Serialize};

/// One statement AWS says matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedStatement {
    /// The statement's Sid, when it has one.
    pub sid: Option<String>,
    /// `allow` or `deny`.
    pub effect: String,
}

/// A policy AWS evaluated, with the statements of it that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedPolicy {
    /// AWS's URI for the policy.
    pub uri: String,
    /// Its layer in denyctl's vocabulary, when AWS said which type it is.
    pub layer: Option<LayerKind>,
    /// Whether it is an inline policy.
    pub inline: Option<bool>,
    /// The entities it is attached to (a role, an OU, an account...).
    pub attached_to: Vec<String>,
    /// The statements that matched.
    pub statements: Vec<MatchedStatement>,
}

/// One action/resource pair AWS evaluated for the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The action (`s3:PutObject`).
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// AWS's decision for this pair.
    pub decision: Option<Decision>,
    /// Context keys specific to this evaluation.
    pub context: BTreeMap<String, serde_json::Value>,
    /// Policies with matching statements.
    pub matched: Vec<MatchedPolicy>,
}

/// AWS's own record of a denied request (GetRequestAuthorizationDetails).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthzRecord {
    /// The authorization ID from the denial message.
    pub authorization_id: String,
    /// Context keys shared by every evaluation.
    pub request_context: BTreeMap<String, serde_json::Value>,
    /// The evaluations.
    pub evaluations: Vec<Evaluation>,
}

/// Map AWS's policy type names to denyctl's layers.
pub fn layer_of(policy_type: &str) -> Option<LayerKind> {
    Some(match policy_type {
        "IDENTITY_BASED_POLICY" => LayerKind::Identity,
        "PERMISSIONS_BOUNDARY" => LayerKind::PermissionsBoundary,
        "RESOURCE_BASED_POLICY" => LayerKind::Resource,
        "RESOURCE_CONTROL_POLICY" => LayerKind::Rcp,
        "SERVICE_CONTROL_POLICY" => LayerKind::Scp,
        "SESSION_POLICY" => LayerKind::Session,
        "VPC_ENDPOINT_POLICY" => LayerKind::VpcEndpoint,
        _ => return None,
    })
}

/// Map AWS's effect names to denyctl's decisions.
pub fn decision_of(effect: &str) -> Option<Decision> {
    Some(match effect {
        "ALLOW" => Decision::Allow,
        "EXPLICIT_DENY" => Decision::ExplicitDeny,
        "IMPLICIT_DENY" => Decision::ImplicitDeny,
        _ => return None,
    })
}

fn strings(v: &serde_json::Value) -> Option<Vec<String>> {
    match v {
        serde_json::Value::String(s) => Some(vec![s.clone()]),
        serde_json::Value::Bool(b) => Some(vec![b.to_string()]),
        serde_json::Value::Number(n) => Some(vec![n.to_string()]),
        serde_json::Value::Array(items) => items.iter().map(|i| strings(i).and_then(|mut v| v.pop())).collect(),
        _ => None,
    }
}

impl AuthzRecord {
    /// The evaluation for an action and resource (case-insensitive action), or the first one.
    pub fn evaluation_for(&self, action: &str, resource: &str) -> Option<&Evaluation> {
        self.evaluations
            .iter()
            .find(|e| e.action.eq_ignore_ascii_case(action) && e.resource == resource)
            .or_else(|| self.evaluations.iter().find(|e| e.action.eq_ignore_ascii_case(action)))
            .or_else(|| self.evaluations.first())
    }

    /// The context AWS recorded (shared keys, then the evaluation's own), as denyctl context
    /// entries: fills in what a message leaves out (source IP, VPC endpoint, MFA, tags).
    pub fn context_entries(&self, eval: Option<&Evaluation>) -> Vec<(String, Vec<String>)> {
        let mut out: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        let all = self.request_context.iter().chain(eval.into_iter().flat_map(|e| e.context.iter()));
        for (k, v) in all {
            if let Some(values) = strings(v) {
                out.insert(k.to_ascii_lowercase(), (k.clone(), values));
            }
        }
        out.into_values().collect()
    }
}

/// denyctl's verdict set beside AWS's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// AWS's decision for the request.
    pub aws_decision: Option<Decision>,
    /// denyctl's decision.
    pub denyctl_decision: Decision,
    /// The layers AWS names as denying (policies whose matched statements deny).
    pub aws_denying_layers: Vec<LayerKind>,
    /// denyctl's `denied_by`.
    pub denyctl_denied_by: Vec<LayerKind>,
    /// Whether the two agree on the decision and, for explicit denies, on the layers.
    pub agrees: bool,
    /// Each disagreement, in words.
    pub differences: Vec<String>,
}

/// Compare denyctl's verdict with AWS's record of the same request.
pub fn compare(record: &AuthzRecord, action: &str, resource: &str, verdict: &Verdict) -> Comparison {
    let eval = record.evaluation_for(action, resource);
    let aws_decision = eval.and_then(|e| e.decision);
    let mut aws_layers: Vec<LayerKind> = eval
        .into_iter()
        .flat_map(|e| &e.matched)
        .filter(|p| p.statements.iter().any(|s| s.effect == "deny"))
        .filter_map(|p| p.layer)
        .collect();
    aws_layers.sort_by_key(|k| k.as_str());
    aws_layers.dedup();
    let mut differences = Vec::new();
    match aws_decision {
        None => differences.push("AWS's record has no decision for this request".to_string()),
        Some(d) if d != verdict.decision => differences.push(format!(
            "AWS decided {} where denyctl decided {}",
            d.as_str(),
            verdict.decision.as_str()
        )),
        Some(_) => {}
    }
    if aws_decision == Some(Decision::ExplicitDeny) && verdict.decision == Decision::ExplicitDeny && aws_layers != verdict.denied_by {
        let names = |v: &[LayerKind]| v.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        differences.push(format!(
            "AWS's denying statements are in [{}], denyctl's in [{}]",
            names(&aws_layers),
            names(&verdict.denied_by)
        ));
    }
    // Statements: every denying Sid AWS names should be among denyctl's deciding statements.
    if let Some(e) = eval {
        for p in &e.matched {
            for s in p.statements.iter().filter(|s| s.effect == "deny") {
                let Some(sid) = &s.sid else { continue };
                let found = verdict
                    .layers
                    .iter()
                    .flat_map(|l| &l.deciding)
                    .any(|d| d.sid.as_deref() == Some(sid.as_str()));
                if !found {
                    differences.push(format!("AWS names the denying statement Sid {sid:?} in {}; denyctl does not", p.uri));
                }
            }
        }
    }
    Comparison {
        aws_decision,
        denyctl_decision: verdict.decision,
        aws_denying_layers: aws_layers,
        denyctl_denied_by: verdict.denied_by.clone(),
        agrees: differences.is_empty(),
        differences,
    }
}
