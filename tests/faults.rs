//! The fault suite: diagnose, fix --dry-run, apply, replay and rollback, each under at least 200
//! seeded fault schedules (throttling, 429, 500/503, resets, delays past the attempt timeout,
//! truncated bodies) injected by tests/common/faultproxy.rs between denyctl and moto.
//!
//! Per schedule it checks:
//! - wrong verdicts: a decision (or plan, or replay outcome) other than the fault-free one that
//!   does not say it depends on an unknown layer; a failed read with no unknown layer;
//! - mixed states (apply, rollback): the target is neither byte-for-byte the before-state nor the
//!   after-state once the run is over;
//! - secrets seen: the Secrets Manager marker value, a secret access key or a session token in
//!   anything denyctl printed or wrote.
//!
//! The figures are printed (and recorded in docs/reliability.md); the must-be-zero ones are
//! asserted. `DENYCTL_FAULT_SCHEDULES` (default 200) and `DENYCTL_FAULT_WORKERS` (default 2)
//! size the run; each worker has its own moto server and proxy.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use common::faultproxy::{Fault, FaultProxy, Rule, Schedule};
use common::moto::{Moto, ACCOUNT};
use serde_json::{json, Value as Json};

/// denyctl's --timeout in the suite: each attempt gets a third (1 s); delays are past it.
const TIMEOUT: &str = "3";
const DELAY: Duration = Duration::from_millis(1300);
const MARKER: &str = "denyctl-fault-suite-MARKER-7f3a9c";
const SECRET_NAME: &str = "db/password";

fn allow(actions: &[&str], resource: Json) -> Json {
    json!({"Effect": "Allow", "Action": actions, "Resource": resource})
}

fn doc(statements: Vec<Json>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

async fn sdk(endpoint: &str, id: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "faults"))
        .load()
        .await
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Option<Json> {
        serde_json::from_str(&self.stdout).ok()
    }
}

/// One worker's world: moto, the proxy in front of it, the seeded account.
struct World {
    moto: Moto,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    admin: SdkConfig,
    /// Secret access keys written to the profiles (must never be printed).
    secrets: Vec<String>,
}

/// The requests the suite diagnoses, with their fault-free decisions.
const REQUESTS: &[(&str, &str)] = &[
    ("s3:GetObject", "arn:aws:s3:::reports/q1.csv"),
    ("s3:GetObject", "arn:aws:s3:::reports/public/a.csv"),
    ("s3:GetObject", "arn:aws:s3:::reports/public/locked.csv"),
    ("secretsmanager:GetSecretValue", "SECRET"),
];

impl World {
    fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let moto = Moto::start();
        moto.reset();
        let proxy = FaultProxy::start(moto.port);
        let dir = tempfile::tempdir().unwrap();
        let ep = moto.endpoint.clone();
        let alice_arn = format!("arn:aws:iam::{ACCOUNT}:user/alice");
        let (admin, secrets) = rt.block_on(async {
            let seed = sdk(&ep, "AKIAIOSFODNN7EXAMPLE", "seed").await;
            let iam = aws_sdk_iam::Client::new(&seed);
            let mut creds = String::new();
            let mut config = String::new();
            let mut secrets = Vec::new();
            let mut admin_keys = None;
            for (name, policy) in [
                ("admin", doc(vec![allow(&["*"], json!("*"))])),
                (
                    "alice",
                    doc(vec![
                        allow(&["sts:GetCallerIdentity", "secretsmanager:DescribeSecret"], json!("*")),
                        allow(&["s3:GetObject"], json!("arn:aws:s3:::reports/public/*")),
                    ]),
                ),
            ] {
                iam.create_user().user_name(name).send().await.expect("create user");
                iam.put_user_policy().user_name(name).policy_name("base").policy_document(policy).send().await.expect("base policy");
                let k = iam.create_access_key().user_name(name).send().await.expect("access key");
                let k = k.access_key().unwrap();
                creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.access_key_id(), k.secret_access_key()));
                config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
                secrets.push(k.secret_access_key().to_string());
                if name == "admin" {
                    admin_keys = Some((k.access_key_id().to_string(), k.secret_access_key().to_string()));
                }
            }
            let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&seed).force_path_style(true).build());
            s3.create_bucket().bucket("reports").send().await.expect("bucket");
            for key in ["q1.csv", "public/a.csv", "public/locked.csv"] {
                s3.put_object().bucket("reports").key(key).body(b"a,b\n".to_vec().into()).send().await.expect("object");
            }
            let bucket_policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Locked", "Effect": "Deny", "Principal": {"AWS": alice_arn}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/public/locked.csv"}]});
            s3.put_bucket_policy().bucket("reports").policy(bucket_policy.to_string()).send().await.expect("bucket policy");
            let sm = aws_sdk_secretsmanager::Client::new(&seed);
            sm.create_secret().name(SECRET_NAME).secret_string(MARKER).send().await.expect("secret");
            // A role session (with a session token) as a second caller.
            iam.create_role()
                .role_name("reader")
                .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]}).to_string())
                .send()
                .await
                .expect("create role");
            iam.put_role_policy()
                .role_name("reader")
                .policy_name("base")
                .policy_document(doc(vec![allow(&["sts:GetCallerIdentity", "secretsmanager:DescribeSecret"], json!("*"))]))
                .send()
                .await
                .expect("role policy");
            let a = aws_sdk_sts::Client::new(&seed)
                .assume_role()
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/reader"))
                .role_session_name("faults")
                .send()
                .await
                .expect("assume reader");
            let c = a.credentials().unwrap();
            creds.push_str(&format!(
                "[session]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
                c.access_key_id(),
                c.secret_access_key(),
                c.session_token()
            ));
            config.push_str("[profile session]\nregion = us-east-1\n");
            secrets.push(c.secret_access_key().to_string());
            secrets.push(c.session_token().to_string());
            std::fs::write(dir.path().join("credentials"), creds).unwrap();
            std::fs::write(dir.path().join("config"), config).unwrap();
            let (id, secret) = admin_keys.unwrap();
            (sdk(&ep, &id, &secret).await, secrets)
        });
        moto.set_auth(true);
        World { moto, proxy, dir, rt, admin, secrets }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn secret_arn(&self) -> String {
        self.rt.block_on(async {
            let sm = aws_sdk_secretsmanager::Client::new(&self.admin);
            sm.describe_secret().secret_id(SECRET_NAME).send().await.expect("describe secret").arn().unwrap().to_string()
        })
    }

    /// denyctl through the proxy, as `admin` (operator) for `alice` (caller).
    fn denyctl(&self, args: &[&str]) -> Run {
        self.denyctl_as("alice", args)
    }

    /// denyctl through the proxy, as `admin` (operator) for `caller`.
    fn denyctl_as(&self, caller: &str, args: &[&str]) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"-o") {
            all.extend(["-o", "json"]);
        }
        all.extend(["--profile", "admin", "--caller-profile", caller, "--timeout", TIMEOUT]);
        let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_CONFIG_FILE", self.path("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("credentials"))
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .expect("run denyctl");
        Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() }
    }

    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.admin)
    }

    /// Every target a plan may write, as stored, read straight from moto.
    fn state(&self) -> State {
        let bucket = self.rt.block_on(async {
            let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.admin).force_path_style(true).build());
            s3.get_bucket_policy().bucket("reports").send().await.ok().and_then(|o| o.policy().map(str::to_string))
        });
        let secret = self.rt.block_on(async {
            let sm = aws_sdk_secretsmanager::Client::new(&self.admin);
            sm.get_resource_policy().secret_id(SECRET_NAME).send().await.expect("secret policy").resource_policy().map(str::to_string)
        });
        State { alice: self.alice_policies(), bucket, secret }
    }

    fn set_state(&self, want: &State) {
        self.set_alice_policies(&want.alice);
        self.rt.block_on(async {
            let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.admin).force_path_style(true).build());
            match &want.bucket {
                Some(p) => s3.put_bucket_policy().bucket("reports").policy(p).send().await.map(|_| ()).expect("put bucket policy"),
                None => s3.delete_bucket_policy().bucket("reports").send().await.map(|_| ()).expect("delete bucket policy"),
            }
            let sm = aws_sdk_secretsmanager::Client::new(&self.admin);
            match &want.secret {
                Some(p) => sm.put_resource_policy().secret_id(SECRET_NAME).resource_policy(p).send().await.map(|_| ()).expect("put secret policy"),
                None => sm.delete_resource_policy().secret_id(SECRET_NAME).send().await.map(|_| ()).expect("delete secret policy"),
            }
        });
        assert!(self.state() == *want, "the world could not be put back");
    }

    /// alice's inline policies as stored (name → text), read straight from moto.
    fn alice_policies(&self) -> BTreeMap<String, String> {
        self.rt.block_on(async {
            let iam = self.iam();
            let names = iam.list_user_policies().user_name("alice").send().await.expect("list").policy_names().to_vec();
            let mut out = BTreeMap::new();
            for n in names {
                let d = iam.get_user_policy().user_name("alice").policy_name(&n).send().await.expect("get").policy_document().to_string();
                out.insert(n, common::iam_document(&d));
            }
            out
        })
    }

    fn set_alice_policies(&self, want: &BTreeMap<String, String>) {
        self.rt.block_on(async {
            let iam = self.iam();
            let have = iam.list_user_policies().user_name("alice").send().await.expect("list").policy_names().to_vec();
            for n in have.iter().filter(|n| !want.contains_key(*n)) {
                iam.delete_user_policy().user_name("alice").policy_name(n).send().await.expect("delete");
            }
            for (n, d) in want {
                iam.put_user_policy().user_name("alice").policy_name(n).policy_document(d).send().await.expect("put");
            }
        })
    }

    /// Every file denyctl may have written in the world's folder, sub-folders included (not the
    /// profile files).
    fn written(&self) -> Vec<(PathBuf, String)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<(PathBuf, String)>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if p.is_dir() {
                    walk(&p, out);
                } else if name != "credentials" && name != "config" {
                    out.push((p.clone(), String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }

    /// How many secret strings appear in `text`.
    fn secrets_in(&self, text: &str) -> usize {
        self.secrets.iter().map(String::as_str).chain([MARKER]).filter(|s| text.contains(s)).count()
    }
}

/// splitmix64: the schedules are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One to three rules, drawn from the seed: a service the verb calls (or any), a fault, and
/// either the nth call or a probability.
fn schedule(seed: u64, services: &[&str]) -> Schedule {
    let mut r = Rng(seed);
    let faults = [Fault::Throttle, Fault::Http429, Fault::Http500, Fault::Http503, Fault::Reset, Fault::Delay(DELAY), Fault::Truncate];
    let n = 1 + r.below(3) as usize;
    let rules = (0..n)
        .map(|_| {
            let fault = faults[r.below(faults.len() as u64) as usize];
            let service = (r.below(5) != 0).then(|| services[r.below(services.len() as u64) as usize].to_string());
            if r.below(2) == 0 {
                Rule { service, operation: None, nth: Some(1 + r.below(6) as usize), probability: 1.0, fault, request: None }
            } else {
                // Delays are costly: keep their probability low.
                let p = if matches!(fault, Fault::Delay(_)) { 0.05 + r.below(10) as f64 / 100.0 } else { 0.1 + r.below(50) as f64 / 100.0 };
                Rule { service, operation: None, nth: None, probability: p, fault, request: None }
            }
        })
        .collect();
    Schedule { seed, rules }
}

#[derive(Default, Debug, Clone)]
struct Figures {
    schedules: usize,
    faults: usize,
    wrong: usize,
    mixed: usize,
    secrets: usize,
    /// Runs that stopped with one clear error line (no verdict, nothing claimed).
    aborted: usize,
    /// Runs whose answer depended on an unknown layer (said so).
    unknown: usize,
    /// apply/rollback: targets left in the before-state, in the after-state.
    before: usize,
    after: usize,
    problems: Vec<String>,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.schedules += o.schedules;
        self.faults += o.faults;
        self.wrong += o.wrong;
        self.mixed += o.mixed;
        self.secrets += o.secrets;
        self.aborted += o.aborted;
        self.unknown += o.unknown;
        self.before += o.before;
        self.after += o.after;
        self.problems.extend(o.problems.iter().take(20 - self.problems.len().min(20)).cloned());
    }
}

fn schedules_per_verb() -> u64 {
    std::env::var("DENYCTL_FAULT_SCHEDULES").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
}

fn workers() -> u64 {
    std::env::var("DENYCTL_FAULT_WORKERS").ok().and_then(|n| n.parse().ok()).unwrap_or(2).max(1)
}

/// A run that stopped: non-zero exit, nothing on stdout, one line on stderr.
fn aborted(r: &Run) -> bool {
    r.code != 0 && r.code != 1 && r.stdout.trim().is_empty() && r.stderr.trim().lines().count() == 1
}

/// Checks a diagnose answer against the fault-free one; returns (wrong, unknown) with a reason.
fn check_verdict(got: &Json, want: &Json) -> Result<bool, String> {
    let unknown = got["unknown_layers"].as_array().is_some_and(|u| !u.is_empty());
    // A layer read that failed must leave its layer unknown. Not layer reads: STS (who is
    // calling: a failure there stops the run or falls back to the principal named), and in this
    // world's account, which is in no organization, the Organizations reads made beside
    // DescribeOrganization (they do not count once it says "no organization").
    let layer_read = |c: &Json| {
        let call = c["call"].as_str().unwrap_or("");
        !call.starts_with("sts:") && (!call.starts_with("organizations:") || call == "organizations:DescribeOrganization")
    };
    let failed_reads = got["calls"]["failed"].as_array().is_some_and(|f| f.iter().any(|c| c["result"] == "unavailable" && layer_read(c)));
    if failed_reads && !unknown {
        return Err(format!("a read failed but no layer is unknown: {}", got["calls"]["failed"]));
    }
    let (d, w) = (&got["decision"], &want["decision"]);
    if d == w {
        return Ok(unknown);
    }
    // Another decision is right only when the verdict says it depends on an unknown layer (the
    // reported decision reads unknown layers as neither denying nor granting: docs/evaluation.md).
    if got["depends_on_unknown"] == true && unknown {
        return Ok(true);
    }
    Err(format!("{d} instead of {w}, not depending on an unknown layer"))
}

fn services_of(verb: &str) -> &'static [&'static str] {
    match verb {
        "apply" | "rollback" => &["sts", "iam", "s3", "secretsmanager"],
        _ => &["sts", "iam", "s3", "secretsmanager"],
    }
}

/// What the targets hold: alice's inline policies, the bucket policy, the secret's policy (the
/// stored text, compared byte for byte).
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    alice: BTreeMap<String, String>,
    bucket: Option<String>,
    secret: Option<String>,
}

/// The fault-free answers and plans one worker compares against.
struct Baseline {
    verdicts: Vec<Json>,
    plans: Vec<Json>,
    /// The plan of request 0 (an inline policy for alice): replayed.
    plan: PathBuf,
    /// The world as seeded.
    before: State,
    /// Every ready plan (file) with the world after a fault-free apply of it.
    applied: Vec<(PathBuf, State)>,
    /// alice's policies with plan 0 applied (for replay).
    after: State,
    replay_before: Json,
    replay_after: Json,
    secret_arn: String,
}

fn request_args(w_secret: &str, i: usize) -> Vec<String> {
    let (a, r) = REQUESTS[i];
    let r = if r == "SECRET" { w_secret.to_string() } else { r.to_string() };
    vec!["--action".into(), a.into(), "--resource".into(), r]
}

fn baseline(w: &World) -> Baseline {
    w.proxy.clear();
    let secret_arn = w.secret_arn();
    let mut verdicts = Vec::new();
    let mut plans = Vec::new();
    for i in 0..REQUESTS.len() {
        let args = request_args(&secret_arn, i);
        let mut a: Vec<&str> = vec!["diagnose"];
        a.extend(args.iter().map(String::as_str));
        let r = w.denyctl(&a);
        let v = r.json().unwrap_or_else(|| panic!("fault-free diagnose {i}: {}\n{}", r.stdout, r.stderr));
        assert!(v["unknown_layers"].as_array().unwrap().is_empty(), "fault-free diagnose {i} has unknown layers: {v:#}");
        verdicts.push(v);
        let mut a: Vec<&str> = vec!["fix", "--dry-run"];
        a.extend(args.iter().map(String::as_str));
        let r = w.denyctl(&a);
        plans.push(r.json().unwrap_or_else(|| panic!("fault-free fix {i}: {}\n{}", r.stdout, r.stderr)));
    }
    let want: Vec<&str> = verdicts.iter().map(|v| v["decision"].as_str().unwrap()).collect();
    assert_eq!(want, ["implicit_deny", "allow", "explicit_deny", "implicit_deny"], "the fault-free verdicts");
    let before = w.state();
    let mut applied = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        if p["status"] != "ready" {
            continue;
        }
        let path = w.path(&format!("plan{i}.json"));
        std::fs::write(&path, p.to_string()).unwrap();
        let r = w.denyctl(&["apply", "-f", path.to_str().unwrap(), "--yes", "--accept-needs-human"]);
        assert_eq!(r.code, 0, "fault-free apply of plan {i}: {}", r.stderr);
        let after = w.state();
        assert_ne!(after, before, "plan {i} changed nothing");
        w.set_state(&before);
        let _ = std::fs::remove_file(w.path(&format!("plan{i}.backup.json")));
        applied.push((path, after));
    }
    assert!(plans[0]["status"] == "ready" && applied.len() >= 2, "ready plans: {:?}", plans.iter().map(|p| p["status"].clone()).collect::<Vec<_>>());
    let (plan, after) = applied[0].clone();
    let replay_before = w.denyctl(&["replay", "-f", plan.to_str().unwrap()]).json().expect("replay before");
    w.set_state(&after);
    let replay_after = w.denyctl(&["replay", "-f", plan.to_str().unwrap()]).json().expect("replay after");
    w.set_state(&before);
    assert_eq!((replay_before["outcome"].as_str(), replay_after["outcome"].as_str()), (Some("denied"), Some("allowed")));
    Baseline { verdicts, plans, plan, before, applied, after, replay_before, replay_after, secret_arn }
}

/// One schedule of one verb on one world.
fn one(w: &World, b: &Baseline, verb: &str, seed: u64, f: &mut Figures) {
    let i = (seed % REQUESTS.len() as u64) as usize;
    let (plan_path, after) = match verb {
        "apply" | "rollback" => b.applied[(seed % b.applied.len() as u64) as usize].clone(),
        _ => (b.plan.clone(), b.after.clone()),
    };
    let plan = plan_path.to_str().unwrap().to_string();
    let backup = plan_path.with_extension("backup.json");
    for (p, _) in w.written() {
        if !b.applied.iter().any(|(a, _)| *a == p) {
            let _ = std::fs::remove_file(p);
        }
    }
    // Set-up, without faults.
    w.proxy.clear();
    let replay_after = verb == "replay" && seed % 2 == 1;
    match verb {
        "apply" => w.set_state(&b.before),
        "rollback" => {
            w.set_state(&b.before);
            let r = w.denyctl(&["apply", "-f", &plan, "--yes", "--accept-needs-human"]);
            assert_eq!(r.code, 0, "fault-free apply before a rollback schedule: {}", r.stderr);
            assert!(backup.exists());
        }
        "replay" => w.set_state(if replay_after { &after } else { &b.before }),
        _ => {}
    }
    w.proxy.set(schedule(seed, services_of(verb)));
    let args = request_args(&b.secret_arn, i);
    let mut a: Vec<&str> = match verb {
        "diagnose" => vec!["diagnose"],
        "fix" => vec!["fix", "--dry-run"],
        "apply" => vec!["apply", "-f", &plan, "--yes", "--accept-needs-human"],
        "rollback" => vec!["rollback", "-f", &plan, "--yes"],
        _ => vec!["replay", "-f", &plan],
    };
    if matches!(verb, "diagnose" | "fix") {
        a.extend(args.iter().map(String::as_str));
    }
    let r = w.denyctl(&a);
    f.schedules += 1;
    f.faults += w.proxy.injected();
    w.proxy.clear();
    let label = format!("{verb} seed {seed}");

    // Secrets: in anything printed or written.
    let mut seen = w.secrets_in(&r.stdout) + w.secrets_in(&r.stderr);
    for (p, text) in w.written() {
        let n = w.secrets_in(&text);
        if n > 0 {
            f.problems.push(format!("{label}: a secret in {}", p.display()));
        }
        seen += n;
    }
    f.secrets += seen;

    let got = r.json();
    match verb {
        "diagnose" => match got {
            Some(v) => match check_verdict(&v, &b.verdicts[i]) {
                Ok(u) => f.unknown += u as usize,
                Err(e) => {
                    f.wrong += 1;
                    f.problems.push(format!("{label} ({} {}): {e}", REQUESTS[i].0, REQUESTS[i].1));
                }
            },
            None if aborted(&r) => f.aborted += 1,
            None => {
                f.wrong += 1;
                f.problems.push(format!("{label}: no verdict and no one-line error (exit {}): {}", r.code, r.stderr));
            }
        },
        "fix" => match got {
            Some(p) => {
                let want = &b.plans[i];
                let claims = p["status"] == "ready" || p["status"] == "already_allowed";
                let same = p["status"] == want["status"] && p["changes"] == want["changes"];
                let unknown = p["verdict"]["depends_on_unknown"] == true
                    || p["unknown_layers"].as_array().is_some_and(|u| !u.is_empty())
                    || p.to_string().contains("unknown_layers\":[{");
                if same {
                    f.unknown += unknown as usize;
                } else if claims {
                    f.wrong += 1;
                    f.problems.push(format!("{label}: plan {} with changes {} instead of {} {}", p["status"], p["changes"], want["status"], want["changes"]));
                } else {
                    f.unknown += 1;
                }
            }
            None if aborted(&r) => f.aborted += 1,
            None => {
                f.wrong += 1;
                f.problems.push(format!("{label}: no plan and no one-line error (exit {}): {}", r.code, r.stderr));
            }
        },
        "replay" => {
            let want = if replay_after { &b.replay_after } else { &b.replay_before };
            match got.as_ref().and_then(|v| v["outcome"].as_str().map(str::to_string)) {
                Some(o) if o == want["outcome"] => {}
                Some(o) if o == "allowed" || o == "denied" => {
                    f.wrong += 1;
                    f.problems.push(format!("{label}: replay {o} instead of {}", want["outcome"]));
                }
                Some(_) => f.unknown += 1,
                None if aborted(&r) || r.code == 3 => f.aborted += 1,
                None => {
                    f.wrong += 1;
                    f.problems.push(format!("{label}: no outcome (exit {}): {}", r.code, r.stderr));
                }
            }
        }
        _ => {
            let have = w.state();
            f.before += (have == b.before) as usize;
            f.after += (have == after) as usize;
            if have != b.before && have != after {
                f.mixed += 1;
                f.problems.push(format!("{label} ({}): mixed state after {verb} (exit {}): {have:?}; stderr: {}", plan_path.display(), r.code, r.stderr.trim()));
            }
        }
    }
}

fn run_verb(verb: &'static str) -> Figures {
    let n = schedules_per_verb();
    let k = workers().min(n.max(1));
    let total = Mutex::new(Figures::default());
    std::thread::scope(|s| {
        for wi in 0..k {
            let total = &total;
            s.spawn(move || {
                let w = World::new();
                let b = baseline(&w);
                let mut f = Figures::default();
                let mut seed = wi;
                while seed < n {
                    // Seeds differ per verb, so each verb meets its own schedules.
                    one(&w, &b, verb, seed.wrapping_mul(7919).wrapping_add(verb.len() as u64 * 1_000_003), &mut f);
                    seed += k;
                }
                total.lock().unwrap().add(&f);
            });
        }
    });
    let f = total.into_inner().unwrap();
    let detail = if matches!(verb, "apply" | "rollback") {
        format!("targets left in the before-state {}, in the after-state {}", f.before, f.after)
    } else {
        format!("stopped with one clear line {}, answered with an unknown layer {}", f.aborted, f.unknown)
    };
    println!(
        "fault suite {verb:9} schedules {:4}  faults injected {:4}  wrong verdicts {}  mixed states {}  secrets seen {}  ({detail})",
        f.schedules, f.faults, f.wrong, f.mixed, f.secrets
    );
    for p in &f.problems {
        println!("  {p}");
    }
    f
}

fn assert_zero(verb: &str, f: &Figures) {
    assert!(f.schedules as u64 >= schedules_per_verb(), "{verb}: {} schedules run", f.schedules);
    assert!(f.faults > 0, "{verb}: no fault was injected");
    assert_eq!((f.wrong, f.mixed, f.secrets), (0, 0, 0), "{verb}: wrong verdicts, mixed states, secrets seen: {:#?}", f.problems);
}

#[test]
fn diagnose_under_faults() {
    let f = run_verb("diagnose");
    assert_zero("diagnose", &f);
}

#[test]
fn fix_dry_run_under_faults() {
    let f = run_verb("fix");
    assert_zero("fix", &f);
}

#[test]
fn replay_under_faults() {
    let f = run_verb("replay");
    assert_zero("replay", &f);
}

#[test]
fn apply_under_faults() {
    let f = run_verb("apply");
    assert_zero("apply", &f);
}

#[test]
fn rollback_under_faults() {
    let f = run_verb("rollback");
    assert_zero("rollback", &f);
}

/// The proxy itself: a rule on the nth call fires on that call only, and the same seed gives
/// the same faults.
#[test]
fn the_proxy_injects_by_rule_and_seed() {
    let w = World::new();
    let call = |w: &World| {
        w.rt.block_on(async {
            let cfg = aws_config::defaults(BehaviorVersion::latest())
                .endpoint_url(&w.proxy.endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("AKIAIOSFODNN7EXAMPLE", "x", None, None, "t"))
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .timeout_config(aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(1)).build())
                .load()
                .await;
            let iam = aws_sdk_iam::Client::new(&cfg);
            let mut out = Vec::new();
            for _ in 0..4 {
                out.push(match iam.get_user().user_name("alice").send().await {
                    Ok(_) => "ok".to_string(),
                    Err(e) => e.raw_response().map(|r| r.status().as_u16().to_string()).unwrap_or_else(|| "no answer".into()),
                });
            }
            out
        })
    };
    w.moto.set_auth(false);
    w.proxy.set(Schedule { seed: 1, rules: vec![Rule::nth("iam", "GetUser", 2, Fault::Http503), Rule::nth("iam", "GetUser", 3, Fault::Reset)] });
    assert_eq!(call(&w), ["ok", "503", "no answer", "ok"]);
    assert_eq!(w.proxy.injected(), 2);
    w.proxy.set(Schedule { seed: 1, rules: vec![Rule::nth("iam", "GetUser", 1, Fault::Throttle), Rule::nth("iam", "GetUser", 4, Fault::Truncate)] });
    let got = call(&w);
    assert_eq!(got[..3], ["400", "ok", "ok"]);
    assert_ne!(got[3], "ok", "a truncated body is not a success");
    let draw = |seed| {
        w.proxy.set(Schedule { seed, rules: vec![Rule::service("iam", 0.5, Fault::Http500)] });
        call(&w)
    };
    assert_eq!(draw(42), draw(42), "the same seed, the same faults");
    let seen = w.proxy.seen();
    assert!(seen.iter().all(|s| s.service == "iam" && s.operation == "GetUser"), "{seen:?}");
}

/// Secrets and privacy: the secret's value, secret access keys, a session token and a web
/// identity token never appear in anything denyctl prints (with -vv) or writes (snapshot, plan,
/// backup, session and hand-off files, owner-only); secretsmanager:GetSecretValue is called only
/// by `replay`, as the proxy's log of every call shows.
#[test]
fn secrets_are_never_printed_written_or_read_outside_replay() {
    let w = World::new();
    w.proxy.clear();
    let secret = w.secret_arn();
    let reader = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let get_secret_calls = |w: &World| w.proxy.seen().iter().filter(|c| c.service == "secretsmanager" && c.operation == "GetSecretValue").count();
    let mut runs: Vec<(String, Run)> = Vec::new();
    fn keep(runs: &mut Vec<(String, Run)>, name: &str, r: Run) {
        assert!(r.code == 0 || r.code == 1, "{name}: exit {}\n{}\n{}", r.code, r.stdout, r.stderr);
        runs.push((name.to_string(), r));
    }
    macro_rules! run {
        ($name:expr, $r:expr) => {
            keep(&mut runs, $name, $r)
        };
    }
    let request = ["--action", "secretsmanager:GetSecretValue", "--resource", secret.as_str()];
    fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
        head.iter().chain(tail).copied().collect()
    }

    run!("whoami", w.denyctl_as("session", &["whoami", "-vv"]));
    run!("diagnose", w.denyctl_as("session", &with(&["diagnose", "-vv"], &request)));
    let collected = w.denyctl_as("session", &with(&["collect", "-vv"], &request));
    std::fs::write(w.path("snapshot.json"), &collected.stdout).unwrap();
    run!("collect", collected);
    run!("diagnose --snapshot", w.denyctl_as("session", &["diagnose", "--snapshot", w.path("snapshot.json").to_str().unwrap()]));
    let plan = w.denyctl_as("session", &with(&["fix", "--dry-run", "-vv"], &request));
    std::fs::write(w.path("secret-plan.json"), &plan.stdout).unwrap();
    assert_eq!(plan.json().expect("plan")["status"], "ready", "{}", plan.stdout);
    run!("fix --dry-run", plan);
    assert_eq!(get_secret_calls(&w), 0, "no verb but replay reads the secret's value: {:?}", w.proxy.seen());

    // The guided session applies, then replays (the one read of the value, dropped unread).
    let session_dir = w.path("session");
    let session_dir_s = session_dir.to_str().unwrap().to_string();
    run!("fix --yes", w.denyctl_as("session", &with(&["fix", "--yes", "-o", "table", "--session-dir", &session_dir_s, "-vv"], &request)));
    assert!(runs.last().unwrap().1.stdout.contains("replay"), "{}", runs.last().unwrap().1.stdout);
    let after_session = get_secret_calls(&w);
    assert!(after_session >= 1, "the session replays the request");
    run!("whoami again", w.denyctl_as("session", &["whoami", "-vv"]));
    run!("diagnose again", w.denyctl_as("session", &with(&["diagnose", "-vv"], &request)));
    assert_eq!(get_secret_calls(&w), after_session, "diagnose never reads the value");

    let plan_path = w.path("secret-plan.json");
    run!("replay", w.denyctl_as("session", &["replay", "-f", plan_path.to_str().unwrap(), "-vv"]));
    assert_eq!(get_secret_calls(&w), after_session + 1, "replay calls GetSecretValue once");
    // moto matches Secrets Manager actions against "*" only, so the resource-scoped grant does not
    // make its answer "allowed": the replay was made, and said what AWS answered.
    let outcome = runs.last().unwrap().1.json().expect("replay")["outcome"].clone();
    assert!(outcome == "allowed" || outcome == "denied", "{outcome}");

    // A web identity token: decoded for its claims, never printed.
    let b64 = |v: &Json| {
        let t = v.to_string();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = t.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    };
    let token = format!(
        "{}.{}.c2lnbmF0dXJlLW1hcmtlci1kZW55Y3Rs",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main", "aud": "sts.amazonaws.com"}))
    );
    let token_file = w.path("token.jwt");
    std::fs::write(&token_file, &token).unwrap();
    let r = w.denyctl_as(
        "session",
        &["diagnose", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &reader, "--web-identity-token", token_file.to_str().unwrap(), "-vv"],
    );
    assert!(r.stdout.contains("repo:o/r:ref:refs/heads/main") || r.stderr.contains("repo:o/r"), "the claims are read: {}\n{}", r.stdout, r.stderr);
    run!("diagnose --web-identity-token", r);
    std::fs::remove_file(&token_file).unwrap();

    // The detector finds what it looks for (the profile file holds the keys and the token).
    assert!(w.secrets_in(&std::fs::read_to_string(w.path("credentials")).unwrap()) >= 3);
    let mut secrets: Vec<String> = w.secrets.clone();
    secrets.push(MARKER.to_string());
    secrets.push(token.clone());
    secrets.push("c2lnbmF0dXJlLW1hcmtlci1kZW55Y3Rs".into());
    let mut seen = Vec::new();
    for (name, r) in &runs {
        for s in &secrets {
            if r.stdout.contains(s.as_str()) || r.stderr.contains(s.as_str()) {
                seen.push(format!("{name} printed a secret ({}...)", &s[..6.min(s.len())]));
            }
        }
    }
    let files = w.written();
    assert!(files.iter().any(|(p, _)| p.starts_with(&session_dir)), "the session wrote its files");
    for (p, text) in &files {
        for s in &secrets {
            if text.contains(s.as_str()) {
                seen.push(format!("{} holds a secret ({}...)", p.display(), &s[..6.min(s.len())]));
            }
        }
        // The session's own files (plans, hand-offs); backups are written by `apply` (inside the
        // owner-only folder).
        #[cfg(unix)]
        if p.starts_with(&session_dir) && !p.to_string_lossy().ends_with(".backup.json") {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is not owner-only", p.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&session_dir).unwrap().permissions().mode() & 0o777, 0o700, "the session folder is owner-only");
    }
    println!("secrets check: {} runs, {} files, secrets seen {}", runs.len(), files.len(), seen.len());
    assert!(seen.is_empty(), "{seen:#?}");
}

/// `--timeout 0`: one clear line, exit 2, nothing read or written (no AWS endpoint is needed).
#[test]
fn a_zero_timeout_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.json"), "{}").unwrap();
    for args in [
        vec!["diagnose", "--action", "s3:GetObject", "--resource", "arn:aws:s3:::b/k", "--timeout", "0"],
        vec!["apply", "-f", "plan.json", "--yes", "--timeout", "0"],
        vec!["rollback", "-f", "plan.json", "--yes", "--timeout=-3"],
        vec!["whoami", "--timeout", "0.0"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
            .current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains("--timeout") && stderr.contains("more than 0"), "{stderr}");
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(files, ["plan.json"], "{args:?}: nothing written");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_denyctl")).args(["diagnose", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--timeout <SECS>") && help.contains("[default: 60]"), "{help}");
}

/// A read AWS keeps throttling: retried with backoff (3 attempts), then its layer is unknown;
/// the verdict names the call and its attempts (JSON and table), and a plan from it is not ready.
#[test]
fn a_throttled_read_is_unknown_with_its_attempts() {
    let w = World::new();
    let request = ["--action", "s3:GetObject", "--resource", "arn:aws:s3:::reports/q1.csv"];
    let throttle_inline = || {
        w.proxy.set(Schedule { seed: 7, rules: vec![Rule { service: Some("iam".into()), operation: Some("ListUserPolicies".into()), nth: None, probability: 1.0, fault: Fault::Throttle, request: None }] })
    };
    throttle_inline();
    let started = std::time::Instant::now();
    let r = w.denyctl(&[&["diagnose"][..], &request].concat());
    let v = r.json().unwrap_or_else(|| panic!("{}\n{}", r.stdout, r.stderr));
    assert_eq!(w.proxy.seen().iter().filter(|s| s.operation == "ListUserPolicies").count(), 3, "the SDK's standard retry: 3 attempts");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by --timeout {TIMEOUT}: {:?}", started.elapsed());
    let failed = v["calls"]["failed"].as_array().unwrap();
    assert!(
        failed.iter().any(|c| c["call"] == "iam:ListUserPolicies" && c["result"] == "unavailable" && c["attempts"] == 3 && c["target"] == "user/alice"),
        "{failed:?}"
    );
    assert!(v["calls"]["retries"].as_u64().unwrap() >= 2, "{}", v["calls"]);
    let unknown = v["unknown_layers"].as_array().unwrap();
    assert!(
        unknown.iter().any(|u| u["layer"] == "identity" && u["reason"].as_str().unwrap().contains("iam:ListUserPolicies on user/alice failed after 3 attempts (Throttling")),
        "{unknown:?}"
    );
    // The identity layer could allow: the implicit deny depends on it, and says so.
    assert_eq!((v["decision"].as_str(), v["depends_on_unknown"].as_bool()), (Some("implicit_deny"), Some(true)), "{v:#}");

    throttle_inline();
    let t = w.denyctl(&[&["diagnose", "-o", "table"][..], &request].concat());
    assert!(t.stdout.contains("failed call  iam:ListUserPolicies on user/alice: unavailable after 3 attempts"), "{}", t.stdout);
    assert!(t.stdout.contains("depends on layers that could not be read"), "{}", t.stdout);

    throttle_inline();
    let p = w.denyctl(&[&["fix", "--dry-run"][..], &request].concat()).json().expect("plan");
    assert_eq!(p["status"], "unresolved", "{p:#}");
    assert!(p["status_reason"].as_str().unwrap().contains("iam:ListUserPolicies on user/alice (3 attempts)"), "{}", p["status_reason"]);

    // Without faults: nothing failed, nothing retried, nothing unknown.
    w.proxy.clear();
    let r = w.denyctl(&[&["diagnose", "-vv"][..], &request].concat());
    let v = r.json().unwrap();
    assert!(v["calls"].get("failed").is_none() && v["calls"].get("retries").is_none(), "{}\n{}\n{:?}", v["calls"], r.stderr, w.proxy.seen());
    assert_eq!(v["unknown_layers"], json!([]));
}
