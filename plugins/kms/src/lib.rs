//! denyctl's AWS KMS plugin: key policies, aliases, and safe replay.
//!
//! A KMS key policy is the one resource policy that must itself allow access: an IAM policy
//! alone grants nothing on a key unless the key policy allows the caller directly or delegates
//! to the account (`"Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"}` with `kms:*` or the action).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use denyctl_plugin_api::{
    action_is, async_trait, replay_outcome, split_action, version_token, AwsFailure, FetchedPolicy, PluginCtx,
    PluginError, PluginInfo, PluginSource, ReplayMethod, ReplayOutcome, ReplayRequest, Result, ServicePlugin,
    ABI_VERSION,
};
use denyctl_policy::Arn;
use serde_json::{json, Value};

/// The only key policy name KMS supports.
pub const POLICY_NAME: &str = "default";

/// The rule `fetch_policy` reports in `extra.rule`.
pub const KEY_POLICY_RULE: &str = "the key policy must allow the caller, directly or by delegating to the account (Principal arn:aws:iam::ACCOUNT:root); IAM policies alone grant nothing on a KMS key";

/// Actions with no side effect: replayed as they are, output discarded.
const READS: &[&str] = &[
    "Decrypt",
    "DescribeKey",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "ListGrants",
    "ListKeyPolicies",
    "ListResourceTags",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
];

/// The KMS plugin.
#[derive(Debug, Default, Clone)]
pub struct KmsPlugin;

/// A KMS client from the context's configuration.
pub fn client(ctx: &PluginCtx) -> Client {
    Client::new(ctx.sdk())
}

/// Whether `s` is a key ARN (`arn:...:kms:...:key/ID`).
pub fn is_key_arn(s: &str) -> bool {
    Arn::parse(s).is_ok_and(|a| a.service == "kms" && a.resource.starts_with("key/"))
}

/// Resolves a key id, key ARN, alias name or alias ARN to the key ARN (DescribeKey).
pub async fn key_arn(ctx: &PluginCtx, key: &str) -> Result<String> {
    if is_key_arn(key) {
        return Ok(key.to_string());
    }
    let out = client(ctx)
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| AwsFailure::from_sdk(&e).into_error("kms:DescribeKey", key))?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_string)
        .ok_or_else(|| PluginError::Aws(format!("kms:DescribeKey on {key}: no key ARN in the answer")))
}

/// Resolves a key reference to an ARN when possible; otherwise returns it as given, with why.
pub async fn key_arn_or_given(ctx: &PluginCtx, key: &str) -> (String, Option<String>) {
    match key_arn(ctx, key).await {
        Ok(arn) => (arn, None),
        Err(e) => (key.to_string(), Some(format!("could not resolve {key} to a key ARN: {e}"))),
    }
}

/// The key's ARN and its key policy's text as KMS returns it (`None`: empty).
async fn key_policy_text(ctx: &PluginCtx, resource: &str) -> Result<(String, Option<String>)> {
    let arn = key_arn(ctx, resource).await?;
    let out = client(ctx)
        .get_key_policy()
        .key_id(&arn)
        .policy_name(POLICY_NAME)
        .send()
        .await
        .map_err(|e| AwsFailure::from_sdk(&e).into_error("kms:GetKeyPolicy", &arn))?;
    let text = out.policy().filter(|t| !t.trim().is_empty()).map(str::to_string);
    Ok((arn, text))
}

fn looks_like_key(resource: &str) -> bool {
    match Arn::parse(resource) {
        Ok(a) => a.service == "kms",
        Err(_) => resource.starts_with("alias/") || (resource.len() >= 32 && resource.chars().all(|c| c.is_ascii_hexdigit() || c == '-')),
    }
}

#[async_trait]
impl ServicePlugin for KmsPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            name: "kms".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: ABI_VERSION,
            services: vec!["kms".into()],
            description: "KMS key policies (policy name default), aliases to key ARNs, safe replay".into(),
            source: PluginSource::Builtin,
        }
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        split_action(action).is_some_and(|(s, _)| s == "kms") && looks_like_key(resource)
    }

    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PluginError::InvalidInput("empty KMS key reference".into()));
        }
        key_arn(ctx, input).await
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy> {
        let (arn, text) = key_policy_text(ctx, resource_arn).await?;
        let policy = text.map(|t| parse_policy(&arn, &t)).transpose()?;
        Ok(FetchedPolicy {
            version_token: version_token(policy.as_ref()),
            resource_arn: arn,
            policy,
            extra: json!({ "policy_name": POLICY_NAME, "rule": KEY_POLICY_RULE }),
            hops: vec![],
        })
    }

    async fn put_policy(&self, ctx: &PluginCtx, resource_arn: &str, policy: &Value, expected: &str) -> Result<String> {
        self.put_policy_text(ctx, resource_arn, &policy.to_string(), expected).await
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        Ok(key_policy_text(ctx, resource_arn).await?.1)
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "key policy")?;
        client(ctx)
            .put_key_policy()
            .key_id(&current.resource_arn)
            .policy_name(POLICY_NAME)
            .policy(text)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("kms:PutKeyPolicy", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, &current.resource_arn).await?.version_token)
    }

    async fn delete_policy(&self, _ctx: &PluginCtx, resource_arn: &str, _expected: &str) -> Result<String> {
        Err(PluginError::Unsupported(format!(
            "{resource_arn}: a KMS key always has a key policy; it cannot be deleted, only put back"
        )))
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome> {
        let _ = allow_write;
        let Some((svc, name)) = split_action(&request.action) else {
            return Err(PluginError::InvalidInput(format!("not an IAM action: {}", request.action)));
        };
        if svc != "kms" {
            return Err(PluginError::InvalidInput(format!("the kms plugin cannot replay {}", request.action)));
        }
        if !READS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Ok(ReplayOutcome::new(
                denyctl_plugin_api::Outcome::NotReplayed {
                    reason: format!("denyctl does not replay kms:{name}; it changes the key or its grants"),
                },
                ReplayMethod::NotReplayed,
                "only KMS calls without side effects are replayed",
            ));
        }
        let key = &request.resource;
        let c = client(ctx);
        let method = ReplayMethod::AsIsRead;
        let o = if action_is(&request.action, "kms", &["Decrypt"]) {
            let Some(blob) = request.params.get("ciphertext_blob_base64").and_then(Value::as_str) else {
                return Ok(ReplayOutcome::new(
                    denyctl_plugin_api::Outcome::NotReplayed {
                        reason: "kms:Decrypt needs a ciphertext: pass params.ciphertext_blob_base64".into(),
                    },
                    ReplayMethod::NotReplayed,
                    "Decrypt can only be replayed on a ciphertext the caller supplies",
                ));
            };
            let bytes = aws_smithy_types::base64::decode(blob)
                .map_err(|e| PluginError::InvalidInput(format!("ciphertext_blob_base64 is not base64: {e}")))?;
            let r = c.decrypt().key_id(key).ciphertext_blob(Blob::new(bytes)).send().await;
            replay_outcome(r, method, format!("kms:Decrypt of the supplied ciphertext with {key}; the plaintext is discarded"))
        } else if action_is(&request.action, "kms", &["Encrypt"]) {
            let r = c.encrypt().key_id(key).plaintext(Blob::new(b"denyctl-replay".to_vec())).send().await;
            replay_outcome(r, method, format!("kms:Encrypt of a fixed 14-byte probe with {key} (no side effect)"))
        } else if action_is(&request.action, "kms", &["GenerateDataKey"]) {
            let r = c.generate_data_key().key_id(key).number_of_bytes(16).send().await;
            replay_outcome(r, method, format!("kms:GenerateDataKey with {key} (no side effect; the data key is discarded)"))
        } else if action_is(&request.action, "kms", &["GenerateDataKeyWithoutPlaintext"]) {
            let r = c.generate_data_key_without_plaintext().key_id(key).number_of_bytes(16).send().await;
            replay_outcome(r, method, format!("kms:GenerateDataKeyWithoutPlaintext with {key} (no side effect)"))
        } else if action_is(&request.action, "kms", &["GetKeyPolicy"]) {
            let r = c.get_key_policy().key_id(key).policy_name(POLICY_NAME).send().await;
            replay_outcome(r, method, format!("kms:GetKeyPolicy on {key}"))
        } else if action_is(&request.action, "kms", &["GetKeyRotationStatus"]) {
            let r = c.get_key_rotation_status().key_id(key).send().await;
            replay_outcome(r, method, format!("kms:GetKeyRotationStatus on {key}"))
        } else if action_is(&request.action, "kms", &["GetPublicKey"]) {
            let r = c.get_public_key().key_id(key).send().await;
            replay_outcome(r, method, format!("kms:GetPublicKey on {key}"))
        } else if action_is(&request.action, "kms", &["ListGrants"]) {
            let r = c.list_grants().key_id(key).limit(1).send().await;
            replay_outcome(r, method, format!("kms:ListGrants on {key}"))
        } else if action_is(&request.action, "kms", &["ListKeyPolicies"]) {
            let r = c.list_key_policies().key_id(key).send().await;
            replay_outcome(r, method, format!("kms:ListKeyPolicies on {key}"))
        } else if action_is(&request.action, "kms", &["ListResourceTags"]) {
            let r = c.list_resource_tags().key_id(key).send().await;
            replay_outcome(r, method, format!("kms:ListResourceTags on {key}"))
        } else {
            let r = c.describe_key().key_id(key).send().await;
            replay_outcome(r, method, format!("kms:DescribeKey on {key}"))
        };
        Ok(o)
    }
}

fn parse_policy(arn: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| PluginError::Aws(format!("the key policy of {arn} is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_kms_actions_on_keys_and_aliases() {
        let p = KmsPlugin;
        assert!(p.handles("kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(p.handles("KMS:GenerateDataKey", "alias/my-key"));
        assert!(p.handles("kms:Decrypt", "1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!p.handles("s3:GetObject", "arn:aws:kms:us-east-1:111122223333:key/x"));
        assert!(!p.handles("kms:Decrypt", "arn:aws:s3:::bucket"));
        assert!(is_key_arn("arn:aws:kms:us-east-1:111122223333:key/abc"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:alias/abc"));
    }
}
