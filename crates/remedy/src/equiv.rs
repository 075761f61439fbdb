//! Is another text of a plan's policies the same fix? Used when the fix is written somewhere else
//! than the API (a CloudFormation template, a Terraform configuration): the policy rendered from
//! the patched code replaces the plan's `after`, and both layer sets are evaluated over the
//! no-new-access neighbourhood of the request. Equivalent means the intended request is allowed
//! by both and every neighbouring request is decided the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use denyctl_eval::{evaluate, Decision, LayerKind, Layers, NamedPolicy, Request};
use denyctl_policy::Policy;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::check::Neighbourhood;
use crate::model::{Access, Change, Plan, TargetKind};

/// A request decided differently by the plan's policy and by the rendered one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// The request.
    pub access: Access,
    /// Whether the plan's policies allow it (the rendered ones decide the opposite).
    pub plan_allows: bool,
}

/// The comparison of one change's rendered policy with the plan's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivalence {
    /// The change.
    pub change: String,
    /// How many requests were compared (the intended one included).
    pub checked: usize,
    /// Whether the intended request is allowed with the rendered policy in place.
    pub intended_allowed: bool,
    /// Every request decided differently.
    pub differences: Vec<Difference>,
}

impl Equivalence {
    /// The rendered policy decides everything as the plan's does.
    pub fn holds(&self) -> bool {
        self.intended_allowed && self.differences.is_empty()
    }
}

/// Put `doc` in the layer slot of change `c` (the slot the planner wrote it to).
fn put(layers: &mut Layers, c: &Change, doc: &Json) -> Result<(), String> {
    let policy = Policy::from_json(doc.clone()).map_err(|e| format!("change {}: the policy does not parse: {e}", c.id))?;
    let t = &c.target;
    let named = |name: Arc<str>| NamedPolicy { name, policy: Arc::new(policy.clone()) };
    let replace = |list: &mut Vec<NamedPolicy>, names: &[String]| {
        match list.iter_mut().find(|p| names.iter().any(|n| *n == *p.name)) {
            Some(p) => p.policy = Arc::new(policy.clone()),
            None => list.push(NamedPolicy { name: Arc::from(names[0].as_str()), policy: Arc::new(policy.clone()) }),
        }
    };
    match t.kind {
        TargetKind::InlinePolicy => {
            let bare = t.policy_name.strip_prefix("inline:").unwrap_or(&t.policy_name).to_string();
            replace(&mut layers.identity, &[format!("inline:{bare}"), bare])
        }
        TargetKind::ManagedPolicy => {
            let mut names = vec![t.policy_arn.clone().unwrap_or_else(|| t.policy_name.clone())];
            names.push(t.policy_name.clone());
            replace(&mut layers.identity, &names)
        }
        TargetKind::Boundary => {
            let name = layers.permissions_boundary.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from(t.policy_name.as_str()));
            layers.permissions_boundary = Some(named(name));
        }
        TargetKind::ResourcePolicy | TargetKind::TrustPolicy => {
            let name = layers.resource.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from(t.policy_name.as_str()));
            layers.resource = Some(named(name));
        }
        TargetKind::Session => replace(layers.session.get_or_insert_with(Vec::new), std::slice::from_ref(&t.policy_name)),
        TargetKind::VpcEndpointPolicy => {
            let name = layers.vpc_endpoint.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| Arc::from(t.policy_name.as_str()));
            layers.vpc_endpoint = Some(named(name));
        }
        TargetKind::Scp | TargetKind::Rcp => {
            let levels = if t.kind == TargetKind::Scp { layers.scp.get_or_insert_with(Vec::new) } else { layers.rcp.get_or_insert_with(Vec::new) };
            let target = t.org_target.clone().unwrap_or_default();
            let Some(lv) = levels.iter_mut().find(|lv| lv.target == target) else {
                return Err(format!("change {}: organization level {target} is not in the layers", c.id));
            };
            replace(&mut lv.policies, std::slice::from_ref(&t.policy_name));
        }
    }
    Ok(())
}

/// The layers with every applicable change of `plan` applied, each change's policy taken from
/// `replacements` (change id → document) when given there, else from the plan's `after`.
pub fn layers_with(layers: &Layers, plan: &Plan, replacements: &BTreeMap<String, Json>) -> Result<Layers, String> {
    let mut out = layers.clone();
    for c in plan.changes.iter().filter(|c| c.applicable) {
        put(&mut out, c, replacements.get(&c.id).unwrap_or(&c.after))?;
    }
    Ok(out)
}

/// Compare, for each replaced change, the plan's policies with the rendered ones over the
/// neighbourhood of `req` (other principals included when a resource policy changes).
pub fn compare(req: &Request, layers: &Layers, plan: &Plan, replacements: &BTreeMap<String, Json>) -> Result<Vec<Equivalence>, String> {
    let planned = layers_with(layers, plan, &BTreeMap::new())?;
    let others = plan.changes.iter().any(|c| matches!(c.layer, LayerKind::Resource | LayerKind::Scp | LayerKind::Rcp | LayerKind::VpcEndpoint));
    let hood = Neighbourhood::build(req, layers, others);
    let mut out = Vec::new();
    for (id, doc) in replacements {
        let Some(c) = plan.changes.iter().find(|c| &c.id == id) else {
            return Err(format!("change {id} is not in the plan"));
        };
        let mut rendered = planned.clone();
        put(&mut rendered, c, doc)?;
        let intended_allowed = evaluate(req, &rendered).decision == Decision::Allow || evaluate(req, &planned).decision != Decision::Allow;
        let differences = hood.differing(&planned, &rendered).into_iter().map(|(access, plan_allows)| Difference { access, plan_allows }).collect();
        out.push(Equivalence { change: id.clone(), checked: hood.len() + 1, intended_allowed, differences });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use denyctl_eval::scenario::Scenario;
    use serde_json::json;

    fn case() -> (Request, Layers, Plan) {
        let sc = Scenario::from_json(json!({
            "request": {"principal": "arn:aws:sts::111122223333:assumed-role/deploy-role/GitHubActions", "action": "s3:PutObject",
                        "resource": "arn:aws:s3:::prod-artifacts/releases/app.zip", "resource_account": "111122223333"},
            "policies": {"identity": [{"name": "inline:deploy", "document": {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::prod-artifacts/*"}]}}]}
        }))
        .unwrap();
        let v = evaluate(&sc.request, &sc.layers);
        let p = crate::plan(&sc.request, &sc.layers, &v, &crate::Options::default()).unwrap();
        (sc.request, sc.layers, p)
    }

    #[test]
    fn the_same_policy_written_differently_is_equivalent() {
        let (req, layers, p) = case();
        let c = &p.changes[0];
        // The same statement, with a one-element list and another Sid.
        let mut doc = c.after.clone();
        doc["Statement"][0]["Action"] = json!(["s3:PutObject"]);
        doc["Statement"][0]["Sid"] = json!("FromTerraform");
        let r = compare(&req, &layers, &p, &BTreeMap::from([(c.id.clone(), doc)])).unwrap();
        assert!(r[0].holds(), "{r:?}");
        assert!(r[0].checked > 10);
    }

    #[test]
    fn a_wider_or_missing_grant_is_caught() {
        let (req, layers, p) = case();
        let c = &p.changes[0];
        let mut wide = c.after.clone();
        wide["Statement"][0]["Resource"] = json!("arn:aws:s3:::prod-artifacts/*");
        let r = compare(&req, &layers, &p, &BTreeMap::from([(c.id.clone(), wide)])).unwrap();
        assert!(!r[0].holds());
        assert!(r[0].intended_allowed);
        assert!(r[0].differences.iter().all(|d| !d.plan_allows), "{r:?}");
        let mut none = c.after.clone();
        none["Statement"][0]["Action"] = json!("s3:GetObject");
        let r = compare(&req, &layers, &p, &BTreeMap::from([(c.id.clone(), none)])).unwrap();
        assert!(!r[0].intended_allowed);
        assert!(compare(&req, &layers, &p, &BTreeMap::from([("c9".to_string(), json!({}))])).is_err());
    }
}
