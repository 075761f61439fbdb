//! The contract every denyctl service plugin implements, and the plugin host.
//!
//! A service plugin owns one AWS service's resource policies: which actions and ARNs it
//! handles, how to turn a name, URL or alias into an ARN, how to read the policy (with a
//! version token for compare-and-swap), how to write a changed one, how to replay a denied
//! request safely, and the hidden hops the service adds (an SSE-KMS bucket needs KMS too).
//!
//! Plugins are either built into the binary (any type implementing [`ServicePlugin`]) or
//! shared libraries loaded at run time through a versioned C ABI that exchanges JSON
//! (see [`export_plugin!`], [`DynamicPlugin`] and `docs/plugins.md`). The [`Registry`]
//! holds both and picks the plugin for a request.

mod abi;
mod ctx;
mod error;
mod ffi;
mod registry;
mod sdk;
mod types;

pub use abi::{AbiRequest, AbiResponse, PluginHost};
pub use ctx::{AwsSettings, PluginCtx};
pub use error::PluginError;
pub use ffi::DynamicPlugin;
#[doc(hidden)]
pub use ffi::{__free, __serve};
pub use registry::{discover, plugin_dirs, LoadFailure, Registry, PLUGIN_PATH_ENV};
pub use sdk::{replay_outcome, AwsFailure};
pub use types::{
    canonical_json, version_token, FetchedPolicy, Hop, Outcome, PluginInfo, PluginSource, ReplayMethod,
    ReplayOutcome, ReplayRequest, NO_POLICY_TOKEN,
};

/// Re-exported so plugins use the same `async_trait` as the trait definition.
pub use async_trait::async_trait;

/// The version of the C ABI this crate speaks. Version 2 added `delete_policy` and
/// `fetch_policy_text`/`put_policy_text` (a before-image restored byte for byte).
pub const ABI_VERSION: u32 = 2;

/// The oldest C ABI version still loaded: a version-1 library reads, writes and replays as
/// before, but cannot delete a policy (rollback says so); anything else is skipped.
pub const MIN_ABI_VERSION: u32 = 1;

/// Result type of every plugin operation.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// Splits `service:Action` into the lower-case service prefix and the action name.
pub fn split_action(action: &str) -> Option<(String, &str)> {
    let (svc, name) = action.split_once(':')?;
    (!svc.is_empty() && !name.is_empty()).then(|| (svc.to_ascii_lowercase(), name))
}

/// Whether `action` is `service:name` for one of `names` (case-insensitive).
pub fn action_is(action: &str, service: &str, names: &[&str]) -> bool {
    split_action(action).is_some_and(|(s, n)| s == service && names.iter().any(|x| x.eq_ignore_ascii_case(n)))
}

/// Names of the C symbols a plugin library exports.
pub mod symbols {
    /// `extern "C" fn() -> u32`: the ABI version the library was built for.
    pub const ABI_VERSION: &str = "denyctl_plugin_abi_version";
    /// `extern "C" fn(*const c_char) -> *mut c_char`: one JSON request in, one JSON response out.
    pub const CALL: &str = "denyctl_plugin_call";
    /// `extern "C" fn(*mut c_char)`: frees a response returned by `denyctl_plugin_call`.
    pub const FREE: &str = "denyctl_plugin_free";
}

/// A service plugin: one AWS service's resource policies, replay and hidden hops.
///
/// "No policy" is a normal state (`FetchedPolicy::policy == None`), not an error. Every
/// method that calls AWS takes a [`PluginCtx`] carrying the SDK configuration the host
/// chose (the caller's for replay, the operator's for reads and writes).
#[async_trait]
pub trait ServicePlugin: Send + Sync {
    /// Name, version, ABI version, services covered and origin of the plugin.
    fn info(&self) -> PluginInfo;

    /// Whether this plugin handles `action` (e.g. `s3:PutObject`) on `resource` (an ARN, or a name/URL it can normalize).
    fn handles(&self, action: &str, resource: &str) -> bool;

    /// Turns a name, URL or alias into the ARN of the resource whose policy governs it.
    async fn normalize_resource(&self, ctx: &PluginCtx, input: &str) -> Result<String>;

    /// Reads the resource policy (none is a normal state), its version token, extra settings and hops.
    async fn fetch_policy(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<FetchedPolicy>;

    /// Writes `policy` if the current version token still equals `expected_version_token`; returns the new token.
    async fn put_policy(
        &self,
        ctx: &PluginCtx,
        resource_arn: &str,
        policy: &serde_json::Value,
        expected_version_token: &str,
    ) -> Result<String>;

    /// The policy's text exactly as the service returns it (`None`: no policy, or the plugin
    /// cannot tell; the host then uses the document). Rollback writes this text back.
    async fn fetch_policy_text(&self, ctx: &PluginCtx, resource_arn: &str) -> Result<Option<String>> {
        let _ = (ctx, resource_arn);
        Ok(None)
    }

    /// Writes `text` verbatim (a before-image, byte for byte) if the current version token still
    /// equals `expected_version_token`; returns the new token. By default the text is parsed and
    /// written with [`ServicePlugin::put_policy`].
    async fn put_policy_text(&self, ctx: &PluginCtx, resource_arn: &str, text: &str, expected_version_token: &str) -> Result<String> {
        let policy: serde_json::Value =
            serde_json::from_str(text).map_err(|e| PluginError::InvalidInput(format!("the policy text is not JSON: {e}")))?;
        self.put_policy(ctx, resource_arn, &policy, expected_version_token).await
    }

    /// Deletes the resource policy (leaving "no policy") if the current version token still
    /// equals `expected_version_token`; returns [`NO_POLICY_TOKEN`]. Only called by rollback, with
    /// the user's consent, for a policy that a fix created. A service whose resources always
    /// have a policy (KMS keys) answers `Unsupported`.
    async fn delete_policy(&self, ctx: &PluginCtx, resource_arn: &str, expected_version_token: &str) -> Result<String> {
        let _ = (ctx, expected_version_token);
        Err(PluginError::Unsupported(format!("the {} plugin cannot delete the policy of {resource_arn}", self.info().name)))
    }

    /// Replays `request` as the identity in `ctx`: reads as they are, writes only when `allow_write`.
    async fn replay(&self, ctx: &PluginCtx, request: &ReplayRequest, allow_write: bool) -> Result<ReplayOutcome>;

    /// The follow-on requests (hidden hops) that `action` on `resource_arn` needs, from a fetched policy.
    fn hops(&self, action: &str, resource_arn: &str, fetched: &FetchedPolicy) -> Vec<Hop> {
        let _ = resource_arn;
        fetched.hops.iter().filter(|h| h.applies_to(action)).cloned().collect()
    }
}
