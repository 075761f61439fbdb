//! `denyctl fix --dry-run` end to end: the plan file, the diff view, the table, and bad input.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{json, Value};

fn denyctl() -> Command {
    let mut c = Command::cargo_bin("denyctl").unwrap();
    c.env_remove("NO_COLOR");
    c
}

fn scenario(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(rel)
}

fn plan_json(args: &[&str], file: &Path) -> Value {
    let out = denyctl().args(["fix", "--dry-run", "-o", "json", "--scenario"]).arg(file).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn s3_put_plan_adds_exactly_one_statement_to_the_role() {
    let p = plan_json(&[], &scenario("shared/01-s3-put-no-identity-allow.json"));
    assert_eq!(p["plan_version"], 1);
    assert_eq!(p["status"], "ready");
    let changes = p["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(c["target"]["kind"], "inline_policy");
    assert_eq!(c["target"]["role_name"], "deploy-role");
    assert_eq!(c["applicable"], true);
    assert_eq!(c["before"], Value::Null);
    assert_eq!(c["version_token"], Value::Null);
    assert_eq!(
        c["statements"],
        json!([{"Sid": "DenyctlS3PutObject", "Effect": "Allow", "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::prod-artifacts/releases/app.zip"}])
    );
    assert_eq!(c["after"]["Statement"], c["statements"]);
    assert_eq!(p["verification"]["after"]["decision"], "allow");
    assert_eq!(p["no_new_access"]["newly_allowed"], json!([]));
    assert_eq!(p["replay"]["principal"], "arn:aws:sts::111122223333:assumed-role/deploy-role/GitHubActions");
    assert_eq!(p["replay"]["action"], "s3:PutObject");
}

#[test]
fn without_a_terminal_fix_acts_as_dry_run() {
    let f = scenario("shared/01-s3-put-no-identity-allow.json");
    let a = denyctl().args(["fix", "-o", "json", "--scenario"]).arg(&f).output().unwrap();
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let b = denyctl().args(["fix", "--dry-run", "-o", "json", "--scenario"]).arg(&f).output().unwrap();
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn diff_view_is_a_plain_unified_diff_when_piped() {
    let out = denyctl()
        .args(["fix", "--dry-run", "-o", "diff", "--scenario"])
        .arg(scenario("shared/10-boundary-missing-allow.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");
    assert!(text.contains("--- a/boundary\n+++ b/boundary\n@@"), "{text}");
    assert!(text.contains("+      \"Action\": \"s3:PutObject\","), "{text}");
    assert!(!text.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "only additions: {text}");
}

#[test]
fn table_view_says_what_changes_where() {
    denyctl()
        .args(["fix", "--dry-run", "--scenario"])
        .arg(scenario("shared/08-scp-ou-level-missing-allow.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("PLAN NEEDS HAND-OFF"))
        .stdout(predicate::str::contains("scp s3-only at ou-abcd-11111111"))
        .stdout(predicate::str::contains("hand-off c1 to the organization's administrator"));
}

#[test]
fn wider_scope_is_refused_unless_accepted() {
    let f = scenario("shared/01-s3-put-no-identity-allow.json");
    let p = plan_json(&["--scope", "bucket"], &f);
    assert_eq!(p["status"], "refused");
    assert_eq!(p["changes"][0]["statements"][0]["Resource"], "arn:aws:s3:::prod-artifacts/*");
    let opened: Vec<&str> = p["no_new_access"]["newly_allowed"].as_array().unwrap().iter().map(|a| a["resource"].as_str().unwrap()).collect();
    assert!(opened.contains(&"arn:aws:s3:::prod-artifacts/releases/denyctl-probe-sibling"), "{opened:?}");
    let ok = plan_json(&["--scope", "bucket", "--accept-widening"], &f);
    assert_eq!(ok["status"], "ready");
    assert_eq!(ok["no_new_access"]["widening_accepted"], true);
}

#[test]
fn version_tokens_from_the_input_are_carried() {
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(scenario("shared/26-identity-explicit-deny-sqs.json")).unwrap()).unwrap();
    doc["versions"] = json!({"guard": "etag-42", "read": "etag-7"});
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.json");
    std::fs::write(&f, doc.to_string()).unwrap();
    let p = plan_json(&[], &f);
    assert_eq!(p["changes"][0]["version_token"], "etag-42");
    assert_eq!(p["versions_read"], json!({"guard": "etag-42", "read": "etag-7"}));
    // A malformed map is an input error naming the field.
    doc["versions"] = json!(["x"]);
    std::fs::write(&f, doc.to_string()).unwrap();
    denyctl().args(["fix", "--dry-run", "--scenario"]).arg(&f).assert().code(2).stderr(predicate::str::contains("versions:"));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    denyctl().args(["fix", "--dry-run"]).assert().code(2).stderr(predicate::str::contains("--scenario FILE"));
    denyctl().args(["fix", "--dry-run", "--scenario", "/nonexistent.json"]).assert().code(2);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, "{\"request\": {\"principal\": \"arn:aws:sts::111122223333:federated-user/bob\", \"action\": \"s3:GetObject\", \"resource\": \"arn:aws:s3:::b/k\"}}").unwrap();
    let out = denyctl().args(["fix", "--dry-run", "--scenario"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("GetFederationToken"), "{err}");
    // -o diff belongs to fix only.
    denyctl()
        .args(["simulate", "-o", "diff", "--scenario"])
        .arg(scenario("shared/01-s3-put-no-identity-allow.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only for `fix`"));
}
