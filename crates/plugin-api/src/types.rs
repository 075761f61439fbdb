//! The data that crosses the plugin contract (and, as JSON, the C ABI).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The version token of a resource that has no policy.
pub const NO_POLICY_TOKEN: &str = "none";

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Unique name (`s3`, `kms`, ...); the first plugin with a name wins.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// The C ABI version it was built for ([`crate::ABI_VERSION`] for built-in plugins).
    pub abi_version: u32,
    /// The IAM service prefixes it covers (`s3`, `sqs`, ...).
    pub services: Vec<String>,
    /// One line on what it does.
    #[serde(default)]
    pub description: String,
    /// Where it came from (filled in by the host, not by the plugin).
    #[serde(default)]
    pub source: PluginSource,
}

/// Where a plugin came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PluginSource {
    /// Compiled into the denyctl binary.
    #[default]
    Builtin,
    /// A shared library loaded at run time.
    Library {
        /// The library's path.
        path: PathBuf,
    },
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin => f.write_str("builtin"),
            PluginSource::Library { path } => write!(f, "{}", path.display()),
        }
    }
}

/// A follow-on request that the original one needs (e.g. kms:GenerateDataKey for an SSE-KMS bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// The IAM action of the follow-on request.
    pub action: String,
    /// The ARN it is made on.
    pub resource: String,
    /// Why it is needed, in one sentence.
    pub why: String,
    /// The actions on the original resource that trigger it (empty: every action).
    #[serde(default)]
    pub triggered_by: Vec<String>,
}

impl Hop {
    /// Whether `action` (case-insensitive) triggers this hop.
    pub fn applies_to(&self, action: &str) -> bool {
        self.triggered_by.is_empty() || self.triggered_by.iter().any(|a| a.eq_ignore_ascii_case(action))
    }
}

/// A resource policy as read, with what is needed to write it back safely.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FetchedPolicy {
    /// The ARN of the resource whose policy this is.
    pub resource_arn: String,
    /// The policy document; `None` when the resource has no policy (a normal state).
    pub policy: Option<Value>,
    /// ETag, revision, or `sha256:` of the canonical document; [`NO_POLICY_TOKEN`] when there is none.
    pub version_token: String,
    /// Service settings that change evaluation (S3 ownership, Block Public Access, encryption, ...).
    #[serde(default)]
    pub extra: Value,
    /// Hidden hops of this resource, each naming the actions that trigger it.
    #[serde(default)]
    pub hops: Vec<Hop>,
}

impl FetchedPolicy {
    /// Compare-and-swap: this policy, if its token is still `expected`; else
    /// [`crate::PluginError::Conflict`] naming `what` (`bucket policy`, `key policy`, ...).
    pub fn expect_token(self, expected: &str, what: &str) -> Result<Self, crate::PluginError> {
        if self.version_token != expected {
            return Err(crate::PluginError::Conflict(format!(
                "the {what} of {} changed since it was read (expected {expected}, found {}): read it again and re-plan",
                self.resource_arn, self.version_token
            )));
        }
        Ok(self)
    }
}

/// A request to replay as the identity in the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The IAM action, e.g. `s3:GetObject`.
    pub action: String,
    /// The ARN (or name/URL the plugin can normalize) of the resource.
    pub resource: String,
    /// Action-specific parameters, e.g. `{"ciphertext_blob_base64": "..."}` for kms:Decrypt.
    #[serde(default)]
    pub params: Value,
}

/// How a request was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplayMethod {
    /// A read-only action, replayed as it is (bodies and secret values are never kept).
    #[serde(rename = "as-is read")]
    AsIsRead,
    /// A mutating action, approximated by a call that changes nothing.
    #[serde(rename = "non-mutating probe")]
    NonMutatingProbe,
    /// A mutating action, replayed for real because the user consented.
    #[serde(rename = "write (consented)")]
    ConsentedWrite,
    /// Not replayed: no safe probe exists and there was no consent to write.
    #[serde(rename = "not replayed")]
    NotReplayed,
}

impl std::fmt::Display for ReplayMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReplayMethod::AsIsRead => "as-is read",
            ReplayMethod::NonMutatingProbe => "non-mutating probe",
            ReplayMethod::ConsentedWrite => "write (consented)",
            ReplayMethod::NotReplayed => "not replayed",
        })
    }
}

/// The result of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// AWS allowed the request.
    Allowed,
    /// AWS denied it; the message is AWS's.
    Denied {
        /// AWS's denial message (never a secret value).
        message: String,
    },
    /// Not replayed (a write without consent and no probe); the reason says what to do.
    NotReplayed {
        /// Why, e.g. "needs --allow-write-replay".
        reason: String,
    },
    /// The request failed for another reason (not found, throttled, ...).
    Error {
        /// What failed.
        message: String,
    },
}

/// What a replay did and what AWS answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOutcome {
    /// Allowed, denied, not replayed, or another error.
    pub outcome: Outcome,
    /// How it was replayed.
    pub method: ReplayMethod,
    /// The API call made and what it proves (never a body or a secret value).
    pub detail: String,
    /// When not replayed for want of consent: exactly what a consented replay would write (so a
    /// person can be asked). Absent when no write would be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_write: Option<String>,
}

impl ReplayOutcome {
    /// A replay outcome from its parts.
    pub fn new(outcome: Outcome, method: ReplayMethod, detail: impl Into<String>) -> Self {
        ReplayOutcome { outcome, method, detail: detail.into(), would_write: None }
    }

    /// The outcome of a write that was not replayed for want of consent.
    pub fn needs_consent(action: &str) -> Self {
        ReplayOutcome::new(
            Outcome::NotReplayed { reason: "not replayed (needs --allow-write-replay)".into() },
            ReplayMethod::NotReplayed,
            format!("{action} changes data and no non-mutating call proves it is allowed"),
        )
    }

    /// [`needs_consent`](Self::needs_consent), saying exactly what the replay would write once
    /// consented (`one message {...} to queue Q`), so a person can be asked for it.
    pub fn needs_consent_to(action: &str, write: impl Into<String>) -> Self {
        ReplayOutcome { would_write: Some(write.into()), ..ReplayOutcome::needs_consent(action) }
    }
}

/// The document with object keys sorted at every level, serialized compactly.
pub fn canonical_json(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// `sha256:<hex>` of the canonical document, or [`NO_POLICY_TOKEN`] for no policy.
pub fn version_token(policy: Option<&Value>) -> String {
    match policy {
        None => NO_POLICY_TOKEN.to_string(),
        Some(p) => {
            let digest = Sha256::digest(canonical_json(p).as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "Statement": [ {"Action":"s3:*", "Effect":"Allow"} ], "Version":"2012-10-17" }"#).unwrap();
        assert_eq!(version_token(Some(&a)), version_token(Some(&b)));
        assert!(version_token(Some(&a)).starts_with("sha256:"));
        assert_eq!(version_token(None), NO_POLICY_TOKEN);
        assert_ne!(version_token(Some(&a)), version_token(Some(&json!({}))));
    }

    #[test]
    fn replay_method_serializes_as_words() {
        let o = ReplayOutcome::needs_consent("s3:PutObject");
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["method"], "not replayed");
        assert_eq!(v["outcome"]["result"], "not_replayed");
        assert_eq!(v["outcome"]["reason"], "not replayed (needs --allow-write-replay)");
    }

    #[test]
    fn hop_applies_to_its_triggers_only() {
        let h = Hop { action: "kms:Decrypt".into(), resource: "k".into(), why: "w".into(), triggered_by: vec!["s3:GetObject".into()] };
        assert!(h.applies_to("s3:getobject"));
        assert!(!h.applies_to("s3:PutObject"));
    }
}
