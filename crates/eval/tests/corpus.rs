//! Every scenario in tests/scenarios/ (the shared corpus and our own) must get its expected
//! decision and denied_by from the engine.

use std::path::{Path, PathBuf};

use denyctl_eval::evaluate;
use denyctl_eval::scenario::Scenario;

fn scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let mut files = Vec::new();
    for dir in ["shared", "own"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn corpus_expectations_hold() {
    let files = scenario_files();
    assert!(files.len() >= 50, "expected the shared corpus at least, found {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let sc = Scenario::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let expect = sc.expect.clone().unwrap_or_else(|| panic!("{}: no expect", f.display()));
        let v = evaluate(&sc.request, &sc.layers);
        let got: Vec<&str> = v.denied_by.iter().map(|k| k.as_str()).collect();
        let mut want: Vec<&str> = expect.denied_by.iter().map(String::as_str).collect();
        want.sort();
        if v.decision.as_str() != expect.decision || got != want {
            failures.push(format!(
                "{}: expected {} {:?}, got {} {:?}",
                f.file_name().unwrap().to_string_lossy(),
                expect.decision,
                want,
                v.decision.as_str(),
                got
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} scenarios disagree:\n{}", failures.len(), files.len(), failures.join("\n"));
}
