//! denyctl's AWS Secrets Manager plugin: resource policies (written with BlockPublicPolicy),
//! secret name ⇄ ARN (with its random suffix), the secret's KMS key hop, and safe replay.
//! Secret values are read only to prove access and are never kept or printed.

use aws_sdk_secretsmanager::Client;
use denyctl_plugin_api::{
    action_is, async_trait, replay_outcome, split_action, version_token, AwsFailure, FetchedPolicy, Hop, Outcome,
    PluginCtx, PluginError, PluginInfo, PluginSource, ReplayMethod, ReplayOutcome, ReplayRequest, Result,
    ServicePlugin, ABI_VERSION,
};
use denyctl_policy::Arn;
use serde_json::{json, Value};

/// The key Secrets Manager uses when a secret names none.
pub const DEFAULT_KEY: &str = "alias/aws/secretsmanager";

/// The Secrets Manager plugin.
#[derive(Debug, Default, Clone)]
pub struct SecretsManagerPlugin;

/// A Secrets Manager client from the context's configuration.
pub fn client(ctx: &PluginCtx) -> Client {
    Client::new(ctx.sdk())
}

fn check_ref(input: &str) -> Result<&str> {
    let input = input.trim();
    if input.starts_with("arn:") {
        let a = Arn::parse(input).map_err(|e| PluginError::InvalidInput(e.to_string()))?;
        if a.service != "secretsmanager" || !a.resource.starts_with("secret:") {
            return Err(PluginError::InvalidInput(format!("{input} is not a Secrets Manager secret ARN")));
        }
        return Ok(input);
    }
    let valid = !input.is_empty()
        && input.len() <= 512
        && input.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
    if valid {
        Ok(input)
    } else {
        Err(PluginError::InvalidInput(format!("{input} is not a secret ARN or name")))
    }
}

fn not_found_secret(f: AwsFailure, op: &str, id: &str) -> PluginError {
    if f.is_code("ResourceNotFoundException") {
        PluginError::NotFound(format!("{op} on {id}: the secret does not exist"))
    } else {
        f.into_error(op, id)
    }
}

/// The secret's full ARN and KMS key id (DescribeSecret), from a name, partial ARN or ARN.
pub async fn describe(ctx: &PluginCtx, secret: &str) -> Result<(String, Option<String>, Option<String>)> {
    let id = check_ref(secret)?;
    let out = client(ctx)
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| not_found_secret(AwsFailure::from_sdk(&e), "secretsmanager:DescribeSecret", id))?;
    let arn = out
        .arn()
        .map(str::to_string)
        .ok_or_else(|| PluginError::Aws(format!("secretsmanager:DescribeSecret on {id}: no ARN")))?;
    Ok((arn, out.name().map(str::to_string), out.kms_key_id().map(str::to_string)))
}

/// The KMS request reading a secret adds: kms:Decrypt on the secret's key.
pub fn kms_hop(secret_arn: &str, key_arn: &str) -> Hop {
    Hop {
        action: "kms:Decrypt".into(),
        resource: key_arn.into(),
        why: format!("{secret_arn} is encrypted with this KMS key: Secrets Manager decrypts it as the caller"),
        triggered_by: vec!["secretsmanager:GetSecretValue".into()],
    }
}

/// The secret (ARN, name, KMS key) and its resource policy's text as Secrets Manager returns it.
async fn policy_text(ctx: &PluginCtx, resource: &str) -> Result<((String, Option<String>, Option<String>), Option<String>)> {
    let secret = describe(ctx, resource).await?;
    let out = client(ctx)
        .get_resource_policy()
        .secret_id(&secret.0)
        .send()
        .await
        .map_err(|e| not_found_secret(AwsFailure::from_sdk(&e), "secretsmanager:GetResourcePolicy", &secret.0))?;
    let text = out.resource_policy().filter(|t| !t.trim().is_empty()).map(str::to_string);
    Ok((secret, text))
}

#[async_trait]
impl ServicePlugin for SecretsManagerPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            name: "secretsmanager".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: ABI_VERSION,
            services: vec!["secretsmanager".into()],
            description: "Secrets Manager resource policies (BlockPublicPolicy), name to ARN, KMS hop, safe replay".into(),
            source: PluginSource::Builtin,
        }
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        split_action(action).is_some_and(|(s, _)| s == "secretsmanager") && check_ref(resource).is_ok()
    }

    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String> {
        Ok(describe(ctx, input).await?.0)
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy> {
        let ((arn, name, key), text) = policy_text(ctx, resource_arn).await?;
        let policy = text
            .map(|t| serde_json::from_str::<Value>(&t).map_err(|e| PluginError::Aws(format!("the resource policy of {arn} is not JSON: {e}"))))
            .transpose()?;
        let given = key.clone().unwrap_or_else(|| DEFAULT_KEY.to_string());
        let (key_arn, note) = denyctl_plugin_kms::key_arn_or_given(ctx, &given).await;
        let mut extra = json!({ "name": name, "kms_key_id": key, "kms_key_arn": key_arn, "block_public_policy_on_write": true });
        if let Some(n) = note {
            extra["kms_key_note"] = json!(n);
        }
        Ok(FetchedPolicy { version_token: version_token(policy.as_ref()), hops: vec![kms_hop(&arn, &key_arn)], resource_arn: arn, policy, extra })
    }

    async fn put_policy(&self, ctx: &PluginCtx, resource_arn: &str, policy: &Value, expected: &str) -> Result<String> {
        self.put_policy_text(ctx, resource_arn, &policy.to_string(), expected).await
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        Ok(policy_text(ctx, resource_arn).await?.1)
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "resource policy")?;
        client(ctx)
            .put_resource_policy()
            .secret_id(&current.resource_arn)
            .resource_policy(text)
            .block_public_policy(true)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("secretsmanager:PutResourcePolicy", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, &current.resource_arn).await?.version_token)
    }

    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected: &str) -> Result<String> {
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "resource policy")?;
        if current.policy.is_none() {
            return Ok(current.version_token);
        }
        client(ctx)
            .delete_resource_policy()
            .secret_id(&current.resource_arn)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("secretsmanager:DeleteResourcePolicy", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, &current.resource_arn).await?.version_token)
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome> {
        let Some((svc, name)) = split_action(&request.action) else {
            return Err(PluginError::InvalidInput(format!("not an IAM action: {}", request.action)));
        };
        if svc != "secretsmanager" {
            return Err(PluginError::InvalidInput(format!("the secretsmanager plugin cannot replay {}", request.action)));
        }
        let reads = ["GetSecretValue", "DescribeSecret", "GetResourcePolicy", "ListSecretVersionIds"];
        if !reads.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            if !allow_write {
                return Ok(ReplayOutcome::needs_consent(&request.action));
            }
            return Ok(ReplayOutcome::new(
                Outcome::NotReplayed { reason: format!("denyctl has no replay for secretsmanager:{name}") },
                ReplayMethod::NotReplayed,
                "only reads are replayed for Secrets Manager",
            ));
        }
        let id = check_ref(&request.resource)?;
        let c = client(ctx);
        let read = ReplayMethod::AsIsRead;
        let o = if action_is(&request.action, "secretsmanager", &["GetSecretValue"]) {
            // The value is dropped with the response, unread: only allowed/denied is reported.
            let r = c.get_secret_value().secret_id(id).send().await.map(|_| ());
            replay_outcome(r, read, format!("secretsmanager:GetSecretValue on {id} (the value is discarded, never shown)"))
        } else if action_is(&request.action, "secretsmanager", &["GetResourcePolicy"]) {
            replay_outcome(c.get_resource_policy().secret_id(id).send().await, read, format!("secretsmanager:GetResourcePolicy on {id}"))
        } else if action_is(&request.action, "secretsmanager", &["ListSecretVersionIds"]) {
            replay_outcome(c.list_secret_version_ids().secret_id(id).max_results(1).send().await, read, format!("secretsmanager:ListSecretVersionIds on {id}"))
        } else {
            replay_outcome(c.describe_secret().secret_id(id).send().await, read, format!("secretsmanager:DescribeSecret on {id}"))
        };
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert!(check_ref("arn:aws:secretsmanager:us-east-1:111122223333:secret:db/password-AbCdEf").is_ok());
        assert!(check_ref("db/password").is_ok());
        assert!(check_ref("arn:aws:kms:us-east-1:111122223333:key/x").is_err());
        assert!(check_ref("bad name with spaces").is_err());
        let p = SecretsManagerPlugin;
        assert!(p.handles("secretsmanager:GetSecretValue", "db/password"));
        assert!(!p.handles("kms:Decrypt", "db/password"));
    }
}
