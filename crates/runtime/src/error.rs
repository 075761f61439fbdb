//! The two kinds of failure: a read that failed (the layer becomes unknown) and a fault that stops
//! the run (credentials, network, throttling or 5xx after the SDK's retries).

use denyctl_eval::{LayerKind, UnknownLayer};

/// Why one read failed. The layer it was reading becomes `unknown`; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The operator may not make this call (HTTP 403 / AccessDenied).
    #[error("{call} on {target} was denied{}; reading it needs {permission}", detail_suffix(.detail))]
    Denied {
        /// The API call, `iam:GetRolePolicy`.
        call: String,
        /// What it was reading.
        target: String,
        /// The IAM permission that would allow the read.
        permission: String,
        /// AWS's message, when it gave one.
        detail: Option<String>,
    },
    /// The thing does not exist.
    #[error("{call} on {target}: not found{}", detail_suffix(.detail))]
    NotFound {
        /// The API call.
        call: String,
        /// What it was reading.
        target: String,
        /// AWS's error code and message.
        detail: Option<String>,
    },
    /// Any other error the service answered with (4xx).
    #[error("{call} on {target} failed: {}", .detail.as_deref().unwrap_or("no detail"))]
    Failed {
        /// The API call.
        call: String,
        /// What it was reading.
        target: String,
        /// The error code, when there is one.
        code: Option<String>,
        /// AWS's error code and message.
        detail: Option<String>,
    },
    /// AWS kept failing (throttling, HTTP 5xx, a reset connection, a timeout) after the SDK's
    /// standard retries within `--timeout`.
    #[error("{call} on {target} failed after {attempts} {} ({detail})", if *.attempts == 1 { "attempt" } else { "attempts" })]
    Unavailable {
        /// The API call.
        call: String,
        /// What it was reading.
        target: String,
        /// How many times the request was sent (1 + retries).
        attempts: usize,
        /// What the last attempt got.
        detail: String,
    },
    /// The answer could not be used (a policy document that is not JSON, ...).
    #[error("{call} on {target}: {detail}")]
    Invalid {
        /// The API call.
        call: String,
        /// What it was reading.
        target: String,
        /// What was wrong.
        detail: String,
    },
}

fn detail_suffix(d: &Option<String>) -> String {
    match d {
        Some(d) if !d.is_empty() => format!(" ({d})"),
        _ => String::new(),
    }
}

impl ReadError {
    /// The error code AWS gave, for errors that carry one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ReadError::Failed { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether AWS kept failing (throttling, 5xx, network, timeout), as opposed to an answer.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ReadError::Unavailable { .. })
    }

    /// This failure as an unknown layer.
    pub fn unknown(&self, layer: LayerKind) -> UnknownLayer {
        UnknownLayer { layer, reason: self.to_string() }
    }
}

/// A fault that stops the run: nothing partial is presented as complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// No usable credentials (missing, expired, invalid).
    #[error("no valid AWS credentials for the {role} ({source_desc}): {detail}")]
    Credentials {
        /// `caller`, `operator` or `organization reader`.
        role: String,
        /// The profile or chain that was tried.
        source_desc: String,
        /// What went wrong.
        detail: String,
    },
    /// The endpoint could not be reached, or timed out.
    #[error("{call}: cannot reach AWS ({detail})")]
    Network {
        /// The API call.
        call: String,
        /// What went wrong.
        detail: String,
    },
    /// Throttling or a server error that outlasted the SDK's standard retries.
    #[error("{call}: AWS kept failing after the SDK's standard retries ({detail})")]
    Service {
        /// The API call.
        call: String,
        /// What went wrong.
        detail: String,
    },
    /// No region is configured.
    #[error("no AWS region for the {role} ({source_desc}): pass --region or set AWS_REGION")]
    NoRegion {
        /// Which identity.
        role: String,
        /// The profile or chain that was tried.
        source_desc: String,
    },
    /// The principal named by the request does not exist.
    #[error("{0}")]
    UnknownPrincipal(String),
    /// The resource was given as a name, URL or alias that could not be turned into an ARN.
    #[error("{0}")]
    UnresolvedResource(String),
    /// An input kept in AWS (a Terraform state in S3) could not be read.
    #[error("{0}")]
    Unreadable(String),
}
