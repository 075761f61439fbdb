//! `denyctl simulate` end to end: the corpus through the binary, batch mode, and bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn denyctl() -> Command {
    Command::cargo_bin("denyctl").unwrap()
}

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut v: Vec<PathBuf> = ["shared", "own"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// `expect.assumptions`: the ids of the readings AWS does not document that the verdict rests on
/// (none when absent).
fn expected_assumptions(path: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["expect"]["assumptions"].as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn assumption_ids(v: &serde_json::Value) -> Vec<String> {
    v["assumptions"].as_array().map(|a| a.iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

fn expected(path: &Path) -> (String, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut denied: Vec<String> =
        v["expect"]["denied_by"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    denied.sort();
    (v["expect"]["decision"].as_str().unwrap().to_string(), denied)
}

#[test]
fn every_scenario_through_the_binary_as_json() {
    let files = scenarios();
    assert!(files.len() >= 90);
    // Spot-check a spread of files one at a time (the full corpus runs through --batch below).
    for f in files.iter().step_by(9) {
        let out = denyctl().args(["simulate", "-o", "json", "--scenario"]).arg(f).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", f.display());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let (decision, denied) = expected(f);
        assert_eq!(v["decision"], decision.as_str(), "{}", f.display());
        let got: Vec<String> = v["denied_by"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        assert_eq!(got, denied, "{}", f.display());
    }
}

#[test]
fn batch_prints_one_line_per_scenario_in_order() {
    let files = scenarios();
    let mut batch = tempfile::NamedTempFile::new().unwrap();
    for f in &files {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        writeln!(batch, "{}", serde_json::to_string(&v).unwrap()).unwrap();
    }
    let out = denyctl().args(["simulate", "--batch"]).arg(batch.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), files.len());
    for (line, f) in lines.iter().zip(&files) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (decision, denied) = expected(f);
        assert_eq!(v["decision"], decision.as_str(), "{}", f.display());
        let got: Vec<String> = v["denied_by"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
        assert_eq!(got, denied, "{}", f.display());
        // A verdict that rests on an undocumented reading says so, and only then.
        assert_eq!(assumption_ids(&v), expected_assumptions(f), "{}", f.display());
    }
}

/// The `"Principal": "*"` grant read against a boundary or session policy: the table says the
/// verdict rests on that reading, and what it would be the other way.
#[test]
fn a_verdict_resting_on_the_principal_star_reading_says_so_in_the_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/own");
    for name in ["234-boundary-principal-star-read-as-limited", "235-session-policy-principal-star-read-as-limited", "236-kms-key-policy-principal-star-boundary-read-as-limited"] {
        let out = denyctl().env("NO_COLOR", "1").args(["simulate", "--scenario"]).arg(root.join(format!("{name}.json"))).output().unwrap();
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(table.contains("assumption") && table.contains("\"Principal\": \"*\"") && table.contains("the decision would be allow"), "{name}: {table}");
    }
    // A verdict that does not rest on it says nothing of the kind.
    let out = denyctl().env("NO_COLOR", "1").args(["simulate", "--scenario"]).arg(root.join("164-resource-policy-star-principal-cross-account.json")).output().unwrap();
    assert!(!String::from_utf8(out.stdout).unwrap().contains("assumption"));
}

#[test]
fn batch_reports_bad_lines_and_keeps_the_good_ones() {
    let good = std::fs::read_to_string(&scenarios()[0]).unwrap();
    let good: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut batch = tempfile::NamedTempFile::new().unwrap();
    writeln!(batch, "{}", good).unwrap();
    writeln!(batch, "{{\"request\": ").unwrap();
    writeln!(batch, "{}", good).unwrap();
    let out = denyctl().args(["simulate", "--batch"]).arg(batch.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<serde_json::Value> =
        std::str::from_utf8(&out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["decision"].is_string() && lines[2]["decision"].is_string());
    assert_eq!(lines[1]["line"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("1 of 3 scenarios"), "{err}");
}

#[test]
fn table_output_names_layer_and_statement() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/shared/06-scp-deny-runinstances-exception.json");
    denyctl()
        .args(["simulate", "--scenario"])
        .arg(&f)
        .env("NO_COLOR", "1")
        .assert()
        .success()
        .stdout(predicate::str::contains("DENIED by an explicit Deny in the service control policies"))
        .stdout(predicate::str::contains("scp @ r-abcd"))
        .stdout(predicate::str::contains("deny:  deny-run statement 0"));
}

#[test]
fn yaml_output() {
    let f = &scenarios()[0];
    denyctl()
        .args(["simulate", "-o", "yaml", "--scenario"])
        .arg(f)
        .assert()
        .success()
        .stdout(predicate::str::contains("decision: "));
}

/// Run `simulate --scenario` on `content` and return (exit code, stderr).
fn bad(content: &[u8]) -> (Option<i32>, String, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    let out = denyctl().args(["simulate", "--scenario"]).arg(f.path()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn assert_one_line_error(content: &[u8], needle: &str) {
    let (code, err, out) = bad(content);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("denyctl: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.is_empty(), "no partial output: {out}");
}

#[test]
fn bad_input_gets_one_clear_line_and_exit_2() {
    assert_one_line_error(b"{\"request\": {\"principal\": ", "not valid JSON");
    assert_one_line_error(b"{\"policies\": {}}", "request: missing");
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","action":"s3:GetObject","resource":"*"},
            "policies":{"identity":[{"name":"p","document":{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{"StringEqualsX":{"a":"b"}}}]}}]}}"#,
        "policies.identity[0].document: statement 0: Condition.StringEqualsX: unknown condition operator",
    );
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::1111:user/a","action":"s3:GetObject","resource":"*"}}"#,
        "request.principal",
    );
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","action":"s3:GetObject","resource":"arn:aws:s3"}}"#,
        "truncated",
    );
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","action":"GetObject","resource":"*"}}"#,
        "request.action",
    );
    // A misspelled key never silently drops a layer or a request field.
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","action":"s3:GetObject","resource":"*"},"layers":{}}"#,
        "layers: unknown field; a scenario has name, description, request, policies, expect, versions",
    );
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","action":"s3:GetObject","resource":"*"},"policies":{"identities":[]}}"#,
        "policies: unknown field `identities`",
    );
    assert_one_line_error(
        br#"{"request":{"principal":"arn:aws:iam::111122223333:user/a","Action":"s3:GetObject","resource":"*"}}"#,
        "request: unknown field `Action`",
    );
    assert_one_line_error(b"\x00\x01\x02\xff\xfe binary junk", "not UTF-8");
    assert_one_line_error(b"", "not valid JSON");
}

#[test]
fn huge_file_is_refused_without_reading_it_all() {
    let f = tempfile::NamedTempFile::new().unwrap();
    f.as_file().set_len(100 * 1024 * 1024).unwrap(); // sparse: 100 MB of zeros
    let out = denyctl().args(["simulate", "--scenario"]).arg(f.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("larger than"), "{err}");
}

#[test]
fn missing_file_and_directory() {
    denyctl()
        .args(["simulate", "--scenario", "/no/such/file.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/file.json"));
    denyctl().args(["simulate", "--scenario", "/"]).assert().code(2).stderr(predicate::str::contains("directory"));
    denyctl().args(["simulate"]).assert().code(2);
}
