//! The caller's own credentials cannot read its policies (the usual case for a CI role): the table
//! says once, at the top, to name an operator (`--profile`, `--org-profile`), then one line per
//! unknown layer with the call that failed and the permission it needs; no reason twice. Against
//! moto with IAM enforced, as a user that may use S3 and nothing else.

mod common;

use std::process::Command;

use common::moto::{Moto, ACCOUNT};

fn allow(actions: &[&str], resource: &str) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}).to_string()
}

/// Run denyctl with `keys` as the default credentials (no profile at all).
fn denyctl(moto: &Moto, home: &std::path::Path, keys: &(String, String), args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("AWS_ACCESS_KEY_ID", &keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &keys.1)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .expect("run denyctl")
}

/// The snapshot: the file under tests/snapshots, or (DENYCTL_UPDATE_SNAPSHOTS=1) rewritten.
fn assert_snapshot(name: &str, actual: &str) {
    let path = common::repo().join("tests/snapshots").join(name);
    if std::env::var_os("DENYCTL_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (DENYCTL_UPDATE_SNAPSHOTS=1 writes it)", path.display()));
    assert_eq!(actual, want, "the table differs from {}", path.display());
}

#[test]
fn a_caller_that_cannot_read_its_policies_gets_one_line_per_unknown_layer() {
    let moto = Moto::start();
    moto.reset();
    // S3 rights only (and sts:GetCallerIdentity, which AWS never denies but moto checks).
    let ci = moto.iam_user("ci", Some(&allow(&["s3:*", "sts:GetCallerIdentity"], "*")));
    moto.set_auth(true);
    let home = tempfile::tempdir().unwrap();
    let out = denyctl(&moto, home.path(), &ci, &["diagnose", "--action", "iam:ListUsers", "--resource", "*"]);
    let stdout = String::from_utf8_lossy(&out.stdout).replace(ACCOUNT, "<account>");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_snapshot("unknown-layers-caller-only.txt", &stdout);
    // Each unknown layer on one line, the advice once, no reason repeated.
    for layer in ["scp", "rcp", "permissions_boundary", "identity"] {
        assert_eq!(stdout.lines().filter(|l| l.trim_start().starts_with(layer) && l.contains("UNKNOWN")).count(), 1, "{layer}: {stdout}");
    }
    assert_eq!(stdout.matches("--profile").count(), 1, "{stdout}");
    assert!(!stdout.contains("reading it needs") && !stdout.contains("unknown layer"), "{stdout}");
    // The JSON keeps every reason whole, for tools.
    let out = denyctl(&moto, home.path(), &ci, &["diagnose", "--action", "iam:ListUsers", "--resource", "*", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reasons: Vec<&str> = v["unknown_layers"].as_array().unwrap().iter().map(|u| u["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("reading it needs")), "{reasons:?}");
}
