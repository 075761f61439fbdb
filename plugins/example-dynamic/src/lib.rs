//! An example of a plugin loaded at run time: the SQS plugin under the name `example-sqs`,
//! exported through denyctl's C ABI. Build it with `cargo build -p denyctl-plugin-example-dynamic`
//! and copy `target/debug/libdenyctl_plugin_example_dynamic.so` into a plugin directory.
//! It is also the complete example of docs/plugins.md.

use denyctl_plugin_api::{
    async_trait, export_plugin, FetchedPolicy, Hop, PluginCtx, PluginInfo, ReplayOutcome, ReplayRequest, Result,
    ServicePlugin, ABI_VERSION,
};
use denyctl_plugin_sqs::SqsPlugin;
use serde_json::Value;

/// The SQS plugin, renamed so it can be listed next to the built-in one.
#[derive(Default)]
pub struct ExampleSqs(SqsPlugin);

#[async_trait]
impl ServicePlugin for ExampleSqs {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            name: "example-sqs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            abi_version: ABI_VERSION,
            services: vec!["sqs".into()],
            description: "example dynamic plugin: the SQS plugin loaded through the C ABI".into(),
            source: Default::default(),
        }
    }

    fn handles(&self, action: &str, resource: &str) -> bool {
        self.0.handles(action, resource)
    }

    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String> {
        self.0.normalize_resource(ctx, input).await
    }

    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy> {
        self.0.fetch_policy(ctx, resource_arn).await
    }

    async fn put_policy(&self, ctx: &PluginCtx, resource_arn: &str, policy: &Value, expected: &str) -> Result<String> {
        self.0.put_policy(ctx, resource_arn, policy, expected).await
    }

    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        self.0.fetch_policy_text(ctx, resource_arn).await
    }

    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected: &str) -> Result<String> {
        self.0.put_policy_text(ctx, resource_arn, text, expected).await
    }

    /// ABI 2: rollback deletes a queue policy that a fix created (compare-and-swap on the token).
    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected: &str) -> Result<String> {
        self.0.delete_policy(ctx, resource_arn, expected).await
    }

    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome> {
        self.0.replay(ctx, request, allow_write).await
    }

    fn hops(&self, action: &str, resource_arn: &str, fetched: &FetchedPolicy) -> Vec<Hop> {
        self.0.hops(action, resource_arn, fetched)
    }
}

export_plugin!(ExampleSqs::default());
