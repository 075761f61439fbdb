//! The context a plugin call runs in: the AWS configuration the host chose for it.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::{Deserialize, Serialize};

/// How to build an AWS configuration: what the host sends a dynamic plugin (never credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AwsSettings {
    /// The region (`--region`); the SDK's default chain when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A custom endpoint (a local AWS-compatible server); the SDK's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The named profile (`--profile`); the SDK's default chain when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl AwsSettings {
    /// Loads an SDK configuration from these settings and the SDK's default chains.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(u) = &self.endpoint_url {
            loader = loader.endpoint_url(u.clone());
        }
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p.clone());
        }
        loader.load().await
    }
}

/// The context of one plugin call: an SDK configuration and the settings it came from.
#[derive(Debug, Clone)]
pub struct PluginCtx {
    sdk: SdkConfig,
    settings: AwsSettings,
}

impl PluginCtx {
    /// A context from an SDK configuration the host already has; `profile` is passed on to dynamic plugins.
    pub fn new(sdk: SdkConfig, profile: Option<String>) -> Self {
        let settings = AwsSettings {
            region: sdk.region().map(|r| r.to_string()),
            endpoint_url: sdk.endpoint_url().map(str::to_string),
            profile,
        };
        PluginCtx { sdk, settings }
    }

    /// A context loaded from settings (what a dynamic plugin does with the ABI's `aws` block).
    pub async fn from_settings(settings: AwsSettings) -> Self {
        let sdk = settings.load().await;
        PluginCtx { sdk, settings }
    }

    /// The SDK configuration to build service clients from.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The settings a dynamic plugin rebuilds the configuration from.
    pub fn settings(&self) -> &AwsSettings {
        &self.settings
    }

    /// The region of the configuration, if any.
    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(|r| r.as_ref())
    }
}
