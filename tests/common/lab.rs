//! A seeded AWS world in moto, built with the real SDK: an organization (root → OU workloads →
//! OU prod → member account) with an SCP on prod, a role `team/dev` with 5 inline and 5 managed
//! policies (one with two versions), a boundary and tags, assumed with sts:AssumeRole so the
//! caller is a real role session; an IAM user in a group; operator, auditor and org-reader users.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{json, Value as Json};

use super::moto::Moto;

/// Access keys.
#[derive(Clone, Debug)]
pub struct Keys {
    pub id: String,
    pub secret: String,
    pub token: Option<String>,
}

/// The seeded world.
pub struct Lab {
    pub moto: Moto,
    pub mgmt: String,
    pub member: String,
    pub root: String,
    pub ou_workloads: String,
    pub ou_prod: String,
    pub scp_id: String,
    /// The role session `assumed-role/dev/ci-run` (STS's ARN).
    pub session_arn: String,
    pub role_arn: String,
    pub boundary_arn: String,
    pub dev_read_arn: String,
    pub org_id: String,
    pub caller: Keys,
    pub operator: Keys,
    pub auditor: Keys,
    pub org_reader: Keys,
    pub bob: Keys,
    dir: PathBuf,
}

pub async fn sdk(endpoint: &str, k: &Keys) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(&k.id, &k.secret, k.token.clone(), None, "lab"))
        .load()
        .await
}

fn doc(v: Json) -> String {
    v.to_string()
}

fn allow(actions: &[&str], resource: &str) -> String {
    doc(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}))
}

async fn user_with_keys(iam: &aws_sdk_iam::Client, name: &str, path: &str, policy: &str) -> Keys {
    iam.create_user().user_name(name).path(path).send().await.expect("create user");
    iam.put_user_policy().user_name(name).policy_name("main").policy_document(policy).send().await.expect("put user policy");
    let k = iam.create_access_key().user_name(name).send().await.expect("access key");
    let k = k.access_key().expect("key");
    Keys { id: k.access_key_id().to_string(), secret: k.secret_access_key().to_string(), token: None }
}

impl Lab {
    /// Start moto and seed the world; IAM is enforced from then on.
    pub async fn new() -> Lab {
        let moto = Moto::start();
        moto.reset();
        let ep = moto.endpoint.clone();
        let seed = Keys { id: "AKIAIOSFODNN7EXAMPLE".into(), secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(), token: None };
        let mcfg = sdk(&ep, &seed).await;
        let org = aws_sdk_organizations::Client::new(&mcfg);
        let sts = aws_sdk_sts::Client::new(&mcfg);
        let mgmt = sts.get_caller_identity().send().await.expect("gci").account().unwrap().to_string();

        // The organization: root → workloads → prod → member account; an SCP on prod.
        let o = org
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("create organization");
        let org_id = o.organization().and_then(|o| o.id()).unwrap().to_string();
        let root = org.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
        let acct = org.create_account().account_name("workload").email("workload@example.com").send().await.expect("create account");
        let member = acct.create_account_status().and_then(|s| s.account_id()).expect("account id").to_string();
        let ou_workloads =
            org.create_organizational_unit().parent_id(&root).name("workloads").send().await.unwrap().organizational_unit().unwrap().id().unwrap().to_string();
        let ou_prod =
            org.create_organizational_unit().parent_id(&ou_workloads).name("prod").send().await.unwrap().organizational_unit().unwrap().id().unwrap().to_string();
        org.move_account().account_id(&member).source_parent_id(&root).destination_parent_id(&ou_prod).send().await.expect("move account");
        let scp = org
            .create_policy()
            .name("deny-ec2-run")
            .description("no instances in prod")
            .r#type(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
            .content(doc(json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoRunInstances", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*"}]})))
            .send()
            .await
            .expect("create scp");
        let scp_id = scp.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).unwrap().to_string();
        org.attach_policy().policy_id(&scp_id).target_id(&ou_prod).send().await.expect("attach scp");
        let mgmt_iam = aws_sdk_iam::Client::new(&mcfg);
        let org_reader = user_with_keys(&mgmt_iam, "org-admin", "/", &allow(&["*"], "*")).await;

        // Into the member account.
        let a = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{member}:role/OrganizationAccountAccessRole"))
            .role_session_name("seed")
            .send()
            .await
            .expect("assume into member");
        let c = a.credentials().unwrap();
        let admin = Keys { id: c.access_key_id().into(), secret: c.secret_access_key().into(), token: Some(c.session_token().into()) };
        let acfg = sdk(&ep, &admin).await;
        let iam = aws_sdk_iam::Client::new(&acfg);

        let boundary = iam
            .create_policy()
            .policy_name("boundary-dev")
            .policy_document(allow(&["sts:GetCallerIdentity", "ec2:*", "iam:Get*", "iam:List*", "logs:*"], "*"))
            .send()
            .await
            .unwrap();
        let boundary_arn = boundary.policy().unwrap().arn().unwrap().to_string();
        let dev_read = iam.create_policy().policy_name("dev-read").policy_document(allow(&["iam:GetUser"], "*")).send().await.unwrap();
        let dev_read_arn = dev_read.policy().unwrap().arn().unwrap().to_string();
        iam.create_policy_version()
            .policy_arn(&dev_read_arn)
            .policy_document(doc(json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "ReadAdmins", "Effect": "Allow", "Action": "iam:GetUser", "Resource": format!("arn:aws:iam::{member}:user/admins/*")}]})))
            .set_as_default(true)
            .send()
            .await
            .expect("policy version 2");
        let role = iam
            .create_role()
            .role_name("dev")
            .path("/team/")
            .max_session_duration(7200)
            .assume_role_policy_document(doc(json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{member}:root")}, "Action": "sts:AssumeRole"}]})))
            .permissions_boundary(&boundary_arn)
            .tags(aws_sdk_iam::types::Tag::builder().key("team").value("payments").build().unwrap())
            .send()
            .await
            .expect("create role");
        let role_arn = role.role().unwrap().arn().to_string();
        // moto checks sts:GetCallerIdentity against identity policies (AWS does not): "base" allows it.
        iam.put_role_policy()
            .role_name("dev")
            .policy_name("base")
            .policy_document(allow(&["sts:GetCallerIdentity", "ec2:RunInstances", "ec2:DescribeInstances"], "*"))
            .send()
            .await
            .unwrap();
        for i in 1..=4 {
            iam.put_role_policy()
                .role_name("dev")
                .policy_name(format!("logs-{i}"))
                .policy_document(allow(&[&format!("logs:DescribeLogGroups{i}")], "*"))
                .send()
                .await
                .unwrap();
            let m = iam.create_policy().policy_name(format!("dev-m{i}")).policy_document(allow(&[&format!("ec2:DescribeVolumes{i}")], "*")).send().await.unwrap();
            iam.attach_role_policy().role_name("dev").policy_arn(m.policy().unwrap().arn().unwrap()).send().await.unwrap();
        }
        iam.attach_role_policy().role_name("dev").policy_arn(&dev_read_arn).send().await.unwrap();

        let operator = user_with_keys(&iam, "operator", "/", &allow(&["*"], "*")).await;
        let auditor = user_with_keys(
            &iam,
            "auditor",
            "/",
            &allow(&["sts:GetCallerIdentity", "iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:GetPolicy"], "*"),
        )
        .await;
        iam.create_group().group_name("devs").send().await.unwrap();
        iam.put_group_policy().group_name("devs").policy_name("devs-read").policy_document(allow(&["iam:GetUser", "sts:GetCallerIdentity"], "*")).send().await.unwrap();
        iam.create_user().user_name("bob").path("/people/").tags(aws_sdk_iam::types::Tag::builder().key("team").value("web").build().unwrap()).send().await.unwrap();
        iam.add_user_to_group().group_name("devs").user_name("bob").send().await.unwrap();
        let bk = iam.create_access_key().user_name("bob").send().await.unwrap();
        let bk = bk.access_key().unwrap();
        let bob = Keys { id: bk.access_key_id().into(), secret: bk.secret_access_key().into(), token: None };

        // The caller: a real role session made by sts:AssumeRole.
        let s = aws_sdk_sts::Client::new(&acfg)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("ci-run")
            .send()
            .await
            .expect("assume dev");
        let c = s.credentials().unwrap();
        let caller = Keys { id: c.access_key_id().into(), secret: c.secret_access_key().into(), token: Some(c.session_token().into()) };
        let session_arn = s.assumed_role_user().unwrap().arn().to_string();

        moto.set_auth(true);
        let dir = std::env::temp_dir().join(format!("denyctl-lab-{}-{}", std::process::id(), moto.port));
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            moto,
            mgmt,
            member,
            root,
            ou_workloads,
            ou_prod,
            scp_id,
            session_arn,
            role_arn,
            boundary_arn,
            dev_read_arn,
            org_id,
            caller,
            operator,
            auditor,
            org_reader,
            bob,
            dir,
        };
        lab.write_profiles();
        lab
    }

    fn write_profiles(&self) {
        let mut creds = String::new();
        let mut config = String::new();
        for (name, k) in [("caller", &self.caller), ("operator", &self.operator), ("auditor", &self.auditor), ("org", &self.org_reader), ("bob", &self.bob)] {
            creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.id, k.secret));
            if let Some(t) = &k.token {
                creds.push_str(&format!("aws_session_token = {t}\n"));
            }
            config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
        }
        // A profile whose keys moto does not know.
        creds.push_str("[stale]\naws_access_key_id = AKIANOTAREALKEY00000\naws_secret_access_key = nope\n");
        config.push_str("[profile stale]\nregion = us-east-1\n");
        std::fs::write(self.dir.join("credentials"), creds).unwrap();
        std::fs::write(self.dir.join("config"), config).unwrap();
    }

    /// Run denyctl against this world, with only the given profile files and the moto endpoint.
    /// `default_keys`: credentials in the environment (the default chain), if any.
    pub fn denyctl(&self, default_keys: Option<&Keys>, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("AWS_CONFIG_FILE", self.dir.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("credentials"))
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .args(args);
        if let Some(k) = default_keys {
            cmd.env("AWS_ACCESS_KEY_ID", &k.id).env("AWS_SECRET_ACCESS_KEY", &k.secret);
            if let Some(t) = &k.token {
                cmd.env("AWS_SESSION_TOKEN", t);
            }
        }
        let started = std::time::Instant::now();
        let out = cmd.output().expect("run denyctl");
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            wall: started.elapsed(),
        };
        super::schema::check_output(args, &r.stdout);
        r
    }

    /// A path in the lab's scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A finished denyctl run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub wall: std::time::Duration,
}

impl Run {
    /// stdout as JSON (fails the test with both streams when it is not).
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}
