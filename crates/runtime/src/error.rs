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

/// A read that was denied, as an unknown layer's reason says it: the call that failed and the IAM
/// permission it needs. Reads the reasons this crate writes ([`ReadError::Denied`], a plugin's
/// denied read, the organization reads): `CALL on TARGET … ; reading it needs PERMISSION[. …]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedRead {
    /// The call that was denied, `iam:ListUserPolicies`.
    pub call: String,
    /// The IAM permission that would allow it.
    pub permission: String,
}

impl DeniedRead {
    /// The denied read an unknown layer's reason names, if its read was denied.
    pub fn from_reason(reason: &str) -> Option<DeniedRead> {
        const NEEDS: &str = "; reading it needs ";
        let at = reason.find(NEEDS)?;
        let call = reason[..at].split(" on ").next()?.trim();
        let is_action = |s: &str| {
            s.split_once(':').is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-'))
        };
        let rest = &reason[at + NEEDS.len()..];
        let permission = rest.split(". ").next().unwrap_or(rest).trim_end_matches('.').trim();
        (is_action(call) && !permission.is_empty()).then(|| DeniedRead { call: call.to_string(), permission: permission.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_read_is_read_back_from_its_reason() {
        let e = ReadError::Denied {
            call: "iam:ListUserPolicies".into(),
            target: "user/ci".into(),
            permission: "iam:ListUserPolicies".into(),
            detail: Some("AccessDenied: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:ListUserPolicies; see x".into()),
        };
        let u = e.unknown(LayerKind::Identity);
        assert_eq!(DeniedRead::from_reason(&u.reason), Some(DeniedRead { call: "iam:ListUserPolicies".into(), permission: "iam:ListUserPolicies".into() }));
        // The organization's reason goes on after the permission.
        let org = format!("{}. SCPs and RCPs are read with organizations:DescribeOrganization, ListParents", ReadError::Denied {
            call: "organizations:DescribeOrganization".into(),
            target: "organization".into(),
            permission: "organizations:DescribeOrganization".into(),
            detail: None,
        });
        assert_eq!(DeniedRead::from_reason(&org).unwrap().permission, "organizations:DescribeOrganization");
        // A plugin's denied read.
        let s3 = "s3:GetBucketPolicy on arn:aws:s3:::b: AccessDenied (HTTP 403): Access Denied (read by the s3 plugin); reading it needs s3:GetBucketPolicy";
        assert_eq!(DeniedRead::from_reason(s3), Some(DeniedRead { call: "s3:GetBucketPolicy".into(), permission: "s3:GetBucketPolicy".into() }));
        // Not a denied read.
        assert_eq!(DeniedRead::from_reason("iam:GetRole on role/x: not found"), None);
        assert_eq!(DeniedRead::from_reason("no plugin is registered to read sns resource policies; the policy would be read with sns:GetTopicAttributes"), None);
    }
}
