//! The Terraform corpus: every case of tests/fixtures/iac/terraform/*/cases.json is located,
//! patched and rendered; the patched `.tf` files must parse with python-hcl2 and the diff must
//! apply with `git apply --check` to a pristine copy.

use std::path::{Path, PathBuf};
use std::process::Command;

use denyctl_iac::delta::same_policy;
use denyctl_iac::model::{Backend, Live, SourceFile, Sources, StateSource};
use denyctl_iac::tf::Terraform;
use serde_json::{json, Value as Json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn python() -> PathBuf {
    let venv = std::env::var("DENYCTL_VENV").map(PathBuf::from).unwrap_or_else(|_| repo().join(".venv"));
    let py = venv.join("bin/python");
    let ok = Command::new(&py).args(["-c", "import hcl2"]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "python-hcl2 is missing: set DENYCTL_VENV to a venv with python-hcl2 (scripts/moto-env.sh), tried {}", py.display());
    py
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read dir").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            if rel != "cases.json" {
                out.push(SourceFile { path: rel, text });
            }
        }
    }
}

/// A plan Change from a case's partial object (defaults for fields the case omits).
fn change_of(v: &Json) -> denyctl_remedy::Change {
    let mut c = json!({"edit": "add_allow", "summary": "", "statements": [], "diff": "", "version_token": null, "needs_human": false, "newly_allowed": [], "applicable": true});
    for (k, x) in v.as_object().expect("change object") {
        c[k] = x.clone();
    }
    serde_json::from_value(c).expect("a plan Change")
}

fn copy_tree(files: &[SourceFile], to: &Path) {
    for f in files {
        let p = to.join(&f.path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, &f.text).expect("write");
    }
}

#[test]
fn terraform_corpus() {
    let base = repo().join("tests/fixtures/iac/terraform");
    let py = python();
    let mut dirs: Vec<_> = std::fs::read_dir(&base).expect("fixtures").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for dir in &dirs {
        let mut files = Vec::new();
        walk(dir, dir, &mut files);
        let cases: Vec<Json> = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).expect("cases.json")).expect("cases JSON");
        for case in &cases {
            count += 1;
            let name = format!("{}/{}", dir.file_name().unwrap_or_default().to_string_lossy(), case["name"].as_str().unwrap_or("?"));
            let live: Live = serde_json::from_value(case["live"].clone()).expect("live");
            let states = case["states"].as_array().cloned().unwrap_or_default().iter().map(|s| StateSource {
                origin: s["origin"].as_str().unwrap_or_default().to_string(),
                dir: s["dir"].as_str().unwrap_or_default().to_string(),
                text: std::fs::read_to_string(dir.join(s["file"].as_str().unwrap_or_default())).expect("state file"),
            }).collect();
            let sources = Sources { files: files.clone(), stacks: vec![], states, live };
            let change = change_of(&case["change"]);
            let wanted = denyctl_iac::patch::wanted_of(&change).expect("wanted").expect("applicable");
            let (locs, errs) = Terraform.locate(&wanted, &sources);
            let expect = &case["expect"];
            let err_text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            if expect["owner"].is_null() {
                if !locs.is_empty() {
                    failures.push(format!("{name}: expected no owner, found {:?}", locs.iter().map(|l| &l.resource).collect::<Vec<_>>()));
                }
                if let Some(want) = expect["error"].as_str() {
                    if !err_text.iter().any(|e| e.contains(want)) {
                        failures.push(format!("{name}: expected an error with {want:?}, got {err_text:?}"));
                    }
                }
                continue;
            }
            let (file, resource) = (expect["owner"]["file"].as_str().unwrap_or_default(), expect["owner"]["resource"].as_str().unwrap_or_default());
            if locs.len() != 1 || locs[0].file != file || locs[0].resource != resource {
                failures.push(format!("{name}: expected owner {resource} in {file}, found {:?} (errors {err_text:?})", locs.iter().map(|l| (&l.resource, &l.file)).collect::<Vec<_>>()));
                continue;
            }
            let patched = match Terraform.patch(&wanted, &locs[0], &sources) {
                Ok(p) => p,
                Err(e) => {
                    match expect["error"].as_str() {
                        Some(want) if e.to_string().contains(want) => {}
                        _ => failures.push(format!("{name}: patch failed: {e}")),
                    }
                    continue;
                }
            };
            if let Some(want) = expect["error"].as_str() {
                let unr = patched.rendered_after.as_ref().err().map(|u| format!("{} {}", u.expression, u.reason)).unwrap_or_default();
                if !unr.contains(want) {
                    failures.push(format!("{name}: expected an error/unrenderable with {want:?}, got rendered {:?}", patched.rendered_after));
                }
            }
            let diff = denyctl_iac::filediff::unified_all(&patched.edits);
            for line in expect["diff_contains"].as_array().cloned().unwrap_or_default() {
                let l = line.as_str().unwrap_or_default();
                if !diff.contains(l) {
                    failures.push(format!("{name}: the diff lacks {l:?}:\n{diff}"));
                }
            }
            if expect["rendered_equals_after"].as_bool().unwrap_or(false) {
                match &patched.rendered_after {
                    Ok(r) if same_policy(r, &change.after) => {}
                    other => failures.push(format!("{name}: rendered_after {other:?} is not the plan's after {}\n{diff}", change.after)),
                }
                if let Some(b) = &change.before {
                    match &patched.rendered_before {
                        Some(Ok(r)) if same_policy(r, b) => {}
                        other => failures.push(format!("{name}: rendered_before {other:?} is not the plan's before {b}")),
                    }
                }
            }
            // The patched files parse with python-hcl2.
            let tmp = tempfile::tempdir().expect("tmp");
            copy_tree(&files, tmp.path());
            for e in &patched.edits {
                std::fs::write(tmp.path().join(&e.path), &e.after).expect("write patched");
                if e.path.ends_with(".tf") {
                    let o = Command::new(&py).args(["-c", "import hcl2,sys; hcl2.load(open(sys.argv[1]))"]).arg(tmp.path().join(&e.path)).output().expect("python");
                    if !o.status.success() {
                        failures.push(format!("{name}: python-hcl2 rejects the patched {}: {}\n{}", e.path, String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""), e.after));
                    }
                }
            }
            // The diff applies to a pristine copy.
            let clean = tempfile::tempdir().expect("tmp");
            copy_tree(&files, clean.path());
            std::fs::write(clean.path().join("patch.diff"), &diff).expect("write diff");
            let o = Command::new("git").args(["apply", "--check", "patch.diff"]).current_dir(clean.path()).output().expect("git");
            if !o.status.success() {
                failures.push(format!("{name}: git apply --check refuses the diff: {}\n{diff}", String::from_utf8_lossy(&o.stderr)));
            }
            if std::env::var("TF_FIXTURES_SHOW").is_ok() {
                eprintln!("== {name}\n{diff}\nnotes: {:?}", patched.notes);
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n\n"));
    assert!(count >= 8, "only {count} cases");
}

/// A plan without changes (the iac-01 incident's request), for [`patch_plan`] tests.
const PLAN_SKELETON: &str = r#"{"plan_version": 1, "status": "ready", "request": {"principal": "arn:aws:sts::111122223333:assumed-role/deploy-role/GitHubActions", "action": "s3:PutObject", "resource": "arn:aws:s3:::prod-artifacts/releases/app.zip", "resource_account": "111122223333", "context": {"aws:PrincipalAccount": ["111122223333"], "aws:PrincipalArn": ["arn:aws:iam::111122223333:role/deploy-role"], "aws:PrincipalType": ["AssumedRole"]}}, "caller": {"kind": "role", "entity_arn": "arn:aws:iam::111122223333:role/deploy-role", "name": "deploy-role", "account": "111122223333"}, "scope": "exact", "versions_read": {"inline:deploy": null}, "changes": [], "handoffs": [], "alternatives": [], "verification": {"before": {"decision": "implicit_deny", "denied_by": ["identity"]}, "after": {"decision": "allow", "denied_by": []}, "with_handoffs": {"decision": "allow", "denied_by": []}, "depends_on_unknown": false}, "no_new_access": {"checked": 316, "newly_allowed": [], "widening_accepted": false}, "replay": {"principal": "arn:aws:sts::111122223333:assumed-role/deploy-role/GitHubActions", "action": "s3:PutObject", "resource": "arn:aws:s3:::prod-artifacts/releases/app.zip", "resource_account": "111122223333", "context": {"aws:PrincipalAccount": ["111122223333"], "aws:PrincipalArn": ["arn:aws:iam::111122223333:role/deploy-role"], "aws:PrincipalType": ["AssumedRole"]}}}"#;

#[test]
fn patch_plan_chains_two_changes_to_one_file() {
    let dir = repo().join("tests/fixtures/iac/terraform/01-ci-role-jsonencode");
    let mut files = Vec::new();
    walk(&dir, &dir, &mut files);
    let cases: Vec<Json> = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).expect("cases")).expect("JSON");
    let mut plan: Json = serde_json::from_str(PLAN_SKELETON).expect("skeleton");
    let mut changes = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let mut ch = serde_json::to_value(change_of(&c["change"])).expect("change");
        ch["id"] = json!(format!("c{}", i + 1));
        changes.push(ch);
    }
    plan["changes"] = Json::Array(changes);
    let plan: denyctl_remedy::Plan = serde_json::from_value(plan).expect("a plan");
    let live: Live = serde_json::from_value(cases[0]["live"].clone()).expect("live");
    let sources = Sources { files, stacks: vec![], states: vec![], live };
    let out = denyctl_iac::patch_plan(&plan, &sources, "infra");
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert_eq!(out.changes.len(), 3, "{:?}", out.unmanaged);
    assert!(out.changes.iter().all(|c| c.rendered == "equivalent"), "{:?}", out.changes);
    assert_eq!(out.edits.len(), 1, "one chained edit of iam.tf");
    let after = &out.edits[0].after;
    for want in ["resource \"aws_iam_role_policy\" \"deploy_denyctl\"", "Sid      = \"DenyctlS3PutObject\"", "\"repo:example-org/infra:ref:refs/heads/main\","] {
        assert!(after.contains(want), "{want} missing from\n{after}");
    }
}
