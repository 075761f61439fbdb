//! Unified diffs of pretty-printed policy JSON (key order kept), uncoloured; the binary colours
//! them on a terminal.

use serde_json::Value as Json;
use similar::TextDiff;

/// Pretty-printed JSON with a final newline (`""` for none).
pub fn pretty(doc: Option<&Json>) -> String {
    match doc {
        Some(d) => serde_json::to_string_pretty(d).map(|s| s + "\n").unwrap_or_default(),
        None => String::new(),
    }
}

/// A unified diff (3 lines of context) from `before` (None: the policy is created) to `after`,
/// with `a/NAME` and `b/NAME` headers.
pub fn unified(name: &str, before: Option<&Json>, after: Option<&Json>) -> String {
    let (a, b) = (pretty(before), pretty(after));
    let old = if before.is_some() { format!("a/{name}") } else { "/dev/null".to_string() };
    let new = if after.is_some() { format!("b/{name}") } else { "/dev/null".to_string() };
    TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header(&old, &new).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shows_only_the_change() {
        let before = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]});
        let mut after = before.clone();
        after["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/k"}));
        let d = unified("inline:deploy", Some(&before), Some(&after));
        assert!(d.starts_with("--- a/inline:deploy\n+++ b/inline:deploy\n"), "{d}");
        let added: Vec<&str> = d.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
        let removed: Vec<&str> = d.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).collect();
        assert!(removed.is_empty(), "{d}");
        assert!(added.contains(&"+    },"), "{d}");
        assert!(added.contains(&"+      \"Action\": \"s3:PutObject\","), "{d}");
        assert!(!d.contains("-      \"Action\": \"s3:GetObject\""));
        let created = unified("new", None, Some(&after));
        assert!(created.starts_with("--- /dev/null\n+++ b/new\n"));
    }
}
