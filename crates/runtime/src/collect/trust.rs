//! The resource layer of `sts:AssumeRole*`: the role's trust policy, read with IAM GetRole.

use denyctl_eval::LayerKind;

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;
use crate::resource::ResourceRead;
use crate::sourced::{PolicySource, SourcedPolicy};

/// The last `/`-separated segment of an IAM resource name (the entity name without its path).
fn entity_name(resource: &str) -> &str {
    resource.rsplit('/').next().unwrap_or(resource)
}

impl Session {
    /// The trust policy of the role `resource` names, as the resource layer.
    pub(super) async fn trust_layer(&self, resource: &str, wave: usize) -> Result<ResourceRead, RuntimeError> {
        let name = entity_name(resource);
        let mut out = ResourceRead::default();
        match self.role(name, wave).await {
            Ok(r) => match r.trust {
                Ok(doc) => {
                    out.policy = Some(SourcedPolicy {
                        name: format!("trust policy of {}", r.arn),
                        document: doc,
                        source: PolicySource { kind: "trust".into(), attached_to: Some(r.arn.clone()), arn: None, policy_id: None, version_id: None, read_by: "iam:GetRole".into(), extra: None },
                    })
                }
                Err(e) => out.unknown.push(e.unknown(LayerKind::Resource)),
            },
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Read(e)) => out.unknown.push(e.unknown(LayerKind::Resource)),
        }
        Ok(out)
    }
}
