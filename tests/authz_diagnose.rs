//! AWS's own record of a denial in `diagnose`: shown beside denyctl's verdict, its context used,
//! disagreements reported loudly, and kept in the snapshot for offline use.

use assert_cmd::Command;
use serde_json::{json, Value};

fn snapshot(with_scp: bool) -> Value {
    let scp = if with_scp {
        json!([{"target": "ou-abcd-11111111", "policies": [
            {"name": "FullAWSAccess", "document": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
             "source": {"kind": "scp", "read_by": "organizations:DescribePolicy"}},
            {"name": "p-deny", "document": {"Statement": [{"Sid": "DenyBigInstances", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*",
                "Condition": {"StringLike": {"ec2:InstanceType": "p5.*"}}}]},
             "source": {"kind": "scp", "read_by": "organizations:DescribePolicy"}}]}])
    } else {
        Value::Null
    };
    let mut policies = json!({
        "identity": [{"name": "inline:dev", "document": {"Statement": [{"Sid": "All", "Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]},
                      "source": {"kind": "inline", "attached_to": "role/dev", "read_by": "iam:GetRolePolicy"}}],
        "unknown": []
    });
    if with_scp {
        policies["scp"] = scp;
    }
    json!({
        "format": "denyctl-snapshot/1",
        "collected_at": "2026-11-25T00:00:00Z",
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/dev/alice", "action": "ec2:RunInstances",
                    "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*", "resource_account": "111122223333", "context": {}},
        "policies": policies,
        "notes": [],
        "calls": {"count": 0, "waves": 0},
        "authorization": {
            "authorization_id": "abc123",
            "request_context": {"aws:SourceIp": "203.0.113.7"},
            "evaluations": [{"action": "ec2:RunInstances", "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*",
                "decision": "explicit_deny", "context": {"ec2:InstanceType": "p5.48xlarge"},
                "matched": [{"uri": "arn:aws:organizations::999988887777:policy/o-abc/service_control_policy/p-deny", "layer": "scp",
                             "inline": false, "attached_to": ["ou-abcd-11111111"],
                             "statements": [{"sid": "DenyBigInstances", "effect": "deny"}]}]}]
        }
    })
}

fn diagnose(snap: &Value, format: &str) -> (i32, String, String) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), snap.to_string()).unwrap();
    let out = Command::cargo_bin("denyctl").unwrap().args(["diagnose", "-o", format, "--snapshot"]).arg(f.path()).env("NO_COLOR", "1").output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_record_fills_context_and_agrees() {
    // The SCP denies only p5 instances: the message did not say which type was asked for, AWS's
    // record does (ec2:InstanceType), and with it denyctl reaches AWS's verdict.
    let (code, out, err) = diagnose(&snapshot(true), "json");
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "explicit_deny");
    assert_eq!(v["denied_by"], json!(["scp"]));
    assert_eq!(v["aws_record"]["comparison"]["agrees"], true, "{out}");
    let added: Vec<&str> = v["aws_record"]["context_added"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert!(added.contains(&"ec2:InstanceType") && added.contains(&"aws:SourceIp"), "{added:?}");
    assert!(!err.contains("disagrees"), "{err}");
}

#[test]
fn a_disagreement_is_reported_prominently() {
    // The SCPs could not be collected here: denyctl alone would allow; AWS says an SCP denied.
    let (code, out, err) = diagnose(&snapshot(false), "table");
    assert_eq!(code, 0, "denyctl's own verdict stays its own: {err}");
    assert!(err.contains("WARNING: AWS's own record disagrees with denyctl: AWS decided explicit_deny where denyctl decided allow"), "{err}");
    assert!(out.contains("AWS's record (authorization ID abc123)"), "{out}");
    assert!(out.contains("DenyBigInstances"), "{out}");
    assert!(out.contains("DISAGREES"), "{out}");
}

#[test]
fn explain_authorization_id_failures_are_one_line() {
    Command::cargo_bin("denyctl")
        .unwrap()
        .args(["explain", "--authorization-id", "NOT/valid"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not an authorization ID"));
    // Nothing listens on port 1: the SDK retries, then one line and exit 3.
    let out = Command::cargo_bin("denyctl")
        .unwrap()
        .args(["explain", "--authorization-id", "abc123"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("could not read AWS's authorization record"), "{err}");
}
