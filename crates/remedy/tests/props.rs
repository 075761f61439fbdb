//! Property test: random layers never make the planner panic; a ready plan always allows the
//! request when re-evaluated, never removes a Deny, and never grants a wildcard action.

use denyctl_eval::scenario::Scenario;
use denyctl_eval::{evaluate, Decision};
use denyctl_remedy::{plan, EditKind, Options, Status};
use proptest::prelude::*;
use serde_json::{json, Value};

const ACTIONS: &[&str] = &["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "*", "kms:Decrypt", "sqs:SendMessage"];
const RESOURCES: &[&str] = &["*", "arn:aws:s3:::b/*", "arn:aws:s3:::b/k", "arn:aws:s3:::other/*", "arn:aws:s3:::b"];
const PRINCIPALS: &[&str] = &["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/app", "*", "arn:aws:iam::444455556666:root"];

fn statement(with_principal: bool) -> impl Strategy<Value = Value> {
    (any::<bool>(), 0..ACTIONS.len(), 0..RESOURCES.len(), 0..PRINCIPALS.len(), 0..4usize).prop_map(move |(deny, a, r, p, c)| {
        let mut s = json!({"Effect": if deny { "Deny" } else { "Allow" }, "Action": ACTIONS[a], "Resource": RESOURCES[r]});
        if with_principal {
            s["Principal"] = if PRINCIPALS[p] == "*" { json!("*") } else { json!({"AWS": PRINCIPALS[p]}) };
        }
        match c {
            1 => s["Condition"] = json!({"Bool": {"aws:SecureTransport": "false"}}),
            2 => s["Condition"] = json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/admin"}}),
            _ => {}
        }
        s
    })
}

fn doc(with_principal: bool) -> impl Strategy<Value = Value> {
    prop::collection::vec(statement(with_principal), 0..4).prop_map(|s| json!({"Version": "2012-10-17", "Statement": s}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn random_layers(identity in doc(false), boundary in prop::option::of(doc(false)), resource in prop::option::of(doc(true)),
                     cross in any::<bool>(), user in any::<bool>(), action in 0..3usize) {
        let principal = match (cross, user) {
            (false, true) => "arn:aws:iam::111122223333:user/dev",
            (false, false) => "arn:aws:sts::111122223333:assumed-role/app/s",
            (true, true) => "arn:aws:iam::444455556666:user/dev",
            (true, false) => "arn:aws:sts::444455556666:assumed-role/app/s",
        };
        let mut policies = json!({"identity": [{"name": "inline:id", "document": identity}]});
        if let Some(b) = boundary { policies["permissions_boundary"] = json!({"name": "boundary", "document": b}); }
        if let Some(r) = resource { policies["resource"] = json!({"name": "bucket", "document": r}); }
        let action = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"][action];
        let sc = Scenario::from_json(json!({
            "request": {"principal": principal, "action": action,
                        "resource": "arn:aws:s3:::b/k", "resource_account": "111122223333"},
            "policies": policies
        })).unwrap();
        let v = evaluate(&sc.request, &sc.layers);
        let p = plan(&sc.request, &sc.layers, &v, &Options { accept_widening: true, ..Options::default() });
        if let Ok(p) = p {
            // A request on an ARN the action is not scoped to (s3:ListBucket on an object) is
            // planned for the ARN AWS evaluates (the bucket), which may be denied.
            let rescoped = p.notes.iter().any(|n| n.contains("the plan is made and checked for that ARN"));
            if v.decision == Decision::Allow && !rescoped {
                prop_assert_eq!(p.status, Status::AlreadyAllowed);
            }
            if p.status == Status::AlreadyAllowed {
                prop_assert!(p.changes.is_empty());
            }
            if p.status == Status::Ready {
                prop_assert_eq!(p.verification.after.decision.as_str(), "allow");
            }
            for c in &p.changes {
                // No Deny is removed (an exact exception may add a twin Deny).
                let denies = |d: &Value| d["Statement"].as_array().map(|a| a.iter().filter(|s| s["Effect"] == "Deny").cloned().collect::<Vec<_>>()).unwrap_or_default();
                let (before, after) = (c.before.as_ref().map(denies).unwrap_or_default(), denies(&c.after));
                prop_assert!(after.len() >= before.len());
                for b in &before {
                    prop_assert!(after.iter().any(|a| a["Action"] == b["Action"] && a["NotAction"] == b["NotAction"] && a["Resource"] == b["Resource"]), "Deny {} removed", b);
                }
                if c.edit == EditKind::AddAllow {
                    for s in &c.statements {
                        prop_assert!(!s["Action"].as_str().unwrap_or("").contains('*'));
                    }
                }
            }
        }
    }
}
