//! A closed pipe ends denyctl quietly, as ripgrep does: `denyctl … | head` prints no "Broken pipe"
//! and never panics, whether the reader goes away before the first byte or in the middle of a long
//! output, for the table, `-o json` and `-o yaml`; and a closed stderr never turns an error into a
//! panic (the exit code still says what happened).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn denyctl() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_denyctl"));
    c.env("NO_COLOR", "1");
    c
}

/// A long input for `explain`: the text of every collected real message, one after the other,
/// three times (well over a pipe's 64 KiB buffer in every format).
fn long_input(dir: &tempfile::TempDir) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/denials");
    let mut text = String::new();
    for _ in 0..3 {
        for f in ["collected.jsonl", "constructed.jsonl", "doc-examples.jsonl"] {
            for line in std::fs::read_to_string(root.join(f)).unwrap().lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                text.push_str(v["text"].as_str().unwrap());
                text.push_str("\n\n");
            }
        }
    }
    let p = dir.path().join("messages.txt");
    std::fs::write(&p, text).unwrap();
    p
}

fn assert_quiet(what: &str, out: &Output, want_code: i32) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(out.status.code(), Some(want_code), "{what}: {:?}\n{stderr}", out.status);
}

/// stdout is a pipe whose reader is already gone: the first write fails.
fn run_with_stdout_closed(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = denyctl().args(args).stdin(Stdio::null()).stdout(writer).stderr(Stdio::piped()).spawn().unwrap();
    child.wait_with_output().unwrap()
}

/// `| head -c 200`: read a little, then close the pipe while denyctl is still writing.
fn run_like_head(args: &[&str]) -> (Vec<u8>, Output) {
    let mut child = denyctl().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 200];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    (first, child.wait_with_output().unwrap())
}

#[test]
fn a_closed_stdout_ends_every_format_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let input = long_input(&dir);
    let input = input.to_str().unwrap();
    // The whole output is larger than a pipe's buffer, so the reader's going away is seen.
    let full = denyctl().args(["explain", "-o", "json", "-f", input]).output().unwrap();
    assert!(full.stdout.len() > 64 * 1024, "the output must outgrow the pipe: {} bytes", full.stdout.len());
    for format in ["table", "json", "yaml"] {
        let args = ["explain", "-o", format, "-f", input];
        let out = run_with_stdout_closed(&args);
        assert_quiet(&format!("explain -o {format}, reader gone before the start"), &out, 0);
        let (first, out) = run_like_head(&args);
        assert_quiet(&format!("explain -o {format} | head"), &out, 0);
        match format {
            "table" => assert!(String::from_utf8_lossy(&first).starts_with("DENIED"), "{}", String::from_utf8_lossy(&first)),
            "json" => assert!(first.starts_with(b"[") || first.starts_with(b"{"), "{}", String::from_utf8_lossy(&first)),
            _ => {}
        }
    }
}

#[test]
fn generated_texts_and_batches_end_quietly_too() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["completion", "bash"], vec!["man"]] {
        let out = run_with_stdout_closed(&args);
        assert_quiet(&args.join(" "), &out, 0);
    }
    // simulate --batch: many verdict lines through a buffered writer.
    let scenario = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios/shared").read_dir().unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "json")).unwrap()).unwrap();
    let line = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&scenario).unwrap()).unwrap();
    let batch = dir.path().join("batch.jsonl");
    std::fs::write(&batch, format!("{line}\n").repeat(2000)).unwrap();
    let (_, out) = run_like_head(&["simulate", "--batch", batch.to_str().unwrap()]);
    assert_quiet("simulate --batch | head", &out, 0);
}

#[test]
fn a_closed_stderr_never_turns_an_error_into_a_panic() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // An input error is reported on stderr: with stderr gone, the exit code still says so.
    let out = denyctl().args(["explain", "-f", "/nonexistent/denyctl-input.txt"]).stdout(Stdio::piped()).stderr(writer).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", out.status);
    // Both streams gone (`denyctl … 2>&1 | head` after head exited): a long output, then exit 0.
    let dir = tempfile::tempdir().unwrap();
    let input = long_input(&dir);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = denyctl()
        .args(["explain", "-f", input.to_str().unwrap()])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status);
}
