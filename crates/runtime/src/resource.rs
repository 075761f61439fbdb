//! The seam for the resource's own policy (bucket, key, queue, secret policies). Service plugins
//! implement [`ResourcePolicyPlugin`]; with none registered for a service that has resource
//! policies, the resource layer is `unknown` with the call that would read it.

use async_trait::async_trait;
use aws_config::SdkConfig;
use serde_json::Value as Json;

use crate::calls::CallStats;
use crate::error::ReadError;

/// What a plugin gets to fetch with: the operator's SDK configuration and the run's call counter.
pub struct ResourceContext<'a> {
    /// The operator's configuration (credentials, region, endpoint).
    pub config: &'a SdkConfig,
    /// Where the plugin reports its calls (for `-v`).
    pub stats: &'a CallStats,
    /// The wave its first call is in.
    pub wave: usize,
}

/// A resource policy as a plugin read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePolicy {
    /// The name it is reported under (`bucket-policy:prod-artifacts`).
    pub name: String,
    /// The document.
    pub document: Json,
    /// A version token for compare-and-swap (an ETag, a revision id), when the service has one.
    pub version: Option<String>,
    /// The call that read it (`s3:GetBucketPolicy`).
    pub read_by: String,
}

/// A service plugin's resource-policy side.
#[async_trait]
pub trait ResourcePolicyPlugin: Send + Sync {
    /// The plugin's name (`s3`).
    fn name(&self) -> &str;
    /// Whether this plugin reads the policy of `resource` for `action`.
    fn handles(&self, action: &str, resource: &str) -> bool;
    /// Read the policy; `Ok(None)` when the resource has no policy.
    async fn fetch(&self, cx: &ResourceContext<'_>, action: &str, resource: &str) -> Result<Option<ResourcePolicy>, ReadError>;
}

/// The registered plugins.
#[derive(Default)]
pub struct ResourcePlugins {
    plugins: Vec<Box<dyn ResourcePolicyPlugin>>,
}

impl ResourcePlugins {
    /// No plugins (until the service plugins are built).
    pub fn none() -> Self {
        Self::default()
    }

    /// Register a plugin.
    pub fn register(&mut self, p: Box<dyn ResourcePolicyPlugin>) {
        self.plugins.push(p);
    }

    /// The plugin for a request, if any.
    pub fn find(&self, action: &str, resource: &str) -> Option<&dyn ResourcePolicyPlugin> {
        self.plugins.iter().find(|p| p.handles(action, resource)).map(|b| b.as_ref())
    }

    /// Names of the registered plugins.
    pub fn names(&self) -> Vec<&str> {
        self.plugins.iter().map(|p| p.name()).collect()
    }
}

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
