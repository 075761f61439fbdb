//! The corpus: every message in tests/denials/*.jsonl parses to exactly the findings its `expect` names.
//! `expect` is one object (exactly one finding) or an array (one object per finding, in order);
//! every key it has is compared with the finding's JSON, nulls included (`cloudtrail.region` reaches
//! into nested objects). The case's `kind` is compared with the first finding's.

use serde_json::Value;

fn corpus(name: &str) -> Vec<Value> {
    let path = format!("{}/../../tests/denials/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)))
        .collect()
}

/// Every mismatch between the corpus and the parser, as readable lines.
fn check(name: &str) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let cases = corpus(name);
    for case in &cases {
        let id = case["id"].as_str().unwrap_or("?");
        assert!(case["source"].as_str().is_some_and(|s| !s.is_empty()), "{name} {id}: no source");
        let text = case["text"].as_str().expect("text");
        let expects: Vec<&Value> = match &case["expect"] {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        let parsed = match denyctl_denial::parse(text.as_bytes()) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{id}: parse error: {e}"));
                continue;
            }
        };
        if parsed.findings.len() != expects.len() {
            let messages: Vec<&String> = parsed.findings.iter().map(|f| &f.message).collect();
            failures.push(format!("{id}: {} findings, expected {}: {messages:?}", parsed.findings.len(), expects.len()));
            continue;
        }
        for (n, (finding, expect)) in parsed.findings.iter().zip(expects).enumerate() {
            let got = serde_json::to_value(finding).unwrap();
            if let Some(kind) = case["kind"].as_str().filter(|_| n == 0) {
                if got["kind"] != kind {
                    failures.push(format!("{id}: kind {} expected {kind}", got["kind"]));
                }
            }
            for (key, want) in expect.as_object().expect("expect is an object") {
                let have = key.split('.').fold(&got, |v, k| &v[k]);
                if have != want {
                    failures.push(format!("{id}[{n}].{key}: got {have}, expected {want}"));
                }
            }
        }
    }
    (cases.len(), failures)
}

#[test]
fn doc_examples() {
    let (n, failures) = check("doc-examples.jsonl");
    assert!(n >= 20);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
#[test]
fn collected_from_public_sources() {
    let (n, failures) = check("collected.jsonl");
    assert!(n >= 60, "only {n} collected messages");
    let look_alikes = corpus("collected.jsonl").iter().filter(|c| c["kind"] == "not_a_denial").count();
    assert!(look_alikes >= 10, "only {look_alikes} look-alikes");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn constructed_wrapper_forms_and_cloudtrail() {
    let (n, failures) = check("constructed.jsonl");
    assert!(n >= 15);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
