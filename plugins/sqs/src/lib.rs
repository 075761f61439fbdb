//! denyctl's Amazon SQS plugin: queue policies, queue URL ⇄ ARN, SSE-KMS hops, and safe replay.

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use denyctl_plugin_api::{
    action_is, async_trait, replay_outcome, split_action, version_token, AwsFailure, FetchedPolicy, Hop, Outcome,
    PluginCtx, PluginError, PluginInfo, PluginSource, ReplayMethod, ReplayOutcome, ReplayRequest, Result,
    ServicePlugin, ABI_VERSION,
};
use denyctl_policy::Arn;
use serde_json::{json, Value};

/// The SQS plugin.
#[derive(Debug, Default, Clone)]
pub struct SqsPlugin;

/// An SQS client from the context's configuration.
pub fn client(ctx: &PluginCtx) -> Client {
    Client::new(ctx.sdk())
}

/// A queue reference as given: an ARN, a queue URL, or a bare name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRef {
    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    Arn {
        /// The ARN.
        arn: String,
        /// The account.
        account: String,
        /// The queue name.
        name: String,
    },
    /// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` (or any endpoint's URL of that shape).
    Url(String),
    /// A queue name in the context's account and region.
    Name(String),
}

impl QueueRef {
    /// Parses an ARN, a URL or a name.
    pub fn parse(input: &str) -> Result<Self> {
        let input = input.trim();
        if input.starts_with("arn:") {
            let a = Arn::parse(input).map_err(|e| PluginError::InvalidInput(e.to_string()))?;
            if a.service != "sqs" || a.resource.contains('/') || a.resource.contains(':') {
                return Err(PluginError::InvalidInput(format!("{input} is not an SQS queue ARN")));
            }
            return Ok(QueueRef::Arn { arn: input.to_string(), account: a.account, name: a.resource });
        }
        if input.starts_with("https://") || input.starts_with("http://") {
            let path: Vec<&str> = input.splitn(4, '/').nth(3).unwrap_or("").split('/').filter(|s| !s.is_empty()).collect();
            if path.len() == 2 {
                return Ok(QueueRef::Url(input.to_string()));
            }
            return Err(PluginError::InvalidInput(format!("{input} is not a queue URL (expected .../ACCOUNT/QUEUE)")));
        }
        let valid = !input.is_empty() && input.len() <= 80 && input.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if valid {
            Ok(QueueRef::Name(input.to_string()))
        } else {
            Err(PluginError::InvalidInput(format!("{input} is not an SQS queue ARN, URL or name")))
        }
    }
}

/// The queue URL of a reference (GetQueueUrl for ARNs and names).
pub async fn queue_url(ctx: &PluginCtx, q: &QueueRef) -> Result<String> {
    let (name, account, label) = match q {
        QueueRef::Url(u) => return Ok(u.clone()),
        QueueRef::Arn { arn, account, name } => (name.clone(), Some(account.clone()), arn.clone()),
        QueueRef::Name(n) => (n.clone(), None, n.clone()),
    };
    let out = client(ctx)
        .get_queue_url()
        .queue_name(&name)
        .set_queue_owner_aws_account_id(account)
        .send()
        .await
        .map_err(|e| not_found_queue(AwsFailure::from_sdk(&e), "sqs:GetQueueUrl", &label))?;
    out.queue_url().map(str::to_string).ok_or_else(|| PluginError::Aws(format!("sqs:GetQueueUrl on {label}: no URL")))
}

/// The body of the one message a consented sqs:SendMessage replay sends.
const PROBE_BODY: &str = r#"{"denyctl":"replay probe: safe to discard"}"#;

/// The queue URL for replaying as the caller: derived from an ARN without any call (the caller
/// may lack sqs:GetQueueUrl, and the replay must test only the denied action), else as given or
/// looked up by name.
pub async fn replay_url(ctx: &PluginCtx, q: &QueueRef) -> Result<String> {
    if let QueueRef::Arn { arn, account, name } = q {
        let a = Arn::parse(arn).map_err(|e| PluginError::InvalidInput(e.to_string()))?;
        let base = match ctx.settings().endpoint_url.as_deref() {
            Some(ep) => ep.trim_end_matches('/').to_string(),
            None => {
                let suffix = if a.partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
                format!("https://sqs.{}.{suffix}", a.region)
            }
        };
        return Ok(format!("{base}/{account}/{name}"));
    }
    queue_url(ctx, q).await
}

fn not_found_queue(f: AwsFailure, op: &str, label: &str) -> PluginError {
    if f.is_code("NonExistentQueue") || f.is_code("QueueDoesNotExist") {
        PluginError::NotFound(format!("{op} on {label}: the queue does not exist"))
    } else {
        f.into_error(op, label)
    }
}

async fn attributes(ctx: &PluginCtx, url: &str, names: &[QueueAttributeName]) -> Result<std::collections::HashMap<QueueAttributeName, String>> {
    let out = client(ctx)
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| not_found_queue(AwsFailure::from_sdk(&e), "sqs:GetQueueAttributes", url))?;
    Ok(out.attributes().cloned().unwrap_or_default())
}

/// The KMS requests an SSE-KMS queue adds: GenerateDataKey and Decrypt to send, Decrypt to receive.
pub fn sse_kms_hops(queue_arn: &str, key_arn: &str) -> Vec<Hop> {
    vec![
        Hop {
            action: "kms:GenerateDataKey".into(),
            resource: key_arn.into(),
            why: format!("{queue_arn} is encrypted with SSE-KMS: sending asks KMS for a data key as the caller"),
            triggered_by: vec!["sqs:SendMessage".into()],
        },
        Hop {
            action: "kms:Decrypt".into(),
            resource: key_arn.into(),
            why: format!("{queue_arn} is encrypted with SSE-KMS: SQS decrypts the data key as the caller (send and receive)"),
            triggered_by: vec!["sqs:SendMessage".into(), "sqs:ReceiveMessage".into()],
        },
    ]
}

fn is_fifo(url: &str) -> bool {
    url.ends_with(".fifo")
}

impl SqsPlugin {
    /// Compare-and-swap, then SetQueueAttributes Policy = `text` (empty: no policy).
    async fn set_policy_attribute(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        let current = self.fetch_policy(ctx, resource_arn).await?.expect_token(expected, "queue policy")?;
        let url = current.extra["queue_url"].as_str().unwrap_or_default().to_string();
        client(ctx)
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::Policy, text)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).into_error("sqs:SetQueueAttributes", &current.resource_arn))?;
        Ok(self.fetch_policy(ctx, &current.resource_arn).await?.version_token)
    }
}

#[async_trait]
impl ServicePlugin for SqsPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            name: "sqs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: ABI_VERSION,
            services: vec!["sqs".into()],
            description: "SQS queue policies, queue URL to ARN, SSE-KMS hops, safe replay".into(),
            source: PluginSource::Builtin,
        }
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        split_action(action).is_some_and(|(s, _)| s == "sqs") && QueueRef::parse(resource).is_ok()
    }

    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String> {
        let q = QueueRef::parse(input)?;
        if let QueueRef::Arn { arn, .. } = &q {
            return Ok(arn.clone());
        }
        let url = queue_url(ctx, &q).await?;
        attributes(ctx, &url, &[QueueAttributeName::QueueArn])
            .await?
            .remove(&QueueAttributeName::QueueArn)
            .ok_or_else(|| PluginError::Aws(format!("sqs:GetQueueAttributes on {url}: no QueueArn")))
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy> {
        let url = queue_url(ctx, &QueueRef::parse(resource_arn)?).await?;
        let mut attrs = attributes(
            ctx,
            &url,
            &[QueueAttributeName::Policy, QueueAttributeName::QueueArn, QueueAttributeName::KmsMasterKeyId, QueueAttributeName::SqsManagedSseEnabled],
        )
        .await?;
        let arn = attrs.remove(&QueueAttributeName::QueueArn).unwrap_or_else(|| resource_arn.to_string());
        let policy = match attrs.remove(&QueueAttributeName::Policy) {
            Some(t) if !t.trim().is_empty() => {
                Some(serde_json::from_str::<Value>(&t).map_err(|e| PluginError::Aws(format!("the queue policy of {arn} is not JSON: {e}")))?)
            }
            _ => None,
        };
        let mut extra = json!({
            "queue_url": url,
            "sqs_managed_sse": attrs.get(&QueueAttributeName::SqsManagedSseEnabled).map(|v| v == "true").unwrap_or(false),
            "kms_master_key_id": Value::Null,
        });
        let mut hops = vec![];
        if let Some(key) = attrs.remove(&QueueAttributeName::KmsMasterKeyId).filter(|k| !k.is_empty()) {
            let (key_arn, note) = denyctl_plugin_kms::key_arn_or_given(ctx, &key).await;
            extra["kms_master_key_id"] = json!(key);
            extra["kms_key_arn"] = json!(key_arn);
            if let Some(n) = note {
                extra["kms_key_note"] = json!(n);
            }
            hops = sse_kms_hops(&arn, &key_arn);
        }
        Ok(FetchedPolicy { version_token: version_token(policy.as_ref()), resource_arn: arn, policy, extra, hops })
    }

    async fn put_policy(&self, ctx: &PluginCtx, resource_arn: &str, policy: &Value, expected: &str) -> Result<String> {
        self.put_policy_text(ctx, resource_arn, &policy.to_string(), expected).await
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        let url = queue_url(ctx, &QueueRef::parse(resource_arn)?).await?;
        let mut attrs = attributes(ctx, &url, &[QueueAttributeName::Policy]).await?;
        Ok(attrs.remove(&QueueAttributeName::Policy).filter(|t| !t.trim().is_empty()))
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        self.set_policy_attribute(ctx, resource_arn, text, expected).await
    }

    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected: &str) -> Result<String> {
        // SQS removes a queue's policy when the Policy attribute is set to the empty string.
        self.set_policy_attribute(ctx, resource_arn, "", expected).await
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome> {
        let Some((svc, name)) = split_action(&request.action) else {
            return Err(PluginError::InvalidInput(format!("not an IAM action: {}", request.action)));
        };
        if svc != "sqs" {
            return Err(PluginError::InvalidInput(format!("the sqs plugin cannot replay {}", request.action)));
        }
        let is_read = ["ReceiveMessage", "GetQueueAttributes", "GetQueueUrl", "ListQueueTags", "ListDeadLetterSourceQueues"]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name));
        if !is_read && !allow_write {
            if action_is(&request.action, "sqs", &["SendMessage"]) {
                return Ok(ReplayOutcome::needs_consent_to(
                    &request.action,
                    format!("sqs:SendMessage of one message {PROBE_BODY} to {} (consumers of the queue will receive it)", request.resource),
                ));
            }
            return Ok(ReplayOutcome::needs_consent(&request.action));
        }
        let url = replay_url(ctx, &QueueRef::parse(&request.resource)?).await?;
        let c = client(ctx);
        let read = ReplayMethod::AsIsRead;
        let o = if action_is(&request.action, "sqs", &["SendMessage"]) {
            let mut q = c.send_message().queue_url(&url).message_body(PROBE_BODY);
            if is_fifo(&url) {
                let id = format!("denyctl-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
                q = q.message_group_id("denyctl-replay").message_deduplication_id(id);
            }
            replay_outcome(q.send().await, ReplayMethod::ConsentedWrite, format!("sqs:SendMessage of one probe message to {url} (consented)"))
        } else if !is_read {
            ReplayOutcome::new(
                Outcome::NotReplayed { reason: format!("denyctl has no replay for sqs:{name}") },
                ReplayMethod::NotReplayed,
                "only sqs:SendMessage and reads are replayed",
            )
        } else if action_is(&request.action, "sqs", &["ReceiveMessage"]) {
            let r = c.receive_message().queue_url(&url).max_number_of_messages(1).visibility_timeout(0).wait_time_seconds(0).send().await;
            replay_outcome(
                r,
                read,
                format!("sqs:ReceiveMessage of at most 1 message from {url} with visibility timeout 0, not deleted, body discarded (a received message's receive count still goes up)"),
            )
        } else if action_is(&request.action, "sqs", &["GetQueueUrl"]) {
            let n = url.rsplit('/').next().unwrap_or_default().to_string();
            replay_outcome(c.get_queue_url().queue_name(n).send().await, read, format!("sqs:GetQueueUrl for {url}"))
        } else if action_is(&request.action, "sqs", &["ListQueueTags"]) {
            replay_outcome(c.list_queue_tags().queue_url(&url).send().await, read, format!("sqs:ListQueueTags on {url}"))
        } else if action_is(&request.action, "sqs", &["ListDeadLetterSourceQueues"]) {
            replay_outcome(c.list_dead_letter_source_queues().queue_url(&url).send().await, read, format!("sqs:ListDeadLetterSourceQueues on {url}"))
        } else {
            let r = c.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await;
            replay_outcome(r, read, format!("sqs:GetQueueAttributes (QueueArn) on {url}"))
        };
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arns_urls_and_names() {
        assert!(matches!(QueueRef::parse("arn:aws:sqs:us-east-1:111122223333:orders").unwrap(), QueueRef::Arn { ref name, .. } if name == "orders"));
        assert!(matches!(QueueRef::parse("https://sqs.us-east-1.amazonaws.com/111122223333/orders").unwrap(), QueueRef::Url(_)));
        assert!(matches!(QueueRef::parse("http://127.0.0.1:5000/123456789012/q.fifo").unwrap(), QueueRef::Url(_)));
        assert!(matches!(QueueRef::parse("orders").unwrap(), QueueRef::Name(_)));
        assert!(QueueRef::parse("https://example.com/").is_err());
        assert!(QueueRef::parse("arn:aws:s3:::b").is_err());
        assert!(QueueRef::parse("bad name").is_err());
    }

    #[test]
    fn handles_only_sqs() {
        let p = SqsPlugin;
        assert!(p.handles("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:orders"));
        assert!(!p.handles("s3:GetObject", "arn:aws:sqs:us-east-1:111122223333:orders"));
    }
}
