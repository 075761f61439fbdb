//! A small moto world for the write-side tests (apply, rollback, their faults): an operator
//! `admin` allowed everything, callers with access keys and a `base` inline policy, a bucket
//! `reports` with an object, a role `app`; IAM enforced from then on. denyctl runs as a
//! process with only the world's profile files and the moto endpoint, and no terminal.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{json, Value as Json};

use super::iam_document as decode;
use super::moto::{Moto, ACCOUNT};

/// One moto world at a time: the tests share two cores.
pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub struct Keys {
    pub id: String,
    pub secret: String,
}

/// A small world: an operator (`admin`, allowed everything), callers with access keys, a bucket
/// with an object, a role `app`; IAM enforced from then on.
pub struct World {
    pub moto: Moto,
    pub dir: tempfile::TempDir,
    pub admin: SdkConfig,
    pub rt: tokio::runtime::Runtime,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

pub async fn sdk(endpoint: &str, id: &str, secret: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .load()
        .await
}

pub fn allow(actions: &[&str], resource: Json) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}).to_string()
}


impl World {
    pub fn new(callers: &[(&str, String)]) -> (std::sync::MutexGuard<'static, ()>, World) {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let moto = Moto::start();
        moto.reset();
        let dir = tempfile::tempdir().unwrap();
        let ep = moto.endpoint.clone();
        let admin = rt.block_on(async {
            let seed = sdk(&ep, "AKIAIOSFODNN7EXAMPLE", "seed").await;
            let iam = aws_sdk_iam::Client::new(&seed);
            let mut profiles: Vec<(String, Keys)> = Vec::new();
            let mut users: Vec<(&str, String)> = vec![("admin", allow(&["*"], json!("*")))];
            users.extend(callers.iter().map(|(n, p)| (*n, p.clone())));
            for (name, policy) in users {
                iam.create_user().user_name(name).send().await.expect("create user");
                iam.put_user_policy().user_name(name).policy_name("base").policy_document(policy).send().await.expect("base policy");
                let k = iam.create_access_key().user_name(name).send().await.expect("access key");
                let k = k.access_key().unwrap();
                profiles.push((name.to_string(), Keys { id: k.access_key_id().into(), secret: k.secret_access_key().into() }));
            }
            iam.create_role()
                .role_name("app")
                .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]}).to_string())
                .send()
                .await
                .expect("create role");
            let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&seed).force_path_style(true).build());
            s3.create_bucket().bucket("reports").send().await.expect("bucket");
            s3.put_object().bucket("reports").key("q1.csv").body(b"a,b\n".to_vec().into()).send().await.expect("object");
            let mut creds = String::new();
            let mut config = String::new();
            for (name, k) in &profiles {
                creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.id, k.secret));
                config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
            }
            std::fs::write(dir.path().join("credentials"), creds).unwrap();
            std::fs::write(dir.path().join("config"), config).unwrap();
            let a = &profiles[0].1;
            sdk(&ep, &a.id, &a.secret).await
        });
        moto.set_auth(true);
        (guard, World { moto, dir, admin, rt })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The denyctl command with only the world's profile files and the moto endpoint; no terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_denyctl"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_CONFIG_FILE", self.path("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("credentials"))
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Run denyctl (see [`World::command`]).
    pub fn denyctl(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run denyctl");
        let r = Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() };
        super::schema::check_output(args, &r.stdout);
        r
    }

    /// `denyctl fix --dry-run ... -o json`, saved as `name`.
    pub fn plan(&self, caller: &str, name: &str, request: &[&str]) -> (PathBuf, Json) {
        let mut args = vec!["fix", "--dry-run", "-o", "json", "--profile", "admin", "--caller-profile", caller];
        args.extend_from_slice(request);
        let r = self.denyctl(&args);
        assert_eq!(r.code, 0, "fix: {}", r.stderr);
        let p = self.path(name);
        std::fs::write(&p, &r.stdout).unwrap();
        (p, r.json())
    }

    pub fn verb(&self, verb: &str, caller: &str, plan: &Path, extra: &[&str]) -> Run {
        let plan = plan.to_str().unwrap();
        let mut args = vec![verb, "-f", plan, "-o", "json", "--profile", "admin", "--caller-profile", caller];
        args.extend_from_slice(extra);
        self.denyctl(&args)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.admin)
    }

    pub fn user_policies(&self, user: &str) -> Vec<String> {
        self.rt.block_on(async { self.iam().list_user_policies().user_name(user).send().await.unwrap().policy_names().to_vec() })
    }

    /// The inline policy's text as stored (decoded), or None.
    pub fn user_policy(&self, user: &str, name: &str) -> Option<String> {
        self.rt.block_on(async {
            self.iam().get_user_policy().user_name(user).policy_name(name).send().await.ok().map(|o| decode(o.policy_document()))
        })
    }

    pub fn put_user_policy(&self, user: &str, name: &str, text: &str) {
        self.rt.block_on(async { self.iam().put_user_policy().user_name(user).policy_name(name).policy_document(text).send().await.unwrap() });
    }

    /// (version id, is default) of a managed policy, sorted by number.
    pub fn versions(&self, arn: &str) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = self.rt.block_on(async {
            self.iam()
                .list_policy_versions()
                .policy_arn(arn)
                .send()
                .await
                .unwrap()
                .versions()
                .iter()
                .map(|v| (v.version_id().unwrap().to_string(), v.is_default_version()))
                .collect()
        });
        v.sort_by_key(|(id, _)| id.trim_start_matches('v').parse::<u32>().unwrap());
        v
    }

    pub fn version_doc(&self, arn: &str, id: &str) -> Json {
        self.rt.block_on(async {
            let o = self.iam().get_policy_version().policy_arn(arn).version_id(id).send().await.unwrap();
            serde_json::from_str(&decode(o.policy_version().unwrap().document().unwrap())).unwrap()
        })
    }

    /// denyctl's managed policy `name` (ARN `arn`) with five versions, v3 the default (each
    /// allows one IAM list action on `*`), attached to `user`.
    pub fn five_versions(&self, name: &str, arn: &str, user: &str) {
        let doc = |a: &str| allow(&[a], json!("*"));
        self.rt.block_on(async {
            let iam = self.iam();
            iam.create_policy().policy_name(name).policy_document(doc("iam:ListRoles")).send().await.unwrap();
            for (i, a) in ["iam:ListUsers", "iam:ListGroups", "iam:ListPolicies", "iam:ListAccountAliases"].iter().enumerate() {
                iam.create_policy_version().policy_arn(arn).policy_document(doc(a)).set_as_default(i == 1).send().await.unwrap();
            }
            iam.attach_user_policy().user_name(user).policy_arn(arn).send().await.unwrap();
        });
    }
}

/// A caller's `base` inline policy near a user's 2,048-character inline quota (and allowing
/// sts:GetCallerIdentity): the planner puts a grant into denyctl's customer managed policy.
pub fn near_quota_base() -> String {
    let filler: Vec<String> = (0..64).map(|i| format!("arn:aws:s3:::filler-bucket-{i:03}/*")).collect();
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": filler}]})
    .to_string()
}
