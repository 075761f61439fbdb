//! The JSON contract in tests: every `-o json` output a test produces is validated against its
//! schema in docs/schema/ (the `jsonschema` crate), so a change to a shape must change the schema
//! and its `schema_version`. With DENYCTL_SCHEMA_RECORD=DIR the outputs are also appended to
//! DIR/KIND.jsonl (the samples scripts/schema-infer.py starts a schema from).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value as Json;

/// The verbs with a JSON contract, and their schema file (docs/schema/KIND.json).
const KINDS: &[(&str, &str)] = &[
    ("explain", "explain"),
    ("whoami", "whoami"),
    ("diagnose", "diagnose"),
    ("collect", "snapshot"),
    ("fix", "plan"),
    ("apply", "apply"),
    ("replay", "replay"),
    ("rollback", "rollback"),
    ("simulate", "simulate"),
    ("plugin", "plugin-list"),
    ("triage", "triage"),
];

fn validators() -> &'static Mutex<HashMap<String, jsonschema::Validator>> {
    static V: OnceLock<Mutex<HashMap<String, jsonschema::Validator>>> = OnceLock::new();
    V.get_or_init(Default::default)
}

/// The schema kind of a command line (`--profile x diagnose ... -o json` → `diagnose`), when its
/// output is JSON with a contract.
pub fn kind_of(args: &[&str]) -> Option<&'static str> {
    let json = args.windows(2).any(|w| (w[0] == "-o" || w[0] == "--output") && w[1] == "json") || args.iter().any(|a| *a == "-ojson" || *a == "--output=json");
    if !json {
        return None;
    }
    let verb = args.iter().find(|a| KINDS.iter().any(|(v, _)| v == *a))?;
    if *verb == "collect" && args.contains(&"--org") {
        return Some("org-snapshot");
    }
    KINDS.iter().find(|(v, _)| v == verb).map(|(_, k)| *k)
}

/// Validate `doc` against docs/schema/KIND.json; panics with every violation.
pub fn check(kind: &str, doc: &Json) {
    if let Ok(dir) = std::env::var("DENYCTL_SCHEMA_RECORD") {
        use std::io::Write;
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(format!("{dir}/{kind}.jsonl")) {
            let _ = writeln!(f, "{doc}");
        }
        // Recording samples for a new or changed schema: nothing to validate against yet.
        return;
    }
    let mut cache = validators().lock().unwrap_or_else(|e| e.into_inner());
    let v = cache.entry(kind.to_string()).or_insert_with(|| {
        let path = super::repo().join("docs/schema").join(format!("{kind}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let schema: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{}: not a valid JSON Schema: {e}", path.display()))
    });
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("  at {}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "output does not match docs/schema/{kind}.json:\n{}\noutput: {doc:#}", errors.join("\n"));
}

/// Validate a command's stdout when the command line asks for JSON with a contract (a JSON
/// document, or JSON lines for `simulate --batch`). Output that is not JSON (an error) is left to the test.
pub fn check_output(args: &[&str], stdout: &str) {
    let Some(kind) = kind_of(args) else { return };
    if let Ok(doc) = serde_json::from_str::<Json>(stdout) {
        check(kind, &doc);
    } else if kind == "simulate" {
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(doc) = serde_json::from_str::<Json>(line) {
                check(kind, &doc);
            }
        }
    }
}
