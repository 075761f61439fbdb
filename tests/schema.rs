//! The versioned JSON contract (docs/schema/): each schema is a valid, self-contained JSON Schema
//! with its `$id` and `schema_version`, and the real outputs of the offline verbs over the test
//! corpora (every scenario through `simulate` and `fix --dry-run`, every collected denial through
//! `explain`, `plugin list`) validate against them; `triage` is validated in tests/triage*.rs. The live verbs' outputs are validated by the
//! end-to-end tests' harnesses (tests/common/schema.rs) against moto.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value as Json;

const KINDS: &[&str] = &["explain", "whoami", "diagnose", "snapshot", "plan", "apply", "replay", "rollback", "simulate", "plugin-list", "triage", "org-snapshot"];

fn denyctl(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run denyctl");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn scenarios() -> Vec<PathBuf> {
    fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&common::repo().join("tests/scenarios"), &mut out);
    out.sort();
    assert!(out.len() > 100, "the scenario corpus is missing");
    out
}

#[test]
fn every_schema_is_a_self_contained_versioned_json_schema() {
    for kind in KINDS {
        let path = common::repo().join(format!("docs/schema/{kind}.json"));
        let schema: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{kind}");
        assert_eq!(schema["$id"], format!("https://denyctl.dev/schema/v1/{kind}.json"), "{kind}");
        // The version is a required constant of the document (of each item where the top level
        // is a choice: explain's array, simulate's batch error lines).
        let text = schema.to_string();
        assert!(text.contains(r#""schema_version":{"const":"1""#), "{kind}: no schema_version constant");
        assert!(text.contains(r#""required":["schema_version""#), "{kind}: schema_version is not required");
        // Self-contained: no reference leaves the file.
        assert!(!text.contains("\"$ref\":\"http") && !text.contains("\"$ref\":\"./"), "{kind} refers outside itself");
    }
    // A shape change is caught: an unknown field, a missing field, a wrong type.
    let (_, out, _) = denyctl(&["plugin", "list", "-o", "json"], None);
    let mut doc: Json = serde_json::from_str(&out).unwrap();
    common::schema::check("plugin-list", &doc);
    doc["surprise"] = Json::Bool(true);
    assert!(std::panic::catch_unwind(|| common::schema::check("plugin-list", &doc)).is_err(), "an unknown field passed");
    let mut doc: Json = serde_json::from_str(&out).unwrap();
    doc["schema_version"] = "2".into();
    assert!(std::panic::catch_unwind(|| common::schema::check("plugin-list", &doc)).is_err(), "another version passed");
}

#[test]
fn simulate_and_plan_outputs_of_every_scenario_match_their_schemas() {
    let all = scenarios();
    let mut batch = String::new();
    for p in &all {
        let f = p.to_str().unwrap();
        let (code, out, err) = denyctl(&["simulate", "--scenario", f, "-o", "json"], None);
        assert_eq!(code, 0, "{f}: {err}");
        common::schema::check("simulate", &serde_json::from_str(&out).unwrap());
        let (code, out, err) = denyctl(&["fix", "--dry-run", "--scenario", f, "-o", "json"], None);
        if code == 0 {
            common::schema::check("plan", &serde_json::from_str(&out).unwrap());
        } else {
            assert!(err.starts_with("denyctl: ") && err.lines().count() == 1, "{f}: {err}");
        }
        let v: Json = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        batch.push_str(&v.to_string());
        batch.push('\n');
    }
    // simulate --batch: one JSON line per scenario, each with its version.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("all.jsonl");
    std::fs::write(&f, batch).unwrap();
    let (code, out, err) = denyctl(&["simulate", "--batch", f.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), all.len());
    for line in out.lines() {
        common::schema::check("simulate", &serde_json::from_str(line).unwrap());
    }
}

#[test]
fn explain_outputs_of_every_collected_denial_match_the_schema() {
    let mut n = 0;
    for f in ["collected", "constructed", "doc-examples"] {
        let text = std::fs::read_to_string(common::repo().join(format!("tests/denials/{f}.jsonl"))).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: Json = serde_json::from_str(line).unwrap();
            let (code, out, err) = denyctl(&["explain", "-", "-o", "json"], case["text"].as_str());
            if code == 0 {
                common::schema::check("explain", &serde_json::from_str(&out).unwrap());
                n += 1;
            } else {
                assert!(err.starts_with("denyctl: "), "{}: {err}", case["id"]);
            }
        }
    }
    assert!(n > 100, "only {n} denials explained");
}

#[test]
fn plugin_list_matches_the_schema() {
    let (code, out, err) = denyctl(&["plugin", "list", "-o", "json"], None);
    assert_eq!(code, 0, "{err}");
    common::schema::check("plugin-list", &serde_json::from_str(&out).unwrap());
    // With the workspace's build folder on the plugin path: the example library plugin is
    // loaded and the test fixtures (wrong ABI, not a plugin) are listed as skipped.
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|d| d.parent()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .args(["plugin", "list", "-o", "json"])
        .env("DENYCTL_PLUGIN_PATH", target)
        .env("HOME", target)
        .output()
        .unwrap();
    let doc: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["plugins"].as_array().unwrap().iter().any(|p| p["source"]["kind"] == "library"), "{doc:#}");
    assert!(!doc["skipped"].as_array().unwrap().is_empty(), "{doc:#}");
    common::schema::check("plugin-list", &doc);
}
