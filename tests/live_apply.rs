//! The live half of a fix, end to end against moto's real server with IAM enforced:
//! `fix --dry-run` from a live diagnosis → `apply` → `replay` → `rollback` → `replay`.
//!
//! moto enforces identity-based policies once auth is on: a replay is a real authorization
//! decision. It matches S3 actions against the object/bucket ARN and IAM role actions
//! (GetRole, ...) against the role ARN; other IAM actions only against "*", so the IAM tests
//! use iam:GetRole.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::moto::ACCOUNT;
use common::world::{allow, near_quota_base, World};
use serde_json::{json, Value as Json};

fn caller_base() -> String {
    // moto checks sts:GetCallerIdentity against identity policies (AWS does not).
    allow(&["sts:GetCallerIdentity"], json!("*"))
}

#[test]
fn s3_getobject_plan_apply_replay_rollback_round_trip() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let denial = format!(
        "User: {alice} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::reports/q1.csv\" because no identity-based policy allows the s3:GetObject action"
    );
    let (plan, p) = w.plan("alice", "plan.json", &[&denial]);
    assert_eq!(p["status"], "ready", "{p:#}");
    let changes = p["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{p:#}");
    let c = &changes[0];
    assert_eq!(c["target"]["kind"], "inline_policy");
    assert_eq!(c["target"]["user_name"], "alice");
    assert_eq!(c["target"]["create"], true);
    assert_eq!(c["statements"], json!([{"Sid": "DenyctlS3GetObject", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/q1.csv"}]));
    let name = c["target"]["policy_name"].as_str().unwrap().to_string();
    assert_eq!(p["versions_read"]["inline:base"].as_str().map(|t| t.starts_with("sha256:")), Some(true), "{:#}", p["versions_read"]);

    // Before: moto denies the replay.
    let r = w.verb("replay", "alice", &plan, &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["outcome"], "denied");
    assert_eq!(v["method"], "as-is read");
    assert_eq!(v["denial"]["action"], "s3:GetObject");
    assert_eq!(v["denial"]["resource"], "arn:aws:s3:::reports/q1.csv");
    assert!(v["next"].as_str().unwrap().starts_with("denyctl fix --dry-run"), "{v:#}");

    // No terminal and no --yes: refused, nothing written.
    let r = w.verb("apply", "alice", &plan, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("without consent") && r.stderr.contains("--yes"), "{}", r.stderr);
    assert_eq!(w.user_policies("alice"), ["base"]);
    assert!(!w.path("plan.backup.json").exists());

    // Applied with --yes: backup first, then the one statement.
    let r = w.verb("apply", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["result"], "applied", "{v:#}");
    assert_eq!(v["changes"][0]["result"], "written");
    let backup: Json = serde_json::from_str(&std::fs::read_to_string(w.path("plan.backup.json")).unwrap()).unwrap();
    assert_eq!(backup["entries"][0]["before"]["exists"], false, "{backup:#}");
    let stored: Json = serde_json::from_str(&w.user_policy("alice", &name).unwrap()).unwrap();
    assert_eq!(stored, c["after"]);

    // moto now allows the request.
    let r = w.verb("replay", "alice", &plan, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["outcome"], "allowed");

    // Applying again changes nothing.
    let r = w.verb("apply", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "already_applied");
    assert!(r.stderr.contains("already applied"), "{}", r.stderr);

    // Rollback without consent is refused; with --yes the policy that did not exist is gone.
    let r = w.verb("rollback", "alice", &plan, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(w.user_policy("alice", &name).is_some());
    let r = w.verb("rollback", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "rolled_back");
    assert_eq!(w.user_policies("alice"), ["base"]);
    assert_eq!(w.user_policy("alice", "base").unwrap(), caller_base());

    // ...and moto denies again.
    let r = w.verb("replay", "alice", &plan, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "denied");
    // A second rollback has nothing to do.
    let r = w.verb("rollback", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "nothing_to_roll_back");
}

#[test]
fn a_changed_policy_aborts_apply_and_rollback_restores_the_text_byte_for_byte() {
    let (_g, w) = World::new(&[("bob", caller_base())]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let request = ["--action", "iam:GetRole", "--resource", role.as_str()];
    let (plan1, p1) = w.plan("bob", "first.json", &request);
    assert_eq!(p1["status"], "ready", "{p1:#}");
    assert_eq!(p1["changes"][0]["target"]["create"], true);
    let name = p1["changes"][0]["target"]["policy_name"].as_str().unwrap().to_string();

    // Someone makes the policy the plan would create: apply aborts, nothing is written.
    // Unusual text for the same document: keys out of order and an escaped character (moto's
    // signature check rejects spaces in a form body the SDK signed, so no extra whitespace).
    let theirs = r#"{"Statement":[{"Resource":"*","Action":"iam:ListRoles","Effect":"Allow","Sid":"Th\u0065irs"}],"Version":"2012-10-17"}"#;
    w.put_user_policy("bob", &name, theirs);
    let r = w.verb("apply", "bob", &plan1, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("aborted, nothing written") && r.stderr.contains("now exists"), "{}", r.stderr);
    assert_eq!(w.user_policy("bob", &name).as_deref(), Some(theirs));
    assert!(!w.path("first.backup.json").exists());

    // Planned again: the statement goes into the existing policy.
    let (plan2, p2) = w.plan("bob", "second.json", &request);
    let c = &p2["changes"][0];
    assert_eq!(c["target"]["create"], false, "{p2:#}");
    assert_eq!(c["before"], serde_json::from_str::<Json>(theirs).unwrap());
    assert!(c["version_token"].as_str().unwrap().starts_with("sha256:"));

    // Changed between plan and apply: aborted. The same document again (any formatting): applies.
    let changed = theirs.replace("iam:ListRoles", "iam:ListUsers");
    w.put_user_policy("bob", &name, &changed);
    let r = w.verb("apply", "bob", &plan2, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("changed since the plan was made"), "{}", r.stderr);
    assert_eq!(w.user_policy("bob", &name).as_deref(), Some(changed.as_str()));
    w.put_user_policy("bob", &name, theirs);
    let r = w.verb("apply", "bob", &plan2, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(serde_json::from_str::<Json>(&w.user_policy("bob", &name).unwrap()).unwrap(), c["after"]);
    let r = w.verb("replay", "bob", &plan2, &[]);
    assert_eq!((r.code, r.json()["outcome"].clone()), (0, json!("allowed")), "{}", r.stderr);

    // Rollback puts back the exact text that was there.
    let r = w.verb("rollback", "bob", &plan2, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.user_policy("bob", &name).as_deref(), Some(theirs), "byte for byte");
    let r = w.verb("replay", "bob", &plan2, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn a_managed_policy_at_five_versions_keeps_its_default() {
    // carol's inline policies are near the 2,048-character quota of a user: the grant goes into
    // denyctl's customer managed policy, which already has five versions.
    let (_g, w) = World::new(&[("carol", near_quota_base())]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let request = ["--action", "iam:GetRole", "--resource", role.as_str()];
    let (_, p1) = w.plan("carol", "first.json", &request);
    let t = &p1["changes"][0]["target"];
    assert_eq!(t["kind"], "managed_policy", "{p1:#}");
    assert_eq!(t["create"], true);
    let arn = t["policy_arn"].as_str().unwrap().to_string();
    let name = t["policy_name"].as_str().unwrap().to_string();

    // The policy exists with five versions, v3 the default; attached to carol.
    let doc = |a: &str| allow(&[a], json!("*"));
    w.five_versions(&name, &arn, "carol");
    let five = w.versions(&arn);
    assert_eq!(five, [("v1".into(), false), ("v2".into(), false), ("v3".into(), true), ("v4".into(), false), ("v5".into(), false)]);

    let (plan, p) = w.plan("carol", "second.json", &request);
    let c = &p["changes"][0];
    assert_eq!(c["target"]["create"], false, "{p:#}");
    assert_eq!(c["version_token"], "v3");
    assert_eq!(c["versions"]["count"], 5);
    assert_eq!(c["versions"]["delete_version"], "v1");
    let before_v3 = w.version_doc(&arn, "v3");
    assert_eq!(c["before"], before_v3);

    let r = w.verb("replay", "carol", &plan, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = w.verb("apply", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let detail = r.json()["changes"][0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("deleted non-default version v1") && detail.contains("created v6"), "{detail}");
    // The oldest non-default version made room; the old default v3 is still there; v6 is the default.
    assert_eq!(w.versions(&arn), [("v2".into(), false), ("v3".into(), false), ("v4".into(), false), ("v5".into(), false), ("v6".into(), true)]);
    assert_eq!(w.version_doc(&arn, "v6"), c["after"]);
    let backup: Json = serde_json::from_str(&std::fs::read_to_string(w.path("second.backup.json")).unwrap()).unwrap();
    assert_eq!(backup["entries"][0]["to_delete"]["document"], serde_json::from_str::<Json>(&doc("iam:ListRoles")).unwrap());

    let r = w.verb("replay", "carol", &plan, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r = w.verb("apply", "carol", &plan, &["--yes"]);
    assert_eq!((r.code, r.json()["result"].clone()), (0, json!("already_applied")));
    assert_eq!(w.versions(&arn).len(), 5, "a second apply writes no version");

    // Rollback: v3 the default again, v6 gone, v1's document kept as a new non-default version.
    let r = w.verb("rollback", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after = w.versions(&arn);
    assert_eq!(after.iter().filter(|(_, d)| *d).map(|(v, _)| v.as_str()).collect::<Vec<_>>(), ["v3"]);
    assert!(!after.iter().any(|(v, _)| v == "v6"), "{after:?}");
    assert_eq!(after.len(), 5);
    assert_eq!(w.version_doc(&arn, "v3"), before_v3);
    let restored_v1 = after.iter().find(|(v, _)| !["v2", "v3", "v4", "v5"].contains(&v.as_str())).unwrap();
    assert_eq!(w.version_doc(&arn, &restored_v1.0), serde_json::from_str::<Json>(&doc("iam:ListRoles")).unwrap());
    let r = w.verb("replay", "carol", &plan, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn a_failure_half_way_undoes_what_was_written() {
    let (_g, w) = World::new(&[("dave", caller_base())]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let (path, mut p) = w.plan("dave", "plan.json", &["--action", "iam:GetRole", "--resource", role.as_str()]);
    let name = p["changes"][0]["target"]["policy_name"].as_str().unwrap().to_string();
    // A second change that IAM refuses when it is written (a Resource that is not an ARN; it
    // grants nothing, so the plan re-check lets it through): its read succeeds, so the first
    // change is written before it fails.
    let mut bad = p["changes"][0].clone();
    bad["id"] = json!("c2");
    bad["target"]["policy_name"] = json!("denyctl-broken");
    bad["after"] = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "not-an-arn"}]});
    p["changes"].as_array_mut().unwrap().push(bad);
    std::fs::write(&path, p.to_string()).unwrap();
    let r = w.verb("apply", "dave", &path, &["--yes"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("apply failed at c2") && r.stderr.contains("rolled back what was written (c1): restored"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert_eq!(w.user_policies("dave"), ["base"], "{name} was written and then removed again");
    // The backup records nothing as applied: rollback has nothing to do.
    let r = w.verb("rollback", "dave", &path, &["--yes"]);
    assert_eq!((r.code, r.json()["result"].clone()), (0, json!("nothing_to_roll_back")), "{}", r.stderr);
}

/// Offline: what `apply` refuses before any AWS call.
#[test]
fn apply_refuses_plans_that_are_not_ready_before_calling_aws() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_denyctl"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/shared/01-s3-put-no-identity-allow.json");
    let out = run(&["fix", "--dry-run", "-o", "json", "--scope", "bucket", "--scenario", scenario.to_str().unwrap()]);
    let plan: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["status"], "refused", "{plan:#}");
    let file = dir.path().join("refused.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = run(&["apply", "-f", file.to_str().unwrap(), "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused") && err.contains("--accept-widening"), "{err}");
    assert!(!dir.path().join("refused.backup.json").exists());

    std::fs::write(&file, r#"{"plan_version": 9}"#).unwrap();
    let out = run(&["apply", "-f", file.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plan_version 9 is not supported"));
    let out = run(&["rollback", "-f", file.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(2));
}
