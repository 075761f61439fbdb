//! Every AWS call made in a run: counted, placed in its sequential wave, and classified when it fails.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::error::{ReadError, RuntimeError};

/// One call, as reported by `-v`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    /// `iam:GetRole`.
    pub call: String,
    /// What it read.
    pub target: String,
    /// Its sequential wave (1 = needed nothing else first).
    pub wave: usize,
    /// `ok`, or a short failure label.
    pub result: String,
    /// How many times it was tried: 1 + the SDK's retries (for a plugin operation, 1 + the retries
    /// of the calls it made; a plugin in another library does not report its retries).
    pub attempts: usize,
}

/// Counts of the calls made in a run.
#[derive(Debug, Default)]
pub struct CallStats {
    count: AtomicUsize,
    waves: AtomicUsize,
    retries: AtomicUsize,
    log: Mutex<Vec<CallRecord>>,
}

impl CallStats {
    /// How many AWS calls were made.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// How many sequential waves (the longest chain of calls that each needed the previous one).
    pub fn waves(&self) -> usize {
        self.waves.load(Ordering::Relaxed)
    }

    /// How many times a request was sent again by the SDK's standard retries.
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    /// The calls that failed because AWS kept failing (throttling, 5xx, network, timeout), with
    /// their attempts.
    pub fn unavailable(&self) -> Vec<CallRecord> {
        self.records().into_iter().filter(|r| r.result == UNAVAILABLE).collect()
    }

    /// Every call, in the order they finished.
    pub fn records(&self) -> Vec<CallRecord> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Records work done outside [`run`]: a service plugin makes its own SDK calls, and one
    /// plugin operation (a policy fetch with its settings) is counted as one entry.
    /// `attempts` are the HTTP requests the plugin's SDK calls sent (see [`counted`]).
    pub fn record_external(&self, call: &str, target: &str, wave: usize, result: &str, attempts: usize) {
        self.record(call, target, wave, result, attempts)
    }

    fn record(&self, call: &str, target: &str, wave: usize, result: &str, attempts: usize) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.waves.fetch_max(wave, Ordering::Relaxed);
        self.retries.fetch_add(attempts.saturating_sub(1), Ordering::Relaxed);
        if let Ok(mut l) = self.log.lock() {
            l.push(CallRecord { call: call.into(), target: target.into(), wave, result: result.into(), attempts });
        }
    }
}

/// The result label of a call that failed because AWS kept failing.
pub const UNAVAILABLE: &str = "unavailable";

tokio::task_local! {
    static RETRIES: Arc<AtomicUsize>;
}

/// Notes one HTTP request sent (called by the HTTP connector of every client the session makes,
/// the plugins' included): a request the SDK's retry sends again carries `amz-sdk-request:
/// attempt=N` with N > 1.
pub(crate) fn count_attempt(amz_sdk_request: Option<&str>) {
    let attempt = amz_sdk_request
        .and_then(|h| h.split(';').find_map(|kv| kv.trim().strip_prefix("attempt=")))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(1);
    if attempt > 1 {
        let _ = RETRIES.try_with(|a| a.fetch_add(1, Ordering::Relaxed));
    }
}

/// Runs `fut` (one SDK call, or one plugin operation made of several) and returns its output with
/// its attempts: 1 + the retries the SDK made inside it.
pub async fn counted<F: Future>(fut: F) -> (F::Output, usize) {
    let n = Arc::new(AtomicUsize::new(0));
    let out = RETRIES.scope(n.clone(), fut).await;
    (out, 1 + n.load(Ordering::Relaxed))
}

/// How a failed call is to be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The read failed: the layer becomes unknown.
    Read(ReadError),
    /// The run stops.
    Fatal(RuntimeError),
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::Fatal(e)
    }
}

/// What a call is: the API, the permission it needs, its target, and whose credentials it uses.
#[derive(Debug, Clone)]
pub struct CallSpec<'a> {
    /// `iam:GetRole` (also the IAM permission it needs).
    pub call: &'static str,
    /// What it reads (an ARN, a name, an Organizations ID).
    pub target: &'a str,
    /// Its wave.
    pub wave: usize,
    /// `caller`, `operator` or `organization reader`.
    pub role: &'a str,
    /// The credential source of that identity, for messages.
    pub source_desc: &'a str,
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidToken",
    "AuthFailure",
];

fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(body[start..end].trim())
}

/// The error code and message of a response body that the SDK could not parse (XML labelled
/// text/html, as some AWS-compatible servers send for non-S3 denials) or JSON.
fn body_code_message(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = String::from_utf8_lossy(body);
    if let (Some(c), m) = (xml_tag(&text, "Code"), xml_tag(&text, "Message")) {
        return (Some(c.to_string()), m.map(str::to_string));
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        let code = v.get("__type").or_else(|| v.get("code")).and_then(|c| c.as_str()).map(|c| {
            c.rsplit('#').next().unwrap_or(c).to_string()
        });
        let msg = v.get("message").or_else(|| v.get("Message")).and_then(|m| m.as_str()).map(str::to_string);
        return (code, msg);
    }
    (None, None)
}

fn chain_text(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Classify a failed SDK call.
pub fn classify<E>(spec: &CallSpec<'_>, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let call = spec.call.to_string();
    let target = spec.target.to_string();
    let credentials = |detail: String| {
        Failure::Fatal(RuntimeError::Credentials {
            role: spec.role.to_string(),
            source_desc: spec.source_desc.to_string(),
            detail,
        })
    };
    match err {
        SdkError::ConstructionFailure(_) | SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let text = chain_text(err);
            let lc = text.to_ascii_lowercase();
            if lc.contains("credential") || lc.contains("profile") || lc.contains("token") {
                return credentials(text);
            }
            if lc.contains("region") {
                return Failure::Fatal(RuntimeError::NoRegion {
                    role: spec.role.to_string(),
                    source_desc: spec.source_desc.to_string(),
                });
            }
            Failure::Read(ReadError::Unavailable { call, target, attempts: 0, detail: text })
        }
        _ => {
            let raw = err.raw_response();
            let status = raw.map(|r| r.status().as_u16()).unwrap_or(0);
            let (mut code, mut message) = (None, None);
            if let Some(se) = err.as_service_error() {
                code = se.code().map(str::to_string);
                message = se.message().map(str::to_string);
            }
            if code.is_none() {
                if let Some(bytes) = raw.and_then(|r| r.body().bytes()) {
                    let (c, m) = body_code_message(bytes);
                    code = c;
                    message = message.or(m);
                }
            }
            let detail = match (&code, &message) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (Some(c), None) => Some(c.clone()),
                (None, Some(m)) => Some(m.clone()),
                (None, None) if status != 0 => Some(format!("HTTP {status}")),
                (None, None) => None,
            };
            let code_s = code.as_deref().unwrap_or("");
            if CREDENTIAL_CODES.contains(&code_s) {
                return credentials(detail.unwrap_or_default());
            }
            let denied_code = matches!(code_s, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation");
            if status == 403 || denied_code {
                return Failure::Read(ReadError::Denied { call: call.clone(), target, permission: call, detail });
            }
            if code_s == "NoSuchEntity" || code_s.ends_with("NotFoundException") || status == 404 {
                return Failure::Read(ReadError::NotFound { call, target, detail });
            }
            let throttled = status == 429
                || code_s.contains("Throttl")
                || code_s == "TooManyRequestsException"
                || code_s == "RequestLimitExceeded";
            if status >= 500 || throttled || matches!(err, SdkError::ResponseError(_)) {
                return Failure::Read(ReadError::Unavailable { call, target, attempts: 0, detail: detail.unwrap_or_else(|| chain_text(err)) });
            }
            Failure::Read(ReadError::Failed { call, target, code, detail })
        }
    }
}

/// Run one SDK call: count it and its attempts, place it in its wave, classify its failure.
pub async fn run<T, E, Fut>(stats: &CallStats, spec: CallSpec<'_>, fut: Fut) -> Result<T, Failure>
where
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + StdError + 'static,
{
    let (result, attempts) = counted(fut).await;
    match result {
        Ok(v) => {
            stats.record(spec.call, spec.target, spec.wave, "ok", attempts);
            Ok(v)
        }
        Err(e) => {
            let mut f = classify(&spec, &e);
            if let Failure::Read(ReadError::Unavailable { attempts: a, .. }) = &mut f {
                *a = attempts;
            }
            let label = match &f {
                Failure::Read(ReadError::Denied { .. }) => "denied",
                Failure::Read(ReadError::NotFound { .. }) => "not found",
                Failure::Read(ReadError::Unavailable { .. }) => UNAVAILABLE,
                // DescribeOrganization and ListRoots say so for an account in no organization: an answer.
                Failure::Read(e) if e.code() == Some("AWSOrganizationsNotInUseException") => "no organization",
                Failure::Read(_) => "failed",
                Failure::Fatal(_) => "fatal",
            };
            stats.record(spec.call, spec.target, spec.wave, label, attempts);
            Err(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_are_one_plus_the_retried_requests_of_the_scope() {
        let (out, attempts) = counted(async {
            count_attempt(Some("attempt=1; max=3"));
            count_attempt(Some("attempt=2; max=3"));
            count_attempt(Some("attempt=3; max=3"));
            count_attempt(None);
            7
        })
        .await;
        assert_eq!((out, attempts), (7, 3));
        // Outside a scope nothing is counted (and nothing fails).
        count_attempt(Some("attempt=2; max=3"));
        assert_eq!(counted(async {}).await.1, 1);
    }

    #[test]
    fn reads_xml_error_bodies() {
        let body = b"<?xml version=\"1.0\"?><ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/x is not authorized to perform: iam:GetRole</Message></Error></ErrorResponse>";
        let (c, m) = body_code_message(body);
        assert_eq!(c.as_deref(), Some("AccessDenied"));
        assert!(m.unwrap().contains("iam:GetRole"));
        let (c, _) = body_code_message(br#"{"__type":"com.amazon#AWSOrganizationsNotInUseException","message":"x"}"#);
        assert_eq!(c.as_deref(), Some("AWSOrganizationsNotInUseException"));
    }
}
