//! Reading an AWS SDK error the same way for every service.
//!
//! S3 answers a denial with the code `AccessDenied`. Other services, and some AWS-compatible
//! servers (moto answers 403 with an XML body labelled text/html), leave the SDK with no code
//! or message; then the HTTP status decides and the message is read from the body text.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::PluginError;

/// What an AWS call's failure was: status, code and message, as far as they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure {
    /// The HTTP status, when a response came back.
    pub status: Option<u16>,
    /// The service error code (`AccessDenied`, `NoSuchBucketPolicy`, ...).
    pub code: Option<String>,
    /// The service's message (from the SDK, or from the body when the SDK found none).
    pub message: String,
}

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AccessDenied.Exception",
    "AuthorizationError",
    "UnauthorizedOperation",
    "KMS.AccessDeniedException",
];

impl AwsFailure {
    /// Reads an SDK error: code and message from the SDK, else status and body text.
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let raw = err.raw_response();
        let status = raw.map(|r| r.status().as_u16());
        let body = raw.and_then(|r| r.body().bytes()).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        let code = err.code().map(str::to_string).or_else(|| tag(&body, "Code")).or_else(|| json_field(&body, "__type"));
        let message = err
            .message()
            .map(str::to_string)
            .or_else(|| tag(&body, "Message"))
            .or_else(|| json_field(&body, "message"))
            .or_else(|| json_field(&body, "Message"))
            .unwrap_or_else(|| match status {
                // A 2xx that still failed (a body cut short, an answer that could not be read).
                Some(s) if s >= 300 => format!("HTTP {s}"),
                _ => display_chain(err),
            });
        AwsFailure { status, code, message: one_line(&message) }
    }

    /// Whether AWS denied the call (HTTP 403 or an access-denied code).
    pub fn is_denied(&self) -> bool {
        self.status == Some(403) || self.code.as_deref().is_some_and(|c| DENIED_CODES.iter().any(|d| c.ends_with(d)))
    }

    /// Whether the error code is `code` (any namespace prefix ignored).
    pub fn is_code(&self, code: &str) -> bool {
        self.code.as_deref().is_some_and(|c| c == code || c.ends_with(&format!(".{code}")) || c.ends_with(&format!("#{code}")))
    }

    /// Status, code and message in one line.
    pub fn describe(&self) -> String {
        match (&self.code, self.status) {
            (Some(c), Some(s)) => format!("{c} (HTTP {s}): {}", self.message),
            (Some(c), None) => format!("{c}: {}", self.message),
            (None, Some(s)) => format!("HTTP {s}: {}", self.message),
            (None, None) => self.message.clone(),
        }
    }

    /// The matching [`PluginError`] for a failed `operation` on `resource`.
    pub fn into_error(self, operation: &str, resource: &str) -> PluginError {
        let text = format!("{operation} on {resource}: {}", self.describe());
        if self.is_denied() {
            PluginError::Denied(text)
        } else if self.status == Some(404) || self.code.as_deref().is_some_and(|c| c.contains("NotFound") || c.starts_with("NoSuch")) {
            PluginError::NotFound(text)
        } else {
            PluginError::Aws(text)
        }
    }
}

/// An error and its sources, in one line.
pub(crate) fn display_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tag(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    let v = body[start..end].trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn json_field(body: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get(name)?.as_str().map(|s| s.rsplit('#').next().unwrap_or(s).to_string())
}

/// The outcome of a replayed call: allowed if it succeeded, denied if AWS said so, else an error.
///
/// The call's output is dropped unread: object bodies, messages and secret values never leave here.
pub fn replay_outcome<T, E>(
    result: Result<T, SdkError<E, HttpResponse>>,
    method: crate::ReplayMethod,
    detail: impl Into<String>,
) -> crate::ReplayOutcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let outcome = match result {
        Ok(_) => crate::Outcome::Allowed,
        Err(e) => {
            let f = AwsFailure::from_sdk(&e);
            if f.is_denied() {
                crate::Outcome::Denied { message: f.message }
            } else {
                crate::Outcome::Error { message: f.describe() }
            }
        }
    };
    crate::ReplayOutcome::new(outcome, method, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_and_json_bodies() {
        let xml = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error></ErrorResponse>";
        assert_eq!(tag(xml, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(tag(xml, "Message").as_deref(), Some("User: x is not authorized"));
        let json = r#"{"__type":"com.amazonaws.kms#AccessDeniedException","message":"no"}"#;
        assert_eq!(json_field(json, "__type").as_deref(), Some("AccessDeniedException"));
        assert_eq!(json_field(json, "message").as_deref(), Some("no"));
    }

    #[test]
    fn status_403_is_denied_without_a_code() {
        let f = AwsFailure { status: Some(403), code: None, message: "m".into() };
        assert!(f.is_denied());
        assert!(matches!(f.into_error("Op", "r"), PluginError::Denied(_)));
        let f = AwsFailure { status: Some(400), code: Some("AWS.SimpleQueueService.NonExistentQueue".into()), message: "m".into() };
        assert!(!f.is_denied());
        assert!(f.is_code("NonExistentQueue"));
    }
}
