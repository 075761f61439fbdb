//! Shared end-to-end test support.
pub mod lab;
pub mod moto;
pub mod schema;
pub mod world;

use std::path::{Path, PathBuf};

/// The repository's root.
#[allow(dead_code)]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A tool installed into the project's virtualenv by scripts/test.sh (cfn-lint, python).
#[allow(dead_code)]
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("DENYCTL_VENV").map(PathBuf::from).unwrap_or_else(|_| repo().join(".venv"));
    let bin = venv.join("bin").join(name);
    assert!(bin.exists(), "{} is missing: run ./scripts/test.sh (it installs the checkers into .venv)", bin.display());
    bin
}

/// Copy a folder tree (a fixture, before a test changes it).
#[allow(dead_code)]
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// IAM returns policy documents URL-encoded: decode one to the text that was put (a document
/// that is already JSON is returned as it is).
#[allow(dead_code)]
pub fn iam_document(s: &str) -> String {
    if serde_json::from_str::<serde_json::Value>(s).is_ok() {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
