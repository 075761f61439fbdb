//! `denyctl fix --iac` offline, end to end through the binary: for the four incidents of issue 11
//! (the CI identity allow, a KMS key policy, a bucket policy Deny narrowed, a permissions
//! boundary) and for both tools, the plan made from the scenario is written as a patch to the
//! fixture's code; `git apply` takes the `-o diff` output inside a copy of the folder; the users'
//! own checkers accept the patched files (cfn-lint for templates, python-hcl2 for `.tf`); the
//! rendered policy decides every neighbouring request as the API plan (`rendered: equivalent`).
//! Then bad input: one line, the API plan still shown.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, repo, venv_bin};

use serde_json::Value;


fn denyctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_denyctl"));
    c.env("NO_COLOR", "1").env_remove("AWS_PROFILE").env("AWS_REGION", "us-east-1");
    c
}



struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fix(scenario: &str, iac: &Path, output: &str, extra: &[&str]) -> Out {
    let out = denyctl()
        .args(["fix", "--dry-run", "-o", output, "--scenario"])
        .arg(repo().join("tests/scenarios/iac").join(scenario))
        .arg("--iac")
        .arg(iac)
        .args(extra)
        .output()
        .unwrap();
    Out { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() }
}

/// Check one patched file with the user's own tool.
fn lint(path: &Path) {
    let name = path.to_string_lossy().to_string();
    let out = if name.ends_with(".tf") {
        Command::new(venv_bin("python")).args(["-c", "import hcl2,sys; hcl2.load(open(sys.argv[1]))"]).arg(path).output().unwrap()
    } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".template") || is_template_json(path) {
        Command::new(venv_bin("cfn-lint")).arg(path).output().unwrap()
    } else if name.ends_with(".json") {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name} is not JSON after the patch: {e}"));
        return;
    } else {
        return;
    };
    assert!(out.status.success(), "{name} fails its checker:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn is_template_json(path: &Path) -> bool {
    std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()).is_some_and(|v| v.get("Resources").is_some())
}

/// The whole proof for one incident and one fixture folder.
fn proves(scenario: &str, fixture: &str, extra: &[&str]) {
    let dir = repo().join("tests/fixtures/iac").join(fixture);
    assert!(dir.is_dir(), "{} is missing", dir.display());
    let j = fix(scenario, &dir, "json", extra);
    assert_eq!(j.code, 0, "{scenario} × {fixture}: {}", j.stderr);
    let plan: Value = serde_json::from_str(&j.stdout).unwrap();
    let applicable: Vec<&Value> = plan["changes"].as_array().unwrap().iter().filter(|c| c["applicable"] == true).collect();
    assert!(!applicable.is_empty());
    let changes = plan["iac_changes"].as_array().unwrap();
    assert_eq!(changes.len(), applicable.len(), "{scenario} × {fixture}: every change patched: {}\nstderr: {}", j.stdout, j.stderr);
    assert_eq!(plan["unmanaged"], serde_json::json!([]), "{scenario} × {fixture}: {}", j.stderr);
    for c in changes {
        assert!(c["rendered"].as_str().unwrap_or_default().starts_with("equivalent"), "{c}");
        assert!(applicable.iter().any(|a| a["id"] == c["change"] && a["layer"] == c["layer"]), "{c}");
    }
    // The diff: git-style, relative to the folder, accepted by git apply in a pristine copy.
    let d = fix(scenario, &dir, "diff", extra);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(d.stdout.starts_with("diff --git a/"), "{}", d.stdout);
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("repo");
    copy_dir(&dir, &copy);
    let patch = tmp.path().join("fix.patch");
    std::fs::write(&patch, &d.stdout).unwrap();
    let git = Command::new("git").args(["apply", "--verbose"]).arg(&patch).current_dir(&copy).output().unwrap();
    assert!(git.status.success(), "git apply ({scenario} × {fixture}): {}\n{}", String::from_utf8_lossy(&git.stderr), d.stdout);
    let mut touched = 0;
    for c in changes {
        for f in c["files"].as_array().unwrap() {
            let path = copy.join(f.as_str().unwrap());
            lint(&path);
            touched += 1;
        }
    }
    assert!(touched > 0);
}

const FIX_CFN_IDENTITY: &str = "cloudformation/01-yaml-ci-stack";
const FIX_CFN_KMS: &str = "cloudformation/01-yaml-ci-stack";
const FIX_CFN_BUCKET: &str = "cloudformation/01-yaml-ci-stack";
const FIX_CFN_BOUNDARY: &str = "cloudformation/01-yaml-ci-stack";
const FIX_CFN_CDK: &str = "cloudformation/02-json-cdk-synth";
const FIX_TF_IDENTITY: &str = "terraform/01-ci-role-jsonencode";
const FIX_TF_KMS: &str = "terraform/02-kms-heredoc";
const FIX_TF_BUCKET: &str = "terraform/03-bucket-policy-document";
const FIX_TF_BOUNDARY: &str = "terraform/04-boundary-file";

macro_rules! incident {
    ($name:ident, $scenario:expr, $fixture:expr) => {
        incident!($name, $scenario, $fixture, &[]);
    };
    ($name:ident, $scenario:expr, $fixture:expr, $extra:expr) => {
        #[test]
        fn $name() {
            proves($scenario, $fixture, $extra);
        }
    };
}

incident!(cfn_ci_identity, "iac-01-ci-identity.json", FIX_CFN_IDENTITY);
incident!(cfn_kms_key_policy, "iac-02-kms-key-policy.json", FIX_CFN_KMS);
incident!(cfn_bucket_deny_narrowed, "iac-03-bucket-deny.json", FIX_CFN_BUCKET, &["--accept-widening"]);
incident!(cfn_boundary, "iac-04-boundary.json", FIX_CFN_BOUNDARY);
incident!(cdk_ci_identity, "iac-01-ci-identity.json", FIX_CFN_CDK);
incident!(cdk_boundary, "iac-04-boundary.json", FIX_CFN_CDK);
incident!(tf_ci_identity, "iac-01-ci-identity.json", FIX_TF_IDENTITY);
incident!(tf_kms_key_policy, "iac-02-kms-key-policy.json", FIX_TF_KMS);
incident!(tf_bucket_deny_narrowed, "iac-03-bucket-deny.json", FIX_TF_BUCKET, &["--accept-widening"]);
incident!(tf_boundary, "iac-04-boundary.json", FIX_TF_BOUNDARY);

#[test]
fn a_folder_without_iac_keeps_the_api_plan() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("README.md"), "no infrastructure here\n").unwrap();
    let j = fix("iac-01-ci-identity.json", tmp.path(), "json", &[]);
    assert_eq!(j.code, 0, "{}", j.stderr);
    let plan: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(plan["status"], "ready");
    assert_eq!(plan["iac_changes"], serde_json::json!([]));
    let u = plan["unmanaged"].as_array().unwrap();
    assert_eq!(u.len(), 1);
    assert!(u[0]["reason"].as_str().unwrap().contains("owns the inline policy denyctl-"), "{}", u[0]);
    let d = fix("iac-01-ci-identity.json", tmp.path(), "diff", &[]);
    assert_eq!(d.code, 0);
    assert_eq!(d.stdout, "", "no patch when nothing is managed");
    assert!(d.stderr.contains("is unmanaged"), "{}", d.stderr);
}

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    let missing = repo().join("tests/fixtures/iac/does-not-exist");
    let o = fix("iac-01-ci-identity.json", &missing, "json", &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.trim().lines().count() == 1 && o.stderr.contains("not a folder"), "{}", o.stderr);
    let o = denyctl()
        .args(["fix", "--dry-run", "--tf-state", "x.tfstate", "--scenario"])
        .arg(repo().join("tests/scenarios/iac/iac-01-ci-identity.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tf-state needs --iac"));
}

#[test]
fn a_template_that_does_not_parse_is_named_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("tests/fixtures/iac").join(FIX_CFN_IDENTITY), tmp.path());
    std::fs::write(tmp.path().join("broken.yaml"), "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Role: [unclosed\n").unwrap();
    let before = snapshot(tmp.path());
    let j = fix("iac-01-ci-identity.json", tmp.path(), "json", &[]);
    assert_eq!(j.code, 0, "{}", j.stderr);
    assert!(j.stderr.lines().any(|l| l.contains("broken.yaml")), "the broken file is named: {}", j.stderr);
    let plan: Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(plan["iac_changes"].as_array().map(Vec::len), Some(1), "the good template is still patched: {}", j.stderr);
    assert_eq!(snapshot(tmp.path()), before, "a dry run writes nothing");
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(snapshot(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}
