//! The JSON shapes of the C ABI, and the plugin-side dispatcher behind [`crate::export_plugin!`].
//!
//! Request: `{"op": "...", ...arguments, "aws": {"region", "endpoint_url", "profile"}}`.
//! Response: `{"ok": <result>}` or `{"error": "<message>", "kind": "<PluginError kind>"}`.
//! No Rust type crosses the boundary, only these UTF-8, NUL-terminated JSON strings.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AwsSettings, FetchedPolicy, PluginCtx, PluginError, ReplayRequest, ServicePlugin};

/// One call over the C ABI, tagged by `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AbiRequest {
    /// `{"op":"info"}` → `PluginInfo`.
    Info,
    /// `{"op":"handles","action","resource"}` → `bool`.
    Handles {
        /// The IAM action.
        action: String,
        /// The ARN or name.
        resource: String,
    },
    /// `{"op":"normalize_resource","input","aws"}` → ARN string.
    NormalizeResource {
        /// A name, URL, alias or ARN.
        input: String,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"fetch_policy","resource","aws"}` → `FetchedPolicy`.
    FetchPolicy {
        /// The resource ARN.
        resource: String,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"put_policy","resource","policy","expected_version_token","aws"}` → new token string.
    PutPolicy {
        /// The resource ARN.
        resource: String,
        /// The new policy document.
        policy: Value,
        /// The token the policy was read with.
        expected_version_token: String,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"fetch_policy_text","resource","aws"}` → the policy's text or null (ABI 2).
    FetchPolicyText {
        /// The resource ARN.
        resource: String,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"put_policy_text","resource","text","expected_version_token","aws"}` → new token (ABI 2).
    PutPolicyText {
        /// The resource ARN.
        resource: String,
        /// The policy text, written verbatim.
        text: String,
        /// The token the policy was read with.
        expected_version_token: String,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"delete_policy","resource","expected_version_token","consent":true,"aws"}` → `"none"` (ABI 2).
    /// Refused without `"consent": true`: the host sets it only after the user agreed to the delete.
    DeletePolicy {
        /// The resource ARN.
        resource: String,
        /// The token the policy was read with.
        expected_version_token: String,
        /// The user agreed to delete this policy.
        #[serde(default)]
        consent: bool,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"replay","request":{"action","resource","params"},"allow_write","aws"}` → `ReplayOutcome`.
    Replay {
        /// The request to replay.
        request: ReplayRequest,
        /// Whether a mutating action may be replayed for real.
        #[serde(default)]
        allow_write: bool,
        /// How to build the SDK configuration.
        #[serde(default)]
        aws: AwsSettings,
    },
    /// `{"op":"hops","action","resource","fetched"}` → `[Hop]`.
    Hops {
        /// The IAM action.
        action: String,
        /// The resource ARN.
        resource: String,
        /// The policy as fetched.
        fetched: FetchedPolicy,
    },
}

/// The answer to one call: `{"ok": ...}` or `{"error": "...", "kind": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AbiResponse {
    /// The operation's result.
    Ok {
        /// The result value.
        ok: Value,
    },
    /// The operation failed.
    Error {
        /// The message (one line).
        error: String,
        /// The [`PluginError::kind`], when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
}

impl AbiResponse {
    /// A response from an operation's result.
    pub fn from_result(r: Result<Value, PluginError>) -> Self {
        match r {
            Ok(ok) => AbiResponse::Ok { ok },
            Err(e) => AbiResponse::Error { error: e.to_string(), kind: Some(e.kind().to_string()) },
        }
    }

    /// The JSON text of this response.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!(r#"{{"error":"cannot serialize the response: {e}"}}"#))
    }
}

/// The plugin side of the ABI: a plugin, its own tokio runtime, and SDK configurations by settings.
pub struct PluginHost {
    plugin: Box<dyn ServicePlugin>,
    runtime: tokio::runtime::Runtime,
    contexts: Mutex<HashMap<AwsSettings, PluginCtx>>,
}

impl PluginHost {
    /// Wraps a plugin with a current-thread runtime of its own.
    pub fn new(plugin: Box<dyn ServicePlugin>) -> Result<Self, PluginError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PluginError::Plugin { plugin: plugin.info().name, message: format!("cannot start a runtime: {e}") })?;
        Ok(PluginHost { plugin, runtime, contexts: Mutex::new(HashMap::new()) })
    }

    /// Handles one JSON request and returns the JSON response (never fails: errors are responses).
    pub fn handle_json(&self, request: &str) -> String {
        let response = match serde_json::from_str::<AbiRequest>(request) {
            Ok(req) => AbiResponse::from_result(self.runtime.block_on(self.dispatch(req))),
            Err(e) => AbiResponse::Error { error: format!("bad request: {e}"), kind: Some("invalid_input".into()) },
        };
        response.to_json()
    }

    async fn ctx(&self, settings: AwsSettings) -> PluginCtx {
        if let Some(c) = self.contexts.lock().ok().and_then(|m| m.get(&settings).cloned()) {
            return c;
        }
        let ctx = PluginCtx::from_settings(settings.clone()).await;
        if let Ok(mut m) = self.contexts.lock() {
            m.insert(settings, ctx.clone());
        }
        ctx
    }

    async fn dispatch(&self, req: AbiRequest) -> Result<Value, PluginError> {
        let p = &*self.plugin;
        let v = match req {
            AbiRequest::Info => to_value(p.info())?,
            AbiRequest::Handles { action, resource } => Value::Bool(p.handles(&action, &resource)),
            AbiRequest::NormalizeResource { input, aws } => Value::String(p.normalize_resource(&self.ctx(aws).await, &input).await?),
            AbiRequest::FetchPolicy { resource, aws } => to_value(p.fetch_policy(&self.ctx(aws).await, &resource).await?)?,
            AbiRequest::PutPolicy { resource, policy, expected_version_token, aws } => {
                Value::String(p.put_policy(&self.ctx(aws).await, &resource, &policy, &expected_version_token).await?)
            }
            AbiRequest::FetchPolicyText { resource, aws } => to_value(p.fetch_policy_text(&self.ctx(aws).await, &resource).await?)?,
            AbiRequest::PutPolicyText { resource, text, expected_version_token, aws } => {
                Value::String(p.put_policy_text(&self.ctx(aws).await, &resource, &text, &expected_version_token).await?)
            }
            AbiRequest::DeletePolicy { consent: false, resource, .. } => {
                return Err(PluginError::InvalidInput(format!("delete_policy of {resource} without consent: refused")));
            }
            AbiRequest::DeletePolicy { resource, expected_version_token, aws, .. } => {
                Value::String(p.delete_policy(&self.ctx(aws).await, &resource, &expected_version_token).await?)
            }
            AbiRequest::Replay { request, allow_write, aws } => to_value(p.replay(&self.ctx(aws).await, &request, allow_write).await?)?,
            AbiRequest::Hops { action, resource, fetched } => to_value(p.hops(&action, &resource, &fetched))?,
        };
        Ok(v)
    }
}

fn to_value<T: Serialize>(t: T) -> Result<Value, PluginError> {
    serde_json::to_value(t).map_err(|e| PluginError::Plugin { plugin: "?".into(), message: format!("cannot serialize: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_shapes() {
        let r: AbiRequest = serde_json::from_value(json!({"op": "fetch_policy", "resource": "arn:aws:sqs:us-east-1:1:q",
            "aws": {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:5000"}})).unwrap();
        assert!(matches!(r, AbiRequest::FetchPolicy { ref aws, .. } if aws.profile.is_none() && aws.region.as_deref() == Some("us-east-1")));
        let r: AbiRequest = serde_json::from_value(json!({"op": "info"})).unwrap();
        assert_eq!(r, AbiRequest::Info);
        assert_eq!(serde_json::to_value(AbiRequest::Info).unwrap(), json!({"op": "info"}));
    }

    #[test]
    fn response_shapes() {
        let ok = AbiResponse::from_result(Ok(json!(true)));
        assert_eq!(ok.to_json(), r#"{"ok":true}"#);
        let err = AbiResponse::from_result(Err(PluginError::Conflict("changed".into())));
        assert_eq!(err.to_json(), r#"{"error":"changed","kind":"conflict"}"#);
        let back: AbiResponse = serde_json::from_str(r#"{"error":"x"}"#).unwrap();
        assert_eq!(back, AbiResponse::Error { error: "x".into(), kind: None });
    }
}
