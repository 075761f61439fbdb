//! The direct reading of scenarios (`Scenario::parse_str`: borrowed, no `serde_json::Value` for
//! the policies) must give exactly what the reference reading (`Scenario::parse_json_str`,
//! through a `Value`) gives: the same scenario, policies and their raw JSON included, or the
//! same error. Checked on every JSON file under tests/ and ../shared/scenarios, on generated
//! scenarios, and on random edits of them.

use std::path::{Path, PathBuf};

use denyctl_eval::scenario::Scenario;
use denyctl_policy::Policy;
use proptest::prelude::*;

#[path = "../../../tests/common/gen.rs"]
mod gen;

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json" || x == "jsonl") {
            out.push(p);
        }
    }
}

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    json_files(&root.join("tests"), &mut files);
    json_files(&root.join("../shared/scenarios"), &mut files);
    json_files(Path::new("/work/shared/scenarios"), &mut files);
    files.sort();
    let mut texts: Vec<String> = files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect();
    // JSON-lines files: each line too.
    let lines: Vec<String> =
        texts.iter().filter(|t| t.lines().count() > 1).flat_map(|t| t.lines().map(str::to_string)).collect();
    texts.extend(lines);
    texts.extend((0..40).map(|i| gen::scenario_sized(i, 2).to_string()));
    texts.extend((0..10).map(|i| gen::scenario(i).to_string()));
    // Context values of every kind, escapes, a snapshot's extra fields, every layer, an expect.
    texts.push(
        r#"{"name": "n\u00e9", "description": "d", "request": {"principal": "arn:aws:iam::111122223333:user/a\u0062",
            "action": "s3:GetObject", "context": {"b": true, "n": 5, "f": 1.5, "l": [1, "x", false], "s": "\"q\""}},
            "policies": {"session": [{"document": {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}}],
            "rcp": [{"policies": [{"name": "r", "document": null}]}], "vpc_endpoint": {"document": {}},
            "management_account": "999988887777", "unknown": [{"layer": "scp", "reason": "no access"}]},
            "expect": {"decision": "allow", "denied_by": []}, "versions": {"a": 1}}"#
            .to_string(),
    );
    texts.push(r#"{"format": "denyctl-snapshot/1", "extra": [1, {"x": null}], "request": {"principal": "arn:aws:iam::111122223333:root", "action": "s3:ListBucket"}}"#.to_string());
    texts
}

/// The whole outcome, in a comparable form (Debug shows every field, a policy's raw JSON too).
fn both(text: &str) -> (String, String) {
    let fast = format!("{:?}", Scenario::parse_str(text));
    let reference = format!("{:?}", Scenario::parse_json_str(text));
    (fast, reference)
}

#[test]
fn corpus_reads_the_same_both_ways() {
    let texts = corpus();
    assert!(texts.len() > 100, "found only {} texts", texts.len());
    let mut ok = 0;
    for t in &texts {
        let (fast, reference) = both(t);
        assert_eq!(fast, reference, "{t}");
        ok += usize::from(fast.starts_with("Ok"));
    }
    assert!(ok > 90, "only {ok} valid scenarios in the corpus");
}

/// Edits that reach the cases the direct reading leaves to the reference one.
const SNIPPETS: &[&str] = &[
    "\"x\": 1, ",
    "\"name\": \"n\", ",
    "\"Action\": \"s3:*\", ",
    "\"action\": \"s3:*\", ",
    "\"document\": null, ",
    "\"document\": {}, ",
    "\"context\": null, ",
    "\"unknown\": null, ",
    "\"unknown\": [{\"layer\": \"scp\", \"reason\": \"r\", \"x\": 1e400}], ",
    "\"format\": 1, ",
    "\"policies\": null, ",
    "\"expect\": null, ",
    "\"y\": 1e400, ",
    "\"z\": \"\\ud800\", ",
    "\"e\\u0041\": \"\\u0041\", ",
    "null",
    "1e400",
    "\"\\\"\"",
    "[",
    "}",
    ", ",
    "\"",
];

fn edit(text: &str, pos: usize, snippet: &str) -> String {
    // Insert right after an opening brace or comma at or before pos (a likely key position),
    // or at pos itself when there is none.
    let bytes = text.as_bytes();
    let mut at = pos.min(text.len());
    while at > 0 && !matches!(bytes[at - 1], b'{' | b',') {
        at -= 1;
    }
    let at = if at == 0 { pos.min(text.len()) } else { at };
    let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    format!("{}{}{}", &text[..at], snippet, &text[at..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn edited_scenarios_read_the_same_both_ways(
        which in 0usize..1000,
        pos in 0usize..100_000,
        snippet in prop::sample::select(SNIPPETS),
        cut in prop::option::weighted(0.1, 0usize..100_000),
    ) {
        let texts = corpus_cached();
        let base = &texts[which % texts.len()];
        let mut t = edit(base, pos % (base.len() + 1), snippet);
        if let Some(c) = cut {
            let c = c % (t.len() + 1);
            if t.is_char_boundary(c) {
                t.truncate(c);
            }
        }
        let (fast, reference) = both(&t);
        prop_assert_eq!(fast, reference, "{}", t);
    }

    #[test]
    fn policy_documents_read_the_same_both_ways(
        which in 0usize..1000,
        pos in 0usize..100_000,
        snippet in prop::sample::select(SNIPPETS),
    ) {
        let docs = documents_cached();
        let base = &docs[which % docs.len()];
        let t = edit(base, pos % (base.len() + 1), snippet);
        let fast = format!("{:?}", Policy::parse_str(&t));
        let reference = format!(
            "{:?}",
            serde_json::from_str::<serde_json::Value>(&t).map_err(|_| ()).map(Policy::from_json)
        );
        // Invalid JSON: both refuse (the wording is parse_str's own, shared by both paths).
        if reference.starts_with("Err(())") {
            prop_assert!(fast.starts_with("Err("), "{}", t);
        } else {
            prop_assert_eq!(format!("Ok({fast})"), reference, "{}", t);
        }
    }
}

fn corpus_cached() -> &'static [String] {
    static C: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    C.get_or_init(corpus)
}

/// Every policy document of the corpus, as text.
fn documents_cached() -> &'static [String] {
    static C: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        if k == "document" && x.is_object() {
                            out.push(x.to_string());
                        }
                        walk(x, out);
                    }
                }
                serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for t in corpus_cached() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
                walk(&v, &mut out);
            }
        }
        out
    })
}
