//! Plugins loaded at run time through the C ABI: the example plugin (the SQS plugin built as a
//! cdylib) is built by this test, loaded from $DENYCTL_PLUGIN_PATH, listed by `denyctl plugin
//! list`, and exercised against moto next to the built-in SQS plugin; libraries that are not
//! plugins, speak another ABI version, or panic are skipped or answered with errors while the
//! host goes on.

#[path = "common/moto.rs"]
mod moto;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use assert_cmd::Command as Bin;
use denyctl_builtin_plugins::SqsPlugin;
use denyctl_plugin_api::{
    AwsSettings, DynamicPlugin, Outcome, PluginCtx, PluginError, PluginSource, Registry, ReplayMethod, ReplayRequest,
    ServicePlugin,
};
use moto::{Moto, ACCOUNT, REGION};
use serde_json::{json, Value};

const EXAMPLE: &str = "denyctl-plugin-example-dynamic";
const FIXTURES: &[&str] = &["denyctl-fixture-wrong-abi", "denyctl-fixture-not-a-plugin", "denyctl-fixture-panicky", "denyctl-fixture-abi-v1"];

/// The directory holding this test's build outputs (target/debug).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Builds the plugin libraries once (same target directory, so nothing is compiled twice) and
/// returns the directory holding them. `cargo test` does not build cdylib-only crates itself.
fn built_libraries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let target = dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build").arg("--target-dir").arg(&target).current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for p in std::iter::once(&EXAMPLE).chain(FIXTURES) {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().expect("run cargo build for the plugin libraries");
        assert!(out.status.success(), "building the plugin libraries failed:\n{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

fn lib_file(package: &str) -> PathBuf {
    let stem = package.replace('-', "_");
    let name = if cfg!(target_os = "macos") { format!("lib{stem}.dylib") } else { format!("lib{stem}.so") };
    let p = built_libraries().join(name);
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

/// A fresh plugin directory holding copies of the given packages' libraries.
fn plugin_dir(packages: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in packages {
        let src = lib_file(p);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    dir
}

/// Dummy credentials for moto, set once before any test reads the environment.
fn env() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            std::env::set_var(k, v);
        }
        for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"] {
            std::env::remove_var(k);
        }
    });
}

fn load(package: &str) -> (tempfile::TempDir, DynamicPlugin) {
    let dir = plugin_dir(&[package]);
    let path = dir.path().join(lib_file(package).file_name().unwrap());
    let p = DynamicPlugin::load(&path).unwrap_or_else(|e| panic!("{package} should load: {e}"));
    (dir, p)
}

#[test]
fn plugin_list_shows_the_builtins_the_external_plugin_and_the_skipped_libraries() {
    env();
    let dir = plugin_dir(&[EXAMPLE, "denyctl-fixture-wrong-abi", "denyctl-fixture-not-a-plugin"]);
    std::fs::write(dir.path().join("garbage.so"), b"this is not an ELF file").unwrap();
    std::fs::write(dir.path().join("README.txt"), b"ignored: not a library").unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = Bin::cargo_bin("denyctl")
        .unwrap()
        .args(["plugin", "list", "-o", "json"])
        .env("DENYCTL_PLUGIN_PATH", dir.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["plugins"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["s3", "kms", "sqs", "secretsmanager", "example-sqs"]);
    let ext = &v["plugins"][4];
    assert_eq!(ext["source"]["kind"], "library");
    assert!(ext["source"]["path"].as_str().unwrap().ends_with("libdenyctl_plugin_example_dynamic.so"));
    assert_eq!(ext["services"], json!(["sqs"]));
    assert_eq!(ext["abi_version"], 2);
    let skipped: Vec<(String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().rsplit('/').next().unwrap().to_string(), s["error"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].0 == "garbage.so" && skipped[0].1.contains("not a loadable library"), "{skipped:?}");
    assert!(skipped[1].1.contains("does not export denyctl_plugin_abi_version"), "{skipped:?}");
    assert!(skipped[2].1.contains("ABI version 999") && skipped[2].1.contains("speaks versions 1 to 2"), "{skipped:?}");
    assert_eq!(v["plugin_path"][0], dir.path().display().to_string());

    // The table view says the same, and the skipped libraries, to a person.
    let out = Bin::cargo_bin("denyctl").unwrap().args(["plugin", "list"]).env("DENYCTL_PLUGIN_PATH", dir.path()).env("HOME", home.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("example-sqs") && l.contains("libdenyctl_plugin_example_dynamic.so")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("s3 ") && l.ends_with("builtin")), "{text}");
    assert!(text.contains("skipped 3 libraries:"), "{text}");
}

#[test]
fn plugin_list_without_plugin_path_shows_the_four_builtins() {
    let home = tempfile::tempdir().unwrap();
    let out = Bin::cargo_bin("denyctl").unwrap().args(["plugin", "list", "-o", "yaml"]).env_remove("DENYCTL_PLUGIN_PATH").env("HOME", home.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plugins"].as_array().unwrap().len(), 4);
    assert!(v["skipped"].as_array().unwrap().is_empty());
    assert!(v["plugin_path"][0].as_str().unwrap().ends_with(".denyctl/plugins"));
}

#[test]
fn wrong_abi_and_non_plugins_are_refused_with_clear_errors() {
    for (package, expect) in [
        ("denyctl-fixture-wrong-abi", "plugin ABI version 999, but this denyctl speaks versions 1 to 2"),
        ("denyctl-fixture-not-a-plugin", "not a denyctl plugin: it does not export denyctl_plugin_abi_version"),
    ] {
        let dir = plugin_dir(&[package]);
        let path = dir.path().join(lib_file(package).file_name().unwrap());
        match DynamicPlugin::load(&path) {
            Err(PluginError::Load { path: p, reason }) => {
                assert!(reason.contains(expect), "{package}: {reason}");
                assert!(p.ends_with(".so") || p.ends_with(".dylib"));
            }
            other => panic!("{package} should be refused, got {other:?}"),
        }
    }
    let missing = DynamicPlugin::load(Path::new("/nonexistent/libnothing.so")).unwrap_err();
    assert!(missing.to_string().contains("not a loadable library"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_answers_errors_and_the_host_survives() {
    env();
    let (_dir, p) = load("denyctl-fixture-panicky");
    assert_eq!(p.info().name, "panicky");
    assert!(matches!(p.info().source, PluginSource::Library { .. }));
    let ctx = PluginCtx::from_settings(AwsSettings { region: Some(REGION.into()), endpoint_url: Some("http://127.0.0.1:9".into()), profile: None }).await;
    for _ in 0..2 {
        let e = p.fetch_policy(&ctx, "arn:aws:panicky:::x").await.unwrap_err();
        assert!(matches!(&e, PluginError::Plugin { message, .. } if message.contains("panicked") && message.contains("fetch_policy panicked on purpose")), "{e}");
        let e = p.replay(&ctx, &ReplayRequest { action: "panicky:Get".into(), resource: "x".into(), params: Value::Null }, false).await.unwrap_err();
        assert!(e.to_string().contains("replay panicked on purpose"), "{e}");
        // A sync method that panics reads as "does not handle".
        assert!(!p.handles("panicky:Get", "x"));
    }
    // The host, and the plugin's other operations, still work.
    assert_eq!(p.info().version, "0.0.1");
    let mut reg = Registry::new();
    reg.add(Arc::new(p)).unwrap();
    assert!(reg.for_request("panicky:Get", "x").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_plugin_through_the_abi_matches_the_builtin_sqs_plugin() {
    env();
    let moto = Moto::start();
    moto.reset();
    let (_dir, dynamic) = load(EXAMPLE);
    let builtin = SqsPlugin;
    let ctx = PluginCtx::from_settings(AwsSettings { region: Some(REGION.into()), endpoint_url: Some(moto.endpoint.clone()), profile: None }).await;

    // An SSE-KMS queue with a policy, made with the real SDK.
    let kms = aws_sdk_kms::Client::new(ctx.sdk());
    let key = kms.create_key().send().await.unwrap().key_metadata().unwrap().arn().unwrap().to_string();
    let sqs = aws_sdk_sqs::Client::new(ctx.sdk());
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Send", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sqs:SendMessage", "Resource": arn}]});
    let url = sqs
        .create_queue()
        .queue_name("orders")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, &key)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();

    // handles / normalize / fetch / hops: the same answers through the ABI as in process.
    assert!(dynamic.handles("sqs:SendMessage", &arn));
    assert!(!dynamic.handles("s3:GetObject", &arn));
    assert_eq!(dynamic.normalize_resource(&ctx, &url).await.unwrap(), arn);
    let via_abi = dynamic.fetch_policy(&ctx, &arn).await.unwrap();
    let in_process = builtin.fetch_policy(&ctx, &arn).await.unwrap();
    assert_eq!(via_abi, in_process);
    assert_eq!(via_abi.policy.as_ref(), Some(&policy));
    assert_eq!(dynamic.hops("sqs:SendMessage", &arn, &via_abi), builtin.hops("sqs:SendMessage", &arn, &in_process));
    assert_eq!(dynamic.hops("sqs:SendMessage", &arn, &via_abi).iter().map(|h| h.action.as_str()).collect::<Vec<_>>(), ["kms:GenerateDataKey", "kms:Decrypt"]);

    // put_policy with compare-and-swap through the ABI; a stale token comes back as Conflict.
    let mut changed = policy.clone();
    changed["Statement"][0]["Action"] = json!(["sqs:SendMessage", "sqs:ReceiveMessage"]);
    let new_token = dynamic.put_policy(&ctx, &arn, &changed, &via_abi.version_token).await.unwrap();
    assert_ne!(new_token, via_abi.version_token);
    assert_eq!(builtin.fetch_policy(&ctx, &arn).await.unwrap().policy, Some(changed.clone()));
    let stale = dynamic.put_policy(&ctx, &arn, &policy, &via_abi.version_token).await.unwrap_err();
    assert!(matches!(stale, PluginError::Conflict(ref m) if m.contains("changed since it was read")), "{stale}");

    // ABI 2: the policy's text as SQS returns it, and delete with compare-and-swap (what rollback
    // does to a queue policy that a fix created); a stale token is a Conflict, nothing deleted.
    let text = dynamic.fetch_policy_text(&ctx, &arn).await.unwrap().expect("a policy");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), changed);
    let stale = dynamic.delete_policy(&ctx, &arn, &via_abi.version_token).await.unwrap_err();
    assert!(matches!(stale, PluginError::Conflict(_)), "{stale}");
    assert_eq!(builtin.fetch_policy(&ctx, &arn).await.unwrap().policy, Some(changed.clone()));
    assert_eq!(dynamic.delete_policy(&ctx, &arn, &new_token).await.unwrap(), "none");
    assert_eq!(builtin.fetch_policy(&ctx, &arn).await.unwrap().policy, None);
    let back = dynamic.put_policy_text(&ctx, &arn, &text, "none").await.unwrap();
    assert_eq!(back, new_token);

    // Replay a read through the ABI; a write without consent is not replayed.
    let read = ReplayRequest { action: "sqs:ReceiveMessage".into(), resource: arn.clone(), params: Value::Null };
    let o = dynamic.replay(&ctx, &read, false).await.unwrap();
    assert_eq!((o.outcome, o.method), (Outcome::Allowed, ReplayMethod::AsIsRead));
    let write = ReplayRequest { action: "sqs:SendMessage".into(), resource: arn.clone(), params: Value::Null };
    let o = dynamic.replay(&ctx, &write, false).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed);

    // Errors keep their kind across the boundary.
    let missing = dynamic.fetch_policy(&ctx, &format!("arn:aws:sqs:{REGION}:{ACCOUNT}:nope")).await.unwrap_err();
    assert!(matches!(missing, PluginError::NotFound(_)), "{missing}");
    let bad = dynamic.normalize_resource(&ctx, "not a queue").await.unwrap_err();
    assert!(matches!(bad, PluginError::InvalidInput(_)), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_built_for_abi_1_still_loads_reads_and_writes_but_cannot_delete() {
    env();
    let moto = Moto::start();
    moto.reset();
    let (_dir, old) = load("denyctl-fixture-abi-v1");
    assert_eq!((old.info().name.as_str(), old.info().abi_version), ("old-sqs", 1));
    let ctx = PluginCtx::from_settings(AwsSettings { region: Some(REGION.into()), endpoint_url: Some(moto.endpoint.clone()), profile: None }).await;
    let sqs = aws_sdk_sqs::Client::new(ctx.sdk());
    sqs.create_queue().queue_name("jobs").send().await.unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs");
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sqs:SendMessage", "Resource": arn}]});
    let token = old.put_policy(&ctx, &arn, &policy, "none").await.unwrap();
    assert_eq!(old.fetch_policy(&ctx, &arn).await.unwrap().policy, Some(policy.clone()));
    // ABI 1 has no text operations: the host falls back to the document.
    assert_eq!(old.fetch_policy_text(&ctx, &arn).await.unwrap(), None);
    let e = old.delete_policy(&ctx, &arn, &token).await.unwrap_err();
    assert!(matches!(&e, PluginError::Unsupported(m) if m.contains("plugin ABI 1") && m.contains("rebuild")), "{e}");
    assert_eq!(SqsPlugin.fetch_policy(&ctx, &arn).await.unwrap().policy, Some(policy), "nothing deleted");
}
