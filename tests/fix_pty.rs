//! The guided fix session through a real pseudo-terminal: the prompts are answered as a person
//! would, the screen is read, and moto's state is checked afterwards. moto enforces identity
//! policies here, so the replay at the end of the session is a real authorization decision.

mod common;

use std::process::Command;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use common::moto::Moto;
use rexpect::session::PtySession;

/// One moto world at a time: the tests share two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

struct World {
    moto: Moto,
    dir: tempfile::TempDir,
    admin: SdkConfig,
    rt: tokio::runtime::Runtime,
}

fn allow(actions: &[&str], resource: &str) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}).to_string()
}

fn world() -> World {
    let moto = Moto::start();
    moto.reset();
    let (aid, asecret) = moto.iam_user("admin", Some(&allow(&["*"], "*")));
    let (cid, csecret) = moto.iam_user("carol", Some(&allow(&["sts:GetCallerIdentity"], "*")));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let admin = rt.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&moto.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(&aid, &asecret, None, None, "test"))
            .load(),
    );
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&admin).force_path_style(true).build());
    rt.block_on(async {
        s3.create_bucket().bucket("docs").send().await.expect("bucket");
        s3.put_object().bucket("docs").key("a.txt").body(b"hello".to_vec().into()).send().await.expect("object");
        aws_sdk_sqs::Client::new(&admin).create_queue().queue_name("jobs").send().await.expect("queue");
    });
    moto.set_auth(true);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        format!("[operator]\naws_access_key_id = {aid}\naws_secret_access_key = {asecret}\n[carol]\naws_access_key_id = {cid}\naws_secret_access_key = {csecret}\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("config"), "[profile operator]\nregion = us-east-1\n[profile carol]\nregion = us-east-1\n").unwrap();
    World { moto, dir, admin, rt }
}

fn fix_in_a_pty(w: &World) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
    cmd.args([
        "fix",
        "--caller-profile",
        "carol",
        "--profile",
        "operator",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::docs/a.txt",
        "--session-dir",
    ])
    .arg(w.dir.path().join("session"))
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("HOME", w.dir.path())
    .env("TERM", "xterm")
    .env("NO_COLOR", "1")
    .env("AWS_CONFIG_FILE", w.dir.path().join("config"))
    .env("AWS_SHARED_CREDENTIALS_FILE", w.dir.path().join("credentials"))
    .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
    .env("AWS_REGION", "us-east-1")
    .env("AWS_EC2_METADATA_DISABLED", "true");
    rexpect::session::spawn_command(cmd, Some(120_000)).expect("spawn denyctl in a pty")
}


fn carol_policies(w: &World) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(&w.admin);
    w.rt.block_on(iam.list_user_policies().user_name("carol").send()).expect("list").policy_names().to_vec()
}

#[test]
fn guided_session_applies_the_exact_grant_and_verifies_it() {
    let _g = one_at_a_time();
    let w = world();
    let mut p = fix_in_a_pty(&w);
    p.exp_string("PLAN READY").unwrap();
    p.exp_string("Which scope?").unwrap();
    p.send("\r").unwrap(); // the default: exact (least privilege)
    p.flush().unwrap();
    p.exp_string("Apply 1 change(s) shown above?").unwrap();
    p.send("y").unwrap();
    p.flush().unwrap();
    p.exp_string("replaying the request as the caller").unwrap();
    p.exp_string("ALLOWED").unwrap();
    p.exp_string("verified by replaying it as the caller").unwrap();
    p.exp_string("denyctl rollback -f").unwrap();
    p.exp_eof().unwrap();
    // moto's state: one denyctl inline policy with exactly this grant.
    let names = carol_policies(&w);
    let mine: Vec<&String> = names.iter().filter(|n| n.starts_with("denyctl-")).collect();
    assert_eq!(mine.len(), 1, "{names:?}");
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let doc = w.rt.block_on(iam.get_user_policy().user_name("carol").policy_name(mine[0].as_str()).send()).unwrap();
    let text = common::iam_document(doc.policy_document());
    assert!(text.contains("s3:GetObject") && text.contains("arn:aws:s3:::docs/a.txt"), "{text}");
    assert!(!text.contains("docs/*"), "exact scope only: {text}");
}

#[test]
fn declining_writes_nothing() {
    let _g = one_at_a_time();
    let w = world();
    let before = carol_policies(&w);
    let mut p = fix_in_a_pty(&w);
    p.exp_string("Which scope?").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("Apply 1 change(s) shown above?").unwrap();
    p.send("n").unwrap();
    p.flush().unwrap();
    p.exp_string("not applied: declined: nothing was written").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(carol_policies(&w), before);
}

fn fix_without_a_terminal(w: &World, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
    cmd.args(["fix", "--caller-profile", "carol", "--profile", "operator", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::docs/a.txt", "--session-dir"])
        .arg(w.dir.path().join("session-batch"))
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.dir.path())
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", w.dir.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", w.dir.path().join("credentials"))
        .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null());
    cmd.output().expect("run denyctl")
}

#[test]
fn without_a_terminal_fix_never_prompts() {
    let _g = one_at_a_time();
    let w = world();
    let before = carol_policies(&w);
    // No --yes: the plan is printed, nothing is written, and it says so.
    let out = fix_without_a_terminal(&w, &[]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("not a terminal and no --yes: printing the plan only"), "{stderr}");
    assert!(stdout.contains("PLAN READY"), "{stdout}");
    assert_eq!(carol_policies(&w), before);
    // --yes: applied, replayed as the caller (moto enforces identity policies), summarised.
    let out = fix_without_a_terminal(&w, &["--yes"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("✓ s3:GetObject on arn:aws:s3:::docs/a.txt: fixed") && stdout.contains("verified by replaying it as the caller"), "{stdout}");
    assert_eq!(carol_policies(&w).iter().filter(|n| n.starts_with("denyctl-")).count(), 1);
    // Run again: allowed now, nothing to change.
    let out = fix_without_a_terminal(&w, &["--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("allowed (nothing to change)"), "{stdout}");
}

/// The guided session in a pty for `action` on `resource`, session files in the state directory.
fn session_in_a_pty(w: &World, action: &str, resource: &str) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
    cmd.args(["fix", "--caller-profile", "carol", "--profile", "operator", "--action", action, "--resource", resource])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", w.dir.path())
        .env("XDG_STATE_HOME", w.dir.path().join("state"))
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", w.dir.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", w.dir.path().join("credentials"))
        .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    rexpect::session::spawn_command(cmd, Some(120_000)).expect("spawn denyctl in a pty")
}

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";

/// The bodies of the messages waiting in the queue (read as the admin).
fn queued(w: &World) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&w.admin);
    w.rt.block_on(async {
        let url = sqs.get_queue_url().queue_name("jobs").send().await.expect("queue url").queue_url().unwrap().to_string();
        let r = sqs.receive_message().queue_url(&url).max_number_of_messages(10).visibility_timeout(0).send().await.expect("receive");
        r.messages().iter().filter_map(|m| m.body().map(str::to_string)).collect()
    })
}

#[test]
fn a_replay_that_writes_is_asked_for_in_the_session_saying_what_it_writes() {
    let _g = one_at_a_time();
    let w = world();
    let mut p = session_in_a_pty(&w, "sqs:SendMessage", QUEUE_ARN);
    p.exp_string("Which scope?").unwrap();
    p.send("\r").unwrap(); // exact
    p.flush().unwrap();
    p.exp_string("Apply 1 change(s) shown above?").unwrap();
    p.send("y").unwrap();
    p.flush().unwrap();
    // Asked, with exactly what will be written; never "needs --allow-write-replay".
    p.exp_string("the replay would write, as the caller: sqs:SendMessage of one message").unwrap();
    p.exp_string(r#"{"denyctl":"replay probe: safe to discard"} to arn:aws:sqs:us-east-1:123456789012:jobs"#).unwrap();
    p.exp_string("Send this write to prove the fix?").unwrap();
    p.send("y").unwrap();
    p.flush().unwrap();
    p.exp_string("write (consented)").unwrap();
    let (rest, _) = p.exp_string("verified by replaying it as the caller").map(|s| (s, ())).unwrap();
    assert!(!rest.contains("needs --allow-write-replay"), "{rest}");
    p.exp_eof().unwrap();
    assert_eq!(queued(&w), vec![r#"{"denyctl":"replay probe: safe to discard"}"#.to_string()]);
}

#[test]
fn a_declined_write_replay_writes_nothing_and_verifies_by_evaluation() {
    let _g = one_at_a_time();
    let w = world();
    let mut p = session_in_a_pty(&w, "sqs:SendMessage", QUEUE_ARN);
    p.exp_string("Which scope?").unwrap();
    p.send("\r").unwrap(); // exact
    p.flush().unwrap();
    p.exp_string("Apply 1 change(s) shown above?").unwrap();
    p.send("y").unwrap();
    p.flush().unwrap();
    p.exp_string("Send this write to prove the fix?").unwrap();
    p.send("n").unwrap();
    p.flush().unwrap();
    p.exp_string("not replayed: the write was declined").unwrap();
    p.exp_string("verified by evaluation").unwrap();
    p.exp_eof().unwrap();
    assert!(queued(&w).is_empty(), "nothing was sent");
}

#[test]
fn a_read_replay_is_never_asked_about() {
    let _g = one_at_a_time();
    let w = world();
    let mut p = session_in_a_pty(&w, "s3:GetObject", "arn:aws:s3:::docs/a.txt");
    p.exp_string("Which scope?").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("Apply 1 change(s) shown above?").unwrap();
    p.send("y").unwrap();
    p.flush().unwrap();
    let before_eof = p.exp_eof().unwrap();
    assert!(before_eof.contains("verified by replaying it as the caller"), "{before_eof}");
    assert!(!before_eof.contains("Send this write"), "{before_eof}");
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn session_files_go_to_the_state_directory_owner_only_never_the_current_one() {
    let _g = one_at_a_time();
    let w = world();
    let cwd = w.dir.path().join("repo");
    std::fs::create_dir_all(&cwd).unwrap();
    let run = |env: &[(&str, std::path::PathBuf)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
        cmd.args(["fix", "--yes", "--caller-profile", "carol", "--profile", "operator", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::docs/a.txt"])
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .env("AWS_CONFIG_FILE", w.dir.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", w.dir.path().join("credentials"))
            .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run denyctl");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let state = w.dir.path().join("xdg-state");
    let (code, stdout, stderr) = run(&[("HOME", w.dir.path().join("home")), ("XDG_STATE_HOME", state.clone())]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing is written into the current directory");
    let base = state.join("denyctl");
    assert_eq!(mode(&base), 0o700);
    // (apply's per-target locks live beside the sessions, in `locks/`.)
    let sessions: Vec<std::path::PathBuf> =
        std::fs::read_dir(&base).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("session-"))).collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(mode(session), 0o700);
    assert!(stdout.contains(&format!("session files (plans, backups, hand-offs): {}", session.display())), "the path is printed first: {stdout}");
    assert!(stdout.contains(&format!("session files: {}", session.display())), "and in the summary: {stdout}");
    let files: Vec<String> = std::fs::read_dir(session).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(files.contains(&"plan-1.json".to_string()) && files.contains(&"plan-1.backup.json".to_string()), "{files:?}");
    for f in &files {
        assert_eq!(mode(&session.join(f)), 0o600, "{f}");
    }
    // Without XDG_STATE_HOME: ~/.local/state/denyctl.
    let home = w.dir.path().join("home2");
    let (code, stdout, stderr) = run(&[("HOME", home.clone())]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("{}/.local/state/denyctl/session-", home.display())), "{stdout}");
    assert_eq!(mode(&home.join(".local/state/denyctl")), 0o700);
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0);
    // --session-dir chooses the folder.
    let chosen = w.dir.path().join("chosen/here");
    let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .args(["fix", "--yes", "--caller-profile", "carol", "--profile", "operator", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::docs/a.txt", "--session-dir"])
        .arg(&chosen)
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", w.dir.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", w.dir.path().join("credentials"))
        .env("AWS_ENDPOINT_URL", &w.moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(chosen.is_dir() && mode(&chosen) == 0o700);
}
