//! The CloudFormation fixture corpus: every case of tests/fixtures/iac/cloudformation/*/cases.json
//! is located and patched; owners, errors, diffs and the rendered policy are checked; the patched
//! templates pass cfn-lint and the diff applies with `git apply --check` on a pristine copy.

use std::path::{Path, PathBuf};
use std::process::Command;

use denyctl_iac::cfn::CloudFormation;
use denyctl_iac::delta::same_policy;
use denyctl_iac::filediff::unified_all;
use denyctl_iac::model::{Backend, Live, SourceFile, Sources, Stack};
use denyctl_iac::patch::wanted_of;
use denyctl_remedy::Change;
use serde_json::{json, Value as Json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn cfn_lint() -> PathBuf {
    let venv = std::env::var("DENYCTL_VENV").map(PathBuf::from).unwrap_or_else(|_| repo().join(".venv"));
    let p = venv.join("bin/cfn-lint");
    if !p.exists() {
        panic!("cfn-lint not found at {} (set DENYCTL_VENV to a venv with cfn-lint, see scripts/moto-env.sh)", p.display());
    }
    p
}

fn read_tree(dir: &Path, rel: &str, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read fixture dir").flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        if e.path().is_dir() {
            read_tree(&e.path(), &path, out);
        } else if path != "cases.json" {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                out.push(SourceFile { path, text });
            }
        }
    }
}

fn change_of(c: &Json) -> Change {
    let mut c = c.clone();
    let o = c.as_object_mut().expect("change object");
    for (k, v) in [("edit", json!("add_allow")), ("summary", json!("")), ("statements", json!([])), ("diff", json!("")), ("version_token", Json::Null), ("needs_human", json!(false)), ("newly_allowed", json!([]))] {
        o.entry(k).or_insert(v);
    }
    serde_json::from_value(c).expect("a plan change")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("denyctl-cfn-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp");
    d
}

fn run_case(dir: &Path, case: &Json, n: usize) -> Result<(), String> {
    let name = case["name"].as_str().unwrap_or("?");
    let mut files = Vec::new();
    read_tree(dir, "", &mut files);
    let live: Live = serde_json::from_value(case["live"].clone()).map_err(|e| format!("live: {e}"))?;
    let stacks: Vec<Stack> = serde_json::from_value(case.get("stacks").cloned().unwrap_or(json!([]))).map_err(|e| format!("stacks: {e}"))?;
    let sources = Sources { files, stacks, states: Vec::new(), live };
    let change = change_of(&case["change"]);
    let wanted = wanted_of(&change)?.ok_or("the change is not applicable")?;
    let expect = &case["expect"];
    let (locs, errs) = CloudFormation.locate(&wanted, &sources);
    let mut messages: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    if locs.len() > 1 {
        messages.push(format!("two or more owners: {}", locs.iter().map(|l| format!("{} in {}", l.resource, l.file)).collect::<Vec<_>>().join(", ")));
    }
    let owner = &expect["owner"];
    if owner.is_null() {
        if !locs.is_empty() && locs.len() < 2 {
            return Err(format!("{name}: expected no owner, found {:?}", locs));
        }
    } else if locs.len() == 1 {
        let l = &locs[0];
        if owner["file"] != json!(l.file) || owner["resource"] != json!(l.resource) {
            return Err(format!("{name}: owner {} {} != expected {owner}", l.file, l.resource));
        }
    } else {
        return Err(format!("{name}: expected one owner, found {} ({messages:?})", locs.len()));
    }
    let mut patched = None;
    if locs.len() == 1 {
        match CloudFormation.patch(&wanted, &locs[0], &sources) {
            Ok(p) => patched = Some(p),
            Err(e) => messages.push(e.to_string()),
        }
    }
    if let Some(want) = expect.get("error").and_then(Json::as_str) {
        if !messages.iter().any(|m| m.contains(want)) {
            return Err(format!("{name}: expected an error containing {want:?}, got {messages:?}"));
        }
        return Ok(());
    }
    if !messages.is_empty() {
        return Err(format!("{name}: unexpected errors {messages:?}"));
    }
    let Some(p) = patched else { return Ok(()) };
    let diff = unified_all(&p.edits);
    if std::env::var_os("DENYCTL_SHOW_DIFFS").is_some() {
        eprintln!("== {name}\n{diff}");
    }
    for want in expect.get("diff_contains").and_then(Json::as_array).into_iter().flatten() {
        let w = want.as_str().unwrap_or_default();
        let found = match w.strip_prefix('+') {
            Some(body) => diff.lines().any(|l| l.starts_with('+') && l[1..].trim_start().contains(body.trim_start())),
            None => diff.contains(w),
        };
        if !found {
            return Err(format!("{name}: the diff lacks {w:?}:\n{diff}"));
        }
    }
    if let Some(u) = expect.get("unrenderable").and_then(Json::as_str) {
        match &p.rendered_after {
            Err(e) if e.expression.contains(u) || e.reason.contains(u) => {}
            other => return Err(format!("{name}: expected unrenderable {u:?}, got {other:?}")),
        }
    } else if expect["rendered_equals_after"] == json!(true) {
        match &p.rendered_after {
            Ok(r) if same_policy(r, &change.after) => {}
            other => return Err(format!("{name}: rendered after differs from the plan: {other:?}\n{diff}")),
        }
        if let (Some(b), Some(Ok(rb))) = (&change.before, &p.rendered_before) {
            if !same_policy(b, rb) {
                return Err(format!("{name}: rendered before differs from the plan's before: {rb}"));
            }
        }
    }
    // cfn-lint on the patched templates, in a copy of the fixture.
    let work = tmpdir(&format!("{}-{n}-lint", dir.file_name().unwrap_or_default().to_string_lossy()));
    copy_tree(dir, &work);
    let ignore = expect.get("cfn_lint_ignore").and_then(Json::as_str).unwrap_or("");
    for e in &p.edits {
        let path = work.join(&e.path);
        std::fs::write(&path, &e.after).map_err(|x| x.to_string())?;
        let mut cmd = Command::new(cfn_lint());
        if !ignore.is_empty() {
            cmd.arg("--ignore-checks").arg(ignore);
        }
        let o = cmd.arg("--").arg(&path).output().map_err(|x| x.to_string())?;
        if !o.status.success() {
            return Err(format!("{name}: cfn-lint fails on the patched {}:\n{}{}\n{}", e.path, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr), e.after));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    // git apply --check in a pristine copy.
    let pristine = tmpdir(&format!("{}-{n}-git", dir.file_name().unwrap_or_default().to_string_lossy()));
    copy_tree(dir, &pristine);
    let patch_file = pristine.join("../denyctl-cfn.patch");
    std::fs::write(&patch_file, &diff).map_err(|x| x.to_string())?;
    let o = Command::new("git").current_dir(&pristine).args(["apply", "--check"]).arg(&patch_file).output().map_err(|x| x.to_string())?;
    let _ = std::fs::remove_file(&patch_file);
    let _ = std::fs::remove_dir_all(&pristine);
    if !o.status.success() {
        return Err(format!("{name}: git apply --check refuses the diff: {}\n{diff}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(())
}

#[test]
fn cloudformation_fixture_corpus() {
    let root = repo().join("tests/fixtures/iac/cloudformation");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("fixtures").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for d in &dirs {
        let text = std::fs::read_to_string(d.join("cases.json")).unwrap_or_else(|_| panic!("{}: cases.json", d.display()));
        let cases: Vec<Json> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: cases.json: {e}", d.display()));
        for (i, c) in cases.iter().enumerate() {
            count += 1;
            if let Err(e) = run_case(d, c, i) {
                failures.push(format!("{}: {e}", d.file_name().unwrap_or_default().to_string_lossy()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases fail:\n{}", failures.len(), failures.join("\n\n"));
    assert!(dirs.len() >= 8, "at least 8 fixtures");
}
