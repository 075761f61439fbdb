//! The resource's own policy (bucket, key, queue, secret policies), read through the service
//! plugins of `denyctl-plugin-api` with the OPERATOR's credentials. The runtime takes the
//! plugin [`Registry`] directly: there is no second plugin abstraction here.
//!
//! - a policy read → the resource layer, with the plugin's version token in `source.version_id`
//!   and its service settings (`extra`: ownership, Block Public Access, encryption) in `source.extra`;
//! - "no policy" → no resource layer (a normal state), with a note;
//! - a failed read (denied, not found, ...) → the resource layer is unknown, naming the call and
//!   the permission that would read it;
//! - no plugin for a service that has resource policies → unknown, naming the call.

use std::sync::Arc;

use aws_config::Region;
use denyctl_eval::{LayerKind, UnknownLayer};
use denyctl_plugin_api::{split_action, FetchedPolicy, Hop, PluginCtx, PluginError, ServicePlugin};
pub use denyctl_plugin_api::Registry;

use crate::sourced::{PolicySource, SourcedPolicy};
use crate::config::Session;
use crate::error::RuntimeError;

/// For a service with resource-based policies: the call and permission that read one.
pub fn resource_policy_reader(service: &str) -> Option<&'static str> {
    Some(match service {
        "s3" => "s3:GetBucketPolicy",
        "kms" => "kms:GetKeyPolicy",
        "sqs" => "sqs:GetQueueAttributes (attribute Policy)",
        "secretsmanager" => "secretsmanager:GetResourcePolicy",
        "sns" => "sns:GetTopicAttributes (attribute Policy)",
        "lambda" => "lambda:GetPolicy",
        "ecr" => "ecr:GetRepositoryPolicy",
        "events" => "events:DescribeEventBus",
        "logs" => "logs:DescribeResourcePolicies",
        "glacier" => "glacier:GetVaultAccessPolicy",
        "backup" => "backup:GetBackupVaultAccessPolicy",
        "dynamodb" => "dynamodb:GetResourcePolicy",
        "kinesis" => "kinesis:GetResourcePolicy",
        "es" => "es:DescribeDomainConfig",
        "elasticfilesystem" => "elasticfilesystem:DescribeFileSystemPolicy",
        "codeartifact" => "codeartifact:GetRepositoryPermissionsPolicy",
        "glue" => "glue:GetResourcePolicy",
        "execute-api" => "apigateway:GET on the REST API's policy",
        _ => return None,
    })
}

/// The name a resource policy is reported under in verdicts.
fn policy_name(service: &str, arn: &str) -> String {
    let what = match service {
        "s3" => "bucket policy",
        "kms" => "key policy",
        "sqs" => "queue policy",
        _ => "resource policy",
    };
    format!("{what} of {arn}")
}

/// The permission a failed plugin read needed: the `service:Operation` its message starts with
/// (plugins report `operation on resource: ...`), else the service's usual reader.
fn permission_of(message: &str, service: &str) -> String {
    let head = message.split_whitespace().next().unwrap_or("");
    match split_action(head) {
        Some((svc, op)) if op.chars().all(|c| c.is_ascii_alphanumeric()) => format!("{svc}:{op}"),
        _ => resource_policy_reader(service).unwrap_or("the plugin's read call").to_string(),
    }
}

/// A plugin's failure to read a resource policy, as the reason of an unknown layer.
fn unknown_reason(e: &PluginError, plugin: &str, service: &str, resource: &str) -> String {
    let via = format!("(read by the {plugin} plugin)");
    match e {
        PluginError::Denied(m) => format!("{m} {via}; reading it needs {}", permission_of(m, service)),
        PluginError::NotFound(m) => format!("{m}: not found {via}"),
        other => format!("the policy of {resource} could not be read {via}: {other}"),
    }
}

/// What reading the resource layer gave.
#[derive(Debug, Default)]
pub(crate) struct ResourceRead {
    /// The policy, when there is one.
    pub policy: Option<SourcedPolicy>,
    /// The layer, when it could not be read.
    pub unknown: Vec<UnknownLayer>,
    /// Things to know ("no resource policy", a key alias that could not be resolved, ...).
    pub notes: Vec<String>,
    /// The hidden hops this request needs (from the plugin).
    pub hops: Vec<Hop>,
}

impl Session {
    /// A plugin context with the operator's configuration, in the region of `resource` when its
    /// ARN names one (a KMS key in another region is read there).
    pub fn operator_plugin_ctx(&self, resource: &str) -> PluginCtx {
        let mut sdk = self.operator.config.clone();
        if let Ok(arn) = denyctl_policy::Arn::parse(resource) {
            let here = sdk.region().map(|r| r.as_ref().to_string());
            if !arn.region.is_empty() && here.as_deref() != Some(arn.region.as_str()) {
                sdk = sdk.into_builder().region(Region::new(arn.region.clone())).build();
            }
        }
        PluginCtx::new(sdk, self.operator.profile.clone())
    }

    /// Turns a resource given as a name, URL or alias into its ARN with the plugin that handles
    /// `action` on it. ARNs and `*` are returned as they are.
    pub async fn normalize_resource(&self, plugins: &Registry, action: &str, input: &str, wave: usize) -> Result<String, RuntimeError> {
        if input == "*" || input.starts_with("arn:") {
            return Ok(input.to_string());
        }
        let Some(p) = plugins.find(action, input) else {
            return Err(RuntimeError::UnresolvedResource(format!(
                "resource {input:?} is not an ARN and no plugin turns it into one for {action}: give the resource's ARN"
            )));
        };
        let name = p.info().name;
        let (res, attempts) = crate::calls::counted(p.normalize_resource(&self.operator_plugin_ctx(input), input)).await;
        self.stats.record_external(&format!("normalize_resource (plugin {name})"), input, wave, if res.is_ok() { "ok" } else { "failed" }, attempts);
        match res {
            Ok(arn) if arn.starts_with("arn:") => Ok(arn),
            Ok(other) => Err(RuntimeError::UnresolvedResource(format!("the {name} plugin turned {input:?} into {other:?}, which is not an ARN"))),
            Err(e) => Err(RuntimeError::UnresolvedResource(format!("resource {input:?}: the {name} plugin could not resolve it to an ARN ({e}); give the resource's ARN"))),
        }
    }

    /// Reads the policy of `resource` with `plugin`, as the operator.
    pub(crate) async fn plugin_resource(&self, plugin: Arc<dyn ServicePlugin>, action: &str, resource: &str, wave: usize) -> ResourceRead {
        let info = plugin.info();
        let service = split_action(action).map(|(s, _)| s).unwrap_or_default();
        let reader = resource_policy_reader(&service).map(str::to_string).unwrap_or_else(|| format!("plugin {}: fetch_policy", info.name));
        let (fetched, attempts) = crate::calls::counted(plugin.fetch_policy(&self.operator_plugin_ctx(resource), resource)).await;
        let label = match &fetched {
            Ok(_) => "ok",
            Err(PluginError::Denied(_)) => "denied",
            Err(PluginError::NotFound(_)) => "not found",
            // Throttling, 5xx, a reset or a timeout that outlasted the retries.
            Err(PluginError::Aws(_)) => crate::calls::UNAVAILABLE,
            Err(_) => "failed",
        };
        self.stats.record_external(&format!("{reader} (plugin {})", info.name), resource, wave, label, attempts);
        let mut out = ResourceRead::default();
        let f: FetchedPolicy = match fetched {
            Ok(f) => f,
            Err(e) => {
                let mut reason = unknown_reason(&e, &info.name, &service, resource);
                if attempts > 1 {
                    reason.push_str(&format!(" (after {attempts} attempts)"));
                }
                out.unknown.push(UnknownLayer { layer: LayerKind::Resource, reason });
                out.notes.push(format!("the hidden hops of {action} on {resource} (e.g. its KMS key) are not known: its settings could not be read"));
                return out;
            }
        };
        let extra = (!f.extra.is_null()).then(|| f.extra.clone());
        for n in key_notes(&f.extra) {
            out.notes.push(n);
        }
        match &f.policy {
            Some(doc) => {
                out.policy = Some(SourcedPolicy {
                    name: policy_name(&service, &f.resource_arn),
                    document: doc.clone(),
                    source: PolicySource {
                        kind: "resource".into(),
                        attached_to: Some(f.resource_arn.clone()),
                        arn: None,
                        policy_id: None,
                        version_id: Some(f.version_token.clone()),
                        read_by: reader,
                        extra,
                    },
                })
            }
            None => {
                let settings = extra.map(|e| format!("; its settings: {e}")).unwrap_or_default();
                out.notes.push(format!(
                    "{} has no resource policy (read by the {} plugin, version token {}){settings}",
                    f.resource_arn, info.name, f.version_token
                ));
            }
        }
        out.hops = plugin.hops(action, resource, &f);
        out
    }
}

/// Notes a plugin left in its settings (a KMS key reference it could not resolve).
fn key_notes(extra: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut visit = |v: &serde_json::Value| {
        if let Some(n) = v.get("kms_key_note").and_then(|n| n.as_str()) {
            out.push(n.to_string());
        }
    };
    visit(extra);
    if let Some(obj) = extra.as_object() {
        obj.values().for_each(&mut visit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_reads_name_the_call_and_permission() {
        let e = PluginError::Denied("s3:GetBucketPolicy on arn:aws:s3:::b: AccessDenied (HTTP 403): Access Denied".into());
        let r = unknown_reason(&e, "s3", "s3", "arn:aws:s3:::b/k");
        assert!(r.contains("s3:GetBucketPolicy on arn:aws:s3:::b") && r.ends_with("reading it needs s3:GetBucketPolicy"), "{r}");
        let e = PluginError::Denied("Access Denied".into());
        assert!(unknown_reason(&e, "sqs", "sqs", "q").ends_with("reading it needs sqs:GetQueueAttributes (attribute Policy)"));
        assert_eq!(policy_name("kms", "arn:k"), "key policy of arn:k");
    }

    #[test]
    fn key_notes_are_found_one_level_down() {
        let v = serde_json::json!({"default_encryption": {"kms_key_note": "could not resolve alias/x"}, "kms_key_note": "top"});
        let n = key_notes(&v);
        assert!(n.contains(&"top".to_string()) && n.contains(&"could not resolve alias/x".to_string()));
    }
}
