//! The four service plugins that ship inside denyctl, and the full registry (built-in plugins
//! first, then the libraries found on the plugin path).

use std::sync::Arc;

use denyctl_plugin_api::{Registry, ServicePlugin};

pub use denyctl_plugin_kms::KmsPlugin;
pub use denyctl_plugin_s3::S3Plugin;
pub use denyctl_plugin_secretsmanager::SecretsManagerPlugin;
pub use denyctl_plugin_sqs::SqsPlugin;

/// The built-in plugins: S3, KMS, SQS and Secrets Manager.
pub fn builtin_plugins() -> Vec<Arc<dyn ServicePlugin>> {
    vec![Arc::new(S3Plugin), Arc::new(KmsPlugin), Arc::new(SqsPlugin), Arc::new(SecretsManagerPlugin)]
}

/// A registry of the built-in plugins only.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    for p in builtin_plugins() {
        // Built-in names are distinct, so adding cannot fail.
        let _ = r.add(p);
    }
    r
}

/// The built-in plugins, then every library on the plugin path (`$DENYCTL_PLUGIN_PATH`, `~/.denyctl/plugins`).
pub fn registry() -> Registry {
    let mut r = builtin_registry();
    r.load_plugin_path();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_builtins_route_requests() {
        let r = builtin_registry();
        let names: Vec<String> = r.list().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["s3", "kms", "sqs", "secretsmanager"]);
        let pick = |a: &str, res: &str| r.for_request(a, res).map(|p| p.info().name);
        assert_eq!(pick("s3:PutObject", "arn:aws:s3:::b/k").as_deref(), Some("s3"));
        assert_eq!(pick("kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k").as_deref(), Some("kms"));
        assert_eq!(pick("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q").as_deref(), Some("sqs"));
        assert_eq!(pick("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:s-AbCdEf").as_deref(), Some("secretsmanager"));
        assert!(pick("ec2:RunInstances", "arn:aws:ec2:us-east-1:111122223333:instance/i-1").is_none());
        assert!(r.failures().is_empty());
    }
}
