//! What tools print around AWS's message: the error code, the API operation, the service and the
//! request ID. Each recogniser reads one wrapper form:
//!
//! | form | looks like |
//! |---|---|
//! | AWS CLI / botocore | `An error occurred (CODE) when calling the OP operation: ...` (old: `A client error (CODE) occurred when calling the OP operation`) |
//! | Go SDK v2 / Terraform | `operation error SERVICE: OP, https response error StatusCode: 403, RequestID: ID, api error CODE: ...` |
//! | Go SDK v1 | `CODE: ...` then `status code: 403, request id: ID` |
//! | Java SDK v1 / v2 | `... (Service: SERVICE; Status Code: 403; Error Code: CODE; Request ID: ID)` / `(Service: S3, Status Code: 403, Request ID: ID)` |
//! | JavaScript SDK v2 / v3 | `code: 'CODE'`, `"Code":"CODE"`, `deserializeAws_queryOPCommandError`, `de_OPCommandError` |
//! | PHP SDK | `Error executing "OP" on "URL"; AWS HTTP error: ... CODE (client): ...` |
//! | Ruby SDK | `Aws::SERVICE::Errors::CODE` |
//! | .NET / Java class names | `Amazon.SERVICE.Model.CODEException`, `com.amazonaws.services.SERVICE.model`, `software.amazon.awssdk.services.SERVICE` |
//! | CloudFormation events | `API: service:Operation User: ...` |
//!
//! Recognisers before the message search the text between the previous message and this one
//! (the nearest occurrence wins); those that follow it search up to the next message.

use crate::catalog::{service_of_host, ActionCatalog};
use crate::lookalike;
use crate::text::Text;

/// What the wrapper around one message says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wrapper {
    pub error_code: Option<String>,
    pub operation: Option<String>,
    pub service: Option<String>,
    pub request_id: Option<String>,
}

impl Wrapper {
    /// Fill the fields still unknown from `other`.
    pub fn or(mut self, other: Wrapper) -> Wrapper {
        self.error_code = self.error_code.or(other.error_code);
        self.operation = self.operation.or(other.operation);
        self.service = self.service.or(other.service);
        self.request_id = self.request_id.or(other.request_id);
        self
    }
}

/// A span of the text to search, and which end of it is nearest the message.
#[derive(Copy, Clone)]
struct Window {
    from: usize,
    to: usize,
    /// Search from the end (text before the message) or from the start (text after it).
    backward: bool,
}

impl Window {
    fn find(&self, t: &Text, needle: &str) -> Option<usize> {
        if self.backward {
            t.rfind(needle, self.from, self.to)
        } else {
            t.find(needle, self.from, self.to)
        }
    }
}

/// Read the wrappers around the message at `[start, end)`: before it back to `before_from`, after it up to `after_to`.
pub(crate) fn around(t: &Text, before_from: usize, start: usize, end: usize, after_to: usize, catalog: &dyn ActionCatalog) -> Wrapper {
    let before = Window { from: before_from, to: start, backward: true };
    let after = Window { from: end, to: after_to, backward: false };
    let mut w = prefix_code(t, before_from, start);
    w = botocore(t, before).or(w);
    for r in [go_v2, php, cloudformation, ruby, class_name, kotlin] {
        w = w.or(r(t, before, catalog));
    }
    // Ruby prints its class after the message: `... (Aws::S3::Errors::AccessDenied)`.
    for r in [java, go_v1, js_v3_operation, class_name, ruby, kotlin, js_v2_service] {
        w = w.or(r(t, after, catalog));
    }
    w = w.or(code_field(t, after)).or(code_field(t, before));
    w = w.or(request_id_field(t, after)).or(request_id_field(t, before));
    w.or(endpoint(t, before)).or(endpoint(t, after))
}

/// Read every wrapper in the whole text (when there is no message to anchor on).
pub(crate) fn anywhere(t: &Text, catalog: &dyn ActionCatalog) -> Wrapper {
    around(t, 0, t.len(), 0, t.len(), catalog)
}

/// A token of `[A-Za-z0-9._-]` starting at `at`, at most `max` long.
fn word(t: &Text, at: usize, max: usize) -> Option<(String, usize)> {
    let rest = t.s.get(at..)?;
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')).unwrap_or(rest.len());
    (len > 0 && len <= max).then(|| (rest[..len].to_string(), at + len))
}

/// botocore: `An error occurred (CODE) when calling the OP operation`, and the old `A client error (CODE) occurred ...`.
fn botocore(t: &Text, win: Window) -> Wrapper {
    let mut w = Wrapper::default();
    for lead in ["an error occurred (", "a client error ("] {
        let Some(at) = win.find(t, lead) else { continue };
        let code_at = at + lead.len();
        let Some((code, after)) = word(t, code_at, 80) else { continue };
        if !t.at(after, ")") {
            continue;
        }
        w.error_code = Some(code);
        let rest = after + 1;
        for calling in [" when calling the ", " occurred when calling the "] {
            if t.at(rest, calling) {
                if let Some((op, op_end)) = word(t, rest + calling.len(), 100) {
                    if t.at(op_end, " operation") {
                        w.operation = Some(op);
                    }
                }
            }
        }
        return w;
    }
    w
}

/// Go SDK v2 (and Terraform): `operation error SERVICE: OP, https response error StatusCode: 403, RequestID: ID, api error CODE:`.
fn go_v2(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "operation error ") else { return w };
    let svc_at = at + "operation error ".len();
    let Some(colon) = t.find(": ", svc_at, (svc_at + 60).min(t.len())) else { return w };
    w.service = catalog.service_prefix(t.slice(svc_at, colon));
    if let Some((op, _)) = word(t, colon + 2, 100) {
        w.operation = Some(op);
    }
    let tail_end = (colon + 400).min(t.len());
    if let Some(r) = t.find("requestid: ", colon, tail_end) {
        w.request_id = word(t, r + "requestid: ".len(), 100).map(|(id, _)| id);
    }
    if let Some(a) = t.find("api error ", colon, tail_end) {
        if let Some((code, end)) = word(t, a + "api error ".len(), 80) {
            if t.at(end, ":") {
                w.error_code = Some(code);
            }
        }
    }
    w
}

/// Go SDK v1: `status code: 403, request id: ID` after the message.
fn go_v1(t: &Text, win: Window, _: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    if let Some(at) = win.find(t, "status code: ") {
        if let Some(r) = t.find("request id: ", at, (at + 40).min(t.len())) {
            w.request_id = word(t, r + "request id: ".len(), 100).map(|(id, _)| id);
        }
    }
    w
}

/// Java SDK v1 `(Service: X; Status Code: N; Error Code: C; Request ID: R)` and v2 `(Service: X, Status Code: N, Request ID: R)`.
fn java(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "(service: ") else { return w };
    let body_at = at + 1;
    let close = t.find(")", body_at, (body_at + 400).min(t.len())).unwrap_or((body_at + 400).min(t.len()));
    let body = t.slice(body_at, close);
    for pair in body.split([';', ',']) {
        let Some((k, v)) = pair.split_once(':') else { continue };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "service" => w.service = catalog.service_prefix(v),
            "error code" if !v.is_empty() => w.error_code = Some(v.to_string()),
            "request id" if !v.is_empty() => w.request_id = Some(v.to_string()),
            _ => {}
        }
    }
    w
}

/// PHP SDK: `Error executing "OP" on "URL"; AWS HTTP error: ... CODE (client): ...`.
fn php(t: &Text, win: Window, _: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "error executing \"") else { return w };
    let op_at = at + "error executing \"".len();
    if let Some((op, end)) = word(t, op_at, 100) {
        w.operation = Some(op);
        if t.at(end, "\" on \"") {
            let url_at = end + "\" on \"".len();
            if let Some(q) = t.find("\"", url_at, (url_at + 300).min(t.len())) {
                w.service = service_of_host(t.slice(url_at, q));
            }
        }
    }
    if let Some(c) = t.find(" (client): ", at, (at + 600).min(t.len())) {
        let start = t.rfind(" ", at, c).map_or(c, |s| s + 1);
        let code = t.slice(start, c);
        if !code.is_empty() && code.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.') {
            w.error_code = Some(code.to_string());
        }
    }
    w
}

/// CloudFormation stack events: `API: iam:CreateRole User: ...`.
fn cloudformation(t: &Text, win: Window, _: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "api: ") else { return w };
    if let Some((action, _)) = word_with_colon(t, at + 5) {
        if let Some((svc, op)) = action.split_once(':') {
            w.service = Some(svc.to_ascii_lowercase());
            w.operation = Some(op.to_string());
        }
    }
    w
}

fn word_with_colon(t: &Text, at: usize) -> Option<(String, usize)> {
    let rest = t.s.get(at..)?;
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == ':' || c == '-')).unwrap_or(rest.len());
    let w = &rest[..len];
    (w.contains(':') && len < 120).then(|| (w.to_string(), at + len))
}

/// Ruby SDK: `Aws::SERVICE::Errors::CODE`.
fn ruby(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "aws::") else { return w };
    let rest = t.slice(at, (at + 160).min(t.len()));
    let path: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == ':').collect();
    let parts: Vec<&str> = path.split("::").collect();
    if let [_, svc, errors, code, ..] = parts.as_slice() {
        if errors.eq_ignore_ascii_case("errors") {
            w.service = catalog.service_prefix(svc);
            let code = code.trim_end_matches(':');
            if !code.is_empty() {
                w.error_code = Some(code.to_string());
            }
        }
    }
    w
}

/// Java and .NET exception class names carry the service (and for .NET often the code).
fn class_name(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    for lead in ["software.amazon.awssdk.services.", "com.amazonaws.services."] {
        if let Some(at) = win.find(t, lead) {
            if let Some((svc, _)) = word(t, at + lead.len(), 60) {
                let svc = svc.split('.').next().unwrap_or("");
                w.service = catalog.service_prefix(svc);
                return w;
            }
        }
    }
    if let Some(at) = win.find(t, "amazon.") {
        let rest = t.slice(at, (at + 160).min(t.len()));
        let path: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        let parts: Vec<&str> = path.split('.').collect();
        if let [_, svc, next, more @ ..] = parts.as_slice() {
            if next.eq_ignore_ascii_case("model") || next.to_ascii_lowercase().starts_with("amazon") {
                w.service = catalog.service_prefix(svc);
                if let Some(code) = more.first().filter(|c| next.eq_ignore_ascii_case("model") && c.ends_with("Exception")) {
                    w.error_code = Some(code.to_string());
                }
            }
        }
    }
    w
}

/// Kotlin SDK: `aws.sdk.kotlin.services.s3.model.S3Exception: Service returned error code 403: Forbidden`
/// and stack frames `throwHeadObjectError`.
fn kotlin(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    if let Some(at) = win.find(t, "aws.sdk.kotlin.services.") {
        if let Some((svc, _)) = word(t, at + "aws.sdk.kotlin.services.".len(), 60) {
            w.service = catalog.service_prefix(svc.split('.').next().unwrap_or(""));
        }
    }
    if let Some(at) = win.find(t, "service returned error code ") {
        if let Some((code, _)) = word(t, at + "service returned error code ".len(), 80) {
            w.error_code = Some(code);
        }
    }
    if w.service.is_some() {
        if let Some(at) = win.find(t, "request id: ") {
            w.request_id = word(t, at + "request id: ".len(), 100).map(|(id, _)| id);
        }
    }
    if let Some(at) = win.find(t, ".throw") {
        let from = at + ".throw".len();
        if let Some((ident, _)) = word(t, from, 120) {
            w.operation = ident.strip_suffix("Error").filter(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric())).map(str::to_string);
        }
    }
    w
}

/// JavaScript SDK v2 stack frames name the service: `node_modules/aws-sdk/lib/services/s3.js`.
fn js_v2_service(t: &Text, win: Window, catalog: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    if let Some(at) = win.find(t, "aws-sdk/lib/services/") {
        if let Some((file, _)) = word(t, at + "aws-sdk/lib/services/".len(), 60) {
            w.service = file.strip_suffix(".js").and_then(|svc| catalog.service_prefix(svc));
        }
    }
    w
}

/// JavaScript SDK v3 stack frames name the operation: `deserializeAws_queryCreateQueueCommandError`, `de_PutObjectCommandError`.
fn js_v3_operation(t: &Text, win: Window, _: &dyn ActionCatalog) -> Wrapper {
    let mut w = Wrapper::default();
    let Some(at) = win.find(t, "commanderror") else { return w };
    let lo = t.floor(at.saturating_sub(120));
    let ident_start = t.slice(lo, at).rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(lo, |i| lo + i + 1);
    let ident = t.slice(ident_start, at);
    let op = if let Some(rest) = ident.strip_prefix("deserializeAws_") {
        ["restJson1", "restXml", "awsJson1_0", "awsJson1_1", "json1_0", "json1_1", "query", "ec2"].iter().find_map(|p| rest.strip_prefix(p))
    } else {
        ident.strip_prefix("de_")
    };
    w.operation = op.filter(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric())).map(str::to_string);
    w
}

/// `code: 'AccessDenied'`, `"Code":"AccessDenied"`, `<Code>AccessDenied</Code>`, `Code: AccessDenied`: only known codes count.
fn code_field(t: &Text, win: Window) -> Wrapper {
    let mut w = Wrapper::default();
    for lead in ["<code>", "code: '", "code\":\"", "code\": \"", "code: ", "__type\":\"", "\"name\":\"", "name: '"] {
        let Some(at) = win.find(t, lead) else { continue };
        if let Some((code, _)) = word(t, at + lead.len(), 80) {
            if lookalike::is_denial_code(&code) || lookalike::by_code(&code).is_some() {
                w.error_code = Some(code);
                return w;
            }
        }
    }
    w
}

/// `<RequestId>ID</RequestId>` (XML error bodies), `requestId: 'ID'` (JavaScript SDK v2).
fn request_id_field(t: &Text, win: Window) -> Wrapper {
    let mut w = Wrapper::default();
    for lead in ["<requestid>", "requestid: '", "\"requestid\":\"", "\"requestid\": \""] {
        if let Some(at) = win.find(t, lead) {
            if let Some((id, _)) = word(t, at + lead.len(), 100) {
                w.request_id = Some(id);
                return w;
            }
        }
    }
    w
}

/// The code just before a message: `AccessDenied: User: ...`, `api error AccessDenied: ...`, `UnauthorizedOperation: You are ...`.
fn prefix_code(t: &Text, from: usize, start: usize) -> Wrapper {
    let mut w = Wrapper::default();
    let head = t.slice(t.floor(start.saturating_sub(60).max(from)), start).trim_end();
    let Some(head) = head.strip_suffix(':') else { return w };
    let token = head.rsplit([' ', '(', '[', ']', '"', '\'', '`']).next().unwrap_or("");
    let known = lookalike::is_denial_code(token) || lookalike::by_code(token).is_some();
    let shaped = token.len() > 3
        && token.starts_with(|c: char| c.is_ascii_uppercase())
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        && ["Exception", "Denied", "Error", "Operation", "Fault"].iter().any(|s| token.ends_with(s));
    if known || shaped {
        w.error_code = Some(token.to_string());
    }
    w
}

/// Any AWS endpoint URL names the service: `HTTP 403 returned for "https://sqs.eu-west-3.amazonaws.com/"`.
fn endpoint(t: &Text, win: Window) -> Wrapper {
    let mut w = Wrapper::default();
    if let Some(at) = win.find(t, "https://") {
        let end = t.token_end(at, t.len());
        w.service = service_of_host(t.slice(at, end).trim_end_matches(['"', '\'', '.', ',', ';', ')']));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinCatalog;

    fn wrap(s: &str) -> Wrapper {
        anywhere(&Text::new(s), &BuiltinCatalog)
    }

    #[test]
    fn reads_botocore() {
        let w = wrap("An error occurred (AccessDenied) when calling the PutObject operation: Access Denied");
        assert_eq!(w.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(w.operation.as_deref(), Some("PutObject"));
    }

    #[test]
    fn reads_go_v2() {
        let w = wrap("operation error S3: HeadObject, https response error StatusCode: 403, RequestID: ABC123, HostID: x, api error Forbidden: Forbidden");
        assert_eq!(w.service.as_deref(), Some("s3"));
        assert_eq!(w.operation.as_deref(), Some("HeadObject"));
        assert_eq!(w.request_id.as_deref(), Some("ABC123"));
        assert_eq!(w.error_code.as_deref(), Some("Forbidden"));
    }

    #[test]
    fn reads_java_v1_and_v2() {
        let w = wrap("Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; Request ID: 21722BC29BCED4A8)");
        assert_eq!(w.service.as_deref(), Some("s3"));
        assert_eq!(w.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(w.request_id.as_deref(), Some("21722BC29BCED4A8"));
        let w = wrap("S3Exception: Access Denied (Service: S3, Status Code: 403, Request ID: M652TMBNA1DWX0AE, Extended Request ID: x)");
        assert_eq!(w.service.as_deref(), Some("s3"));
        assert_eq!(w.request_id.as_deref(), Some("M652TMBNA1DWX0AE"));
    }

    #[test]
    fn reads_php_ruby_js() {
        let w = wrap("Error executing \"PutObject\" on \"https://b.s3.ap-south-1.amazonaws.com/k\"; AWS HTTP error: Client error: 403 AccessDenied (client): Access Denied");
        assert_eq!((w.operation.as_deref(), w.service.as_deref(), w.error_code.as_deref()), (Some("PutObject"), Some("s3"), Some("AccessDenied")));
        let w = wrap("Aws::SESV2::Errors::AccessDeniedException in x");
        assert_eq!((w.service.as_deref(), w.error_code.as_deref()), (Some("ses"), Some("AccessDeniedException")));
        let w = wrap("AccessDenied: Access to the resource https://sqs.eu-west-1.amazonaws.com/ is denied. at deserializeAws_queryCreateQueueCommandError (/webapp/main.js:1:2)");
        assert_eq!(w.operation.as_deref(), Some("CreateQueue"));
    }
}
