//! `denyctl triage` end to end through the binary: a generated CloudTrail corpus (tests/common/corpus.rs)
//! with planted groups; triage must find exactly those groups with equal counts, from folders and
//! files; bad sources are skipped and named; the outputs (json, csv, html) agree.

mod common;
#[path = "common/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

fn denyctl(args: &[&str]) -> Output {
    let out = Command::cargo_bin("denyctl").unwrap().args(args).env("NO_COLOR", "1").output().unwrap();
    common::schema::check_output(args, &String::from_utf8_lossy(&out.stdout));
    out
}

type Key = (String, String, String, Option<String>, String, Option<String>, Option<String>);

fn key_of(g: &Value) -> Key {
    let s = |k: &str| g[k].as_str().map(str::to_string);
    (s("account").unwrap(), s("principal").unwrap(), s("action").unwrap(), s("resource"), s("error_code").unwrap(), s("deny_kind"), s("policy_type"))
}

fn planted(c: &corpus::Corpus) -> BTreeMap<Key, u64> {
    c.planted
        .iter()
        .map(|p| ((p.account.clone(), p.principal.clone(), p.action.clone(), p.resource.clone(), p.error_code.clone(), p.deny_kind.clone(), p.policy_type.clone()), p.count))
        .collect()
}

fn found(out: &Output) -> (Vec<Value>, BTreeMap<Key, u64>) {
    assert!(out.status.success(), "triage failed: {}", String::from_utf8_lossy(&out.stderr));
    let groups: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let map = groups.iter().map(|g| (key_of(g), g["count"].as_u64().unwrap())).collect();
    (groups, map)
}

#[test]
fn finds_exactly_the_planted_groups_ranked() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus::write_to(dir.path(), corpus::Spec::small(), 7);
    assert!(c.files.len() > 10, "the corpus has several files");
    let out = denyctl(&["triage", "--fold", dir.path().to_str().unwrap(), "-o", "json"]);
    let (groups, got) = found(&out);
    assert_eq!(got, planted(&c), "triage's groups and counts are the planted ones");
    // Ranked by count, then recency.
    for w in groups.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ka = (a["count"].as_u64().unwrap(), a["last_seen"].as_str().unwrap().to_string());
        let kb = (b["count"].as_u64().unwrap(), b["last_seen"].as_str().unwrap().to_string());
        assert!(ka >= kb, "{ka:?} ranked before {kb:?}");
    }
    // Statistics of the CI role group: many sessions, a sample event that is in the corpus, first <= last.
    let ci = groups.iter().find(|g| g["principal"] == "arn:aws:iam::222222222222:role/build/ci-deploy").expect("the CI role group");
    assert!(ci["sessions"].as_u64().unwrap() > 5, "{ci}");
    assert!(ci["session_sample"].as_str().unwrap().starts_with("gh-run-"));
    assert!(ci["first_seen"].as_str() <= ci["last_seen"].as_str());
    assert!(!ci["user_agents"].as_array().unwrap().is_empty() && ci["user_agents"].as_array().unwrap().len() <= 3);
    assert_eq!(ci["sample_event_id"].as_str().unwrap().len(), 36);
    let ec2 = groups.iter().find(|g| g["action"] == "ec2:RunInstances").unwrap();
    assert_eq!(ec2["encoded_messages"], ec2["count"], "every EC2 event carried an encoded message");
    // The summary on stderr counts look-alikes apart.
    let err = String::from_utf8_lossy(&out.stderr);
    let denials: u64 = c.planted.iter().map(|p| p.count).sum();
    assert!(err.contains(&format!("{} events, {denials} denials in {} groups", c.events, c.planted.len())), "{err}");
    for (name, n) in &c.look_alikes {
        assert!(err.contains(&format!("{n} {name}")), "look-alike {name} x{n} in: {err}");
    }
    assert!(err.contains(&format!("{} other errors", c.other_errors)), "{err}");

    // Without --fold, object keys are their own groups: more groups, the same events.
    let out = denyctl(&["triage", dir.path().to_str().unwrap(), "-o", "json"]);
    let (unfolded, _) = found(&out);
    assert!(unfolded.len() > groups.len());
    assert_eq!(unfolded.iter().map(|g| g["count"].as_u64().unwrap()).sum::<u64>(), denials);
}

#[test]
fn bad_sources_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus::write_to(&dir.path().join("trail"), corpus::Spec { denials: 60, extra_groups: 0, per_extra_group: 0, noise_per_denial: 1, look_alikes: 0, days: 1, per_file: 1000 }, 3);
    // A truncated gzip, a JSON file that is not CloudTrail, a text file, events with missing fields.
    let first = dir.path().join("trail").join(&c.files[0]);
    let gz = std::fs::read(&first).unwrap();
    std::fs::write(dir.path().join("truncated.json.gz"), &gz[..gz.len() / 2]).unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{"name": "x", "version": "1.0.0"}"#).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a log").unwrap();
    let missing = serde_json::json!({"Records": [
        {"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "errorCode": "AccessDenied", "eventTime": "2025-03-01T00:00:00Z"},
        {"eventSource": "s3.amazonaws.com", "errorCode": "AccessDenied", "eventTime": "2025-03-01T00:00:00Z", "userIdentity": {"type": "IAMUser"}}
    ]});
    std::fs::write(dir.path().join("missing.json"), missing.to_string()).unwrap();

    let out = denyctl(&["triage", "--fold", dir.path().to_str().unwrap(), "-o", "json"]);
    let (_, got) = found(&out);
    assert_eq!(got, planted(&c), "the good files are still triaged");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipped") && err.contains("truncated.json.gz: gzip does not decompress: truncated"), "{err}");
    assert!(err.contains("package.json: not a CloudTrail log"), "{err}");
    assert!(err.contains("notes.txt: not JSON"), "{err}");
    assert!(err.contains("3 skipped") && err.contains("2 events skipped"), "{err}");
    let out = denyctl(&["triage", dir.path().to_str().unwrap(), "-v", "-o", "json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.json: record 1: no userIdentity") && err.contains("missing.json: record 2: no eventName"), "{err}");

    // Nothing readable: exit 2, one line naming why.
    let out = denyctl(&["triage", dir.path().join("package.json").to_str().unwrap(), dir.path().join("nope.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no source could be read"));
}

/// lookup-events output and JSON lines of the same events give the same groups as the log files.
#[test]
fn lookup_events_and_json_lines_agree_with_log_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let c = corpus::generate(corpus::Spec { denials: 120, extra_groups: 4, per_extra_group: 2, noise_per_denial: 1, look_alikes: 6, days: 2, per_file: 50 }, 11, |rel, gz| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        events.extend(doc["Records"].as_array().unwrap().iter().cloned());
        let p = dir.path().join("files").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, gz).unwrap();
    });
    let lookup: Vec<Value> = events.iter().map(|e| serde_json::json!({"EventId": e["eventID"], "EventName": e["eventName"], "CloudTrailEvent": e.to_string()})).collect();
    std::fs::write(dir.path().join("lookup.json"), serde_json::json!({"Events": lookup}).to_string()).unwrap();
    let mut f = std::fs::File::create(dir.path().join("events.jsonl")).unwrap();
    for e in &events {
        writeln!(f, "{e}").unwrap();
    }
    drop(f);
    let run = |p: &Path| found(&denyctl(&["triage", "--fold", p.to_str().unwrap(), "-o", "json"])).1;
    let from_files = run(&dir.path().join("files"));
    assert_eq!(from_files, planted(&c));
    assert_eq!(run(&dir.path().join("lookup.json")), from_files);
    assert_eq!(run(&dir.path().join("events.jsonl")), from_files);
    // A file over 8 MiB is read from disk as it is parsed (JSON lines a block at a time): the same
    // groups, each count times the repeats, plain and gzip.
    let repeats = (9 << 20) / std::fs::metadata(dir.path().join("events.jsonl")).unwrap().len() + 1;
    let one = std::fs::read(dir.path().join("events.jsonl")).unwrap();
    let big = one.repeat(repeats as usize);
    std::fs::write(dir.path().join("big.jsonl"), &big).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&big).unwrap();
    std::fs::write(dir.path().join("big.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let times: BTreeMap<Key, u64> = from_files.iter().map(|(k, n)| (k.clone(), n * repeats)).collect();
    assert_eq!(run(&dir.path().join("big.jsonl")), times);
    assert_eq!(run(&dir.path().join("big.jsonl.gz")), times);
}

#[test]
fn csv_table_and_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let c = corpus::write_to(&dir.path().join("t"), corpus::Spec { denials: 200, extra_groups: 2, per_extra_group: 1, noise_per_denial: 0, look_alikes: 3, days: 3, per_file: 100 }, 5);
    let src = dir.path().join("t");
    let json = found(&denyctl(&["triage", "--fold", src.to_str().unwrap(), "-o", "json"])).0;
    let out = denyctl(&["triage", "--fold", src.to_str().unwrap(), "-o", "csv"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("rank,count,sessions,first_seen,last_seen,account,principal"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), c.planted.len());
    for (row, g) in rows.iter().zip(&json) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells[1], g["count"].to_string());
        assert_eq!(cells[6], g["principal"].as_str().unwrap());
    }
    let out = denyctl(&["triage", "--fold", src.to_str().unwrap()]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.lines().next().unwrap().contains("EVENTS") && table.lines().count() == c.planted.len() + 1, "{table}");
    assert!(table.lines().nth(1).unwrap().contains(json[0]["action"].as_str().unwrap()));

    let report = dir.path().join("r.html");
    let out = denyctl(&["triage", "--fold", src.to_str().unwrap(), "--html", report.to_str().unwrap(), "-q", "-o", "json"]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg") && html.contains("<polyline"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "self-contained");
    for g in &json {
        assert!(html.contains(g["principal"].as_str().unwrap()));
    }
    assert!(out.stderr.is_empty(), "-q prints nothing: {}", String::from_utf8_lossy(&out.stderr));
}

fn snapshot(principal: &str, action: &str, resource: &str, account: &str, identity: Value, scp_deny: Option<Value>) -> Value {
    let mut policies = serde_json::json!({
        "identity": [{"name": "inline:app", "document": {"Version": "2012-10-17", "Statement": identity},
                      "source": {"kind": "inline", "attached_to": "principal", "read_by": "iam:GetUserPolicy"}}],
        "unknown": []
    });
    if let Some(deny) = scp_deny {
        policies["scp"] = serde_json::json!([
            {"target": "r-ab12", "type": "ROOT", "policies": [{"name": "FullAWSAccess (p-FullAWSAccess)",
                "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
                "source": {"kind": "scp", "attached_to": "r-ab12", "policy_id": "p-FullAWSAccess", "read_by": "organizations:DescribePolicy"}}]},
            {"target": account, "type": "ACCOUNT", "policies": [{"name": "guardrails (p-guard)",
                "document": {"Version": "2012-10-17", "Statement": [deny]},
                "source": {"kind": "scp", "attached_to": account, "policy_id": "p-guard", "read_by": "organizations:DescribePolicy"}}]}
        ]);
        policies["management_account"] = "111111111111".into();
    }
    serde_json::json!({"format": "denyctl-snapshot/1", "collected_at": "2025-03-04T00:00:00Z",
        "request": {"principal": principal, "action": action, "resource": resource, "resource_account": account, "context": {}},
        "policies": policies, "notes": [], "calls": {"count": 0, "waves": 0}})
}

/// `--snapshot DIR`: every group with a snapshot is decided as `diagnose --snapshot` decides it,
/// with the plan `fix` makes from it; a group without one says how to collect it.
#[test]
fn snapshot_verdicts_agree_with_diagnose_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("trail");
    let c = corpus::write_to(&src, corpus::Spec { denials: 300, extra_groups: 0, per_extra_group: 0, noise_per_denial: 0, look_alikes: 0, days: 2, per_file: 100 }, 9);
    let snaps = dir.path().join("snaps");
    std::fs::create_dir_all(&snaps).unwrap();
    let m = "222222222222";
    let alice = snapshot(&format!("arn:aws:iam::{m}:user/alice"), "dynamodb:PutItem", &format!("arn:aws:dynamodb:us-east-1:{m}:table/orders"), m,
        serde_json::json!([{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]),
        Some(serde_json::json!({"Sid": "NoOrderWrites", "Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"})));
    let ci = snapshot(&format!("arn:aws:sts::{m}:assumed-role/ci-deploy/gh-run-1"), "s3:PutObject", &format!("arn:aws:s3:::artifacts-{m}/builds/1/app-5.zip"), m,
        serde_json::json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::artifacts-{m}/*")}]), None);
    std::fs::write(snaps.join("alice.json"), alice.to_string()).unwrap();
    std::fs::write(snaps.join("ci.json"), ci.to_string()).unwrap();
    std::fs::write(snaps.join("README.md"), "not a snapshot").unwrap();

    let out = denyctl(&["triage", "--fold", src.to_str().unwrap(), "--snapshot", snaps.to_str().unwrap(), "-o", "json"]);
    let (groups, got) = found(&out);
    assert_eq!(got, planted(&c));
    let mut decided = 0;
    for g in &groups {
        let v = &g["verdict"];
        let file = match (g["action"].as_str().unwrap(), g["resource"].as_str().unwrap_or("")) {
            ("dynamodb:PutItem", _) => Some("alice.json"),
            ("s3:PutObject", r) if r.ends_with("/builds/1/*") => Some("ci.json"),
            _ => None,
        };
        let Some(file) = file else {
            assert_eq!(v["decision"], "unknown", "{g}");
            assert!(v["error"].as_str().unwrap().contains("denyctl collect --principal"), "{v}");
            continue;
        };
        decided += 1;
        let path = snaps.join(file);
        let d = denyctl(&["diagnose", "--snapshot", path.to_str().unwrap(), "-o", "json"]);
        let d: Value = serde_json::from_slice(&d.stdout).unwrap();
        assert_eq!(v["decision"], d["decision"], "{g}");
        let by: Vec<&str> = d["denied_by"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert_eq!(v["denied_by"], by.join(","));
        let f = denyctl(&["fix", "--dry-run", "--scenario", path.to_str().unwrap(), "-o", "json"]);
        let f: Value = serde_json::from_slice(&f.stdout).unwrap();
        assert_eq!(v["plan_id"], f["changes"][0]["id"], "{v}");
        assert_eq!(v["plan_status"], f["status"]);
        assert!(!v["plan_diff"].as_str().unwrap().is_empty());
    }
    assert_eq!(decided, 2);
    let alice_v = &groups.iter().find(|g| g["action"] == "dynamodb:PutItem").unwrap()["verdict"];
    assert_eq!((alice_v["decision"].as_str(), alice_v["denied_by"].as_str()), (Some("explicit_deny"), Some("scp")));
    assert!(alice_v["statement"].as_str().unwrap().contains("NoOrderWrites"), "{alice_v}");
    let ci_v = &groups.iter().find(|g| g["resource"].as_str().is_some_and(|r| r.ends_with("/builds/1/*"))).unwrap()["verdict"];
    assert_eq!((ci_v["decision"].as_str(), ci_v["denied_by"].as_str()), (Some("implicit_deny"), Some("identity")));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("README.md"), "only .json files are read as snapshots");

    // The HTML report carries each verdict and its plan diff.
    let report = dir.path().join("r.html");
    let out = denyctl(&["triage", "--fold", src.to_str().unwrap(), "--snapshot", snaps.to_str().unwrap(), "--html", report.to_str().unwrap(), "-q"]);
    assert!(out.status.success());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("explicit_deny: scp") && html.contains("class=\"add\""), "verdicts and plan diffs in the report");
}

/// Triage reads each error event's fields straight from its text (a borrowed record, no map);
/// explain reads the parsed event. On every event of a generated corpus both give the same finding.
#[test]
fn the_borrowed_reading_of_events_is_explains_reading() {
    use std::io::Read;
    let spec = corpus::Spec { denials: 600, extra_groups: 20, per_extra_group: 3, noise_per_denial: 1, look_alikes: 40, days: 2, per_file: 200 };
    let mut files = Vec::new();
    corpus::generate(spec, 77, |_, gz| files.push(gz));
    let catalog = denyctl_denial::BuiltinCatalog;
    let mut compared = 0;
    for gz in files {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for ev in doc["Records"].as_array().unwrap() {
            let Some(map) = ev.as_object().filter(|m| m.contains_key("errorCode")) else { continue };
            let raw = serde_json::to_string(ev).unwrap();
            let record = denyctl_denial::EventRecord::from_json(&raw).unwrap();
            assert_eq!(record, denyctl_denial::EventRecord::from_map(map), "{raw}");
            let mut memo = denyctl_denial::MessageMemo::default();
            let borrowed = denyctl_denial::cloudtrail_record(&record, &catalog, Some(&mut memo));
            assert_eq!(borrowed, denyctl_denial::cloudtrail_event(map, &catalog), "{raw}");
            assert_eq!(borrowed, denyctl_denial::cloudtrail_record(&record, &catalog, Some(&mut memo)), "a memoised reading is the same");
            compared += 1;
        }
    }
    assert!(compared > 600, "{compared} error events compared");
}
