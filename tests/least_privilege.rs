//! denyctl's own least-privilege policies (docs/policies/*.json), each checked by running the verbs
//! against moto as a user that holds ONLY that policy, with moto's IAM checks on:
//! - reader.json: whoami, diagnose and collect read every layer (identity of a role session and of a
//!   user in a group, boundary, trust, the resource policies of S3, KMS, SQS and Secrets Manager,
//!   the SSE-KMS hop): no layer is unknown for want of a permission;
//! - org-reader.json (as `--org-profile`, in the management account): SCP and RCP levels are read;
//! - writer.json (with reader.json): apply (with its CloudFormation drift check) and rollback succeed.
//!
//! moto checks each call against the caller's identity policies, so a permission missing from a
//! file makes its read fail here as it would on AWS.

mod common;

use common::lab::{self, Keys, Lab};
use serde_json::{json, Value as Json};

fn policy(name: &str) -> String {
    let text = std::fs::read_to_string(common::repo().join("docs/policies").join(name)).unwrap();
    serde_json::from_str::<Json>(&text).unwrap_or_else(|e| panic!("docs/policies/{name} is not JSON: {e}"));
    text
}

/// A user holding only the given managed policies (created in the account of `admin`).
async fn user_with_only(admin: &Keys, endpoint: &str, name: &str, policies: &[&str]) -> Keys {
    let iam = aws_sdk_iam::Client::new(&lab::sdk(endpoint, admin).await);
    iam.create_user().user_name(name).send().await.expect("create user");
    for p in policies {
        let created = iam.create_policy().policy_name(format!("{name}-{}", p.trim_end_matches(".json"))).policy_document(policy(p)).send().await.expect("create policy");
        iam.attach_user_policy().user_name(name).policy_arn(created.policy().unwrap().arn().unwrap()).send().await.expect("attach");
    }
    // moto authorizes three S3 setting reads under other names than AWS: GetBucketEncryption,
    // GetBucketOwnershipControls and GetPublicAccessBlock (IAM: s3:GetEncryptionConfiguration,
    // s3:GetBucketOwnershipControls, s3:GetBucketPublicAccessBlock, as reader.json says) are checked
    // as s3:ListBucket there. Only that, on the test's bucket only, is added for moto's sake.
    if policies.contains(&"reader.json") {
        let moto_names = json!({"Version": "2012-10-17", "Statement": [{"Sid": "MotoNamesForS3SettingReads", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::lp-data"}]});
        iam.put_user_policy().user_name(name).policy_name("moto-s3-setting-names").policy_document(moto_names.to_string()).send().await.expect("moto names");
    }
    let k = iam.create_access_key().user_name(name).send().await.expect("access key");
    let k = k.access_key().unwrap();
    Keys { id: k.access_key_id().into(), secret: k.secret_access_key().into(), token: None }
}

struct World {
    bucket_object: String,
    key_arn: String,
    queue_arn: String,
    secret_arn: String,
}

/// Resources with policies in the member account, and the least-privilege users (moto's checks off
/// while seeding, on again after).
async fn seed(lab: &Lab) -> World {
    lab.moto.set_auth(false);
    let ep = lab.moto.endpoint.clone();
    let cfg = lab::sdk(&ep, &lab.operator).await;
    let member = &lab.member;
    let root = format!("arn:aws:iam::{member}:root");
    let key = aws_sdk_kms::Client::new(&cfg)
        .create_key()
        .policy(json!({"Version": "2012-10-17", "Statement": [{"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}]}).to_string())
        .send()
        .await
        .expect("key");
    let meta = key.key_metadata().unwrap();
    let key_arn = meta.arn().unwrap().to_string();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&cfg).force_path_style(true).build());
    s3.create_bucket().bucket("lp-data").send().await.expect("bucket");
    {
        use aws_sdk_s3::types::{ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule};
        let d = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(meta.key_id()).build().unwrap();
        let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(d).build();
        s3.put_bucket_encryption()
            .bucket("lp-data")
            .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap())
            .send()
            .await
            .expect("encryption");
    }
    s3.put_object().bucket("lp-data").key("reports/q1.csv").body(b"a,b\n".to_vec().into()).send().await.expect("object");
    s3.put_bucket_policy()
        .bucket("lp-data")
        .policy(json!({"Version": "2012-10-17", "Statement": [{"Sid": "Readers", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{member}:user/people/bob")}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lp-data/*"}]}).to_string())
        .send()
        .await
        .expect("bucket policy");
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let url = sqs.create_queue().queue_name("lp-jobs").send().await.expect("queue").queue_url().unwrap().to_string();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{member}:lp-jobs");
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "sqs:SendMessage", "Resource": queue_arn}]}).to_string(),
        )
        .send()
        .await
        .expect("queue policy");
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let secret_arn = sm.create_secret().name("lp-secret").secret_string("s3cr3t").send().await.expect("secret").arn().unwrap().to_string();
    sm.put_resource_policy()
        .secret_id(&secret_arn)
        .resource_policy(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}).to_string())
        .send()
        .await
        .expect("secret policy");

    let reader = user_with_only(&lab.operator, &ep, "lp-reader", &["reader.json"]).await;
    let writer = user_with_only(&lab.operator, &ep, "lp-writer", &["reader.json", "writer.json"]).await;
    let org = user_with_only(&lab.org_reader, &ep, "lp-org", &["org-reader.json"]).await;
    let mut creds = std::fs::read_to_string(lab.path("credentials")).unwrap();
    let mut config = std::fs::read_to_string(lab.path("config")).unwrap();
    for (name, k) in [("lp-reader", &reader), ("lp-writer", &writer), ("lp-org", &org)] {
        creds.push_str(&format!("[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n", k.id, k.secret));
        config.push_str(&format!("[profile {name}]\nregion = us-east-1\n"));
    }
    std::fs::write(lab.path("credentials"), creds).unwrap();
    std::fs::write(lab.path("config"), config).unwrap();
    lab.moto.set_auth(true);
    World { bucket_object: "arn:aws:s3:::lp-data/reports/q1.csv".into(), key_arn, queue_arn, secret_arn }
}

/// Every unknown layer of a diagnosis (and of its hops) whose read was denied.
fn denied_reads(v: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let mut take = |layers: &Json| {
        for u in layers.as_array().into_iter().flatten() {
            let r = u["reason"].as_str().unwrap_or_default();
            if r.contains("denied") || r.contains("reading it needs") {
                out.push(format!("{}: {r}", u["layer"]));
            }
        }
    };
    take(&v["unknown_layers"]);
    take(&v["unknown"]);
    take(&v["policies"]["unknown"]);
    for h in v["hops"].as_array().into_iter().flatten() {
        take(&h["verdict"]["unknown_layers"]);
    }
    out
}

fn run() -> (Lab, World, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = rt.block_on(Lab::new());
    let w = rt.block_on(seed(&lab));
    (lab, w, rt)
}

#[test]
fn the_reader_and_org_reader_policies_read_every_layer() {
    let (lab, w, _rt) = run();
    let ops = ["--profile", "lp-reader", "--org-profile", "lp-org"];
    let r = lab.denyctl(None, &[&["whoami", "--caller-profile", "caller", "-o", "json"][..], &ops].concat());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["arn"], lab.session_arn.as_str());
    assert!(!r.stderr.contains("denied"), "{}", r.stderr);

    let bob = format!("arn:aws:iam::{}:user/people/bob", lab.member);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("caller", "ec2:RunInstances", "*"),
        ("caller", "s3:PutObject", &w.bucket_object),
        ("caller", "kms:Decrypt", &w.key_arn),
        ("caller", "sqs:SendMessage", &w.queue_arn),
        ("caller", "secretsmanager:GetSecretValue", &w.secret_arn),
        ("caller", "sts:AssumeRole", &lab.role_arn),
        ("bob", "s3:GetObject", &w.bucket_object),
    ];
    for (caller, action, resource) in &cases {
        let who = if *caller == "bob" { bob.as_str() } else { lab.session_arn.as_str() };
        let args = [&["diagnose", "--caller-profile", caller, "--principal", who, "--action", action, "--resource", resource, "-o", "json"][..], &ops].concat();
        let r = lab.denyctl(None, &args);
        assert!(r.code == 0 || r.code == 1, "{action} on {resource}: {}\n{}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(denied_reads(&v), Vec::<String>::new(), "{action} on {resource}: a read was denied to reader.json/org-reader.json");
        // Every layer was read: the SCP levels of the organization among them.
        assert_eq!(v["unknown_layers"], json!([]), "{action} on {resource}: {}", v["unknown_layers"]);
        assert!(v["layers"].as_array().unwrap().iter().any(|l| l["layer"] == "scp"), "{action}: SCP levels read: {}", v["layers"]);
        if *action == "s3:PutObject" {
            let hops = v["hops"].as_array().cloned().unwrap_or_default();
            assert!(hops.iter().any(|h| h["action"].as_str().unwrap_or_default().starts_with("kms:")), "the SSE-KMS hop was read: {hops:?} {}", v["notes"]);
        }
    }

    let args = [&["collect", "--caller-profile", "caller", "--principal", &lab.session_arn, "--action", "s3:GetObject", "--resource", &w.bucket_object, "-o", "json"][..], &ops].concat();
    let r = lab.denyctl(None, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(denied_reads(&v), Vec::<String>::new(), "collect: a read was denied");
    // The bucket's settings (ownership, public access block, default encryption) were read too.
    let text = r.stdout.to_lowercase();
    assert!(!text.contains("accessdenied") && !text.contains("access denied") && !text.contains("not authorized"), "collect: a settings read was denied: {}", r.stdout);

    // Without the org reader, the same reader cannot see SCPs: the files are needed, not decoration.
    let args = ["diagnose", "--caller-profile", "caller", "--principal", &lab.session_arn, "--action", "ec2:RunInstances", "--resource", "*", "--profile", "lp-reader", "-o", "json"];
    let v = lab.denyctl(None, &args).json();
    assert!(denied_reads(&v).iter().any(|r| r.contains("organizations:")), "{}", v["unknown_layers"]);
}

#[test]
fn the_writer_policy_applies_and_rolls_back() {
    let (lab, w, _rt) = run();
    let plan = lab.path("plan.json");
    let plan = plan.to_str().unwrap();
    let ops = ["--profile", "lp-writer", "--org-profile", "lp-org"];
    // The dev role session may not read the object: the plan adds the exact grant to the role.
    let args = [&["fix", "--dry-run", "--caller-profile", "caller", "--principal", &lab.session_arn, "--action", "s3:GetObject", "--resource", &w.bucket_object, "-o", "json"][..], &ops].concat();
    let r = lab.denyctl(None, &args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    std::fs::write(plan, &r.stdout).unwrap();
    let p = r.json();
    assert!(p["changes"].as_array().unwrap().iter().any(|c| c["applicable"] == true), "{p}");
    assert!(!p["notes"].to_string().contains("layer unknown"), "{}", p["notes"]);

    // reader.json alone may not write: the writer file is what apply needs.
    let r = lab.denyctl(None, &["apply", "-f", plan, "--yes", "--profile", "lp-reader", "--org-profile", "lp-org", "--backup", lab.path("reader.backup.json").to_str().unwrap()]);
    assert_ne!(r.code, 0, "reader.json must not be enough to apply: {}\n{}", r.stdout, r.stderr);

    let r = lab.denyctl(None, &[&["apply", "-f", plan, "--yes"][..], &ops].concat());
    assert_eq!(r.code, 0, "apply: {}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("stack owner check is incomplete"), "the CloudFormation drift check was denied: {}", r.stderr);
    let r = lab.denyctl(None, &["replay", "-f", plan, "--caller-profile", "caller"]);
    assert_eq!(r.code, 0, "the grant works: {}\n{}", r.stdout, r.stderr);

    let r = lab.denyctl(None, &[&["rollback", "-f", plan, "--yes"][..], &ops].concat());
    assert_eq!(r.code, 0, "rollback: {}\n{}", r.stdout, r.stderr);
    let r = lab.denyctl(None, &["replay", "-f", plan, "--caller-profile", "caller"]);
    assert_eq!(r.code, 1, "denied again after the rollback: {}\n{}", r.stdout, r.stderr);
}
