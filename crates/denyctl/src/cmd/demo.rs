//! `denyctl demo`: the whole loop against a local AWS-compatible server (moto's standalone
//! server from the local virtualenv), no AWS account needed. It seeds four incidents with the AWS
//! SDK, then runs the same code paths `diagnose` and `fix` run against AWS.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::json;

use crate::cli::{DemoArgs, DiagnoseArgs, FixArgs, FixScope, GlobalArgs, RequestArgs};
use crate::error::{exit, CliError, CmdResult};

/// A running local server, stopped on drop.
struct Server {
    child: Child,
    endpoint: String,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where moto's server is: $DENYCTL_MOTO_SERVER, ./.venv (what scripts/demo.sh installs), PATH.
fn moto_binary() -> Result<PathBuf, CliError> {
    if let Some(p) = std::env::var_os("DENYCTL_MOTO_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let local = Path::new(".venv/bin/moto_server");
    if local.exists() {
        return Ok(local.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("moto_server"))
        .find(|p| p.exists());
    on_path.ok_or_else(|| {
        CliError::Input("demo: moto's server was not found: run ./scripts/demo.sh (it installs it into ./.venv), or set DENYCTL_MOTO_SERVER".into())
    })
}

fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}", body.len())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0))
}

fn start_server() -> Result<Server, CliError> {
    let bin = moto_binary()?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Input(format!("demo: no free loopback port: {e}")))?;
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CliError::Input(format!("demo: cannot start {}: {e}", bin.display())))?;
    let server = Server { child, endpoint: format!("http://127.0.0.1:{port}"), port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http(port, "GET", "/moto-api/", "").is_ok_and(|s| s == 200) {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    Err(CliError::Input(format!("demo: {} did not answer on port {port} within 60 s", bin.display())))
}

/// Access keys.
#[derive(Clone)]
struct Keys {
    id: String,
    secret: String,
    token: Option<String>,
}

async fn sdk(endpoint: &str, k: &Keys) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(&k.id, &k.secret, k.token.clone(), None, "demo"))
        .load()
        .await
}

fn seed_err(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::Aws(format!("demo: seeding failed at {what}: {e}"))
}

macro_rules! call {
    ($what:expr, $fut:expr) => {
        $fut.await.map_err(|e| seed_err($what)(aws_sdk_iam::error::DisplayErrorContext(&e).to_string()))?
    };
}

fn allow(actions: &[&str], resource: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}).to_string()
}

fn trust(account: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole"}]})
        .to_string()
}

/// One incident of the demo: who is denied what.
struct Incident {
    title: &'static str,
    profile: &'static str,
    action: &'static str,
    resource: String,
}

/// The seeded world: profiles written to a scratch folder, the incidents.
struct World {
    dir: PathBuf,
    incidents: Vec<Incident>,
}

async fn assume(cfg: &SdkConfig, role_arn: &str, session: &str) -> Result<Keys, CliError> {
    let out = call!("sts:AssumeRole", aws_sdk_sts::Client::new(cfg).assume_role().role_arn(role_arn).role_session_name(session).send());
    let c = out.credentials().ok_or_else(|| seed_err("sts:AssumeRole")("no credentials".into()))?;
    Ok(Keys { id: c.access_key_id().into(), secret: c.secret_access_key().into(), token: Some(c.session_token().into()) })
}

async fn user_keys(iam: &aws_sdk_iam::Client, name: &str, policy_name: &str, policy: &str) -> Result<Keys, CliError> {
    call!("iam:CreateUser", iam.create_user().user_name(name).send());
    call!("iam:PutUserPolicy", iam.put_user_policy().user_name(name).policy_name(policy_name).policy_document(policy).send());
    let k = call!("iam:CreateAccessKey", iam.create_access_key().user_name(name).send());
    let k = k.access_key().ok_or_else(|| seed_err("iam:CreateAccessKey")("no key".into()))?;
    Ok(Keys { id: k.access_key_id().into(), secret: k.secret_access_key().into(), token: None })
}

async fn seed(server: &Server, dir: &Path) -> Result<World, CliError> {
    let ep = &server.endpoint;
    let boot = Keys { id: "AKIAIOSFODNN7EXAMPLE".into(), secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(), token: None };
    let mcfg = sdk(ep, &boot).await;
    let org = aws_sdk_organizations::Client::new(&mcfg);
    // An organization with a member account in OU "prod", and an SCP there that denies bucket deletion.
    call!("organizations:CreateOrganization", org.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send());
    let roots = call!("organizations:ListRoots", org.list_roots().send());
    let root = roots.roots().first().and_then(|r| r.id()).unwrap_or_default().to_string();
    let acct = call!("organizations:CreateAccount", org.create_account().account_name("workload").email("workload@example.com").send());
    let member = acct.create_account_status().and_then(|s| s.account_id()).unwrap_or_default().to_string();
    let ou = call!("organizations:CreateOrganizationalUnit", org.create_organizational_unit().parent_id(&root).name("prod").send());
    let ou = ou.organizational_unit().and_then(|o| o.id()).unwrap_or_default().to_string();
    call!("organizations:MoveAccount", org.move_account().account_id(&member).source_parent_id(&root).destination_parent_id(&ou).send());
    let scp = json!({"Version": "2012-10-17", "Statement": [{"Sid": "ProtectBuckets", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]});
    let p = call!(
        "organizations:CreatePolicy",
        org.create_policy()
            .name("protect-buckets")
            .description("no bucket deletion in prod")
            .r#type(aws_sdk_organizations::types::PolicyType::ServiceControlPolicy)
            .content(scp.to_string())
            .send()
    );
    let scp_id = p.policy().and_then(|p| p.policy_summary()).and_then(|s| s.id()).unwrap_or_default().to_string();
    call!("organizations:AttachPolicy", org.attach_policy().policy_id(&scp_id).target_id(&ou).send());
    let org_reader = user_keys(&aws_sdk_iam::Client::new(&mcfg), "org-admin", "org-read", &allow(&["organizations:*", "sts:GetCallerIdentity"], "*")).await?;

    // Into the member account as its administrator.
    let admin = assume(&mcfg, &format!("arn:aws:iam::{member}:role/OrganizationAccountAccessRole"), "seed").await?;
    let acfg = sdk(ep, &admin).await;
    let iam = aws_sdk_iam::Client::new(&acfg);
    let operator = user_keys(&iam, "security-operator", "admin", &allow(&["*"], "*")).await?;

    // Incident 1: a CI role (session GitHubActions) with no s3:PutObject; the bucket encrypts with a
    // KMS key whose key policy names only a key-admin role (the second hop).
    let kms = aws_sdk_kms::Client::new(&acfg);
    let key_policy = json!({"Version": "2012-10-17", "Statement": [{"Sid": "KeyAdmins", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{member}:role/key-admin")}, "Action": "kms:*", "Resource": "*"}]});
    call!("iam:CreateRole key-admin", iam.create_role().role_name("key-admin").assume_role_policy_document(trust(&member)).send());
    let key = call!("kms:CreateKey", kms.create_key().policy(key_policy.to_string()).description("prod-artifacts").send());
    let key_arn = key.key_metadata().and_then(|m| m.arn()).unwrap_or_default().to_string();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&acfg).force_path_style(true).build());
    for b in ["prod-artifacts", "reports", "legacy-logs"] {
        call!("s3:CreateBucket", s3.create_bucket().bucket(b).send());
    }
    let rule = aws_sdk_s3::types::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .kms_master_key_id(&key_arn)
                .build()
                .map_err(|e| seed_err("s3 encryption rule")(e.to_string()))?,
        )
        .build();
    let enc = aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| seed_err("s3 encryption configuration")(e.to_string()))?;
    call!("s3:PutBucketEncryption", s3.put_bucket_encryption().bucket("prod-artifacts").server_side_encryption_configuration(enc).send());
    call!("iam:CreateRole ci-deploy", iam.create_role().role_name("ci-deploy").assume_role_policy_document(trust(&member)).send());
    call!(
        "iam:PutRolePolicy ci-deploy",
        iam.put_role_policy().role_name("ci-deploy").policy_name("ci-base").policy_document(allow(&["s3:ListBucket"], "arn:aws:s3:::prod-artifacts")).send()
    );
    let ci = assume(&acfg, &format!("arn:aws:iam::{member}:role/ci-deploy"), "GitHubActions").await?;

    // Incident 2: a user denied sqs:SendMessage by an explicit Deny in its own policy.
    let sqs = aws_sdk_sqs::Client::new(&acfg);
    call!("sqs:CreateQueue", sqs.create_queue().queue_name("orders").send());
    let queue_arn = format!("arn:aws:sqs:us-east-1:{member}:orders");
    let alice_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "UseOrders", "Effect": "Allow", "Action": "sqs:*", "Resource": queue_arn},
        {"Sid": "ChangeFreeze", "Effect": "Deny", "Action": "sqs:SendMessage", "Resource": queue_arn}]});
    let alice = user_keys(&iam, "alice", "orders", &alice_policy.to_string()).await?;

    // Incident 3: a role whose permissions boundary allows only s3:Get* (moto stores boundaries on
    // roles, not on users).
    let b = call!("iam:CreatePolicy boundary", iam.create_policy().policy_name("read-only-boundary").policy_document(allow(&["s3:Get*"], "*")).send());
    let boundary_arn = b.policy().and_then(|p| p.arn()).unwrap_or_default().to_string();
    call!(
        "iam:CreateRole analyst",
        iam.create_role().role_name("analyst").assume_role_policy_document(trust(&member)).permissions_boundary(&boundary_arn).send()
    );
    call!("iam:PutRolePolicy analyst", iam.put_role_policy().role_name("analyst").policy_name("s3").policy_document(allow(&["s3:*"], "*")).send());
    let analyst = assume(&acfg, &format!("arn:aws:iam::{member}:role/analyst"), "quarterly-report").await?;

    // Incident 4: a platform role allowed s3:* whose account's OU denies s3:DeleteBucket by SCP.
    call!("iam:CreateRole platform", iam.create_role().role_name("platform").assume_role_policy_document(trust(&member)).send());
    call!("iam:PutRolePolicy platform", iam.put_role_policy().role_name("platform").policy_name("s3").policy_document(allow(&["s3:*"], "*")).send());
    let platform = assume(&acfg, &format!("arn:aws:iam::{member}:role/platform"), "cleanup").await?;

    // From now on moto checks identity policies, as AWS would.
    http(server.port, "POST", "/moto-api/reset-auth", "0").map_err(|e| seed_err("moto reset-auth")(e.to_string()))?;

    let mut creds = String::new();
    let mut config = String::new();
    for (name, k) in [("operator", &operator), ("org", &org_reader), ("ci", &ci), ("alice", &alice), ("analyst", &analyst), ("platform", &platform)] {
        creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.id, k.secret));
        if let Some(t) = &k.token {
            creds.push_str(&format!("aws_session_token = {t}\n"));
        }
        config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
    }
    let write = |f: &str, s: &str| std::fs::write(dir.join(f), s).map_err(|e| CliError::Input(format!("demo: cannot write {f}: {e}")));
    write("credentials", &creds)?;
    write("config", &config)?;
    Ok(World {
        dir: dir.to_path_buf(),
        incidents: vec![
            Incident {
                title: "a CI role cannot upload a release (and the bucket's KMS key does not trust it either)",
                profile: "ci",
                action: "s3:PutObject",
                resource: "arn:aws:s3:::prod-artifacts/releases/app.zip".into(),
            },
            Incident {
                title: "a user cannot send to the orders queue (an explicit Deny in its own policy)",
                profile: "alice",
                action: "sqs:SendMessage",
                resource: queue_arn,
            },
            Incident {
                title: "an analyst cannot write a report (its permissions boundary allows only s3:Get*)",
                profile: "analyst",
                action: "s3:PutObject",
                resource: "arn:aws:s3:::reports/q3.csv".into(),
            },
            Incident {
                title: "a platform role cannot delete a bucket (an SCP on its OU denies it)",
                profile: "platform",
                action: "s3:DeleteBucket",
                resource: "arn:aws:s3:::legacy-logs".into(),
            },
        ],
    })
}

/// Run the verb.
pub fn run(args: &DemoArgs, global: &GlobalArgs) -> CmdResult {
    let server = start_server()?;
    let dir = std::env::temp_dir().join(format!("denyctl-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Input(format!("demo: cannot create {}: {e}", dir.display())))?;
    let _cleanup = Cleanup(dir.clone());
    println!("denyctl demo: a local AWS-compatible endpoint (moto) on {}; no AWS account is used.", server.endpoint);
    let world = super::live::block_on(seed(&server, &dir))??;
    // Every later AWS call of this process goes to the local server, through the same code paths
    // as against AWS: profiles from files, the endpoint from AWS_ENDPOINT_URL.
    std::env::set_var("AWS_CONFIG_FILE", world.dir.join("config"));
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", world.dir.join("credentials"));
    std::env::set_var("AWS_ENDPOINT_URL", &server.endpoint);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"] {
        std::env::remove_var(var);
    }
    println!("seeded: an organization (SCP on OU prod), a member account, 4 incidents.\n");
    let mut denied = 0;
    let mut fixed = 0;
    for (i, inc) in world.incidents.iter().enumerate() {
        if args.incident.is_some_and(|n| n != i + 1) {
            continue;
        }
        println!("━━ incident {}: {}", i + 1, inc.title);
        println!("   $ denyctl diagnose --caller-profile {} --profile operator --org-profile org --action {} --resource {}\n", inc.profile, inc.action, inc.resource);
        let g = GlobalArgs {
            profile: Some("operator".into()),
            caller_profile: Some(inc.profile.into()),
            org_profile: Some("org".into()),
            ..global.clone()
        };
        let d = DiagnoseArgs {
            request: RequestArgs { action: Some(inc.action.into()), resource: Some(inc.resource.clone()), ..Default::default() },
            snapshot: None,
            federation: Default::default(),
        };
        match super::diagnose::run(&d, &g) {
            Ok(code) => denied += usize::from(code == exit::DENIED),
            Err(e) => println!("   diagnose failed: {e}"),
        }
        // The fix session, the same code path as against AWS. This is a disposable local server:
        // without a terminal the demo answers yes itself (including writes replayed for real and
        // Deny narrowings a human would be asked about); on a terminal it asks you.
        println!("\n   $ denyctl fix --caller-profile {} --profile operator --org-profile org --action {} --resource {}", inc.profile, inc.action, inc.resource);
        let f = FixArgs {
            request: d.request.clone(),
            dry_run: false,
            scenario: None,
            scope: FixScope::Exact,
            accept_widening: false,
            yes: true,
            allow_write_replay: true,
            accept_needs_human: true,
            // moto does not enforce KMS key policies (and checks KMS identity policies against
            // `*`), nor conditions (a narrowed Deny still matches there): a replay of those proves
            // nothing, so they are verified by evaluation, and the output says so.
            verify_by_evaluation: vec!["kms".into(), "conditions".into()],
            session_dir: Some(world.dir.join(format!("incident-{}", i + 1)).to_string_lossy().into_owned()),
            iac: None,
            tf_state: Vec::new(),
            allow_drift: false,
            federation: Default::default(),
        };
        match super::fix::run(&f, &g) {
            Ok(code) => fixed += usize::from(code == exit::OK),
            Err(e) => println!("   fix failed: {e}"),
        }
        println!();
    }
    println!(
        "{denied} incident(s) diagnosed as denied; {fixed} fixed and verified, the others handed off or left open (see each summary). \
         The local server is stopped and its data discarded."
    );
    Ok(exit::OK)
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
