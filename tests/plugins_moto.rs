//! The four built-in plugins against moto's real server, through the real AWS SDK: each fetches
//! and writes its policy (compare-and-swap), handles "no policy", resolves names to ARNs,
//! replays a read, and finds its hidden hops; a caller without permissions is denied.
//!
//! What moto cannot prove: it does not evaluate KMS key policies at all and evaluates S3 bucket
//! policies only in part, so a replay that is "allowed" here does not prove those layers allow
//! it on AWS; for them the evaluation engine (crates/eval) is the check, and the replays below
//! only prove the call path, the safe method and the reading of AWS's answer.

#[path = "common/moto.rs"]
mod moto;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use denyctl_builtin_plugins::{builtin_registry, KmsPlugin, S3Plugin, SecretsManagerPlugin, SqsPlugin};
use denyctl_plugin_api::{
    Outcome, PluginCtx, PluginError, ReplayMethod, ReplayRequest, ServicePlugin, NO_POLICY_TOKEN,
};
use moto::{Moto, ACCOUNT, REGION};
use serde_json::{json, Value};

/// The operator's context: moto's default account, dummy credentials.
async fn operator(moto: &Moto) -> PluginCtx {
    ctx_with(moto, "testing", "testing").await
}

async fn ctx_with(moto: &Moto, key: &str, secret: &str) -> PluginCtx {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .load()
        .await;
    PluginCtx::new(sdk, None)
}

fn req(action: &str, resource: &str) -> ReplayRequest {
    ReplayRequest { action: action.into(), resource: resource.into(), params: Value::Null }
}

fn allow_root(action: &str, resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Root", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": action, "Resource": resource}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_policy_settings_sse_kms_hop_and_replay() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let s3 = S3Plugin;
    let c = denyctl_plugin_s3::client(&ctx);
    c.create_bucket().bucket("reports").send().await.unwrap();
    c.put_object().bucket("reports").key("q1/summary.csv").body(b"secret,body".to_vec().into()).send().await.unwrap();

    // Names and URLs to ARNs; an object's policy is its bucket's.
    assert_eq!(s3.normalize_resource(&ctx, "s3://reports/q1/summary.csv").await.unwrap(), "arn:aws:s3:::reports/q1/summary.csv");
    assert_eq!(s3.normalize_resource(&ctx, "reports").await.unwrap(), "arn:aws:s3:::reports");

    // No policy is a normal state.
    let f = s3.fetch_policy(&ctx, "arn:aws:s3:::reports/q1/summary.csv").await.unwrap();
    assert_eq!((f.resource_arn.as_str(), f.policy.as_ref(), f.version_token.as_str()), ("arn:aws:s3:::reports", None, NO_POLICY_TOKEN));
    assert!(f.hops.is_empty(), "no default encryption with KMS, no hop: {:?}", f.hops);
    assert!(f.extra.get("public_access_block").is_some() && f.extra.get("object_ownership").is_some(), "{}", f.extra);

    // Write with compare-and-swap, read it back, refuse a stale token.
    let policy = allow_root("s3:GetObject", "arn:aws:s3:::reports/*");
    let token = s3.put_policy(&ctx, "arn:aws:s3:::reports", &policy, NO_POLICY_TOKEN).await.unwrap();
    let f = s3.fetch_policy(&ctx, "arn:aws:s3:::reports").await.unwrap();
    assert_eq!(f.policy.as_ref(), Some(&policy));
    assert_eq!(f.version_token, token);
    let e = s3.put_policy(&ctx, "arn:aws:s3:::reports", &policy, NO_POLICY_TOKEN).await.unwrap_err();
    assert!(matches!(e, PluginError::Conflict(_)), "{e}");

    // Block Public Access and Object Ownership are read into `extra`.
    c.put_public_access_block()
        .bucket("reports")
        .public_access_block_configuration(aws_sdk_s3::types::PublicAccessBlockConfiguration::builder().block_public_policy(true).build())
        .send()
        .await
        .unwrap();
    let f = s3.fetch_policy(&ctx, "arn:aws:s3:::reports").await.unwrap();
    assert_eq!(f.extra["public_access_block"]["block_public_policy"], true, "{}", f.extra);

    // Default encryption with a KMS key (given by key id): the hop names the key's ARN.
    let kms = aws_sdk_kms::Client::new(ctx.sdk());
    let key = kms.create_key().send().await.unwrap().key_metadata().unwrap().clone();
    let rule = aws_sdk_s3::types::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .kms_master_key_id(key.key_id())
                .build()
                .unwrap(),
        )
        .build();
    c.put_bucket_encryption()
        .bucket("reports")
        .server_side_encryption_configuration(aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let f = s3.fetch_policy(&ctx, "arn:aws:s3:::reports").await.unwrap();
    let key_arn = key.arn().unwrap();
    assert_eq!(f.extra["default_encryption"]["algorithm"], "aws:kms");
    assert_eq!(f.extra["default_encryption"]["kms_key_arn"], key_arn);
    let put_hops = s3.hops("s3:PutObject", "arn:aws:s3:::reports/q1/new.csv", &f);
    assert_eq!(put_hops.len(), 1);
    assert_eq!((put_hops[0].action.as_str(), put_hops[0].resource.as_str()), ("kms:GenerateDataKey", key_arn));
    let get_hops = s3.hops("s3:GetObject", "arn:aws:s3:::reports/q1/summary.csv", &f);
    assert_eq!((get_hops[0].action.as_str(), get_hops[0].resource.as_str()), ("kms:Decrypt", key_arn));

    // Replay: reads as they are (the body is never returned), writes only with consent.
    let o = s3.replay(&ctx, &req("s3:GetObject", "arn:aws:s3:::reports/q1/summary.csv"), false).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::AsIsRead), "{o:?}");
    assert!(!serde_json::to_string(&o).unwrap().contains("secret,body"));
    let o = s3.replay(&ctx, &req("s3:ListBucket", "arn:aws:s3:::reports"), false).await.unwrap();
    assert_eq!(o.outcome, Outcome::Allowed);
    let o = s3.replay(&ctx, &req("s3:GetBucketPolicy", "arn:aws:s3:::reports"), false).await.unwrap();
    assert_eq!(o.outcome, Outcome::Allowed);
    let o = s3.replay(&ctx, &req("s3:PutObject", "arn:aws:s3:::reports/q1/new.csv"), false).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed);
    assert_eq!(o.outcome, Outcome::NotReplayed { reason: "not replayed (needs --allow-write-replay)".into() });
    // It says exactly what a consented replay would write (the guided session asks with it).
    let ww = o.would_write.as_deref().unwrap_or_default();
    assert!(ww.contains("(0-byte) object at arn:aws:s3:::reports/q1/new.csv") && ww.contains("If-None-Match"), "{o:?}");
    let o = s3.replay(&ctx, &req("s3:PutObject", "arn:aws:s3:::reports/q1/new.csv"), true).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::ConsentedWrite), "{o:?}");
    let o = s3.replay(&ctx, &req("s3:GetObject", "arn:aws:s3:::nope/x"), false).await.unwrap();
    assert!(matches!(o.outcome, Outcome::Error { .. }), "a missing bucket is an error, not a denial: {o:?}");

    // A missing bucket's policy is NotFound.
    let e = s3.fetch_policy(&ctx, "arn:aws:s3:::does-not-exist").await.unwrap_err();
    assert!(matches!(e, PluginError::NotFound(_)), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_key_policy_aliases_and_replay() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let kms_plugin = KmsPlugin;
    let kms = aws_sdk_kms::Client::new(ctx.sdk());
    let key = kms.create_key().send().await.unwrap().key_metadata().unwrap().clone();
    let arn = key.arn().unwrap().to_string();
    kms.create_alias().alias_name("alias/payments").target_key_id(key.key_id()).send().await.unwrap();

    // Alias, alias ARN and key id all resolve to the key ARN.
    assert_eq!(kms_plugin.normalize_resource(&ctx, "alias/payments").await.unwrap(), arn);
    assert_eq!(kms_plugin.normalize_resource(&ctx, &format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/payments")).await.unwrap(), arn);
    assert_eq!(kms_plugin.normalize_resource(&ctx, key.key_id()).await.unwrap(), arn);
    assert!(matches!(kms_plugin.normalize_resource(&ctx, "alias/nope").await.unwrap_err(), PluginError::NotFound(_)));

    // A KMS key always has a policy (the default one at creation): "no policy" does not occur.
    let f = kms_plugin.fetch_policy(&ctx, "alias/payments").await.unwrap();
    assert_eq!(f.resource_arn, arn);
    assert!(f.policy.is_some());
    assert!(f.version_token.starts_with("sha256:"));
    assert!(f.extra["rule"].as_str().unwrap().contains("key policy must allow"));

    let policy = allow_root("kms:*", "*");
    let token = kms_plugin.put_policy(&ctx, &arn, &policy, &f.version_token).await.unwrap();
    let again = kms_plugin.fetch_policy(&ctx, &arn).await.unwrap();
    assert_eq!((again.policy.as_ref(), again.version_token.as_str()), (Some(&policy), token.as_str()));
    let e = kms_plugin.put_policy(&ctx, &arn, &policy, &f.version_token).await.unwrap_err();
    assert!(matches!(e, PluginError::Conflict(_)), "{e}");

    // Decrypt replays on a ciphertext the caller supplies; without one it is not replayed.
    let blob = kms.encrypt().key_id(&arn).plaintext(aws_sdk_kms::primitives::Blob::new(b"hello".to_vec())).send().await.unwrap();
    let b64 = aws_smithy_types::base64::encode(blob.ciphertext_blob().unwrap().as_ref());
    let decrypt = ReplayRequest { action: "kms:Decrypt".into(), resource: arn.clone(), params: json!({"ciphertext_blob_base64": b64}) };
    let o = kms_plugin.replay(&ctx, &decrypt, false).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::AsIsRead), "{o:?}");
    assert!(!serde_json::to_string(&o).unwrap().contains("hello"));
    let o = kms_plugin.replay(&ctx, &req("kms:Decrypt", &arn), false).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed);
    let o = kms_plugin.replay(&ctx, &req("kms:GenerateDataKey", &arn), false).await.unwrap();
    assert_eq!(o.outcome, Outcome::Allowed);
    let o = kms_plugin.replay(&ctx, &req("kms:ScheduleKeyDeletion", &arn), true).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed, "never replayed, even with consent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_policy_url_and_replay() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let p = SqsPlugin;
    let sqs = aws_sdk_sqs::Client::new(ctx.sdk());
    let url = sqs.create_queue().queue_name("jobs").send().await.unwrap().queue_url().unwrap().to_string();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:jobs");

    assert_eq!(p.normalize_resource(&ctx, &url).await.unwrap(), arn);
    assert_eq!(p.normalize_resource(&ctx, "jobs").await.unwrap(), arn);
    assert_eq!(p.normalize_resource(&ctx, &arn).await.unwrap(), arn);

    let f = p.fetch_policy(&ctx, &url).await.unwrap();
    assert_eq!((f.resource_arn.as_str(), f.policy.as_ref(), f.version_token.as_str()), (arn.as_str(), None, NO_POLICY_TOKEN));
    assert_eq!(f.extra["queue_url"], url);
    assert!(f.hops.is_empty());

    let policy = allow_root("sqs:SendMessage", &arn);
    let token = p.put_policy(&ctx, &arn, &policy, NO_POLICY_TOKEN).await.unwrap();
    let f = p.fetch_policy(&ctx, &arn).await.unwrap();
    assert_eq!((f.policy.as_ref(), f.version_token.as_str()), (Some(&policy), token.as_str()));
    assert!(matches!(p.put_policy(&ctx, &arn, &policy, NO_POLICY_TOKEN).await.unwrap_err(), PluginError::Conflict(_)));

    sqs.send_message().queue_url(&url).message_body("do not print me").send().await.unwrap();
    let o = p.replay(&ctx, &req("sqs:ReceiveMessage", &arn), false).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::AsIsRead), "{o:?}");
    assert!(!serde_json::to_string(&o).unwrap().contains("do not print me"));
    // The message was not deleted, and is visible again at once (visibility timeout 0).
    let left = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert_eq!(left.messages().len(), 1, "the replay must not consume the message");

    let o = p.replay(&ctx, &req("sqs:SendMessage", &arn), false).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed);
    assert_eq!(o.would_write.as_deref(), Some(format!(r#"sqs:SendMessage of one message {{"denyctl":"replay probe: safe to discard"}} to {arn} (consumers of the queue will receive it)"#).as_str()));
    let o = p.replay(&ctx, &req("sqs:SendMessage", &arn), true).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::ConsentedWrite), "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secretsmanager_policy_name_to_arn_kms_hop_and_replay() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let p = SecretsManagerPlugin;
    let sm = aws_sdk_secretsmanager::Client::new(ctx.sdk());
    let kms = aws_sdk_kms::Client::new(ctx.sdk());
    let key = kms.create_key().send().await.unwrap().key_metadata().unwrap().clone();
    kms.create_alias().alias_name("alias/db").target_key_id(key.key_id()).send().await.unwrap();
    let created = sm.create_secret().name("db/password").secret_string("hunter2-never-shown").kms_key_id("alias/db").send().await.unwrap();
    let arn = created.arn().unwrap().to_string();

    // The name resolves to the ARN with its random six-character suffix.
    let resolved = p.normalize_resource(&ctx, "db/password").await.unwrap();
    assert_eq!(resolved, arn);
    let suffix = arn.rsplit_once("db/password-").unwrap().1;
    assert_eq!(suffix.len(), 6, "{arn}");
    assert!(matches!(p.normalize_resource(&ctx, "nope").await.unwrap_err(), PluginError::NotFound(_)));

    let f = p.fetch_policy(&ctx, "db/password").await.unwrap();
    assert_eq!((f.resource_arn.as_str(), f.policy.as_ref(), f.version_token.as_str()), (arn.as_str(), None, NO_POLICY_TOKEN));
    let hops = p.hops("secretsmanager:GetSecretValue", &arn, &f);
    assert_eq!(hops.len(), 1);
    assert_eq!((hops[0].action.as_str(), hops[0].resource.as_str()), ("kms:Decrypt", key.arn().unwrap()));
    assert!(p.hops("secretsmanager:DescribeSecret", &arn, &f).is_empty());

    let policy = allow_root("secretsmanager:GetSecretValue", "*");
    let token = p.put_policy(&ctx, &arn, &policy, NO_POLICY_TOKEN).await.unwrap();
    let f = p.fetch_policy(&ctx, &arn).await.unwrap();
    assert_eq!((f.policy.as_ref(), f.version_token.as_str()), (Some(&policy), token.as_str()));
    assert!(matches!(p.put_policy(&ctx, &arn, &policy, NO_POLICY_TOKEN).await.unwrap_err(), PluginError::Conflict(_)));

    let o = p.replay(&ctx, &req("secretsmanager:GetSecretValue", "db/password"), false).await.unwrap();
    assert_eq!((&o.outcome, o.method), (&Outcome::Allowed, ReplayMethod::AsIsRead), "{o:?}");
    assert!(!serde_json::to_string(&o).unwrap().contains("hunter2"));
    let o = p.replay(&ctx, &req("secretsmanager:PutSecretValue", &arn), false).await.unwrap();
    assert_eq!(o.method, ReplayMethod::NotReplayed);

    // A secret with no key of its own uses the AWS managed key; the hop says which.
    sm.create_secret().name("plain").secret_string("x").send().await.unwrap();
    let f = p.fetch_policy(&ctx, "plain").await.unwrap();
    assert_eq!(f.extra["kms_key_id"], Value::Null);
    assert_eq!(f.hops[0].action, "kms:Decrypt");
    assert!(f.hops[0].resource.contains("alias/aws/secretsmanager") || f.hops[0].resource.contains(":key/"), "{:?}", f.hops[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_permissions_is_denied_by_every_plugin() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let s3 = denyctl_plugin_s3::client(&ctx);
    s3.create_bucket().bucket("locked").send().await.unwrap();
    s3.put_object().bucket("locked").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let q = aws_sdk_sqs::Client::new(ctx.sdk()).create_queue().queue_name("locked").send().await.unwrap();
    let url = q.queue_url().unwrap().to_string();
    let secret = aws_sdk_secretsmanager::Client::new(ctx.sdk()).create_secret().name("locked").secret_string("v").send().await.unwrap();
    let secret_arn = secret.arn().unwrap().to_string();
    let (ak, sk) = moto.iam_user("nobody", None);
    moto.set_auth(true);
    let caller = ctx_with(&moto, &ak, &sk).await;

    // moto enforces identity policies when auth is on: a user with none is denied. S3 answers
    // with the code AccessDenied; SQS and Secrets Manager with HTTP 403 and a body the SDK
    // cannot parse, so the plugins decide "denied" from the status.
    let reg = builtin_registry();
    for (action, resource) in [
        ("s3:GetObject", "arn:aws:s3:::locked/k".to_string()),
        ("sqs:ReceiveMessage", url.clone()),
        ("secretsmanager:GetSecretValue", secret_arn.clone()),
    ] {
        let plugin = reg.for_request(action, &resource).unwrap_or_else(|| panic!("no plugin for {action}"));
        let o = plugin.replay(&caller, &req(action, &resource), false).await.unwrap_or_else(|e| panic!("{action}: {e}"));
        match &o.outcome {
            Outcome::Denied { message } => assert!(!message.is_empty(), "{action}: {o:?}"),
            other => panic!("{action} should be denied, got {other:?} ({})", o.detail),
        }
        assert_eq!(o.method, ReplayMethod::AsIsRead);
    }
    // Reading a policy without permission is a Denied error, not "no policy".
    let e = S3Plugin.fetch_policy(&caller, "arn:aws:s3:::locked").await.unwrap_err();
    assert!(matches!(e, PluginError::Denied(_)), "{e}");
    let e = SqsPlugin.fetch_policy(&caller, &url).await.unwrap_err();
    assert!(matches!(e, PluginError::Denied(_)), "{e}");
    moto.set_auth(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_deny_in_a_bucket_policy_denies_the_replay() {
    let moto = Moto::start();
    moto.reset();
    let ctx = operator(&moto).await;
    let s3 = denyctl_plugin_s3::client(&ctx);
    s3.create_bucket().bucket("guarded").send().await.unwrap();
    s3.put_object().bucket("guarded").key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let allow_s3 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let (ak, sk) = moto.iam_user("reader", Some(allow_s3));
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoReads", "Effect": "Deny",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/reader")}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::guarded/*"}]});
    let f = S3Plugin.fetch_policy(&ctx, "arn:aws:s3:::guarded").await.unwrap();
    S3Plugin.put_policy(&ctx, "arn:aws:s3:::guarded", &deny, &f.version_token).await.unwrap();
    moto.set_auth(true);
    let caller = ctx_with(&moto, &ak, &sk).await;
    // The identity policy allows s3:*; the bucket policy's explicit Deny is what denies here.
    let o = S3Plugin.replay(&caller, &req("s3:GetObject", "arn:aws:s3:::guarded/k"), false).await.unwrap();
    assert!(matches!(o.outcome, Outcome::Denied { .. }), "{o:?}");
    // ...and only for the action it names: listing is still allowed by the identity policy.
    let o = S3Plugin.replay(&caller, &req("s3:ListBucket", "arn:aws:s3:::guarded"), false).await.unwrap();
    assert_eq!(o.outcome, Outcome::Allowed, "{o:?}");
    moto.set_auth(false);
}
