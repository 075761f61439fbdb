//! End to end against moto's real server: the resource layer read through the service plugins,
//! and the hidden hops `diagnose` follows (an SSE-KMS bucket → kms:GenerateDataKey on its key).
//!
//! What moto cannot prove: it does not enforce KMS key policies at all (and bucket policies only
//! in part), so a request that moto lets through here can still be denied by a key policy on AWS.
//! For those layers the evaluation of what was read from moto is the check, and each test says so.
//! Everything denyctl reads (bucket policy, encryption settings, key policy, queue policy,
//! identity policies) is real data read from moto through the real SDK.

mod common;

use std::sync::Mutex;

use common::lab::{self, Keys, Lab};
use serde_json::{json, Value as Json};

/// One moto world at a time: each test seeds its own server, and they share two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lab() -> (std::sync::MutexGuard<'static, ()>, Lab, tokio::runtime::Runtime) {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lab = rt.block_on(Lab::new());
    (guard, lab, rt)
}

/// What the tests build in the member account, as the operator.
struct World {
    /// The caller: a real role session of `uploader` (sts:AssumeRole).
    uploader: Keys,
    uploader_session: String,
    uploader_role: String,
    /// A customer managed key whose key policy names only the operator user.
    key_arn: String,
    key_id: String,
}

fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(cfg).force_path_style(true).build())
}

/// A role `uploader` whose identity policy allows s3:PutObject, kms:GenerateDataKey, kms:Decrypt
/// and sqs:SendMessage (no boundary), assumed for real; and a KMS key whose policy does not name it.
/// Seeded with moto's IAM checks off (as the lab is), then they are on again.
async fn world(lab: &Lab) -> World {
    lab.moto.set_auth(false);
    let w = seed_world(lab).await;
    lab.moto.set_auth(true);
    w
}

async fn seed_world(lab: &Lab) -> World {
    let cfg = lab::sdk(&lab.moto.endpoint, &lab.operator).await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let member = &lab.member;
    let role = iam
        .create_role()
        .role_name("uploader")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{member}:root")}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("create role uploader");
    let uploader_role = role.role().unwrap().arn().to_string();
    iam.put_role_policy()
        .role_name("uploader")
        .policy_name("upload")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
                {"Sid": "Upload", "Effect": "Allow", "Action": ["s3:PutObject", "sqs:SendMessage"], "Resource": "*"},
                {"Sid": "UseKeys", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"},
                {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("uploader policy");
    let s = aws_sdk_sts::Client::new(&cfg).assume_role().role_arn(&uploader_role).role_session_name("upload-run").send().await.expect("assume uploader");
    let c = s.credentials().unwrap();
    let uploader = Keys { id: c.access_key_id().into(), secret: c.secret_access_key().into(), token: Some(c.session_token().into()) };
    let uploader_session = s.assumed_role_user().unwrap().arn().to_string();

    let operator_arn = format!("arn:aws:iam::{member}:user/operator");
    let key_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "OperatorOnly", "Effect": "Allow", "Principal": {"AWS": operator_arn}, "Action": "kms:*", "Resource": "*"}]});
    let key = aws_sdk_kms::Client::new(&cfg).create_key().policy(key_policy.to_string()).send().await.expect("create key");
    let meta = key.key_metadata().unwrap();
    World {
        uploader,
        uploader_session,
        uploader_role,
        key_arn: meta.arn().unwrap().to_string(),
        key_id: meta.key_id().to_string(),
    }
}

/// A bucket with default encryption under `key_id` (SSE-KMS) and the given bucket policy.
async fn sse_kms_bucket(lab: &Lab, bucket: &str, key_id: Option<&str>, policy: Option<Json>) {
    lab.moto.set_auth(false);
    seed_bucket(lab, bucket, key_id, policy).await;
    lab.moto.set_auth(true);
}

async fn seed_bucket(lab: &Lab, bucket: &str, key_id: Option<&str>, policy: Option<Json>) {
    use aws_sdk_s3::types::{ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule};
    let s3 = s3_client(&lab::sdk(&lab.moto.endpoint, &lab.operator).await);
    s3.create_bucket().bucket(bucket).send().await.expect("create bucket");
    if let Some(k) = key_id {
        let by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(k).build().unwrap();
        let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap())
            .send()
            .await
            .expect("default encryption");
    }
    if let Some(p) = policy {
        s3.put_bucket_policy().bucket(bucket).policy(p.to_string()).send().await.expect("bucket policy");
    }
}

fn layer<'a>(v: &'a Json, name: &str) -> &'a Json {
    v["layers"].as_array().and_then(|a| a.iter().find(|l| l["layer"] == name)).unwrap_or_else(|| panic!("no {name} layer in {v}"))
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

#[test]
fn put_object_to_an_sse_kms_bucket_names_the_key_policy_as_the_blocker() {
    let (_g, lab, rt) = lab();
    let w = rt.block_on(world(&lab));
    let bucket_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "UploaderWrites", "Effect": "Allow", "Principal": {"AWS": w.uploader_role}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::reports/*"}]});
    rt.block_on(sse_kms_bucket(&lab, "reports", Some(&w.key_id), Some(bucket_policy)));
    let object = "arn:aws:s3:::reports/q1/new.csv";

    // moto lets this PutObject through: it does not enforce key policies. On AWS it fails at the
    // kms:GenerateDataKey S3 makes as the caller, because the key policy names only the operator
    // and does not delegate to the account. The evaluation of the layers read below is the check.
    let put = rt.block_on(async {
        let s3 = s3_client(&lab::sdk(&lab.moto.endpoint, &w.uploader).await);
        s3.put_object().bucket("reports").key("q1/new.csv").body(b"a,b".to_vec().into()).send().await
    });
    assert!(put.is_ok(), "moto allows the S3 layers for the caller: {put:?}");

    // The caller is this runtime (the uploader session, from the environment); the operator reads.
    let args = ["--action", "s3:PutObject", "--resource", object, "--profile", "operator", "--org-profile", "org"];
    let r = lab.denyctl(Some(&w.uploader), &[&["diagnose"][..], &args[..], &["-o", "json"][..]].concat());
    assert_eq!(r.code, 1, "a hop is denied: exit 1\n{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["request"]["principal"], w.uploader_session.as_str());
    // The S3 request itself: allowed by the identity policy and by the bucket policy, read live.
    assert_eq!(v["decision"], "allow", "{v}");
    let res = layer(&v, "resource");
    assert_eq!(res["outcome"], "allow", "{res}");
    assert_eq!(res["deciding"][0]["policy"], "bucket policy of arn:aws:s3:::reports");
    assert_eq!(res["deciding"][0]["sid"], "UploaderWrites");
    // The hidden hop: kms:GenerateDataKey on the bucket's key, blocked by the key policy.
    let hops = v["hops"].as_array().expect("hops");
    assert_eq!(hops.len(), 1, "PutObject needs GenerateDataKey only: {hops:?}");
    let h = &hops[0];
    assert_eq!((h["action"].as_str(), h["resource"].as_str()), (Some("kms:GenerateDataKey"), Some(w.key_arn.as_str())));
    assert_eq!(h["after"], format!("s3:PutObject on {object}"));
    assert_eq!(h["depth"], 1);
    assert!(h["why"].as_str().unwrap().contains("SSE-KMS"), "{h}");
    assert_eq!(h["decision"], "implicit_deny", "{h}");
    assert_eq!(strings(&h["denied_by"]), vec!["resource"], "only the key policy blocks: {h}");
    assert_eq!(layer(h, "identity")["outcome"], "allow", "the identity policy allows kms:GenerateDataKey");
    let key_layer = layer(h, "resource");
    assert_eq!(key_layer["outcome"], "no_allow", "{key_layer}");
    assert!(key_layer["note"].as_str().unwrap_or("").contains("key policy"), "{key_layer}");
    let miss = &key_layer["near_misses"][0];
    assert_eq!(miss["policy"], format!("key policy of {}", w.key_arn));
    assert_eq!(miss["sid"], "OperatorOnly");
    assert_eq!(miss["failed"], "principal", "{miss}");
    assert_eq!(h["unknown_layers"], json!([]), "every layer of the hop was read");

    // The table view: the main verdict, then the hop's.
    let t = lab.denyctl(Some(&w.uploader), &[&["diagnose"][..], &args[..]].concat());
    assert_eq!(t.code, 1, "{}", t.stderr);
    let line = t.stdout.lines().find(|l| l.starts_with("then kms:GenerateDataKey")).unwrap_or_else(|| panic!("no hop line:\n{}", t.stdout));
    assert!(line.contains(&w.key_arn) && line.contains("DENIED") && line.contains(&format!("key policy of {}", w.key_arn)), "{line}");
    assert!(t.stdout.starts_with("caller (live)") && t.stdout.contains("ALLOWED"), "{}", t.stdout);

    // collect records the version token and the bucket's settings, and the hop's layers; the
    // snapshot gives the same verdicts offline.
    let c = lab.denyctl(Some(&w.uploader), &[&["collect"][..], &args[..], &["-o", "json"][..]].concat());
    assert_eq!(c.code, 0, "{}", c.stderr);
    let snap = c.json();
    let rp = &snap["policies"]["resource"];
    assert_eq!(rp["source"]["kind"], "resource");
    assert_eq!(rp["source"]["read_by"], "s3:GetBucketPolicy");
    assert!(rp["source"]["version_id"].as_str().unwrap().starts_with("sha256:"), "{rp}");
    assert_eq!(rp["source"]["extra"]["default_encryption"]["kms_key_arn"], w.key_arn.as_str());
    assert_eq!(snap["hops"][0]["snapshot"]["policies"]["resource"]["name"], format!("key policy of {}", w.key_arn));
    assert_eq!(snap["hops"][0]["snapshot"]["request"]["action"], "kms:GenerateDataKey");
    let file = lab.path("sse-kms.json");
    std::fs::write(&file, &c.stdout).unwrap();
    let off = lab.denyctl(None, &["diagnose", "--snapshot", file.to_str().unwrap(), "-o", "json"]);
    assert_eq!(off.code, 1, "{}", off.stderr);
    let o = off.json();
    for k in ["decision", "denied_by", "layers", "unknown_layers"] {
        assert_eq!(o[k], v[k], "{k} differs offline");
        assert_eq!(o["hops"][0][k], v["hops"][0][k], "hop {k} differs offline");
    }
}

#[test]
fn an_explicit_deny_in_a_bucket_policy_is_read_and_named() {
    let (_g, lab, rt) = lab();
    let w = rt.block_on(world(&lab));
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoUploads", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::locked/*"}]});
    rt.block_on(sse_kms_bucket(&lab, "locked", None, Some(deny)));
    let r = lab.denyctl(
        Some(&w.uploader),
        &["diagnose", "--action", "s3:PutObject", "--resource", "s3://locked/x.txt", "--profile", "operator", "--org-profile", "org", "-o", "json"],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["request"]["resource"], "arn:aws:s3:::locked/x.txt", "s3:// URL turned into the object ARN");
    assert_eq!(v["decision"], "explicit_deny", "{v}");
    assert_eq!(strings(&v["denied_by"]), vec!["resource"]);
    let res = layer(&v, "resource");
    assert_eq!(res["outcome"], "explicit_deny");
    assert_eq!(res["deciding"][0]["policy"], "bucket policy of arn:aws:s3:::locked");
    assert_eq!(res["deciding"][0]["sid"], "NoUploads");
    assert_eq!(res["deciding"][0]["effect"], "Deny");
    assert_eq!(v["hops"], json!([]), "no default encryption with KMS: no hop");
}

#[test]
fn a_bucket_policy_the_operator_cannot_read_is_unknown_with_the_call() {
    let (_g, lab, rt) = lab();
    let w = rt.block_on(world(&lab));
    rt.block_on(sse_kms_bucket(&lab, "reports", Some(&w.key_id), Some(json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Any", "Effect": "Allow", "Principal": {"AWS": w.uploader_role}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::reports/*"}]}))));
    // The auditor may read the role's IAM policies but has no s3:GetBucketPolicy: moto denies it.
    let r = lab.denyctl(Some(&w.uploader), &["diagnose", "--action", "s3:PutObject", "--resource", "arn:aws:s3:::reports/k", "--profile", "auditor", "-o", "json"]);
    // The reported decision reads unknown layers as neither denying nor granting (docs/evaluation.md):
    // the identity policy allows, so it is "allow" (exit 0), with depends_on_unknown set.
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    let unknown: Vec<&Json> = v["unknown_layers"].as_array().unwrap().iter().filter(|u| u["layer"] == "resource").collect();
    assert_eq!(unknown.len(), 1, "{v}");
    let reason = unknown[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("s3:GetBucketPolicy on arn:aws:s3:::reports") && reason.contains("reading it needs s3:GetBucketPolicy"),
        "{reason}"
    );
    assert_eq!(layer(&v, "resource")["outcome"], "unknown");
    assert_eq!(v["depends_on_unknown"], true, "the unread bucket policy could deny: the verdict says so");
    // The bucket's encryption could not be read either: its hops are unknown, and said so.
    assert_eq!(v["hops"], json!([]));
    assert!(strings(&v["notes"]).iter().any(|n| n.contains("hidden hops") && n.contains("not known")), "{}", v["notes"]);
}

#[test]
fn a_queue_url_is_normalised_and_the_sse_kms_queue_hops_are_evaluated() {
    let (_g, lab, rt) = lab();
    let w = rt.block_on(world(&lab));
    let arn = format!("arn:aws:sqs:us-east-1:{}:jobs", lab.member);
    lab.moto.set_auth(false);
    let url = rt.block_on(async {
        let sqs = aws_sdk_sqs::Client::new(&lab::sdk(&lab.moto.endpoint, &lab.operator).await);
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "UploaderSends", "Effect": "Allow", "Principal": {"AWS": w.uploader_role}, "Action": "sqs:SendMessage", "Resource": arn}]});
        let out = sqs
            .create_queue()
            .queue_name("jobs")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::KmsMasterKeyId, &w.key_id)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .expect("create queue");
        out.queue_url().unwrap().to_string()
    });
    lab.moto.set_auth(true);
    assert!(url.starts_with("http"), "{url}");
    let r = lab.denyctl(Some(&w.uploader), &["diagnose", "--action", "sqs:SendMessage", "--resource", &url, "--profile", "operator", "--org-profile", "org", "-o", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["request"]["resource"], arn.as_str(), "the queue URL, normalised to the queue ARN");
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(layer(&v, "resource")["deciding"][0]["policy"], format!("queue policy of {arn}"));
    assert_eq!(layer(&v, "resource")["deciding"][0]["sid"], "UploaderSends");
    // SendMessage to an SSE-KMS queue: GenerateDataKey and Decrypt on its key; the key policy
    // names only the operator, so both are denied by it (moto does not enforce key policies: the
    // evaluation is the check).
    let hops: Vec<(String, String, String)> = v["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["action"].as_str().unwrap().into(), h["resource"].as_str().unwrap().into(), h["decision"].as_str().unwrap_or("?").into()))
        .collect();
    assert_eq!(
        hops,
        vec![
            ("kms:GenerateDataKey".into(), w.key_arn.clone(), "implicit_deny".into()),
            ("kms:Decrypt".into(), w.key_arn.clone(), "implicit_deny".into())
        ]
    );
    // A queue name works as well; a name no plugin can resolve is an input error (exit 2), one line.
    let r = lab.denyctl(Some(&w.uploader), &["collect", "--action", "sqs:SendMessage", "--resource", "jobs", "--profile", "operator", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["request"]["resource"], arn.as_str());
    let r = lab.denyctl(Some(&w.uploader), &["diagnose", "--action", "sqs:SendMessage", "--resource", "nope", "--profile", "operator"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("nope") && r.stderr.contains("ARN"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);

    // `plugin list` is unaffected by the wiring: the four built-ins, from the binary.
    let p = lab.denyctl(None, &["plugin", "list", "-o", "json"]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let names: Vec<String> = p.json()["plugins"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["s3", "kms", "sqs", "secretsmanager"]);
}
