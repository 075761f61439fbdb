//! The write side under faults, end to end against moto's real server (IAM enforced):
//! rollback deletes what a fix created, per plugin (S3 bucket policy, SQS queue policy, Secrets
//! Manager resource policy; the KMS key policy, which always exists, is put back byte for byte);
//! the backup is written before the first write; a process killed between two writes is
//! finished by `apply` or undone by `rollback`; two applies racing on one policy (50 rounds):
//! exactly one wins, no lost update; a plan edited after it was made is refused; bad plan and
//! backup files: one line, exit 2, nothing written.
//!
//! Every "nothing written" and "as it was" is checked on moto's own state: the policy texts as
//! moto returns them, compared byte for byte (absent included).

mod common;

use std::path::{Path, PathBuf};

use common::moto::ACCOUNT;
use common::world::{allow, near_quota_base, Run, World};
use serde_json::{json, Value as Json};

const OBJECT: &str = "arn:aws:s3:::reports/q1.csv";
const BUCKET: &str = "arn:aws:s3:::reports";

fn alice() -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/alice")
}

fn caller_base() -> String {
    allow(&["sts:GetCallerIdentity"], json!("*"))
}

fn s3(w: &World) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&w.admin).force_path_style(true).build())
}

/// The bucket policy's text as moto returns it, or None.
fn bucket_policy(w: &World, bucket: &str) -> Option<String> {
    w.rt.block_on(async { s3(w).get_bucket_policy().bucket(bucket).send().await.ok().and_then(|o| o.policy().map(str::to_string)) })
}

/// Every inline policy of a user, name → text as moto returns it (decoded).
fn inline_texts(w: &World, user: &str) -> Json {
    let names = w.user_policies(user);
    Json::Object(names.iter().map(|n| (n.clone(), json!(w.user_policy(user, n)))).collect())
}

/// The part of moto's state these tests write to.
fn state(w: &World) -> Json {
    json!({ "alice": inline_texts(w, "alice"), "reports": bucket_policy(w, "reports") })
}

fn one_line(r: &Run) {
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "one line expected: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

/// A plan for `request` made by `fix --dry-run` (so the request and caller are real), with its
/// changes replaced by one resource-policy change of `service` on `arn`.
/// `on` is (plugin service, resource ARN whose policy changes).
fn resource_plan(w: &World, name: &str, request: &[&str], on: (&str, &str), before: Option<&Json>, after: &Json, token: &str) -> PathBuf {
    let (service, arn) = on;
    let (path, mut p) = w.plan("alice", name, request);
    let mut c = p["changes"][0].clone();
    c["id"] = json!("c1");
    c["layer"] = json!("resource");
    c["edit"] = json!("add_allow");
    c["target"] = json!({"kind": "resource_policy", "policy_name": arn, "resource_arn": arn, "service": service, "create": before.is_none()});
    c["before"] = before.cloned().unwrap_or(Json::Null);
    c["after"] = after.clone();
    c["statements"] = json!([after["Statement"].as_array().unwrap().last().unwrap()]);
    c["version_token"] = json!(token);
    c["applicable"] = json!(true);
    c["needs_human"] = json!(false);
    c["newly_allowed"] = json!([]);
    p["changes"] = json!([c]);
    p["handoffs"] = json!([]);
    p["status"] = json!("ready");
    std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
    path
}

fn grant(action: &str, resource: &str) -> Json {
    json!({"Sid": "DenyctlGrant", "Effect": "Allow", "Principal": {"AWS": alice()}, "Action": action, "Resource": resource})
}

fn policy_with(stmts: Vec<Json>) -> Json {
    json!({"Version": "2012-10-17", "Statement": stmts})
}

/// apply → the policy is the plan's after; rollback → moto's text is what it was, byte for byte.
fn apply_then_rollback(w: &World, plan: &Path, read: &dyn Fn() -> Option<String>, after: &Json) {
    let before = read();
    let r = w.verb("apply", "alice", plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "applied", "{}", r.stdout);
    let written: Json = serde_json::from_str(&read().expect("a policy after apply")).unwrap();
    assert_eq!(&written, after);
    let r = w.verb("rollback", "alice", plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "rolled_back", "{}", r.stdout);
    assert_eq!(read(), before, "byte for byte, absent included");
    // A second rollback has nothing to do.
    let r = w.verb("rollback", "alice", plan, &["--yes"]);
    assert_eq!((r.code, r.json()["result"].clone()), (0, json!("nothing_to_roll_back")), "{}", r.stderr);
}

#[test]
fn rollback_deletes_a_bucket_policy_the_fix_created_and_puts_an_existing_one_back_byte_for_byte() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    assert_eq!(bucket_policy(&w, "reports"), None);
    let after = policy_with(vec![grant("s3:GetObject", OBJECT)]);
    let plan = resource_plan(&w, "s3.json", &["--action", "s3:GetObject", "--resource", OBJECT], ("s3", BUCKET), None, &after, "none");
    let r = w.verb("apply", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(bucket_policy(&w, "reports").is_some());
    let r = w.verb("rollback", "alice", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["changes"][0]["detail"].as_str().unwrap().contains("deleted"), "{}", r.stdout);
    assert_eq!(bucket_policy(&w, "reports"), None, "no policy at all, as before");

    // An existing policy with unusual text (key order, an escape) is put back as it was.
    let theirs = format!(
        r#"{{"Statement":[{{"Sid":"Th\u0065irs","Resource":"{BUCKET}","Action":"s3:ListBucket","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Effect":"Allow"}}],"Version":"2012-10-17"}}"#
    );
    w.rt.block_on(async { s3(&w).put_bucket_policy().bucket("reports").policy(&theirs).send().await.unwrap() });
    let before: Json = serde_json::from_str(&theirs).unwrap();
    let mut stmts = before["Statement"].as_array().unwrap().clone();
    stmts.push(grant("s3:GetObject", OBJECT));
    let after = json!({"Statement": stmts, "Version": "2012-10-17"});
    let token = denyctl_plugin_api::version_token(Some(&before));
    let plan = resource_plan(&w, "s3b.json", &["--action", "s3:GetObject", "--resource", OBJECT], ("s3", BUCKET), Some(&before), &after, &token);
    apply_then_rollback(&w, &plan, &|| bucket_policy(&w, "reports"), &after);
    assert_eq!(bucket_policy(&w, "reports").as_deref(), Some(theirs.as_str()));
}

#[test]
fn rollback_deletes_a_queue_policy_the_fix_created() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let sqs = aws_sdk_sqs::Client::new(&w.admin);
    let url = w.rt.block_on(async { sqs.create_queue().queue_name("orders").send().await.unwrap().queue_url().unwrap().to_string() });
    let arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders");
    let read = || {
        w.rt.block_on(async {
            let o = sqs.get_queue_attributes().queue_url(&url).attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy).send().await.unwrap();
            o.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::Policy).cloned()).filter(|t| !t.is_empty())
        })
    };
    assert_eq!(read(), None);
    let after = policy_with(vec![grant("sqs:SendMessage", &arn)]);
    let plan = resource_plan(&w, "sqs.json", &["--action", "sqs:SendMessage", "--resource", &arn], ("sqs", &arn), None, &after, "none");
    apply_then_rollback(&w, &plan, &read, &after);
}

#[test]
fn rollback_deletes_a_secret_policy_the_fix_created() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let sm = aws_sdk_secretsmanager::Client::new(&w.admin);
    let arn = w.rt.block_on(async { sm.create_secret().name("db").secret_string("not printed").send().await.unwrap().arn().unwrap().to_string() });
    let read = || w.rt.block_on(async { sm.get_resource_policy().secret_id(&arn).send().await.unwrap().resource_policy().map(str::to_string) });
    assert_eq!(read(), None);
    let after = policy_with(vec![grant("secretsmanager:GetSecretValue", "*")]);
    let plan = resource_plan(&w, "sm.json", &["--action", "secretsmanager:GetSecretValue", "--resource", &arn], ("secretsmanager", &arn), None, &after, "none");
    apply_then_rollback(&w, &plan, &read, &after);
    let out = std::fs::read_to_string(w.path("sm.backup.json")).unwrap();
    assert!(!out.contains("not printed"), "no secret value in the backup");
}

#[test]
fn a_key_policy_always_exists_and_is_put_back_byte_for_byte() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let kms = aws_sdk_kms::Client::new(&w.admin);
    let arn = w.rt.block_on(async { kms.create_key().send().await.unwrap().key_metadata().unwrap().arn().unwrap().to_string() });
    let read = || w.rt.block_on(async { kms.get_key_policy().key_id(&arn).policy_name("default").send().await.unwrap().policy().map(str::to_string) });
    let original = read().expect("a key policy always exists");
    let before: Json = serde_json::from_str(&original).unwrap();
    let mut stmts = before["Statement"].as_array().unwrap().clone();
    stmts.push(grant("kms:Decrypt", "*"));
    let mut after = before.clone();
    after["Statement"] = json!(stmts);
    let token = denyctl_plugin_api::version_token(Some(&before));
    let plan = resource_plan(&w, "kms.json", &["--action", "kms:Decrypt", "--resource", &arn], ("kms", &arn), Some(&before), &after, &token);
    apply_then_rollback(&w, &plan, &read, &after);
    assert_eq!(read().as_deref(), Some(original.as_str()));
}

#[test]
fn a_backup_that_cannot_be_written_stops_apply_before_any_write() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let (plan, _) = w.plan("alice", "plan.json", &["--action", "s3:GetObject", "--resource", OBJECT]);
    let before = state(&w);
    let ro = w.path("read-only");
    std::fs::create_dir(&ro).unwrap();
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&ro, perms).unwrap();
    // root ignores directory permissions: then the backup goes under a regular file instead,
    // which no one can write below.
    let target = if std::fs::write(ro.join("probe"), "x").is_ok() {
        std::fs::write(w.path("a-file"), "x").unwrap();
        w.path("a-file").join("plan.backup.json")
    } else {
        ro.join("plan.backup.json")
    };
    let r = w.verb("apply", "alice", &plan, &["--yes", "--backup", target.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    one_line(&r);
    assert!(r.stderr.contains("cannot write the backup"), "{}", r.stderr);
    assert_eq!(state(&w), before, "nothing written in moto");
}

/// `DENYCTL_TEST_CRASH_AFTER_WRITE=N` aborts denyctl right after its Nth write to AWS.
fn crashed(w: &World, plan: &Path, n: &str) -> std::process::ExitStatus {
    let p = plan.to_str().unwrap();
    w.command(&["apply", "-f", p, "-o", "json", "--profile", "admin", "--caller-profile", "alice", "--yes"])
        .env("DENYCTL_TEST_CRASH_AFTER_WRITE", n)
        .output()
        .unwrap()
        .status
}

#[test]
fn a_process_killed_between_two_writes_is_finished_by_apply_or_undone_by_rollback() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    // Two changes: a bucket policy (written first: resource policies before identity policies)
    // and denyctl's inline policy of alice.
    let (path, mut p) = w.plan("alice", "two.json", &["--action", "s3:GetObject", "--resource", OBJECT]);
    let inline = p["changes"][0].clone();
    let rp = resource_plan(&w, "tmp.json", &["--action", "s3:GetObject", "--resource", OBJECT], ("s3", BUCKET), None, &policy_with(vec![grant("s3:GetObject", OBJECT)]), "none");
    let mut bucket: Json = serde_json::from_str::<Json>(&std::fs::read_to_string(rp).unwrap()).unwrap()["changes"][0].clone();
    bucket["id"] = json!("c2");
    p["changes"] = json!([inline.clone(), bucket.clone()]);
    std::fs::write(&path, p.to_string()).unwrap();
    let original = state(&w);
    let name = inline["target"]["policy_name"].as_str().unwrap().to_string();

    // Killed after the first write (the bucket policy), before the backup recorded it.
    let st = crashed(&w, &path, "1");
    assert!(!st.success(), "the hook aborts");
    assert_eq!(bucket_policy(&w, "reports").map(|t| serde_json::from_str::<Json>(&t).unwrap()), Some(bucket["after"].clone()));
    assert_eq!(w.user_policies("alice"), ["base"], "the second write was never made");
    let backup: Json = serde_json::from_str(&std::fs::read_to_string(w.path("two.backup.json")).unwrap()).unwrap();
    assert!(backup["entries"].as_array().unwrap().iter().all(|e| e["applied"].is_null()), "{backup:#}");
    // rollback finishes the job: the bucket is back to no policy.
    let r = w.verb("rollback", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(state(&w), original, "byte for byte");

    // Killed after both writes, before the second was recorded: apply again records it and
    // writes nothing; rollback then undoes both.
    let st = crashed(&w, &path, "2");
    assert!(!st.success());
    assert!(w.user_policy("alice", &name).is_some());
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "already_applied", "{}", r.stdout);
    assert!(r.stderr.contains("interrupted apply"), "{}", r.stderr);
    assert_eq!(serde_json::from_str::<Json>(&w.user_policy("alice", &name).unwrap()).unwrap(), inline["after"]);
    let r = w.verb("rollback", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(state(&w), original, "byte for byte");

    // Killed after the first write again: apply run again finishes the job.
    assert!(!crashed(&w, &path, "1").success());
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(serde_json::from_str::<Json>(&w.user_policy("alice", &name).unwrap()).unwrap(), inline["after"]);
    assert_eq!(bucket_policy(&w, "reports").map(|t| serde_json::from_str::<Json>(&t).unwrap()), Some(bucket["after"].clone()));
    // A rollback killed after its first restore (the inline policy: the reverse order): run again, it finishes.
    let st = w
        .command(&["rollback", "-f", path.to_str().unwrap(), "--profile", "admin", "--caller-profile", "alice", "--yes"])
        .env("DENYCTL_TEST_CRASH_AFTER_WRITE", "1")
        .output()
        .unwrap()
        .status;
    assert!(!st.success());
    assert_eq!(w.user_policies("alice"), ["base"], "the first restore was made");
    assert!(bucket_policy(&w, "reports").is_some(), "the second was not");
    let r = w.verb("rollback", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(state(&w), original, "byte for byte");
}

/// Run two applies at once; (exit code, stderr) of each.
fn race(w: &World, a: &Path, b: &Path, round: &str) -> [(i32, String); 2] {
    let spawn = |p: &Path, tag: &str| {
        let backup = w.path(&format!("{tag}-{round}.backup.json"));
        w.command(&["apply", "-f", p.to_str().unwrap(), "--profile", "admin", "--caller-profile", "alice", "--yes", "--backup", backup.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (x, y) = (spawn(a, "a"), spawn(b, "b"));
    let out = |c: std::process::Child| {
        let o = c.wait_with_output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    [out(x), out(y)]
}

#[test]
fn two_applies_on_one_policy_at_once_one_wins_no_lost_update_in_50_rounds() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    // Two plans that both create denyctl's inline policy of alice, with different grants.
    let (pa, a) = w.plan("alice", "a.json", &["--action", "s3:GetObject", "--resource", OBJECT]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let (pb, b) = w.plan("alice", "b.json", &["--action", "iam:GetRole", "--resource", &role]);
    let name = a["changes"][0]["target"]["policy_name"].as_str().unwrap().to_string();
    assert_eq!(b["changes"][0]["target"]["policy_name"], json!(name));
    let (sid_a, sid_b) = (a["changes"][0]["statements"][0]["Sid"].as_str().unwrap().to_string(), b["changes"][0]["statements"][0]["Sid"].as_str().unwrap().to_string());
    // Two plans that both create the bucket policy.
    let ba = resource_plan(&w, "ba.json", &["--action", "s3:GetObject", "--resource", OBJECT], ("s3", BUCKET), None, &policy_with(vec![grant("s3:GetObject", OBJECT)]), "none");
    let bb = resource_plan(&w, "bb.json", &["--action", "s3:ListBucket", "--resource", BUCKET], ("s3", BUCKET), None, &policy_with(vec![grant("s3:ListBucket", BUCKET)]), "none");
    let after = |p: &Path| serde_json::from_str::<Json>(&std::fs::read_to_string(p).unwrap()).unwrap()["changes"][0]["after"].clone();
    let (after_a, after_b, after_ba, after_bb) = (a["changes"][0]["after"].clone(), b["changes"][0]["after"].clone(), after(&ba), after(&bb));
    let mut wins = [0usize; 2];
    for round in 0..50 {
        // The inline policy: exactly one wins; what moto holds is the winner's after, whole.
        let [ra, rb] = race(&w, &pa, &pb, &format!("role-{round}"));
        let stored: Json = serde_json::from_str(&w.user_policy("alice", &name).expect("one apply wrote")).unwrap();
        match (ra.0, rb.0) {
            (0, 2) => {
                assert_eq!(stored, after_a, "round {round}: lost update");
                assert!(rb.1.contains("now exists") && rb.1.contains(&sid_a), "round {round}: the loser says what changed: {}", rb.1);
                wins[0] += 1;
            }
            (2, 0) => {
                assert_eq!(stored, after_b, "round {round}: lost update");
                assert!(ra.1.contains("now exists") && ra.1.contains(&sid_b), "round {round}: the loser says what changed: {}", ra.1);
                wins[1] += 1;
            }
            other => panic!("round {round}: exactly one apply must win, got exit codes {other:?}\n{}\n{}", ra.1, rb.1),
        }
        w.rt.block_on(async { w.iam().delete_user_policy().user_name("alice").policy_name(&name).send().await.unwrap() });
        // The bucket policy: the same, through the S3 plugin's compare-and-swap.
        if round % 5 == 0 {
            let [ra, rb] = race(&w, &ba, &bb, &format!("bucket-{round}"));
            let stored: Json = serde_json::from_str(&bucket_policy(&w, "reports").expect("one apply wrote")).unwrap();
            match (ra.0, rb.0) {
                (0, 2) => assert_eq!(stored, after_ba, "round {round}: lost update"),
                (2, 0) => assert_eq!(stored, after_bb, "round {round}: lost update"),
                other => panic!("round {round}: exactly one bucket apply must win, got {other:?}\n{}\n{}", ra.1, rb.1),
            }
            let loser = if ra.0 == 2 { &ra.1 } else { &rb.1 };
            assert!(loser.contains("bucket policy") || loser.contains("resource policy of"), "{loser}");
            w.rt.block_on(async { s3(&w).delete_bucket_policy().bucket("reports").send().await.unwrap() });
        }
    }
    eprintln!("race: 50 rounds on the inline policy, wins {wins:?}; 10 rounds on the bucket policy; no lost update");
}

#[test]
fn a_plan_edited_after_it_was_made_is_refused_unless_the_edit_passes_the_checks() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let (path, p) = w.plan("alice", "plan.json", &["--action", "s3:GetObject", "--resource", OBJECT]);
    let before = state(&w);
    // Widened to every action.
    let mut t = p.clone();
    t["changes"][0]["after"]["Statement"][0]["Action"] = json!("*");
    t["changes"][0]["statements"][0]["Action"] = json!("*");
    std::fs::write(&path, t.to_string()).unwrap();
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    one_line(&r);
    assert!(r.stderr.contains("c1 (inline policy") && r.stderr.contains("newly allows") && r.stderr.contains("edited"), "{}", r.stderr);
    assert_eq!(state(&w), before, "nothing written");
    assert!(!w.path("plan.backup.json").exists());
    // Widened to the whole bucket.
    let mut t = p.clone();
    t["changes"][0]["after"]["Statement"][0]["Resource"] = json!("arn:aws:s3:::reports/*");
    std::fs::write(&path, t.to_string()).unwrap();
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("s3:GetObject on arn:aws:s3:::reports/"), "{}", r.stderr);
    assert_eq!(state(&w), before, "nothing written");
    // An edit that grants nothing more (another Sid) passes the same checks and applies.
    let mut t = p.clone();
    t["changes"][0]["after"]["Statement"][0]["Sid"] = json!("Renamed");
    std::fs::write(&path, t.to_string()).unwrap();
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let name = p["changes"][0]["target"]["policy_name"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Json>(&w.user_policy("alice", name).unwrap()).unwrap(), t["changes"][0]["after"]);
}

#[test]
fn bad_plan_and_backup_files_are_one_line_exit_2_and_nothing_written() {
    let (_g, w) = World::new(&[("alice", caller_base())]);
    let (path, p) = w.plan("alice", "plan.json", &["--action", "s3:GetObject", "--resource", OBJECT]);
    let text = std::fs::read_to_string(&path).unwrap();
    let original = state(&w);
    let refused = |name: &str, content: &str, verb: &str, needle: &str| {
        let f = w.path(name);
        std::fs::write(&f, content).unwrap();
        let r = w.verb(verb, "alice", &f, &["--yes"]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        one_line(&r);
        assert!(r.stderr.contains(needle), "{name}: {}", r.stderr);
        assert_eq!(state(&w), original, "{name}: nothing written");
    };
    // Truncated.
    refused("truncated.json", &text[..text.len() / 2], "apply", "not valid JSON");
    refused("truncated.json", &text[..text.len() / 2], "rollback", "not valid JSON");
    // An unknown version.
    let mut v = p.clone();
    v["plan_version"] = json!(2);
    refused("v2.json", &v.to_string(), "apply", "plan_version 2 is not supported");
    // From another account.
    let mut o = p.clone();
    o["caller"]["account"] = json!("111122223333");
    refused("other.json", &o.to_string(), "apply", "is in account 111122223333, but the operator's credentials are in account");
    // A change whose target no longer exists: the role it writes to was deleted.
    let mut g = p.clone();
    g["changes"][0]["target"]["user_name"] = Json::Null;
    g["changes"][0]["target"]["role_name"] = json!("temp");
    w.rt.block_on(async {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
        w.iam().create_role().role_name("temp").assume_role_policy_document(trust.to_string()).send().await.unwrap();
        w.iam().delete_role().role_name("temp").send().await.unwrap();
    });
    refused("gone.json", &g.to_string(), "apply", "role temp no longer exists");

    // A backup deleted before rollback: refused, the applied change stays as it is.
    let r = w.verb("apply", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let applied = state(&w);
    std::fs::remove_file(w.path("plan.backup.json")).unwrap();
    let r = w.verb("rollback", "alice", &path, &["--yes"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    one_line(&r);
    assert!(r.stderr.contains("no backup here"), "{}", r.stderr);
    assert_eq!(state(&w), applied, "nothing written");
}

/// Every version of a managed policy: (documents sorted, the default's document, how many).
fn versions_state(w: &World, arn: &str) -> (Vec<String>, Json, usize) {
    let v = w.versions(arn);
    let mut docs: Vec<String> = v.iter().map(|(id, _)| w.version_doc(arn, id).to_string()).collect();
    docs.sort();
    let default = v.iter().find(|(_, d)| *d).map(|(id, _)| w.version_doc(arn, id)).unwrap();
    (docs, default, v.len())
}

#[test]
fn a_managed_policy_change_killed_between_its_two_writes_is_finished_or_undone() {
    // carol's inline policies are near the user quota: the grant goes into denyctl's managed
    // policy, which has five versions (v3 the default): apply deletes one, then creates one.
    let (_g, w) = World::new(&[("carol", near_quota_base())]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let request = ["--action", "iam:GetRole", "--resource", role.as_str()];
    let (_, p1) = w.plan("carol", "first.json", &request);
    let t = &p1["changes"][0]["target"];
    assert_eq!(t["kind"], "managed_policy", "{p1:#}");
    let arn = t["policy_arn"].as_str().unwrap().to_string();
    let name = t["policy_name"].as_str().unwrap().to_string();
    w.five_versions(&name, &arn, "carol");
    let (plan, p) = w.plan("carol", "second.json", &request);
    assert_eq!(p["changes"][0]["versions"]["delete_version"], "v1", "{p:#}");
    let after = p["changes"][0]["after"].clone();
    let original = versions_state(&w, &arn);
    assert_eq!(original.2, 5);
    let crash = |n: &str| {
        w.command(&["apply", "-f", plan.to_str().unwrap(), "--profile", "admin", "--caller-profile", "carol", "--yes"])
            .env("DENYCTL_TEST_CRASH_AFTER_WRITE", n)
            .output()
            .unwrap()
            .status
    };

    // Killed after deleting v1, before creating the new default: rollback re-creates v1's document.
    assert!(!crash("1").success());
    assert_eq!(w.versions(&arn).len(), 4);
    assert_eq!(versions_state(&w, &arn).1, original.1, "the default is untouched");
    let r = w.verb("rollback", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(versions_state(&w, &arn), original, "the same documents, the same default (a version id cannot come back)");

    // Killed there again: apply run again creates the new default without deleting a second version.
    assert!(!crash("1").success());
    assert_eq!(w.versions(&arn).len(), 4);
    let r = w.verb("apply", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (_, default, count) = versions_state(&w, &arn);
    assert_eq!((default, count), (after, 5));
    let r = w.verb("replay", "carol", &plan, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    // ...and rollback undoes both halves.
    let r = w.verb("rollback", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(versions_state(&w, &arn), original);
    let r = w.verb("replay", "carol", &plan, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn a_managed_policy_the_fix_creates_killed_before_it_is_attached_is_finished_or_deleted() {
    // carol's inline quota is nearly full: the plan creates denyctl's managed policy and attaches it.
    let (_g, w) = World::new(&[("carol", near_quota_base())]);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/app");
    let (plan, p) = w.plan("carol", "plan.json", &["--action", "iam:GetRole", "--resource", role.as_str()]);
    let t = &p["changes"][0]["target"];
    assert_eq!((t["kind"].as_str(), t["create"].as_bool()), (Some("managed_policy"), Some(true)), "{p:#}");
    let arn = t["policy_arn"].as_str().unwrap().to_string();
    // With IAM enforced, moto's signature check rejects the space-separated description of
    // CreatePolicy: this test is about the policy's state, so moto stops enforcing.
    w.moto.set_auth(false);
    let exists = || w.rt.block_on(async { w.iam().get_policy().policy_arn(&arn).send().await.is_ok() });
    let attached = || {
        w.rt.block_on(async {
            let o = w.iam().list_attached_user_policies().user_name("carol").send().await.unwrap();
            o.attached_policies().iter().any(|a| a.policy_arn() == Some(arn.as_str()))
        })
    };
    let killed_after_create = || {
        let o = w
            .command(&["apply", "-f", plan.to_str().unwrap(), "--profile", "admin", "--caller-profile", "carol", "--yes"])
            .env("DENYCTL_TEST_CRASH_AFTER_WRITE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success() && err.contains("aborting after write 1"), "{err}");
    };
    // Killed after CreatePolicy, before AttachUserPolicy: rollback deletes the policy.
    killed_after_create();
    assert!(exists() && !attached());
    let r = w.verb("rollback", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!exists(), "no policy at all, as before");
    // Killed there again: apply run again attaches the policy it made (it is not someone else's).
    killed_after_create();
    let r = w.verb("apply", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(exists() && attached());
    let r = w.verb("rollback", "carol", &plan, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!exists() && !attached());
}
