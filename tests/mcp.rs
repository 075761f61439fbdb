//! `denyctl mcp` driven by a real MCP client: the official Python SDK (`mcp` on PyPI, in the
//! project's venv) runs tests/mcp/drive.py against the server over stdio and over streamable
//! HTTP, with moto's real server behind it and IAM enforced: tools and their schemas, explain →
//! diagnose → plan_fix → apply_plan → replay → rollback_plan with moto's state checked after each
//! step, writes refused without --allow-apply, and bad input answered without a write.

mod common;

use std::process::Command;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use common::moto::{Moto, ACCOUNT};
use serde_json::{json, Value as Json};

async fn sdk(endpoint: &str, id: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .load()
        .await
}

fn allow(actions: &[&str], resource: Json) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}).to_string()
}

/// moto with an operator `admin` (everything), a caller `alice` (sts:GetCallerIdentity only),
/// and a bucket with an object; IAM enforced. Returns the admin keys and the profile folder.
fn world(moto: &Moto, dir: &std::path::Path) -> (String, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ep = moto.endpoint.clone();
    let keys = rt.block_on(async {
        let seed = sdk(&ep, "AKIAIOSFODNN7EXAMPLE", "seed").await;
        let iam = aws_sdk_iam::Client::new(&seed);
        let mut keys = Vec::new();
        for (name, policy) in [("admin", allow(&["*"], json!("*"))), ("alice", allow(&["sts:GetCallerIdentity"], json!("*")))] {
            iam.create_user().user_name(name).send().await.expect("create user");
            iam.put_user_policy().user_name(name).policy_name("base").policy_document(policy).send().await.expect("base policy");
            let k = iam.create_access_key().user_name(name).send().await.expect("access key");
            let k = k.access_key().unwrap();
            keys.push((name, k.access_key_id().to_string(), k.secret_access_key().to_string()));
        }
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&seed).force_path_style(true).build());
        s3.create_bucket().bucket("reports").send().await.expect("bucket");
        s3.put_object().bucket("reports").key("q1.csv").body(b"a,b\n".to_vec().into()).send().await.expect("object");
        keys
    });
    let mut creds = String::new();
    let mut config = String::new();
    for (name, id, secret) in &keys {
        creds.push_str(&format!("[{name}]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"));
        config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
    }
    std::fs::write(dir.join("credentials"), creds).unwrap();
    std::fs::write(dir.join("config"), config).unwrap();
    moto.set_auth(true);
    (keys[0].1.clone(), keys[0].2.clone())
}

fn drive(moto: &Moto, dir: &std::path::Path, admin: &(String, String), transport: &str, allow_apply: bool) {
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
        "admin_keys": [admin.0, admin.1],
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
    let moto = Moto::start();
    moto.reset();
    let dir = tempfile::tempdir().unwrap();
    let admin = world(&moto, dir.path());
    // Writes off: apply_plan answers with the command and writes nothing.
    drive(&moto, dir.path(), &admin, "stdio", false);
    // Writes on: apply, replay allowed, rollback, replay denied.
    drive(&moto, dir.path(), &admin, "stdio", true);
    // The same over HTTP; this run ends by stopping moto mid-call.
    drive(&moto, dir.path(), &admin, "http", true);
    // The session folders are owner-only, and so is every file the server wrote (apply's
    // backup inside them is apply's own file).
    #[cfg(unix)]
    for e in walk(&dir.path().join("state/denyctl")).into_iter().filter(|e| !e.to_string_lossy().ends_with(".backup.json")) {
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
