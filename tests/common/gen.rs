//! A deterministic generator of realistic scenarios (several layers of 10–40 statements with
//! conditions), shared by the benchmarks.

use serde_json::{json, Value};

const SERVICES: &[&str] = &["s3", "kms", "sqs", "secretsmanager", "ec2", "dynamodb", "lambda", "logs"];
const VERBS: &[&str] = &["Get", "Put", "List", "Describe", "Delete", "Create", "Update", "Tag"];

fn statements(seed: usize, n: usize, principal: bool, deny_every: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let k = seed.wrapping_mul(31).wrapping_add(i * 7);
            let svc = SERVICES[k % SERVICES.len()];
            let verb = VERBS[(k / 3) % VERBS.len()];
            let effect = if deny_every > 0 && i % deny_every == deny_every - 1 { "Deny" } else { "Allow" };
            let mut s = json!({
                "Sid": format!("S{seed}x{i}"),
                "Effect": effect,
                "Action": [format!("{svc}:{verb}*"), format!("{svc}:{verb}Object"), format!("{}:Describe?{}", svc, i % 5)],
                "Resource": [format!("arn:aws:{svc}:us-east-1:111122223333:thing/{}-*", k % 17),
                             format!("arn:aws:s3:::bucket-{}/*", k % 13)],
            });
            if i % 3 == 0 {
                s["Condition"] = json!({
                    "StringEquals": {"aws:PrincipalTag/team": ["payments", "growth"]},
                    "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "203.0.113.0/24"]},
                });
            }
            if i % 4 == 1 {
                s["Condition"] = json!({"Bool": {"aws:SecureTransport": "true"}, "StringLike": {"s3:prefix": ["home/${aws:username}/*"]}});
            }
            if principal {
                s["Principal"] = json!({"AWS": [format!("arn:aws:iam::111122223333:role/r{}", k % 9), "arn:aws:iam::444455556666:root"]});
            }
            s
        })
        .collect()
}

fn doc(stmts: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": stmts})
}

/// One realistic scenario for index `i` (10–12 statements per policy, about 15 KB of JSON).
#[allow(dead_code)]
pub fn scenario(i: usize) -> Value {
    scenario_sized(i, 10)
}

/// A scenario whose policies hold about `n` statements each (n = 2 gives about 4 KB of JSON).
pub fn scenario_sized(i: usize, n: usize) -> Value {
    let svc = SERVICES[i % SERVICES.len()];
    let verb = VERBS[(i / 7) % VERBS.len()];
    json!({
        "name": format!("gen-{i}"),
        "request": {
            "principal": format!("arn:aws:sts::111122223333:assumed-role/r{}/session-{i}", i % 9),
            "action": format!("{svc}:{verb}Object"),
            "resource": format!("arn:aws:s3:::bucket-{}/home/user/file-{i}.txt", i % 13),
            "resource_account": "111122223333",
            "context": {"aws:SourceIp": "203.0.113.9", "aws:PrincipalTag/team": "payments",
                        "aws:SecureTransport": "true", "aws:TagKeys": ["env", "team"]}
        },
        "policies": {
            "scp": [
                {"target": "r-abcd", "policies": [{"name": "FullAWSAccess", "document": doc(vec![json!({"Effect":"Allow","Action":"*","Resource":"*"})])},
                                                  {"name": "guardrails", "document": doc(statements(i + 1, n, false, 2))}]},
                {"target": "ou-abcd-11111111", "policies": [{"name": "FullAWSAccess", "document": doc(vec![json!({"Effect":"Allow","Action":"*","Resource":"*"})])}]},
                {"target": "111122223333", "policies": [{"name": "FullAWSAccess", "document": doc(vec![json!({"Effect":"Allow","Action":"*","Resource":"*"})])}]}
            ],
            "permissions_boundary": {"name": "boundary", "document": doc(statements(i + 2, n + 2, false, 0))},
            "identity": [
                {"name": "inline:app", "document": doc(statements(i + 3, n, false, 5))},
                {"name": "arn:aws:iam::111122223333:policy/shared", "document": doc(statements(i + 4, n, false, 0))}
            ],
            "resource": {"name": "bucket-policy", "document": doc(statements(i + 5, n, true, 4))}
        }
    })
}
