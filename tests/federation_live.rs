//! Federation end to end against moto's real server: an OIDC provider for GitHub Actions
//! (iam:CreateOpenIDConnectProvider) and a role whose trust policy lets another branch in.
//! `diagnose --action sts:AssumeRoleWithWebIdentity` names `token.actions.githubusercontent.com:sub`
//! with both values; `fix --dry-run -o json` plans exactly that sub; `apply` writes it to moto;
//! `diagnose` then allows. Also: a missing provider, an audience mismatch, a trust policy with no
//! sub condition, a token file (decoded, never printed whole), the GitHub Actions variables with a
//! custom sub template, SAML and session tags.
//!
//! moto stores OIDC and SAML providers and trust policies (returned URL-encoded) but does not
//! evaluate trust policies for AssumeRoleWithWebIdentity: the evaluation of what was read is the
//! check, as in the other live tests.

mod common;

use std::process::Command;
use std::sync::Mutex;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use common::moto::{Moto, ACCOUNT};
use serde_json::{json, Value as Json};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const GH: &str = "token.actions.githubusercontent.com";

struct World {
    moto: Moto,
    dir: tempfile::TempDir,
    admin: SdkConfig,
    rt: tokio::runtime::Runtime,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{GH}")
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn github_trust(sub: Option<&str>) -> Json {
    let mut cond = json!({"StringEquals": {format!("{GH}:aud"): "sts.amazonaws.com"}});
    if let Some(s) = sub {
        cond["StringLike"] = json!({format!("{GH}:sub"): s});
    }
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "GitHubDeploy", "Effect": "Allow",
        "Principal": {"Federated": provider_arn()}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}]})
}

fn claims(sub: &str, aud: &str) -> String {
    json!({"iss": format!("https://{GH}"), "sub": sub, "aud": aud}).to_string()
}

impl World {
    fn new(with_provider: bool) -> World {
        let moto = Moto::start();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let admin = rt.block_on(
            aws_config::defaults(BehaviorVersion::latest())
                .endpoint_url(&moto.endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("AKIAIOSFODNN7EXAMPLE", "secret", None, None, "test"))
                .load(),
        );
        let w = World { moto, dir: tempfile::tempdir().unwrap(), admin, rt };
        if with_provider {
            let iam = aws_sdk_iam::Client::new(&w.admin);
            w.rt.block_on(
                iam.create_open_id_connect_provider()
                    .url(format!("https://{GH}"))
                    .client_id_list("sts.amazonaws.com")
                    .thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1")
                    .send(),
            )
            .expect("create the OIDC provider");
        }
        w
    }

    fn role(&self, name: &str, trust: &Json) {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        self.rt.block_on(iam.create_role().role_name(name).assume_role_policy_document(trust.to_string()).send()).expect("create role");
    }

    fn trust_of(&self, name: &str) -> Json {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        let out = self.rt.block_on(iam.get_role().role_name(name).send()).unwrap();
        let raw = out.role().unwrap().assume_role_policy_document().unwrap().to_string();
        serde_json::from_str(&common::iam_document(&raw)).unwrap()
    }

    fn denyctl(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_denyctl"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run denyctl");
        let r = Run { code: out.status.code().unwrap_or(-1), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() };
        common::schema::check_output(args, &r.stdout);
        r
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn github_branch_denied_then_fixed_with_the_exact_sub() {
    let _g = lock();
    let w = World::new(true);
    w.role("deploy", &github_trust(Some("repo:octo-org/octo-repo:ref:refs/heads/main")));
    let want = "repo:octo-org/octo-repo:ref:refs/heads/release";
    let c = claims(want, "sts.amazonaws.com");
    let role = role_arn("deploy");
    let base = ["--action", "sts:AssumeRoleWithWebIdentity", "--resource", role.as_str(), "--claims", c.as_str()];

    // diagnose: the failing key, with both values.
    let mut args = vec!["diagnose"];
    args.extend(base);
    args.extend(["-o", "json"]);
    let r = w.denyctl(&[], &args);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["decision"], "implicit_deny");
    assert_eq!(v["provider"]["exists"], true);
    assert_eq!(v["provider"]["client_ids"], json!(["sts.amazonaws.com"]));
    assert_eq!(
        v["failing_conditions"],
        json!([{"sid": "GitHubDeploy", "statement": 0, "key": format!("{GH}:sub"), "operator": "StringLike",
                "policy_values": ["repo:octo-org/octo-repo:ref:refs/heads/main"], "request_value": [want]}])
    );
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v}");

    // The table names the key and both values.
    let mut args = vec!["diagnose"];
    args.extend(base);
    let r = w.denyctl(&[], &args);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains(&format!("{GH}:sub")) && r.stdout.contains("refs/heads/main") && r.stdout.contains(want), "{}", r.stdout);

    // fix: exactly this sub, never a wildcard.
    let mut args = vec!["fix", "--dry-run"];
    args.extend(base);
    args.extend(["-o", "json"]);
    let r = w.denyctl(&[], &args);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let plan = r.json();
    assert_eq!(plan["status"], "ready", "{plan}");
    let after = &plan["changes"][0]["after"];
    assert_eq!(after["Statement"][0]["Condition"]["StringLike"][format!("{GH}:sub")], json!(["repo:octo-org/octo-repo:ref:refs/heads/main", want]));
    assert_eq!(after["Statement"][0]["Condition"]["StringEquals"], json!({format!("{GH}:aud"): "sts.amazonaws.com"}));
    assert!(!after.to_string().contains("octo-org/*"));
    std::fs::write(w.dir.path().join("plan.json"), &r.stdout).unwrap();

    // The same plan with the subject widened to the whole organization after it was made: apply
    // recomputes the exact trust change for the claims and refuses it, nothing written.
    let trust_before = w.trust_of("deploy");
    let mut tampered = plan.clone();
    tampered["changes"][0]["after"]["Statement"][0]["Condition"]["StringLike"][format!("{GH}:sub")] = json!("repo:octo-org/*");
    std::fs::write(w.dir.path().join("tampered.json"), tampered.to_string()).unwrap();
    let r = w.denyctl(&[], &["apply", "-f", "tampered.json", "--yes"]);
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("c1 (trust policy of role deploy)") && r.stderr.contains("not the exact trust change"), "{}", r.stderr);
    assert_eq!(w.trust_of("deploy"), trust_before, "nothing written");

    // apply writes it to moto.
    let r = w.denyctl(&[], &["apply", "-f", "plan.json", "--yes", "-o", "json"]);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(w.trust_of("deploy")["Statement"][0]["Condition"]["StringLike"][format!("{GH}:sub")], json!(["repo:octo-org/octo-repo:ref:refs/heads/main", want]));

    // diagnose now allows.
    let mut args = vec!["diagnose"];
    args.extend(base);
    args.extend(["-o", "json"]);
    let r = w.denyctl(&[], &args);
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert_eq!(r.json()["decision"], "allow");
    // Another branch still does not get in.
    let other = claims("repo:octo-org/octo-repo:ref:refs/heads/evil", "sts.amazonaws.com");
    let r = w.denyctl(&[], &["diagnose", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--claims", &other, "-o", "json"]);
    assert_eq!(r.code, 1);

    // The plan is applied: applying again is a no-op.
    let r = w.denyctl(&[], &["apply", "-f", "plan.json", "--yes", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn missing_provider_audience_mismatch_no_sub_and_a_token_file() {
    let _g = lock();
    let w = World::new(false);
    w.role("open", &github_trust(None));
    let role = role_arn("open");
    // No provider in the account.
    let c = claims("repo:a/b:ref:refs/heads/main", "sts.amazonaws.com");
    let r = w.denyctl(&[], &["diagnose", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--claims", &c, "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["provider"]["exists"], false);
    assert!(v["problems"][0].as_str().unwrap().contains("does not exist"), "{v}");
    // The trust policy has no sub condition: a loud warning.
    assert!(v["warnings"][0].as_str().unwrap().contains("no condition on the subject"), "{v}");
    assert!(r.stderr.contains("WARNING"), "{}", r.stderr);

    // With the provider, a token requested for another audience.
    let iam = aws_sdk_iam::Client::new(&w.admin);
    w.rt.block_on(iam.create_open_id_connect_provider().url(format!("https://{GH}")).client_id_list("sts.amazonaws.com").thumbprint_list("6938fd4d98bab03faadb97b34396831e3780aea1").send()).unwrap();
    // A token file: decoded, never printed whole.
    let payload = claims("repo:a/b:ref:refs/heads/main", "https://github.com/a");
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2VjcmV0LXNpZ25hdHVyZQ", b64url(payload.as_bytes()));
    std::fs::write(w.dir.path().join("token"), &token).unwrap();
    let r = w.denyctl(&[], &["diagnose", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--web-identity-token", "token", "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert!(v["problems"][0].as_str().unwrap().contains("audience mismatch"), "{v}");
    assert_eq!(v["claims_source"], "token");
    assert!(!r.stdout.contains(&token) && !r.stderr.contains(&token));
    assert!(!r.stdout.contains("c2VjcmV0LXNpZ25hdHVyZQ"));

    // fix warns that any repository can assume the role, and adds nothing it does not need.
    let r = w.denyctl(&[], &["fix", "--dry-run", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--claims", &c, "-o", "json"]);
    assert!(r.stderr.contains("no condition on the subject"), "{}", r.stderr);
    assert_eq!(r.json()["status"], "already_allowed");
}

#[test]
fn github_actions_variables_with_a_custom_sub_template_saml_and_session_tags() {
    let _g = lock();
    let w = World::new(true);
    let tmpl_sub = "repo:octo-org/octo-repo:environment:prod:job_workflow_ref:octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main";
    w.role("envd", &github_trust(Some("repo:octo-org/octo-repo:environment:staging:*")));
    let role = role_arn("envd");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "octo-org/octo-repo"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_WORKFLOW_REF", "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main"),
    ];
    let r = w.denyctl(
        &env,
        &["diagnose", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--github-environment", "prod", "--sub-template", "repo,context,job_workflow_ref", "-o", "json"],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["claims_source"], "github_actions");
    assert_eq!(v["failing_conditions"][0]["request_value"], json!([tmpl_sub]));
    // Session tags: sts:TagSession must be trusted too; fix adds it and the exact sub.
    let r = w.denyctl(
        &env,
        &["fix", "--dry-run", "--action", "sts:AssumeRoleWithWebIdentity", "--resource", &role, "--github-environment", "prod", "--session-tags", "-o", "json"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let p = r.json();
    let st = &p["changes"][0]["after"]["Statement"][0];
    assert_eq!(st["Action"], json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]));
    assert_eq!(st["Condition"]["StringLike"][format!("{GH}:sub")], json!(["repo:octo-org/octo-repo:environment:staging:*", "repo:octo-org/octo-repo:environment:prod"]));

    // SAML: the provider read with iam:GetSAMLProvider, SAML:sub_type named.
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let meta = r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#;
    let saml_arn = w.rt.block_on(iam.create_saml_provider().name("Okta").saml_metadata_document(meta).send()).unwrap().saml_provider_arn().unwrap().to_string();
    w.role(
        "sso",
        &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": saml_arn}, "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml", "SAML:sub_type": "transient"}}}]}),
    );
    let sso = role_arn("sso");
    let c = json!({"aud": "https://signin.aws.amazon.com/saml", "sub": "alice@example.com", "sub_type": "persistent"}).to_string();
    let r = w.denyctl(&[], &["diagnose", "--action", "sts:AssumeRoleWithSAML", "--resource", &sso, "--provider", "Okta", "--claims", &c, "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["provider"]["type"], "saml");
    assert_eq!(v["provider"]["exists"], true);
    assert_eq!(v["failing_conditions"][0]["key"], "SAML:sub_type");
    assert_eq!(v["failing_conditions"][0]["request_value"], json!(["persistent"]));
}

fn b64url(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16) | (u32::from(*ch.get(1).unwrap_or(&0)) << 8) | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..=ch.len() {
            s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s
}

#[test]
fn assume_role_names_the_failing_condition_and_tag_session() {
    let _g = lock();
    let w = World::new(false);
    let iam = aws_sdk_iam::Client::new(&w.admin);
    w.rt.block_on(iam.create_user().user_name("ci").send()).unwrap();
    let user = format!("arn:aws:iam::{ACCOUNT}:user/ci");
    w.role(
        "partner",
        &json!({"Version": "2012-10-17", "Statement": [{"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": user}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "expected-id"}}}]}),
    );
    w.rt.block_on(
        iam.put_user_policy()
            .user_name("ci")
            .policy_name("assume")
            .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "*"}]}).to_string())
            .send(),
    )
    .unwrap();
    let role = role_arn("partner");
    let r = w.denyctl(&[], &["diagnose", "--principal", &user, "--action", "sts:AssumeRole", "--resource", &role, "--context", "sts:ExternalId=wrong-id", "--session-tags", "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(
        v["failing_conditions"],
        json!([{"sid": "Partner", "statement": 0, "key": "sts:ExternalId", "operator": "StringEquals", "policy_values": ["expected-id"], "request_value": ["wrong-id"]}])
    );
    assert_eq!(v["also_needed"][0]["action"], "sts:TagSession");
    assert_eq!(v["also_needed"][0]["decision"], "implicit_deny");
    // With the right external ID the role may be assumed, but the session tags are not trusted.
    let r = w.denyctl(&[], &["diagnose", "--principal", &user, "--action", "sts:AssumeRole", "--resource", &role, "--context", "sts:ExternalId=expected-id", "--session-tags", "-o", "json"]);
    let v = r.json();
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["failing_conditions"], json!([]));
    assert_eq!(r.code, 1, "sts:TagSession is still denied: {}", r.stderr);
    assert!(r.stderr.contains("sts:TagSession is not allowed"), "{}", r.stderr);
}
