//! denyctl's Amazon S3 plugin: bucket policies, the settings that change evaluation
//! (Object Ownership, Block Public Access, default encryption), SSE-KMS hops, and safe replay.
//!
//! Resources: `arn:aws:s3:::bucket` and `arn:aws:s3:::bucket/key`; inputs may also be
//! `s3://bucket/key` or a bare bucket name. The policy of an object is its bucket's.

use aws_sdk_s3::Client;
use denyctl_plugin_api::{
    action_is, async_trait, replay_outcome, split_action, version_token, AwsFailure, FetchedPolicy, Hop, Outcome,
    PluginCtx, PluginError, PluginInfo, PluginSource, ReplayMethod, ReplayOutcome, ReplayRequest, Result,
    ServicePlugin, ABI_VERSION, NO_POLICY_TOKEN,
};
use denyctl_policy::Arn;
use serde_json::{json, Value};

/// The S3 plugin.
#[derive(Debug, Default, Clone)]
pub struct S3Plugin;

/// An S3 client from the context's configuration (path-style addressing on custom endpoints).
pub fn client(ctx: &PluginCtx) -> Client {
    let mut b = aws_sdk_s3::config::Builder::from(ctx.sdk());
    if ctx.settings().endpoint_url.is_some() || ctx.sdk().endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    Client::from_conf(b.build())
}

/// A bucket, and the object key when the resource is an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Resource {
    /// The bucket name.
    pub bucket: String,
    /// The object key, if any.
    pub key: Option<String>,
}

impl S3Resource {
    /// Parses an S3 ARN, an `s3://bucket/key` URL or a bare bucket name.
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.trim();
        let path = if let Some(rest) = input.strip_prefix("s3://") {
            rest.to_string()
        } else if input.starts_with("arn:") {
            let a = Arn::parse(input).map_err(|e| PluginError::InvalidInput(e.to_string()))?;
            if a.service != "s3" {
                return Err(PluginError::InvalidInput(format!("{input} is not an S3 ARN")));
            }
            if !a.region.is_empty() || !a.account.is_empty() {
                return Err(PluginError::InvalidInput(format!(
                    "{input} is an S3 access point or S3 on Outposts ARN; only bucket and object ARNs are supported"
                )));
            }
            a.resource
        } else if !input.is_empty() && !input.contains(':') && !input.contains('/') {
            input.to_string()
        } else {
            return Err(PluginError::InvalidInput(format!(
                "{input} is not an S3 bucket or object (use arn:aws:s3:::bucket[/key], s3://bucket/key or a bucket name)"
            )));
        };
        let (bucket, key) = match path.split_once('/') {
            Some((b, k)) => (b.to_string(), Some(k.to_string()).filter(|k| !k.is_empty())),
            None => (path, None),
        };
        if bucket.is_empty() {
            return Err(PluginError::InvalidInput(format!("{input} names no bucket")));
        }
        Ok(S3Resource { bucket, key })
    }

    /// The bucket's ARN.
    pub fn bucket_arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.bucket)
    }

    /// The ARN of the object, or of the bucket when there is no key.
    pub fn arn(&self) -> String {
        match &self.key {
            Some(k) => format!("arn:aws:s3:::{}/{k}", self.bucket),
            None => self.bucket_arn(),
        }
    }
}

fn missing(e: &AwsFailure, code: &str) -> bool {
    e.is_code(code)
}

/// Read-only S3 actions replayed as they are.
const READS: &[&str] = &[
    "GetObject",
    "ListBucket",
    "GetBucketPolicy",
    "GetBucketLocation",
    "GetBucketAcl",
    "GetObjectAcl",
    "GetObjectTagging",
    "GetBucketTagging",
    "GetEncryptionConfiguration",
    "GetBucketVersioning",
    "GetBucketOwnershipControls",
    "GetBucketPublicAccessBlock",
];

#[async_trait]
impl ServicePlugin for S3Plugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            name: "s3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: ABI_VERSION,
            services: vec!["s3".into()],
            description: "S3 bucket policies, Object Ownership, Block Public Access, SSE-KMS hops, safe replay".into(),
            source: PluginSource::Builtin,
        }
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        split_action(action).is_some_and(|(s, _)| s == "s3") && S3Resource::parse(resource).is_ok()
    }

    async fn normalize_resource(&self, _ctx: &PluginCtx, input: &str) -> Result<String> {
        Ok(S3Resource::parse(input)?.arn())
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy> {
        let r = S3Resource::parse(resource_arn)?;
        let bucket_arn = r.bucket_arn();
        let c = client(ctx);
        let policy = match c.get_bucket_policy().bucket(&r.bucket).send().await {
            Ok(out) => match out.policy() {
                Some(text) if !text.trim().is_empty() => Some(
                    serde_json::from_str::<Value>(text)
                        .map_err(|e| PluginError::Aws(format!("the bucket policy of {bucket_arn} is not JSON: {e}")))?,
                ),
                _ => None,
            },
            Err(e) => {
                let f = AwsFailure::from_sdk(&e);
                if missing(&f, "NoSuchBucketPolicy") {
                    None
                } else {
                    return Err(f.into_error("s3:GetBucketPolicy", &bucket_arn));
                }
            }
        };
        let ownership = match c.get_bucket_ownership_controls().bucket(&r.bucket).send().await {
            Ok(out) => out
                .ownership_controls()
                .and_then(|oc| oc.rules().first())
                .map(|rule| json!(rule.object_ownership().as_str()))
                .unwrap_or(Value::Null),
            Err(e) => unreadable(AwsFailure::from_sdk(&e), "OwnershipControlsNotFoundError"),
        };
        let pab = match c.get_public_access_block().bucket(&r.bucket).send().await {
            Ok(out) => out
                .public_access_block_configuration()
                .map(|p| {
                    json!({
                        "block_public_acls": p.block_public_acls().unwrap_or(false),
                        "ignore_public_acls": p.ignore_public_acls().unwrap_or(false),
                        "block_public_policy": p.block_public_policy().unwrap_or(false),
                        "restrict_public_buckets": p.restrict_public_buckets().unwrap_or(false),
                    })
                })
                .unwrap_or(Value::Null),
            Err(e) => unreadable(AwsFailure::from_sdk(&e), "NoSuchPublicAccessBlockConfiguration"),
        };
        let mut hops = Vec::new();
        let encryption = match c.get_bucket_encryption().bucket(&r.bucket).send().await {
            Ok(out) => {
                let rule = out.server_side_encryption_configuration().and_then(|c| c.rules().first());
                let default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
                match default {
                    Some(d) => {
                        let algorithm = d.sse_algorithm().as_str().to_string();
                        let mut enc = json!({
                            "algorithm": algorithm,
                            "bucket_key_enabled": rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false),
                        });
                        if algorithm.starts_with("aws:kms") {
                            let given = d.kms_master_key_id().unwrap_or("alias/aws/s3").to_string();
                            let (key, note) = denyctl_plugin_kms::key_arn_or_given(ctx, &given).await;
                            enc["kms_key"] = json!(given);
                            enc["kms_key_arn"] = json!(key);
                            if let Some(n) = &note {
                                enc["kms_key_note"] = json!(n);
                            }
                            hops = sse_kms_hops(&bucket_arn, &key);
                        }
                        enc
                    }
                    None => Value::Null,
                }
            }
            Err(e) => unreadable(AwsFailure::from_sdk(&e), "ServerSideEncryptionConfigurationNotFoundError"),
        };
        Ok(FetchedPolicy {
            version_token: version_token(policy.as_ref()),
            resource_arn: bucket_arn,
            policy,
            extra: json!({ "object_ownership": ownership, "public_access_block": pab, "default_encryption": encryption }),
            hops,
        })
    }

    async fn put_policy(&self, ctx: &PluginCtx, resource_arn: &str, policy: &Value, expected: &str) -> Result<String> {
        self.put_policy_text(ctx, resource_arn, &policy.to_string(), expected).await
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        let r = S3Resource::parse(resource_arn)?;
        match client(ctx).get_bucket_policy().bucket(&r.bucket).send().await {
            Ok(out) => Ok(out.policy().filter(|t| !t.trim().is_empty()).map(str::to_string)),
            Err(e) => {
                let f = AwsFailure::from_sdk(&e);
                if missing(&f, "NoSuchBucketPolicy") {
                    Ok(None)
                } else {
                    Err(f.into_error("s3:GetBucketPolicy", &r.bucket_arn()))
                }
            }
        }
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        let r = S3Resource::parse(resource_arn)?;
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "bucket policy")?;
        client(ctx)
            .put_bucket_policy()
            .bucket(&r.bucket)
            .policy(text)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("s3:PutBucketPolicy", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, resource_arn).await?.version_token)
    }

    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected: &str) -> Result<String> {
        let r = S3Resource::parse(resource_arn)?;
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "bucket policy")?;
        if current.policy.is_none() {
            return Ok(NO_POLICY_TOKEN.to_string());
        }
        client(ctx)
            .delete_bucket_policy()
            .bucket(&r.bucket)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("s3:DeleteBucketPolicy", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, resource_arn).await?.version_token)
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome> {
        let Some((svc, name)) = split_action(&request.action) else {
            return Err(PluginError::InvalidInput(format!("not an IAM action: {}", request.action)));
        };
        if svc != "s3" {
            return Err(PluginError::InvalidInput(format!("the s3 plugin cannot replay {}", request.action)));
        }
        let r = S3Resource::parse(&request.resource)?;
        let c = client(ctx);
        let read = ReplayMethod::AsIsRead;
        let needs_key = |what: &str| {
            PluginError::InvalidInput(format!("s3:{what} needs an object ARN (arn:aws:s3:::bucket/key), got {}", request.resource))
        };
        if action_is(&request.action, "s3", &["PutObject"]) {
            let key = r.key.clone().ok_or_else(|| needs_key(name))?;
            if !allow_write {
                return Ok(ReplayOutcome::needs_consent_to(
                    &request.action,
                    format!("s3:PutObject of an empty (0-byte) object at {}, only if no object is there (If-None-Match: *); an existing object is left as it is", r.arn()),
                ));
            }
            // Conditional write: a 0-byte object only where none exists; S3 authorizes before it
            // checks the precondition, so 412 PreconditionFailed also proves the write is allowed.
            let res = c.put_object().bucket(&r.bucket).key(&key).if_none_match("*").body(Vec::new().into()).send().await;
            let detail = format!("s3:PutObject of a 0-byte object to {} only if none exists (If-None-Match: *)", r.arn());
            if let Err(e) = &res {
                let f = AwsFailure::from_sdk(e);
                if f.status == Some(412) || f.is_code("PreconditionFailed") {
                    return Ok(ReplayOutcome::new(
                        Outcome::Allowed,
                        ReplayMethod::ConsentedWrite,
                        format!("{detail}: the object exists, so nothing was written; S3 authorized the write before refusing it"),
                    ));
                }
            }
            return Ok(replay_outcome(res, ReplayMethod::ConsentedWrite, detail));
        }
        if !READS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            if !allow_write {
                return Ok(ReplayOutcome::needs_consent(&request.action));
            }
            return Ok(ReplayOutcome::new(
                Outcome::NotReplayed { reason: format!("denyctl has no replay for s3:{name}") },
                ReplayMethod::NotReplayed,
                "only s3:PutObject and reads are replayed",
            ));
        }
        let b = &r.bucket;
        let o = if action_is(&request.action, "s3", &["GetObject"]) {
            let key = r.key.clone().ok_or_else(|| needs_key(name))?;
            // A ranged GET of the first byte: proves s3:GetObject (and kms:Decrypt for SSE-KMS
            // objects); the byte is dropped unread.
            let res = c.get_object().bucket(b).key(&key).range("bytes=0-0").send().await;
            let detail = format!("s3:GetObject of byte 0 of {} (the body is discarded unread)", r.arn());
            match &res {
                Err(e) if AwsFailure::from_sdk(e).is_code("InvalidRange") => {
                    let h = c.head_object().bucket(b).key(&key).send().await;
                    replay_outcome(h, read, format!("s3:HeadObject of {} (an empty object; HeadObject needs s3:GetObject)", r.arn()))
                }
                _ => replay_outcome(res, read, detail),
            }
        } else if action_is(&request.action, "s3", &["ListBucket"]) {
            let mut q = c.list_objects_v2().bucket(b).max_keys(1);
            if let Some(k) = &r.key {
                q = q.prefix(k);
            }
            replay_outcome(q.send().await, read, format!("s3:ListObjectsV2 (max 1 key) on {}", r.bucket_arn()))
        } else if action_is(&request.action, "s3", &["GetBucketPolicy"]) {
            let res = c.get_bucket_policy().bucket(b).send().await;
            match &res {
                Err(e) if AwsFailure::from_sdk(e).is_code("NoSuchBucketPolicy") => {
                    ReplayOutcome::new(Outcome::Allowed, read, format!("s3:GetBucketPolicy on {}: allowed (no policy)", r.bucket_arn()))
                }
                _ => replay_outcome(res, read, format!("s3:GetBucketPolicy on {}", r.bucket_arn())),
            }
        } else if action_is(&request.action, "s3", &["GetBucketLocation"]) {
            replay_outcome(c.get_bucket_location().bucket(b).send().await, read, format!("s3:GetBucketLocation on {}", r.bucket_arn()))
        } else if action_is(&request.action, "s3", &["GetBucketAcl"]) {
            replay_outcome(c.get_bucket_acl().bucket(b).send().await, read, format!("s3:GetBucketAcl on {}", r.bucket_arn()))
        } else if action_is(&request.action, "s3", &["GetObjectAcl"]) {
            let key = r.key.clone().ok_or_else(|| needs_key(name))?;
            replay_outcome(c.get_object_acl().bucket(b).key(key).send().await, read, format!("s3:GetObjectAcl on {}", r.arn()))
        } else if action_is(&request.action, "s3", &["GetObjectTagging"]) {
            let key = r.key.clone().ok_or_else(|| needs_key(name))?;
            replay_outcome(c.get_object_tagging().bucket(b).key(key).send().await, read, format!("s3:GetObjectTagging on {}", r.arn()))
        } else if action_is(&request.action, "s3", &["GetBucketVersioning"]) {
            replay_outcome(c.get_bucket_versioning().bucket(b).send().await, read, format!("s3:GetBucketVersioning on {}", r.bucket_arn()))
        } else {
            // The remaining reads answer "not configured" with an error code once authorized.
            let (res, not_set) = if action_is(&request.action, "s3", &["GetBucketTagging"]) {
                (c.get_bucket_tagging().bucket(b).send().await.map(|_| ()).map_err(|e| AwsFailure::from_sdk(&e)), "NoSuchTagSet")
            } else if action_is(&request.action, "s3", &["GetEncryptionConfiguration"]) {
                (
                    c.get_bucket_encryption().bucket(b).send().await.map(|_| ()).map_err(|e| AwsFailure::from_sdk(&e)),
                    "ServerSideEncryptionConfigurationNotFoundError",
                )
            } else if action_is(&request.action, "s3", &["GetBucketOwnershipControls"]) {
                (
                    c.get_bucket_ownership_controls().bucket(b).send().await.map(|_| ()).map_err(|e| AwsFailure::from_sdk(&e)),
                    "OwnershipControlsNotFoundError",
                )
            } else {
                (
                    c.get_public_access_block().bucket(b).send().await.map(|_| ()).map_err(|e| AwsFailure::from_sdk(&e)),
                    "NoSuchPublicAccessBlockConfiguration",
                )
            };
            let detail = format!("s3:{name} on {}", r.bucket_arn());
            let outcome = match res {
                Ok(()) => Outcome::Allowed,
                Err(f) if f.is_code(not_set) => Outcome::Allowed,
                Err(f) if f.is_denied() => Outcome::Denied { message: f.message },
                Err(f) => Outcome::Error { message: f.describe() },
            };
            ReplayOutcome::new(outcome, read, detail)
        };
        Ok(o)
    }
}

/// A setting that is absent reads as `null`; one that cannot be read says why.
fn unreadable(f: AwsFailure, not_set_code: &str) -> Value {
    if f.is_code(not_set_code) {
        Value::Null
    } else {
        json!({ "unknown": f.describe() })
    }
}

/// The KMS requests an SSE-KMS bucket adds: GenerateDataKey to write, Decrypt to read.
pub fn sse_kms_hops(bucket_arn: &str, key_arn: &str) -> Vec<Hop> {
    vec![
        Hop {
            action: "kms:GenerateDataKey".into(),
            resource: key_arn.into(),
            why: format!(
                "{bucket_arn} encrypts new objects with SSE-KMS, so S3 asks KMS for a data key as the caller (multipart uploads also need kms:Decrypt)"
            ),
            triggered_by: vec!["s3:PutObject".into()],
        },
        Hop {
            action: "kms:Decrypt".into(),
            resource: key_arn.into(),
            why: format!("{bucket_arn} encrypts objects with SSE-KMS, so S3 decrypts the object's data key as the caller"),
            triggered_by: vec!["s3:GetObject".into(), "s3:GetObjectVersion".into()],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arns_urls_and_names() {
        let r = S3Resource::parse("arn:aws:s3:::my-bucket/a/b.txt").unwrap();
        assert_eq!((r.bucket.as_str(), r.key.as_deref()), ("my-bucket", Some("a/b.txt")));
        assert_eq!(r.bucket_arn(), "arn:aws:s3:::my-bucket");
        assert_eq!(S3Resource::parse("s3://b/k").unwrap().arn(), "arn:aws:s3:::b/k");
        assert_eq!(S3Resource::parse("s3://b/").unwrap().arn(), "arn:aws:s3:::b");
        assert_eq!(S3Resource::parse("bucket").unwrap().arn(), "arn:aws:s3:::bucket");
        assert!(S3Resource::parse("arn:aws:sqs:us-east-1:111122223333:q").is_err());
        assert!(S3Resource::parse("arn:aws:s3:us-east-1:111122223333:accesspoint/ap").is_err());
        assert!(S3Resource::parse("").is_err());
    }

    #[test]
    fn hops_follow_the_action() {
        let hops = sse_kms_hops("arn:aws:s3:::b", "arn:aws:kms:us-east-1:111122223333:key/k");
        let f = FetchedPolicy { resource_arn: "arn:aws:s3:::b".into(), policy: None, version_token: "none".into(), extra: Value::Null, hops };
        let p = S3Plugin;
        let put = p.hops("s3:PutObject", "arn:aws:s3:::b/k", &f);
        assert_eq!(put.len(), 1);
        assert_eq!(put[0].action, "kms:GenerateDataKey");
        assert_eq!(p.hops("s3:GetObject", "arn:aws:s3:::b/k", &f)[0].action, "kms:Decrypt");
        assert!(p.hops("s3:ListBucket", "arn:aws:s3:::b", &f).is_empty());
    }
}
