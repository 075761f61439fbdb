//! The grammar of AWS's authorization messages, read as a small recursive-descent parser over
//! whitespace-folded text. The statement forms:
//!
//! ```text
//! denial     := [ "User:" PRINCIPAL | ARN ] "is not authorized to perform" [":"] ACTION
//!               [ resource ] [ reason ] [ "." ] [ auth-id ]
//! sts-only   := "Not authorized to perform" [":"] ACTION     (STS to a web-identity or SAML caller)
//! resource   := "on resource" [":"] RESOURCE | "on" ARN
//! reason     := "because no" POLICY-TYPE "allows the" ACTION "action"     (POLICY-TYPE may be cut: "VPC endpoint pol...")
//!             | "with an explicit deny" [ "in" ARTICLE POLICY-TYPE [":" POLICY-ARN]
//!                                         [ "transitively through" ARTICLE POLICY-TYPE ] ]
//! auth-id    := "Go to" URL "for complete details, or call the GetRequestAuthorizationDetails API
//!               with the following authorization id:" ID
//! s3-bare    := "Access Denied"
//! sqs-bare   := "Access to the resource" URL "is denied."
//! ec2-bare   := "You are not authorized to perform this operation." [ encoded ]
//! encoded    := "Encoded authorization failure message:" BLOB
//! kms-bare   := "The ciphertext refers to a customer master key that does not exist, ..."
//! look-alike := one of the phrases in lookalike.rs ("The security token included in the request is expired", ...)
//! ```
//!
//! Each statement found becomes one finding; the wrappers around it (wrapper.rs) add the error
//! code, operation, service and request ID.

use crate::catalog::{service_of_host, ActionCatalog};
use crate::lookalike::{self, LookAlike};
use crate::model::{DenyKind, Finding, Kind, PolicyType};
use crate::text::Text;
use crate::wrapper::{self, Wrapper};

/// At most this many statements are read from one input (a log of thousands is not a message).
const MAX_STATEMENTS: usize = 1000;

/// What the caller already knows about the message (from a CloudTrail event or a JSON error object).
pub(crate) type Hint = Wrapper;

/// One statement found in the text, before its wrapper is read.
#[derive(Debug)]
struct Statement {
    start: usize,
    end: usize,
    form: Form,
    finding: Finding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// "is not authorized to perform": names its own action.
    Full,
    /// A message that names no action (S3, SQS, EC2, KMS forms): the wrapper's operation supplies it.
    Bare { service: &'static str },
    /// An error that is not a denial.
    LookAlike,
    /// Only an encoded authorization message.
    Encoded,
}

/// Parse free text into findings (empty when there is nothing AWS-shaped in it).
pub(crate) fn parse_text(raw: &str, catalog: &dyn ActionCatalog, hint: Option<&Hint>) -> Vec<Finding> {
    let t = Text::new(raw);
    let mut statements = find_statements(&t);
    if statements.is_empty() {
        if let Some(s) = encoded_only(&t) {
            statements.push(s);
        }
    }
    let mut findings = Vec::new();
    for i in 0..statements.len() {
        let prev_end = if i == 0 { 0 } else { statements[i - 1].end };
        let next_start = statements.get(i + 1).map_or(t.len(), |s| s.start);
        let s = &statements[i];
        let mut w = wrapper::around(&t, prev_end, s.start, s.end, next_start, catalog);
        if let Some(h) = hint {
            w = w.or(h.clone());
        }
        let mut f = s.finding.clone();
        attach_suffixes(&t, &mut f, s.start, next_start);
        findings.push(complete(f, s.form, w, catalog));
    }
    if findings.is_empty() {
        findings.extend(from_wrapper_only(&t, catalog, hint));
    }
    merge_duplicates(findings)
}

/// The phrases that start a statement, searched in every message.
const PHRASES: [&str; 7] = [
    "is not authorized to ",
    "not authorized to perform",
    "Access Denied",
    "access to the resource ",
    "you are not authorized to perform this operation",
    "the ciphertext refers to a customer master key that does not exist",
    "access to kms is not allowed",
];

/// Where `needle` (one of [`PHRASES`]) occurs in `hay`, left to right, not overlapping, at most
/// [`MAX_STATEMENTS`] times: what `str::match_indices` gives, with searchers built once.
fn matches<'a>(hay: &'a str, needle: &'static str) -> impl Iterator<Item = usize> + 'a {
    static FINDERS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> = std::sync::OnceLock::new();
    let finders = FINDERS.get_or_init(|| PHRASES.iter().map(|p| memchr::memmem::Finder::new(p.as_bytes())).collect());
    let finder = PHRASES.iter().position(|p| *p == needle).map(|i| &finders[i]);
    let found = match finder {
        Some(f) if hay.len() >= needle.len() => Some(f.find_iter(hay.as_bytes())),
        _ => None,
    };
    debug_assert!(finder.is_some(), "{needle} is not in PHRASES");
    found.into_iter().flatten().take(MAX_STATEMENTS)
}

/// Find every statement, in order, none overlapping.
fn find_statements(t: &Text) -> Vec<Statement> {
    let mut all = Vec::new();
    for at in matches(&t.lower, "is not authorized to ") {
        if let Some(s) = not_authorized(t, at) {
            all.push(s);
        }
    }
    for at in matches(&t.lower, "not authorized to perform") {
        if let Some(s) = operation_only(t, at) {
            all.push(s);
        }
    }
    for at in matches(&t.s, "Access Denied") {
        if let Some(s) = s3_bare(t, at) {
            all.push(s);
        }
    }
    for at in matches(&t.lower, "access to the resource ") {
        if let Some(s) = sqs_bare(t, at) {
            all.push(s);
        }
    }
    for at in matches(&t.lower, "you are not authorized to perform this operation") {
        all.push(bare(t, at, at + "you are not authorized to perform this operation".len(), "ec2", None));
    }
    for at in matches(&t.lower, "the ciphertext refers to a customer master key that does not exist") {
        let end = t.find("not allowed to access", at, (at + 200).min(t.len())).map_or(at + 60, |e| e + "not allowed to access".len());
        all.push(bare(t, at, end, "kms", Some("kms:Decrypt")));
    }
    for at in matches(&t.lower, "access to kms is not allowed") {
        all.push(bare(t, at, at + "access to kms is not allowed".len(), "kms", None));
    }
    for (at, len, family) in lookalike::phrases_in(&t.lower, MAX_STATEMENTS) {
        all.push(look_alike(t, at, at + len, family));
    }
    all.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut kept: Vec<Statement> = Vec::new();
    for s in all {
        if kept.len() >= MAX_STATEMENTS {
            break;
        }
        if let Some(last) = kept.last() {
            if s.start < last.end {
                continue;
            }
            // "You are not authorized to perform this operation. User: ... is not authorized to perform: ..."
            // is one message: the full statement that follows carries everything the bare one says.
            if matches!(last.form, Form::Bare { .. }) && s.form == Form::Full && s.start.saturating_sub(last.end) <= 40 {
                kept.pop();
            }
        }
        kept.push(s);
    }
    kept
}

/// `[User: PRINCIPAL] is not authorized to perform[:] ACTION [on resource: R] [reason]`, at the anchor `at`.
fn not_authorized(t: &Text, at: usize) -> Option<Statement> {
    let (start, principal) = principal_before(t, at);
    let mut f = Finding { kind: Some(Kind::Denial), principal, ..Finding::default() };
    let mut cur = at + "is not authorized to ".len();
    if t.at(cur, "perform") {
        cur += "perform".len();
        if t.at(cur, ":") {
            cur += 1;
        }
        cur = t.skip_spaces(cur);
        if t.at(cur, "action ") {
            cur += "action ".len();
        }
        let end = t.token_end(cur, t.len());
        let token = t.slice(cur, end).trim_end_matches(['.', ',', ';', ':', '"', '\'', '`', ')']);
        if let Some(action) = iam_action(token) {
            f.action = Some(action);
            cur += token.len();
        } else if token.eq_ignore_ascii_case("null") {
            cur += token.len();
        }
    } else if t.at(cur, "access this resource") {
        cur += "access this resource".len();
    } else {
        return None;
    }
    cur = resource(t, cur, &mut f);
    cur = reason(t, cur, &mut f);
    if t.at(cur, ".") {
        cur += 1;
    }
    f.message = t.slice(start, cur).trim().to_string();
    Some(Statement { start, end: cur, form: Form::Full, finding: f })
}

/// `Not authorized to perform[:] ACTION`, with no principal: what STS says to a web-identity or SAML
/// caller (AWS CLI, SDKs, GitHub's configure-aws-credentials). Not after "is"/"are", which the other
/// forms read.
fn operation_only(t: &Text, at: usize) -> Option<Statement> {
    let before = t.slice(t.floor(at.saturating_sub(4)), at).to_ascii_lowercase();
    if before.ends_with("is ") || before.ends_with("are ") || before.ends_with("am ") {
        return None;
    }
    let mut cur = at + "not authorized to perform".len();
    if t.at(cur, ":") {
        cur += 1;
    }
    cur = t.skip_spaces(cur);
    let end = t.token_end(cur, t.len());
    let token = t.slice(cur, end).trim_end_matches(['.', ',', ';', ':', '"', '\'', '`', ')']);
    let action = iam_action(token)?;
    let mut f = Finding { kind: Some(Kind::Denial), action: Some(action), ..Finding::default() };
    cur += token.len();
    cur = resource(t, cur, &mut f);
    cur = reason(t, cur, &mut f);
    if t.at(cur, ".") {
        cur += 1;
    }
    if f.resource.is_none() {
        // The .NET SDK names the role before STS's message: `Error calling AssumeRole for role arn:...`.
        let lo = t.floor(at.saturating_sub(300));
        if let Some(r) = t.rfind("for role arn:", lo, at) {
            let arn_at = r + "for role ".len();
            let arn = t.slice(arn_at, t.token_end(arn_at, at));
            f.resource = Some(trim_resource_tail(arn).to_string()).filter(|a| a.contains(":role/"));
        }
    }
    f.message = t.slice(at, cur).trim().to_string();
    Some(Statement { start: at, end: cur, form: Form::Full, finding: f })
}

/// The principal clause before the anchor: `User: X ` (X as printed) or a bare ARN; `User is ...` names nobody.
fn principal_before(t: &Text, at: usize) -> (usize, Option<String>) {
    let lo = t.floor(at.saturating_sub(400));
    if let Some(u) = t.rfind("user:", lo, at) {
        let p = t.slice(u + "user:".len(), at).trim();
        let p = p.trim_matches(|c| matches!(c, '"' | '\'' | '`'));
        if p.is_empty() {
            return (u, None);
        }
        if p.split(' ').count() <= 3 {
            return (u, Some(p.to_string()));
        }
    }
    let before = t.slice(lo, at).trim_end();
    let tok_start = before.rfind(' ').map_or(0, |i| i + 1);
    let token = before[tok_start..].trim_matches(|c| matches!(c, '"' | '\'' | '`'));
    let abs = lo + tok_start;
    let previous = before[..tok_start].trim_end();
    let previous = previous.rsplit(' ').next().unwrap_or("").trim_start_matches(['"', '\'', '`']);
    if token.starts_with("arn:") {
        (abs, Some(token.to_string()))
    } else if previous.eq_ignore_ascii_case("user") && !token.is_empty() && !token.eq_ignore_ascii_case("user") {
        // "User NAME is not authorized ..." (no colon)
        (abs - previous.len() - 1, Some(token.to_string()))
    } else if token.eq_ignore_ascii_case("user") {
        (abs, None)
    } else {
        (at, None)
    }
}

/// `service:Action` in IAM form: the service prefix lowercased, the action name as printed.
fn iam_action(token: &str) -> Option<String> {
    let (svc, name) = token.split_once(':')?;
    let svc_ok = !svc.is_empty() && svc.len() <= 40 && svc.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '-' || c == '_');
    (svc_ok && name_ok).then(|| format!("{}:{}", svc.to_ascii_lowercase(), name))
}

/// Phrases that end a resource (the reason, the authorization-ID pointer, an SDK's tail).
const RESOURCE_ENDS: &[&str] = &[
    " because no ",
    " because ",
    " with an explicit deny",
    " with an implicit deny",
    " with an explicit",
    ". go to http",
    " go to http",
    " or call the getrequestauthorizationdetails",
    " authorization id:",
    ". encoded authorization failure message",
    " encoded authorization failure message",
    " (service:",
    " status code:",
    " (status code:",
    "\"",
    "</",
    "`",
    " - ",
];

/// `on resource[:] R` or `on ARN`; returns the position after it.
fn resource(t: &Text, cur: usize, f: &mut Finding) -> usize {
    let c = t.skip_spaces(cur);
    let at = if t.at(c, "on resource") {
        let mut a = c + "on resource".len();
        if t.at(a, ":") {
            a += 1;
        }
        t.skip_spaces(a)
    } else if t.at(c, "on ") && (t.at(c + 3, "arn:") || t.at(c + 3, "\"") || t.at(c + 3, "*")) {
        c + 3
    } else {
        return cur;
    };
    let limit = t.floor((at + 2048).min(t.len()));
    // `[arn:...]`, `(arn:...)`, `<arn:...>`: a wrapper's brackets, not part of the ARN.
    let at = if t.slice(at, at + 1).starts_with(['[', '(', '<', '{']) && t.at(at + 1, "arn:") { at + 1 } else { at };
    let first = t.slice(at, at + 1);
    if let Some(q) = first.chars().next().filter(|c| matches!(c, '"' | '\'' | '`')) {
        let close = t.s.get(at + 1..limit).and_then(|r| r.find(q)).map(|i| at + 1 + i);
        if let Some(close) = close {
            let r = t.slice(at + 1, close).trim();
            if !r.is_empty() {
                f.resource = Some(resource_value(r));
            }
            return close + 1;
        }
    }
    let end = RESOURCE_ENDS.iter().filter_map(|e| t.find(e, at, limit)).min().unwrap_or(limit);
    let phrase = t.slice(at, end);
    let first_token = phrase.split(' ').next().unwrap_or("");
    let value = if first_token.starts_with("arn:") || first_token == "*" {
        arn_with_placeholders(phrase)
    } else {
        let mut words = 0;
        let cut = phrase.char_indices().find(|(_, c)| {
            if *c == ' ' {
                words += 1;
            }
            words >= 6
        });
        cut.map_or(phrase, |(i, _)| &phrase[..i])
    };
    let value = trim_resource_tail(value.trim());
    if value.is_empty() {
        return cur;
    }
    f.resource = Some(resource_value(value));
    at + value.len()
}

/// Strip what wrappers leave after a resource: a full stop, commas, a closing quote or bracket with
/// no opening one in the resource, a trailing colon. An elision (`...`, `…`) is kept: it is the
/// resource as printed, shortened.
fn trim_resource_tail(mut v: &str) -> &str {
    loop {
        if v.ends_with("...") || v.ends_with('…') {
            return v;
        }
        let Some(c) = v.chars().last() else { return v };
        let unbalanced = |open: char| v.matches(open).count() < v.matches(c).count();
        let strip = match c {
            '.' | ',' | ';' | '"' | '\'' | '`' => true,
            // CloudWatch Logs resources end in a colon of their own (`log-group:NAME:log-stream:`).
            ':' => !(v.contains("log-group:") || v.contains(":log-stream")),
            ')' => unbalanced('('),
            ']' => unbalanced('['),
            '>' => unbalanced('<'),
            '}' => unbalanced('{'),
            _ => false,
        };
        if !strip || v.len() == 1 {
            return v;
        }
        v = &v[..v.len() - c.len_utf8()];
    }
}

/// The resource as denyctl reports it: an SQS queue URL becomes the queue's ARN (what policies name).
fn resource_value(printed: &str) -> String {
    sqs_queue_arn(printed).unwrap_or_else(|| printed.to_string())
}

/// `https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE` (and the legacy `REGION.queue.amazonaws.com`,
/// `queue.amazonaws.com` for us-east-1, and China's `.amazonaws.com.cn`) as `arn:PARTITION:sqs:REGION:ACCOUNT:QUEUE`.
pub(crate) fn sqs_queue_arn(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let (base, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(b) => (b, true),
        None => (host.strip_suffix(".amazonaws.com")?, false),
    };
    let region = if base == "queue" {
        "us-east-1".to_string()
    } else if let Some(r) = base.strip_prefix("sqs.") {
        r.to_string()
    } else if let Some(r) = base.strip_suffix(".queue") {
        r.to_string()
    } else {
        return None;
    };
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let mut parts = path.trim_end_matches('/').split('/');
    let (account, queue) = (parts.next()?, parts.next()?);
    let ok = |p: &str| !p.is_empty() && !p.contains(['?', '#', ' ', ':']);
    if !ok(account) || !ok(queue) || parts.next().is_some() {
        return None;
    }
    let partition = if china {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    Some(format!("arn:{partition}:sqs:{region}:{account}:{queue}"))
}

/// An ARN is one token, except that redacted ARNs carry placeholders with spaces (`<<account number>>`).
fn arn_with_placeholders(phrase: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in phrase.char_indices() {
        match c {
            '<' | '{' => depth += 1,
            '>' | '}' => depth -= 1,
            ' ' if depth <= 0 => return &phrase[..i],
            _ => {}
        }
    }
    phrase
}

/// The policy types by every name AWS prints, longest first where one contains another.
const POLICY_NAMES: &[(&str, PolicyType)] = &[
    ("identity-based policies", PolicyType::Identity),
    ("identity-based policy", PolicyType::Identity),
    ("identity based policy", PolicyType::Identity),
    ("identity policy", PolicyType::Identity),
    ("resource-based policies", PolicyType::Resource),
    ("resource-based policy", PolicyType::Resource),
    ("resource based policy", PolicyType::Resource),
    ("resource policy", PolicyType::Resource),
    ("permissions boundaries", PolicyType::PermissionsBoundary),
    ("permissions boundary", PolicyType::PermissionsBoundary),
    ("permission boundary", PolicyType::PermissionsBoundary),
    ("permissions-boundary", PolicyType::PermissionsBoundary),
    ("sessions policy", PolicyType::Session),
    ("session policies", PolicyType::Session),
    ("session policy", PolicyType::Session),
    ("service control policies", PolicyType::Scp),
    ("service control policy", PolicyType::Scp),
    ("service-control policy", PolicyType::Scp),
    ("scp", PolicyType::Scp),
    ("resource control policies", PolicyType::Rcp),
    ("resource control policy", PolicyType::Rcp),
    ("rcp", PolicyType::Rcp),
    ("vpc endpoint policies", PolicyType::VpcEndpoint),
    ("vpc endpoint policy", PolicyType::VpcEndpoint),
    ("vpc-endpoint policy", PolicyType::VpcEndpoint),
    ("endpoint policy", PolicyType::VpcEndpoint),
    ("role trust policy", PolicyType::Trust),
    ("trust policies", PolicyType::Trust),
    ("trust policy", PolicyType::Trust),
    ("assume role policy", PolicyType::Trust),
];

/// `[a|an|the|any] POLICY-TYPE` at `cur`: the type and the position after it.
fn policy_type(t: &Text, cur: usize) -> Option<(PolicyType, usize)> {
    let mut c = t.skip_spaces(cur);
    for article in ["an ", "a ", "the ", "any "] {
        if t.at(c, article) {
            c += article.len();
            break;
        }
    }
    let whole = POLICY_NAMES
        .iter()
        .filter(|(name, _)| t.at(c, name))
        .filter(|(name, _)| t.slice(c + name.len(), c + name.len() + 1).chars().next().is_none_or(|ch| !ch.is_ascii_alphanumeric()))
        .max_by_key(|(name, _)| name.len())
        .map(|(name, ty)| (*ty, c + name.len()));
    whole.or_else(|| truncated_policy_type(t, c))
}

/// A policy type the console cut short with an ellipsis (`because no VPC endpoint pol...`): the
/// fragment counts when every name it begins names the same type.
fn truncated_policy_type(t: &Text, c: usize) -> Option<(PolicyType, usize)> {
    let limit = t.floor((c + 40).min(t.len()));
    let cut = [t.find("...", c, limit), t.find("…", c, limit)].into_iter().flatten().min()?;
    let fragment = t.lower.get(c..cut)?;
    if fragment.trim().len() < 4 {
        return None;
    }
    let mut types = POLICY_NAMES.iter().filter(|(name, _)| name.starts_with(fragment)).map(|(_, ty)| *ty);
    let first = types.next()?;
    types.all(|ty| ty == first).then_some((first, cut))
}

/// `because no TYPE allows the ACTION action` | `with an explicit deny [in TYPE[: ARN] [transitively through TYPE]]`.
fn reason(t: &Text, cur: usize, f: &mut Finding) -> usize {
    let mut c = t.skip_spaces(cur);
    // Some messages put other words before the reason ("on the resource associated with this ciphertext because no ...").
    if !t.at(c, "because no ") && !t.at(c, "with an ") {
        let limit = t.find("is not authorized to ", c, (c + 300).min(t.len())).unwrap_or((c + 300).min(t.len()));
        let ahead = ["because no ", "with an explicit deny", "with an implicit deny"].iter().filter_map(|r| t.find(r, c, limit)).min();
        match ahead {
            Some(a) if !t.slice(c, a).contains(". ") => c = a,
            _ => return cur,
        }
    }
    if t.at(c, "because no ") {
        f.deny = Some(DenyKind::Implicit);
        let after_no = c + "because no ".len();
        let mut end = after_no;
        if let Some((ty, e)) = policy_type(t, after_no) {
            f.policy_type = Some(ty);
            end = e;
        }
        // "... allows the ACTION action": consume it. The action is usually known already (and AWS
        // sometimes misspells this copy); when the message left it out, this is where it is.
        if let Some(a) = t.find(" action", end, (end + 200).min(t.len())) {
            let allows = t.slice(end, a).trim_start();
            if allows.to_ascii_lowercase().starts_with("allows") {
                if f.action.is_none() {
                    let named = allows.rsplit(' ').next().unwrap_or("");
                    f.action = iam_action(named.trim_matches(|c| matches!(c, '"' | '\'' | '`')));
                }
                end = a + " action".len();
            }
        }
        return end;
    }
    for (lead, kind) in [("with an explicit deny", DenyKind::Explicit), ("with an implicit deny", DenyKind::Implicit)] {
        if !t.at(c, lead) {
            continue;
        }
        f.deny = Some(kind);
        let mut end = c + lead.len();
        let after = t.skip_spaces(end);
        if t.at(after, "in ") {
            if let Some((ty, e)) = policy_type(t, after + 3) {
                f.policy_type = Some(ty);
                end = e;
                end = policy_arn(t, end, f);
                let tr = t.skip_spaces(end);
                if t.at(tr, "transitively through ") {
                    if let Some((via, e)) = policy_type(t, tr + "transitively through ".len()) {
                        f.transitive_via = Some(via);
                        end = e;
                    }
                }
            }
        }
        return end;
    }
    cur
}

/// `: arn:aws:iam::123456789012:policy/Name` after a policy type.
fn policy_arn(t: &Text, cur: usize, f: &mut Finding) -> usize {
    if !t.at(cur, ":") {
        return cur;
    }
    let at = t.skip_spaces(cur + 1);
    if !t.at(at, "arn:") {
        return cur;
    }
    let end = t.token_end(at, t.len());
    let arn = t.slice(at, end).trim_end_matches(['.', ',', ';', '"', '\'', ')']);
    f.policy_arn = Some(arn.to_string());
    at + arn.len()
}

/// S3's `Access Denied`, not other software's "Access denied for user ...".
fn s3_bare(t: &Text, at: usize) -> Option<Statement> {
    let end = at + "Access Denied".len();
    if t.at(end, " for ") || t.slice(t.floor(at.saturating_sub(1)), at).chars().any(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(bare(t, at, end, "s3", None))
}

/// SQS's `Access to the resource URL is denied.`: the URL is the resource, as printed.
fn sqs_bare(t: &Text, at: usize) -> Option<Statement> {
    let url_at = at + "access to the resource ".len();
    let is = t.find(" is denied", url_at, (url_at + 400).min(t.len()))?;
    let url = t.slice(url_at, is).trim();
    let service = match service_of_host(url).as_deref() {
        Some("sqs") | None => "sqs",
        Some(_) => "",
    };
    let mut s = bare(t, at, is + " is denied".len(), if service.is_empty() { "sqs" } else { service }, None);
    if !url.is_empty() {
        s.finding.resource = Some(resource_value(url));
    }
    if t.at(s.end, ".") {
        s.end += 1;
    }
    Some(s)
}

/// A statement that names no principal (and, unless given, no action).
fn bare(t: &Text, start: usize, end: usize, service: &'static str, action: Option<&str>) -> Statement {
    let mut end = end;
    if t.at(end, ".") {
        end += 1;
    }
    let f = Finding { kind: Some(Kind::Denial), action: action.map(str::to_string), message: t.slice(start, end).to_string(), ..Finding::default() };
    Statement { start, end, form: Form::Bare { service }, finding: f }
}

/// A look-alike error phrase.
fn look_alike(t: &Text, start: usize, end: usize, family: &LookAlike) -> Statement {
    let mut end = end;
    if t.at(end, ".") {
        end += 1;
    }
    let f = Finding { kind: Some(Kind::NotADenial), other_error: Some(family.name.to_string()), message: t.slice(start, end).to_string(), ..Finding::default() };
    Statement { start, end, form: Form::LookAlike, finding: f }
}

/// Only `Encoded authorization failure message: BLOB`, with nothing else recognisable around it.
fn encoded_only(t: &Text) -> Option<Statement> {
    let at = t.find("encoded authorization failure message:", 0, t.len())?;
    let end = at + "encoded authorization failure message:".len();
    let f = Finding { kind: Some(Kind::Denial), message: t.slice(at, end).to_string(), ..Finding::default() };
    Some(Statement { start: at, end, form: Form::Encoded, finding: f })
}

/// The encoded message and the authorization ID that follow a statement, up to the next one.
fn attach_suffixes(t: &Text, f: &mut Finding, from: usize, to: usize) {
    if let Some(at) = t.find("encoded authorization failure message:", from, to) {
        f.encoded_message = true;
        let b = t.skip_spaces(at + "encoded authorization failure message:".len());
        let end = t.s.get(b..to).map_or(b, |r| b + r.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='))).unwrap_or(r.len()));
        let blob = t.slice(b, end);
        if !blob.is_empty() {
            f.encoded_blob = Some(blob.to_string());
        }
    }
    f.authorization_id = authorization_id(t, from, to);
}

/// `... with the following authorization id: ID`, or the console link `.../authorization-details/ID`.
fn authorization_id(t: &Text, from: usize, to: usize) -> Option<String> {
    let id_at = |lead: &str| -> Option<String> {
        let at = t.find(lead, from, to)? + lead.len();
        let at = t.skip_spaces(at);
        let rest = t.s.get(at..to)?;
        let len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        (4..=256).contains(&len).then(|| rest[..len].to_string())
    };
    id_at("authorization id:").or_else(|| id_at("/authorization-details/"))
}

/// Fill a statement's finding from its wrapper: the action from the operation, the codes, the IDs.
fn complete(mut f: Finding, form: Form, w: Wrapper, catalog: &dyn ActionCatalog) -> Finding {
    let service = w.service.clone().or_else(|| match form {
        Form::Bare { service } => Some(service.to_string()),
        _ => None,
    });
    // A wrapper that names only the operation (`... when calling the HeadObject operation: Forbidden`):
    // an operation only one service has names its service.
    let service = service.or_else(|| w.operation.as_deref().and_then(|op| catalog.service_for_operation(op)));
    // The action a message names says the service too (`Not authorized to perform sts:AssumeRole`).
    let service = service.or_else(|| f.action.as_deref().and_then(|a| a.split_once(':')).map(|(svc, _)| svc.to_string()));
    if f.action.is_none() && form != Form::LookAlike {
        if let (Some(svc), Some(op)) = (service.as_deref(), w.operation.as_deref()) {
            f.action = catalog.action_for(svc, op);
        }
    }
    f.service = service;
    f.operation = w.operation;
    f.request_id = w.request_id;
    if let (Form::LookAlike, Some(code)) = (form, w.error_code.as_deref()) {
        // Report the code AWS actually sent when it belongs to this family (UnrecognizedClientException, ...).
        if lookalike::by_code(code).is_some_and(|l| Some(l.name) == f.other_error.as_deref()) {
            f.other_error = Some(code.to_string());
        }
    }
    f.error_code = w.error_code;
    f.finish()
}

/// No statement, but a wrapper with a denial or look-alike code: `An error occurred (AccessDenied) when calling ...: <unknown text>`.
fn from_wrapper_only(t: &Text, catalog: &dyn ActionCatalog, hint: Option<&Hint>) -> Option<Finding> {
    let mut w = wrapper::anywhere(t, catalog);
    if let Some(h) = hint {
        w = w.or(h.clone());
    }
    let code = w.error_code.clone()?;
    let message = t.s.chars().take(2000).collect::<String>();
    if lookalike::is_denial_code(&code) {
        let f = Finding { kind: Some(Kind::Denial), message, ..Finding::default() };
        return Some(complete(f, Form::Full, w, catalog));
    }
    let family = lookalike::by_code(&code)?;
    let f = Finding { kind: Some(Kind::NotADenial), other_error: Some(family.name.to_string()), message, ..Finding::default() };
    Some(complete(f, Form::LookAlike, w, catalog))
}

/// Drop repeats of the same finding (tools print a message twice), keeping the first and filling its gaps.
fn merge_duplicates(findings: Vec<Finding>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for f in findings {
        // A repeat says the same or less: every field it has agrees with an earlier finding.
        let covered = |mine: &Option<String>, theirs: &Option<String>| mine.is_none() || mine == theirs;
        let same = out.iter_mut().find(|o| {
            o.kind == f.kind
                && o.other_error.as_deref().map(family_of) == f.other_error.as_deref().map(family_of)
                && covered(&f.principal, &o.principal)
                && covered(&f.action, &o.action)
                && covered(&f.resource, &o.resource)
                && (f.policy_type.is_none() || f.policy_type == o.policy_type)
                && (f.deny.is_none() || f.deny == o.deny)
        });
        match same {
            Some(o) => {
                o.error_code = o.error_code.take().or(f.error_code);
                o.operation = o.operation.take().or(f.operation);
                o.service = o.service.take().or(f.service);
                o.request_id = o.request_id.take().or(f.request_id);
                o.authorization_id = o.authorization_id.take().or(f.authorization_id);
                o.encoded_blob = o.encoded_blob.take().or(f.encoded_blob);
                o.encoded_message |= f.encoded_message;
            }
            None => out.push(f),
        }
    }
    out
}

/// The family name of a look-alike code (so `UnrecognizedClientException` repeats `InvalidClientTokenId`).
fn family_of(code: &str) -> &str {
    lookalike::by_code(code).map_or(code, |l| l.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuiltinCatalog;

    fn one(s: &str) -> Finding {
        let mut v = parse_text(s, &BuiltinCatalog, None);
        assert_eq!(v.len(), 1, "{v:#?}");
        v.remove(0)
    }

    #[test]
    fn full_grammar_with_policy_arn_and_authorization_id() {
        let f = one("User: arn:aws:iam::123456789012:user/janedoe is not authorized to perform: iam:CreateInstanceProfile on resource: arn:aws:iam::123456789012:instance-profile/my-instance-profile with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/ExampleDenyPolicy. Go to https://us-east-1.console.aws.amazon.com/iam/home?region=us-east-1#/authorization-details/EXAMPLE1a2b3c4d5e6f7g8h9i0j for complete details, or call the GetRequestAuthorizationDetails API with the following authorization id: EXAMPLE1a2b3c4d5e6f7g8h9i0j");
        assert_eq!(f.resource.as_deref(), Some("arn:aws:iam::123456789012:instance-profile/my-instance-profile"));
        assert_eq!(f.policy_type, Some(PolicyType::Identity));
        assert_eq!(f.deny, Some(DenyKind::Explicit));
        assert_eq!(f.policy_arn.as_deref(), Some("arn:aws:iam::123456789012:policy/ExampleDenyPolicy"));
        assert_eq!(f.authorization_id.as_deref(), Some("EXAMPLE1a2b3c4d5e6f7g8h9i0j"));
        assert!(!f.message.contains("GetRequestAuthorizationDetails"), "{}", f.message);
    }

    #[test]
    fn resource_phrases_that_are_not_arns() {
        let f = one("User: arn:aws:iam::304349946642:user/Scout is not authorized to perform: iam:ListPolicies on resource: policy path / with an explicit deny");
        assert_eq!(f.resource.as_deref(), Some("policy path /"));
        assert_eq!(f.deny, Some(DenyKind::Explicit));
        assert_eq!(f.policy_type, None);
    }

    #[test]
    fn several_messages_in_one_log() {
        let v = parse_text("ERROR An error occurred (AccessDenied) when calling the ListGroups operation: User: arn:aws:iam::1:user/S is not authorized to perform: iam:ListGroups on resource: arn:aws:iam::1:group/ with an explicit deny\nERROR An error occurred (AccessDenied) when calling the ListUsers operation: User: arn:aws:iam::1:user/S is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::1:user/ with an explicit deny", &BuiltinCatalog, None);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].operation.as_deref(), Some("ListGroups"));
        assert_eq!(v[1].operation.as_deref(), Some("ListUsers"));
    }

    #[test]
    fn bare_s3_takes_action_from_wrapper() {
        let f = one("An error occurred (AccessDenied) when calling the HeadObject operation: Access Denied");
        assert_eq!(f.action.as_deref(), Some("s3:GetObject"));
        assert_eq!(f.principal, None);
        assert!(f.unknown.contains(&"principal"));
    }

    #[test]
    fn look_alike_keeps_real_code() {
        let f = one("An error occurred (UnrecognizedClientException) when calling the ListTables operation: The security token included in the request is invalid.");
        assert_eq!(f.kind, Some(Kind::NotADenial));
        assert_eq!(f.other_error.as_deref(), Some("UnrecognizedClientException"));
    }

    #[test]
    fn policy_type_cut_with_an_ellipsis() {
        let f = one("User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: codecommit:ListRepositories because no VPC endpoint pol...");
        assert_eq!(f.policy_type, Some(PolicyType::VpcEndpoint));
        assert_eq!(f.deny, Some(DenyKind::Implicit));
        let f = one("User: arn:aws:iam::1:user/J is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no resource…");
        assert_eq!(f.policy_type, None, "resource-based or resource control: ambiguous");
    }

    #[test]
    fn action_only_in_the_reason() {
        let f = one("User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform this action because no identity-based policy allows the lambda:ListFunctions action");
        assert_eq!(f.action.as_deref(), Some("lambda:ListFunctions"));
        assert_eq!(f.policy_type, Some(PolicyType::Identity));
    }

    #[test]
    fn mysql_access_denied_is_not_s3() {
        assert!(parse_text("ERROR 1045 (28000): Access Denied for user 'root'@'localhost'", &BuiltinCatalog, None).is_empty());
    }
}
