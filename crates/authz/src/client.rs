//! The live call: IAM Toolbox GetRequestAuthorizationDetails, paged, with every failure classified.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_iamtoolbox::operation::get_request_authorization_details::GetRequestAuthorizationDetailsError as ApiError;
use aws_sdk_iamtoolbox::types::{self as t};
use aws_smithy_types::Document;

use crate::record::{decision_of, layer_of, AuthzRecord, Evaluation, MatchedPolicy, MatchedStatement};

/// Why AWS's record could not be read. Every variant leaves denyctl's own evaluation in charge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthzError {
    /// The operator may not call the API.
    #[error("not permitted to read AWS's authorization record (needs iam:GetRequestAuthorizationDetails): {0}")]
    NotPermitted(String),
    /// The ID is unknown or older than the record's retention (at least 24 hours).
    #[error("AWS has no record for authorization ID {0} (expired after at least 24 hours, or from another account)")]
    NotFound(String),
    /// The ID is malformed.
    #[error("authorization ID {id:?} was rejected: {message}")]
    Invalid {
        /// The ID.
        id: String,
        /// AWS's message.
        message: String,
    },
    /// Anything else: network, throttling after retries, a 5xx.
    #[error("could not read AWS's authorization record: {0}")]
    Other(String),
}

/// Whether an ID has the documented form (lower-case letters and digits).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

fn json(d: &Document) -> serde_json::Value {
    match d {
        Document::Object(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), json(v))).collect()),
        Document::Array(a) => serde_json::Value::Array(a.iter().map(json).collect()),
        Document::Number(n) => match *n {
            aws_smithy_types::Number::PosInt(i) => i.into(),
            aws_smithy_types::Number::NegInt(i) => i.into(),
            aws_smithy_types::Number::Float(f) => serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into),
        },
        Document::String(s) => s.clone().into(),
        Document::Bool(b) => (*b).into(),
        Document::Null => serde_json::Value::Null,
    }
}

fn map(m: Option<&HashMap<String, Document>>) -> BTreeMap<String, serde_json::Value> {
    m.into_iter().flatten().map(|(k, v)| (k.clone(), json(v))).collect()
}

fn matched(p: &t::MatchedPolicy, infos: &[t::PolicyInfo]) -> MatchedPolicy {
    let info = infos.iter().find(|i| i.uri() == Some(p.uri()));
    MatchedPolicy {
        uri: p.uri().to_string(),
        layer: info.and_then(|i| i.r#type()).and_then(|t| layer_of(t.as_str())),
        inline: info.and_then(|i| i.inline()),
        attached_to: info.map(|i| i.attached_to().iter().filter_map(|a| a.arn().map(str::to_string)).collect()).unwrap_or_default(),
        statements: p
            .matched_statements()
            .iter()
            .map(|s| MatchedStatement {
                sid: s.sid().map(str::to_string),
                effect: s.evaluated_effect().map(|e| e.as_str().to_ascii_lowercase()).unwrap_or_default(),
            })
            .collect(),
    }
}

/// Read AWS's record of a denial, following pagination.
pub async fn fetch(client: &aws_sdk_iamtoolbox::Client, id: &str) -> Result<AuthzRecord, AuthzError> {
    if !valid_id(id) {
        return Err(AuthzError::Invalid { id: id.to_string(), message: "expected lower-case letters and digits".into() });
    }
    let mut record = AuthzRecord { authorization_id: id.to_string(), request_context: BTreeMap::new(), evaluations: Vec::new() };
    let mut next: Option<String> = None;
    let mut policies: Vec<t::PolicyInfo> = Vec::new();
    let mut pages: Vec<Vec<t::Evaluation>> = Vec::new();
    loop {
        let out = client
            .get_request_authorization_details()
            .authorization_id(id)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| classify(id, e))?;
        if record.request_context.is_empty() {
            record.request_context = map(Some(out.request_context()));
        }
        policies.extend(out.policies().iter().cloned());
        pages.push(out.evaluations().to_vec());
        match out.next_token() {
            Some(t) if !t.is_empty() && Some(t) != next.as_deref() && pages.len() < 100 => next = Some(t.to_string()),
            _ => break,
        }
    }
    for e in pages.into_iter().flatten() {
        record.evaluations.push(Evaluation {
            action: e.action().to_string(),
            resource: e.resource().to_string(),
            decision: e.evaluated_effect().and_then(|d| decision_of(d.as_str())),
            context: map(e.context()),
            matched: e.matched_policies().iter().map(|p| matched(p, &policies)).collect(),
        });
    }
    Ok(record)
}

fn classify(id: &str, e: aws_sdk_iamtoolbox::error::SdkError<ApiError, aws_smithy_runtime_api::http::Response>) -> AuthzError {
    use aws_sdk_iamtoolbox::error::ProvideErrorMetadata;
    let status = e.raw_response().map(|r| r.status().as_u16());
    let message = e.message().unwrap_or("no message").to_string();
    match e.as_service_error() {
        Some(ApiError::AccessDeniedException(_)) => AuthzError::NotPermitted(message),
        Some(ApiError::ResourceNotFoundException(_)) => AuthzError::NotFound(id.to_string()),
        Some(ApiError::ValidationException(_)) => AuthzError::Invalid { id: id.to_string(), message },
        _ if status == Some(403) => AuthzError::NotPermitted(message),
        _ if status == Some(404) => AuthzError::NotFound(id.to_string()),
        _ => AuthzError::Other(aws_sdk_iamtoolbox::error::DisplayErrorContext(&e).to_string().replace('\n', " ")),
    }
}
