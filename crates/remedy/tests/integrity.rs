//! Plan integrity (`integrity::recheck`): over every scenario of the corpus, an untouched plan
//! that is `ready` (nothing newly allowed) re-checks clean from the plan file alone — apply
//! must not refuse honest plans — and the same plan with a change widened after it was made
//! (Action `*`, or a principal `*` in a resource policy) is caught, naming the change.

use std::path::Path;

use denyctl_eval::evaluate;
use denyctl_eval::scenario::Scenario;
use denyctl_remedy::integrity::recheck;
use denyctl_remedy::{plan, Options, Plan, Status, TargetKind};
use serde_json::{json, Value};

fn plans() -> Vec<(String, Plan)> {
    let mut out = Vec::new();
    for dir in ["shared", "own"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios").join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
        files.sort();
        for f in files {
            let Ok(sc) = Scenario::parse_str(&std::fs::read_to_string(&f).unwrap()) else { continue };
            let v = evaluate(&sc.request, &sc.layers);
            if let Ok(p) = plan(&sc.request, &sc.layers, &v, &Options::default()) {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), p));
            }
        }
    }
    out
}

/// Widen the last Allow of the change: every action on every resource, and (resource
/// policies) for everyone. (Action `*` alone on the exact resource is caught where the catalog
/// knows other actions on that resource type: tests/apply_faults.rs does it for S3.)
fn widen(doc: &mut Value, kind: TargetKind) {
    let stmts = doc["Statement"].as_array_mut().expect("a statement list");
    let s = stmts.iter_mut().rev().find(|s| s["Effect"] == "Allow").expect("an Allow");
    if let Some(o) = s.as_object_mut() {
        o.remove("NotAction");
        o.insert("Action".into(), json!("*"));
        if o.contains_key("Resource") {
            o.insert("Resource".into(), json!("*"));
        }
        if matches!(kind, TargetKind::ResourcePolicy | TargetKind::TrustPolicy) {
            o.insert("Principal".into(), json!("*"));
        }
    }
}

#[test]
fn honest_ready_plans_recheck_clean_and_widened_ones_are_caught() {
    let all = plans();
    let mut clean = 0;
    let mut caught = 0;
    for (name, p) in &all {
        let honest = p.status == Status::Ready && p.no_new_access.newly_allowed.is_empty();
        if !honest {
            continue;
        }
        for r in recheck(p) {
            assert!(r.passes(), "{name}: the untouched plan re-checks wider: {r:?}");
            clean += 1;
        }
        for (i, c) in p.changes.iter().enumerate().filter(|(_, c)| c.applicable && c.edit == denyctl_remedy::EditKind::AddAllow) {
            let mut t = p.clone();
            widen(&mut t.changes[i].after, c.target.kind);
            let r = recheck(&t).into_iter().find(|r| r.change == c.id).unwrap();
            assert!(!r.newly_allowed.is_empty(), "{name}: {} widened to Action * Resource * is not caught", c.id);
            caught += 1;
        }
    }
    assert!(clean >= 20 && caught >= 15, "too few plans exercised: {clean} clean, {caught} caught");
}
