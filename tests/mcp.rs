//! `denyctl mcp` driven by a real MCP client: the official Python SDK (`mcp` on PyPI, in the
//! project's venv) runs tests/mcp/drive.py against the server over stdio and over streamable
//! HTTP, with moto's real server behind it and IAM enforced: tools and their schemas, explain →
//! diagnose → plan_fix → apply_plan → replay → rollback_plan with moto's state checked after each
//! step, writes refused without --allow-apply, and bad input answered without a write.

mod common;

use std::process::Command;

use common::moto::{Moto, ACCOUNT};
use common::world::{allow, World};
use serde_json::json;

/// Runs the Python client against the world's moto (its `admin` profile operates, `alice` calls).
fn drive(moto: &Moto, dir: &std::path::Path, transport: &str, allow_apply: bool) {
    let env = json!({
        "PATH": std::env::var("PATH").unwrap_or_default(),
        "HOME": dir,
        "XDG_STATE_HOME": dir.join("state"),
        "AWS_CONFIG_FILE": dir.join("config"),
        "AWS_SHARED_CREDENTIALS_FILE": dir.join("credentials"),
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1",
    });
    let alice = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    let cfg = json!({
        "bin": env!("CARGO_BIN_EXE_denyctl"),
        "transport": transport,
        "allow_apply": allow_apply,
        "env": env,
        "endpoint": moto.endpoint,
        "caller_user": "alice",
        "denial": format!("User: {alice} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::reports/q1.csv\" because no identity-based policy allows the s3:GetObject action"),
        "moto_pid": moto.pid(),
        "stale_profile": "nosuch",
    });
    let out = Command::new(common::venv_bin("python"))
        .arg(common::repo().join("tests/mcp/drive.py"))
        .env("DENYCTL_MCP_TEST", cfg.to_string())
        .output()
        .expect("run the MCP client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the MCP client failed ({transport}, allow_apply={allow_apply}):\n{stderr}");
    assert!(stderr.contains("] ok"), "{stderr}");
    eprintln!("{stderr}");
}

#[test]
fn a_real_mcp_client_runs_the_loop_over_stdio_and_http() {
    // moto checks sts:GetCallerIdentity against identity policies (AWS does not).
    let (_one_at_a_time, w) = World::new(&[("alice", allow(&["sts:GetCallerIdentity"], json!("*")))]);
    let dir = w.dir.path();
    // Writes off: apply_plan answers with the command and writes nothing.
    drive(&w.moto, dir, "stdio", false);
    // Writes on: apply, replay allowed, rollback, replay denied.
    drive(&w.moto, dir, "stdio", true);
    // The same over HTTP; this run ends by stopping moto.
    drive(&w.moto, dir, "http", true);
    // The session folders are owner-only, and so is every file the server wrote (apply's
    // backup inside them is apply's own file).
    #[cfg(unix)]
    for e in walk(&dir.join("state/denyctl")).into_iter().filter(|e| !e.to_string_lossy().ends_with(".backup.json")) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&e).unwrap().permissions().mode() & 0o777;
        let want = if e.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", e.display());
    }
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![p.to_path_buf()];
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
