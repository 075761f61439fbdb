//! `denyctl explain` end to end: inputs (TEXT, stdin, --file, .gz), formats, exit codes, bad input.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};
use std::io::Write;

fn denyctl() -> Command {
    Command::cargo_bin("denyctl").unwrap()
}

fn json_out(args: &[&str], stdin: &str) -> Value {
    let out = denyctl().args(args).write_stdin(stdin).assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

/// Exit 2 with exactly one line on stderr containing `needle`.
fn fails_with(cmd: &mut Command, needle: &str) -> String {
    let out = cmd.assert().code(2).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

const SCP: &str = "User: arn:aws:sts::111122223333:assumed-role/deploy/ci is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::b/k with an explicit deny in a service control policy";

#[test]
fn table_says_who_what_layer_and_next_steps() {
    let out = denyctl().args(["explain", SCP]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("DENIED  s3:PutObject"), "{out}");
    assert!(out.contains("(role deploy, session ci)"));
    assert!(out.contains("service control policy (SCP): explicit deny"));
    assert!(out.contains("Check next"));
    assert!(out.contains("Do not delete the Deny statement"));
}

#[test]
fn unknown_layer_lists_checks_guardrails_first() {
    let out = denyctl().args(["explain", "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} missing from {out}"));
    assert!(pos("Service control policies") < pos("Resource control policies"));
    assert!(pos("Resource control policies") < pos("The permissions boundary"));
    assert!(pos("The permissions boundary") < pos("The session policy"));
    assert!(pos("The session policy") < pos("Identity-based policies"));
    assert!(pos("Identity-based policies") < pos("The resource's own policy"));
    assert!(out.contains("AdministratorAccess"));
    assert!(out.contains("unknown     principal, resource, policy_type, deny"));
}

#[test]
fn look_alike_gets_its_own_advice() {
    let out = denyctl().args(["explain", "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("NOT A DENIAL  ExpiredToken"), "{out}");
    assert!(out.contains("credentials are stale"));
    assert!(out.contains("no permission fixes this error"));
}

#[test]
fn stdin_json_is_one_object_for_one_finding() {
    let v = json_out(&["explain", "-", "-o", "json"], SCP);
    assert_eq!(v["kind"], "denial");
    assert_eq!(v["action"], "s3:PutObject");
    assert_eq!(v["policy_type"], "scp");
    assert_eq!(v["deny"], "explicit");
    assert_eq!(v["role_name"], "deploy");
    assert_eq!(v["session_name"], "ci");
    assert_eq!(v["authorization_id"], Value::Null);
}

#[test]
fn yaml_output() {
    let out = denyctl().args(["explain", "-o", "yaml", SCP]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("kind: denial"), "{out}");
    assert!(out.contains("policy_type: scp"));
}

fn record(user: &str, name: &str, code: Option<&str>) -> Value {
    let mut r = json!({
        "eventTime": "2025-01-15T10:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
        "sourceIPAddress": "192.0.2.1", "userAgent": "aws-cli/2", "requestID": "R1",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{user}")}
    });
    if let Some(c) = code {
        r["errorCode"] = json!(c);
        r["errorMessage"] = json!("Access Denied");
    }
    r
}

#[test]
fn gzipped_cloudtrail_file_reports_every_denied_event() {
    let log = json!({"Records": [record("a", "GetObject", Some("AccessDenied")), record("b", "ListBuckets", None), record("c", "HeadObject", Some("AccessDenied"))]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.json.gz");
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::default());
    gz.write_all(log.to_string().as_bytes()).unwrap();
    gz.finish().unwrap();
    let v = json_out(&["explain", "--file", path.to_str().unwrap(), "-o", "json"], "");
    let a = v.as_array().expect("several findings are an array");
    assert_eq!(a.len(), 2);
    assert_eq!(a[0]["kind"], "cloudtrail");
    assert_eq!(a[0]["principal"], "arn:aws:iam::111122223333:user/a");
    assert_eq!(a[0]["action"], "s3:GetObject");
    assert_eq!(a[0]["cloudtrail"]["region"], "eu-west-1");
    assert_eq!(a[1]["action"], "s3:GetObject", "HeadObject is authorized by s3:GetObject");
    assert_eq!(a[1]["operation"], "HeadObject");
}

#[test]
fn broken_record_among_good_ones_reports_good_ones_and_exits_2() {
    let log = json!({"Records": [record("a", "GetObject", Some("AccessDenied")), json!("oops"), {"eventName": 7}, record("d", "PutObject", Some("AccessDenied"))]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.json");
    std::fs::write(&path, log.to_string()).unwrap();
    let stdout = fails_with(denyctl().args(["explain", "-o", "json", "-f", path.to_str().unwrap()]), "record 2: not a JSON object");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["action"], "s3:PutObject");
}

#[test]
fn cloudtrail_without_denials_is_not_an_error() {
    let log = json!({"Records": [record("a", "ListBuckets", None)]});
    denyctl().args(["explain", &log.to_string()]).assert().success().stdout(predicate::str::contains("No access-denied events among 1 CloudTrail record."));
    assert_eq!(json_out(&["explain", "-", "-o", "json"], &log.to_string()), json!([]));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    fails_with(denyctl().args(["explain", "-"]).write_stdin(""), "input is empty");
    fails_with(denyctl().args(["explain", "-"]).write_stdin("   \n\t "), "input is empty");
    fails_with(denyctl().args(["explain", "hello world"]), "no AWS access-denied message");
    fails_with(denyctl().args(["explain", "-"]).write_stdin(b"Access Denied \xff\xfe".to_vec()), "not UTF-8");
    let junk: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    fails_with(denyctl().args(["explain", "-"]).write_stdin(junk), "binary");
    fails_with(denyctl().args(["explain", "-f", "/nonexistent/trail.json"]), "/nonexistent/trail.json");
    fails_with(denyctl().args(["explain", "-"]).write_stdin(b"\x1f\x8b\x08\x00garbage".to_vec()), "gzip");
    fails_with(denyctl().args(["explain", "-"]).write_stdin("{\"Records\": [{\"eventSource\": \"s3.amazonaws.com\", "), "not valid JSON");
}

#[test]
fn ten_megabytes_of_text_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.txt");
    let line = "User: arn:aws:iam::1:user/u is not authorized to perform: s3:GetObject\n";
    std::fs::write(&path, line.repeat(10 * 1024 * 1024 / line.len() + 1)).unwrap();
    fails_with(denyctl().args(["explain", "-f", path.to_str().unwrap()]), "byte limit");
    fails_with(denyctl().args(["explain", "-"]).write_stdin(std::fs::read(&path).unwrap()), "byte limit");
}

/// The shared documentation corpus through the binary: every `expect` field of every line.
#[test]
fn doc_examples_through_the_binary() {
    let path = format!("{}/../../tests/denials/doc-examples.jsonl", env!("CARGO_MANIFEST_DIR"));
    for line in std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let got = json_out(&["explain", "-", "-o", "json"], case["text"].as_str().unwrap());
        assert_eq!(got["kind"], case["kind"], "{}", case["id"]);
        for (k, want) in case["expect"].as_object().unwrap() {
            assert_eq!(&got[k], want, "{} {k}", case["id"]);
        }
    }
}

/// Operation-only STS messages (AWS CLI, GitHub's configure-aws-credentials): the action is read
/// from the message and the advice is about the role's trust policy, not identity policies.
#[test]
fn operation_only_sts_messages_get_the_action_and_trust_policy_advice() {
    let cases = [
        ("An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: Not authorized to perform sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity", "oidc-provider"),
        ("Assuming role with OIDC\nError: Could not assume role with OIDC: Not authorized to perform sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity", "id-token: write"),
        ("An error occurred (AccessDenied) when calling the AssumeRoleWithSAML operation: Not authorized to perform sts:AssumeRoleWithSAML", "sts:AssumeRoleWithSAML", "saml-provider"),
    ];
    for (text, action, hint) in cases {
        let v = json_out(&["explain", "-o", "json", "-"], text);
        assert_eq!(v["action"], action, "{text}: {v}");
        assert_eq!(v["kind"], "denial", "{text}");
        let out = denyctl().args(["explain", text]).assert().success().get_output().stdout.clone();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with(&format!("DENIED  {action}")), "{out}");
        assert!(out.contains("trust policy"), "{text}: trust-policy advice expected: {out}");
        assert!(out.contains(hint), "{text}: {hint} expected: {out}");
    }
}
