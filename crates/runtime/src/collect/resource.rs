//! The resource layer: the trust policy for `sts:AssumeRole*` ([`super::trust`]), a plugin's
//! answer (`crate::resource`), or nothing.

use denyctl_eval::{LayerKind, UnknownLayer};

use crate::config::Session;
use crate::error::RuntimeError;
use crate::resource::{resource_policy_reader, Registry, ResourceRead};

impl Session {
    /// The resource layer: the trust policy for sts:AssumeRole*, a plugin's answer, or nothing.
    pub(super) async fn resource_layer(&self, plugins: &Registry, action: &str, resource: &str, wave: usize) -> Result<ResourceRead, RuntimeError> {
        let lc = action.to_ascii_lowercase();
        if resource == "*" {
            return Ok(ResourceRead::default());
        }
        if lc.starts_with("sts:assumerole") {
            return self.trust_layer(resource, wave).await;
        }
        if let Some(p) = plugins.find(action, resource) {
            return Ok(self.plugin_resource(p, action, resource, wave).await);
        }
        let service = lc.split(':').next().unwrap_or("");
        let mut out = ResourceRead::default();
        if let Some(reader) = resource_policy_reader(service) {
            out.unknown.push(UnknownLayer {
                layer: LayerKind::Resource,
                reason: format!("no plugin is registered to read {service} resource policies; the policy of {resource} would be read with {reader}"),
            });
        }
        Ok(out)
    }
}
