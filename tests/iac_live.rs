//! Fixes where the policy lives, end to end against moto's real server: a CloudFormation stack
//! created from tests/fixtures/iac/live/ci-stack.yaml owns the CI deploy role; denyctl finds the
//! owner through the CloudFormation API (moto does not support DescribeStackResources by physical
//! ID, so denyctl lists the stacks), patches a copy of the template, `git apply` takes the diff,
//! cfn-lint accepts the result, and the patched policy — deployed with PutRolePolicy, because
//! moto's stack update leaves a role's inline policies unchanged — lets the caller's replay
//! succeed while a neighbouring request stays denied. `apply` refuses to drift the stack-managed
//! role unless --allow-drift.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use common::moto::{Moto, ACCOUNT};
use common::{copy_dir, repo, venv_bin};
use serde_json::{json, Value as Json};

const FIXTURE: &str = "tests/fixtures/iac/live";


async fn sdk(endpoint: &str, id: &str, secret: &str, token: Option<String>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, token, None, "test"))
        .load()
        .await
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn denyctl(dir: &Path, moto: &Moto, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_denyctl"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run denyctl");
    let r = Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() };
    common::schema::check_output(args, &r.stdout);
    r
}



#[test]
fn cloudformation_owned_role_is_fixed_in_the_template_and_never_drifted() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let moto = Moto::start();
    moto.reset();
    let dir = tempfile::tempdir().unwrap();
    let ep = moto.endpoint.clone();
    let template = std::fs::read_to_string(repo().join(FIXTURE).join("ci-stack.yaml")).unwrap();
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/deploy-role");

    // The world: an operator, the CI user, the stack (role + bucket), the role session.
    let (admin, session) = rt.block_on(async {
        let seed = sdk(&ep, "AKIAIOSFODNN7EXAMPLE", "seed", None).await;
        let iam = aws_sdk_iam::Client::new(&seed);
        let mut keys = Vec::new();
        for (name, policy) in [
            ("admin", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})),
            ("ci", json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetCallerIdentity"], "Resource": "*"}]})),
        ] {
            iam.create_user().user_name(name).send().await.expect("user");
            iam.put_user_policy().user_name(name).policy_name("base").policy_document(policy.to_string()).send().await.expect("policy");
            let k = iam.create_access_key().user_name(name).send().await.expect("key");
            let k = k.access_key().unwrap();
            keys.push((k.access_key_id().to_string(), k.secret_access_key().to_string()));
        }
        let cfn = aws_sdk_cloudformation::Client::new(&seed);
        cfn.create_stack()
            .stack_name("ci-deploy")
            .template_body(&template)
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
            .send()
            .await
            .expect("create stack");
        // moto's CloudFormation stores a stack role's inline policy as a Python repr, not JSON:
        // store it again as the JSON CloudFormation would have written.
        let deploy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::prod-artifacts", "arn:aws:s3:::prod-artifacts/*"]},
            {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]});
        iam.put_role_policy().role_name("deploy-role").policy_name("deploy").policy_document(deploy.to_string()).send().await.expect("deploy policy");
        let ci = sdk(&ep, &keys[1].0, &keys[1].1, None).await;
        let a = aws_sdk_sts::Client::new(&ci)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("GitHubActions")
            .send()
            .await
            .expect("assume the deploy role");
        let c = a.credentials().unwrap();
        let session = (c.access_key_id().to_string(), c.secret_access_key().to_string(), c.session_token().to_string());
        let mut creds = format!("[admin]\naws_access_key_id = {}\naws_secret_access_key = {}\n", keys[0].0, keys[0].1);
        creds.push_str(&format!("[session]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n", session.0, session.1, session.2));
        std::fs::write(dir.path().join("credentials"), creds).unwrap();
        std::fs::write(dir.path().join("config"), "[profile admin]\nregion = us-east-1\n[profile session]\nregion = us-east-1\n").unwrap();
        (sdk(&ep, &keys[0].0, &keys[0].1, None).await, session)
    });
    moto.set_auth(true);

    // The IaC folder: a git checkout with the template.
    let iac = dir.path().join("infra");
    copy_dir(&repo().join(FIXTURE), &iac);
    let iac_s = iac.to_str().unwrap();
    let request = ["--action", "s3:PutObject", "--resource", "arn:aws:s3:::prod-artifacts/releases/app.zip"];
    let base = ["--profile", "admin", "--caller-profile", "session"];

    // The plan and its IaC patch, as JSON.
    let mut args = vec!["fix", "--dry-run", "-o", "json", "--iac", iac_s];
    args.extend(base);
    args.extend(request);
    let r = denyctl(dir.path(), &moto, &args);
    assert_eq!(r.code, 0, "fix --iac: {}\n{}", r.stderr, r.stdout);
    let plan: Json = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!(plan["status"], "ready", "{}", r.stdout);
    let changes = plan["iac_changes"].as_array().unwrap_or_else(|| panic!("no iac_changes: {}\n{}", r.stdout, r.stderr));
    assert_eq!(changes.len(), 1, "{}\n{}", r.stdout, r.stderr);
    let c = &changes[0];
    assert_eq!(c["tool"], "cloudformation");
    assert_eq!(c["stack"], "ci-deploy");
    assert_eq!(c["resource"], "DeployRole");
    assert_eq!(c["file"], "ci-stack.yaml");
    assert_eq!(c["change"], plan["changes"][0]["id"]);
    assert!(c["rendered"].as_str().unwrap().starts_with("equivalent"), "{c}");
    assert_eq!(plan["unmanaged"], json!([]));
    let policy = c["policy"].clone();
    let policy_name = plan["changes"][0]["target"]["policy_name"].as_str().unwrap().to_string();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, &r.stdout).unwrap();

    // The diff applies with git inside the folder, and cfn-lint accepts the patched template.
    let mut args = vec!["fix", "--dry-run", "-o", "diff", "--iac", iac_s];
    args.extend(base);
    args.extend(request);
    let d = denyctl(dir.path(), &moto, &args);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert!(d.stdout.starts_with("diff --git a/ci-stack.yaml b/ci-stack.yaml\n"), "{}", d.stdout);
    assert!(!d.stdout.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "only additions: {}", d.stdout);
    let patch = dir.path().join("fix.patch");
    std::fs::write(&patch, &d.stdout).unwrap();
    let git = Command::new("git").arg("apply").arg(&patch).current_dir(&iac).output().unwrap();
    assert!(git.status.success(), "git apply: {}", String::from_utf8_lossy(&git.stderr));
    let patched = std::fs::read_to_string(iac.join("ci-stack.yaml")).unwrap();
    assert!(patched.contains("# Assumed by the CI runner's user."), "comments kept");
    assert!(patched.contains(&policy_name), "{patched}");
    let lint = Command::new(venv_bin("cfn-lint")).arg(iac.join("ci-stack.yaml")).output().unwrap();
    assert!(lint.status.success(), "cfn-lint: {}{}", String::from_utf8_lossy(&lint.stdout), String::from_utf8_lossy(&lint.stderr));

    // apply through the API: refused, the stack and logical ID named; nothing written.
    let r = denyctl(dir.path(), &moto, &["apply", "-f", plan_file.to_str().unwrap(), "--yes", "--profile", "admin", "--caller-profile", "session"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("stack ci-deploy (DeployRole AWS::IAM::Role)") && r.stderr.contains("--iac"), "{}", r.stderr);
    let names = rt.block_on(async { aws_sdk_iam::Client::new(&admin).list_role_policies().role_name("deploy-role").send().await.unwrap().policy_names().to_vec() });
    assert_eq!(names, vec!["deploy".to_string()], "nothing written");

    // Deploy the rendered patched policy (moto's stack update would not change inline policies).
    rt.block_on(async {
        aws_sdk_iam::Client::new(&admin)
            .put_role_policy()
            .role_name("deploy-role")
            .policy_name(&policy_name)
            .policy_document(policy.to_string())
            .send()
            .await
            .expect("deploy the rendered policy")
    });
    // The caller's request now succeeds in moto; the neighbouring key stays denied.
    let r = denyctl(dir.path(), &moto, &["replay", "-f", plan_file.to_str().unwrap(), "--allow-write-replay", "--profile", "admin", "--caller-profile", "session"]);
    assert_eq!(r.code, 0, "replay: {}{}", r.stdout, r.stderr);
    let other = rt.block_on(async {
        let cfg = sdk(&ep, &session.0, &session.1, Some(session.2.clone())).await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&cfg).force_path_style(true).build());
        s3.put_object().bucket("prod-artifacts").key("releases/other.zip").body(b"x".to_vec().into()).send().await
    });
    let status = other.as_ref().err().and_then(|e| e.raw_response()).map(|r| r.status().as_u16());
    assert_eq!(status, Some(403), "a neighbouring key must stay denied: {other:?}");

    // --allow-drift: the API write goes ahead (the user accepted the drift).
    let r = denyctl(dir.path(), &moto, &["apply", "-f", plan_file.to_str().unwrap(), "--yes", "--allow-drift", "--profile", "admin", "--caller-profile", "session"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}
