//! Git-style unified diffs of file edits: `a/PATH` and `b/PATH` headers relative to the IaC
//! folder (`/dev/null` for a created file), so `git apply` accepts them inside that folder.

use similar::TextDiff;

use crate::model::FileEdit;

/// The unified diff of one file edit (3 lines of context), with a `diff --git` line.
pub fn unified(edit: &FileEdit) -> String {
    let before = edit.before.as_deref().unwrap_or("");
    let old = if edit.before.is_some() { format!("a/{}", edit.path) } else { "/dev/null".to_string() };
    let new = format!("b/{}", edit.path);
    let body = TextDiff::from_lines(before, edit.after.as_str()).unified_diff().context_radius(3).header(&old, &new).to_string();
    if body.is_empty() {
        return String::new();
    }
    let mut out = format!("diff --git a/{p} b/{p}\n", p = edit.path);
    if edit.before.is_none() {
        out.push_str("new file mode 100644\n");
    }
    out.push_str(&body);
    // similar writes "\ No newline at end of file" itself when a side lacks one.
    out
}

/// The diffs of several edits, in order.
pub fn unified_all(edits: &[FileEdit]) -> String {
    edits.iter().map(unified).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_created_files() {
        let e = FileEdit { path: "stacks/app.yaml".into(), before: Some("a\nb\n".into()), after: "a\nb\nc\n".into() };
        let d = unified(&e);
        assert!(d.starts_with("diff --git a/stacks/app.yaml b/stacks/app.yaml\n--- a/stacks/app.yaml\n+++ b/stacks/app.yaml\n"), "{d}");
        assert!(d.contains("+c\n"));
        let n = FileEdit { path: "new.json".into(), before: None, after: "{}\n".into() };
        let d = unified(&n);
        assert!(d.contains("new file mode 100644\n--- /dev/null\n+++ b/new.json\n"), "{d}");
        assert_eq!(unified(&FileEdit { path: "x".into(), before: Some("same\n".into()), after: "same\n".into() }), "");
    }
}
