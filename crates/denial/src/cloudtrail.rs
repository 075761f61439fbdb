//! JSON input: CloudTrail events (one event; a `{"Records": [...]}` log file; `aws cloudtrail
//! lookup-events` output, whose events are JSON strings in `CloudTrailEvent`; JSON lines; events
//! nested in a log export), and JSON error objects (SDK error dumps, Lambda `errorMessage`).

use serde_json::{Map, Value};

use crate::catalog::ActionCatalog;
use crate::grammar::{self, Hint};
use crate::lookalike;
use crate::model::{CloudTrailInfo, Finding, Kind, Parsed, Skipped};
use crate::record::{EventRecord, Field};
use crate::Error;

/// How deep to look for events inside other JSON.
const MAX_DEPTH: usize = 6;

/// Parse JSON input; `Ok(None)` when the input is not JSON this module reads (the caller reads it as text).
pub(crate) fn parse_json(text: &str, catalog: &dyn ActionCatalog) -> Result<Option<Parsed>, Error> {
    let starts_json = text.starts_with(['{', '[', '"']);
    if starts_json {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => return Ok(from_value(&v, catalog)),
            Err(e) => {
                if let Some(p) = json_lines(text, catalog) {
                    return Ok(Some(p));
                }
                if names_cloudtrail(text) {
                    return Err(Error::BadJson { reason: e.to_string() });
                }
            }
        }
    }
    // An event pasted inside other text: a Markdown fence, a log line, a ticket.
    if names_cloudtrail(text) {
        if let (Some(a), Some(b)) = (text.find('{'), text.rfind('}')) {
            if let Some(inner) = text.get(a..=b) {
                if let Ok(v) = serde_json::from_str::<Value>(inner) {
                    if let Some(p) = from_value(&v, catalog).filter(|p| p.records.is_some()) {
                        return Ok(Some(p));
                    }
                }
            }
        }
    }
    Ok(None)
}

fn names_cloudtrail(text: &str) -> bool {
    text.contains("\"eventSource\"") || text.contains("\"CloudTrailEvent\"") || (text.contains("\"Records\"") && text.contains("\"eventName\""))
}

/// Events collected from a JSON document, and the records that could not be read.
#[derive(Default)]
struct Collected {
    events: Vec<Value>,
    skipped: Vec<Skipped>,
    cloudtrail: bool,
}

fn from_value(v: &Value, catalog: &dyn ActionCatalog) -> Option<Parsed> {
    if let Value::String(s) = v {
        let findings = grammar::parse_text(s, catalog, None);
        return (!findings.is_empty()).then(|| Parsed { findings, ..Parsed::default() });
    }
    let mut c = Collected::default();
    walk(v, 0, &mut c);
    if c.cloudtrail || !c.events.is_empty() {
        return Some(parsed_events(c, catalog));
    }
    from_error_object(v, catalog)
}

fn parsed_events(c: Collected, catalog: &dyn ActionCatalog) -> Parsed {
    let records = c.events.len() + c.skipped.len();
    let findings = c.events.iter().filter_map(|e| e.as_object()).filter_map(|e| event_finding(e, catalog)).collect();
    Parsed { findings, skipped: c.skipped, records: Some(records) }
}

/// JSON lines: one event per line; a broken line is skipped and reported.
fn json_lines(text: &str, catalog: &dyn ActionCatalog) -> Option<Parsed> {
    let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    if lines.len() < 2 || !lines.iter().all(|(_, l)| l.starts_with('{')) {
        return None;
    }
    let mut c = Collected::default();
    let mut good = 0;
    for (n, line) in lines {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => {
                good += 1;
                let before = c.events.len();
                walk(&v, 0, &mut c);
                if c.events.len() == before {
                    c.skipped.push(Skipped { location: format!("line {n}"), reason: "not a CloudTrail event (no eventSource/eventName)".into() });
                }
            }
            Err(e) => c.skipped.push(Skipped { location: format!("line {n}"), reason: format!("not valid JSON: {e}") }),
        }
    }
    (good > 0 && !c.events.is_empty()).then(|| parsed_events(c, catalog))
}

fn is_event(o: &Map<String, Value>) -> bool {
    let named = o.get("eventSource").is_some_and(Value::is_string) || o.get("eventName").is_some_and(Value::is_string);
    named && (o.contains_key("userIdentity") || o.contains_key("errorCode") || o.contains_key("eventTime"))
}

/// Why a record of a `Records` array is not a readable event.
fn record_problem(v: &Value) -> Option<String> {
    let Some(o) = v.as_object() else {
        return Some(format!("not a JSON object but {}", kind_of(v)));
    };
    for key in ["eventSource", "eventName"] {
        match o.get(key) {
            Some(Value::String(_)) => {}
            Some(other) => return Some(format!("{key} is {}, expected a string", kind_of(other))),
            None => return Some(format!("no {key}")),
        }
    }
    if let Some(code) = o.get("errorCode").filter(|c| !c.is_string() && !c.is_null()) {
        return Some(format!("errorCode is {}, expected a string", kind_of(code)));
    }
    None
}

/// What kind of JSON value this is, for messages ("a number", "an object").
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn walk(v: &Value, depth: usize, c: &mut Collected) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(o) => {
            if is_event(o) {
                c.cloudtrail = true;
                c.events.push(v.clone());
                return;
            }
            if let Some(Value::Array(records)) = o.get("Records") {
                c.cloudtrail = true;
                for (i, r) in records.iter().enumerate() {
                    match record_problem(r) {
                        None => c.events.push(r.clone()),
                        Some(reason) => c.skipped.push(Skipped { location: format!("record {}", i + 1), reason }),
                    }
                }
                return;
            }
            if let Some(Value::Array(events)) = o.get("Events") {
                if events.iter().any(|e| e.get("CloudTrailEvent").is_some()) {
                    c.cloudtrail = true;
                    for (i, e) in events.iter().enumerate() {
                        lookup_event(e, &format!("event {}", i + 1), c);
                    }
                    return;
                }
            }
            if o.contains_key("CloudTrailEvent") {
                c.cloudtrail = true;
                lookup_event(v, "event 1", c);
                return;
            }
            for child in o.values() {
                walk(child, depth + 1, c);
            }
        }
        Value::Array(items) => {
            for child in items {
                walk(child, depth + 1, c);
            }
        }
        Value::String(s) if depth > 0 && s.trim_start().starts_with('{') && s.contains("\"eventSource\"") => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                walk(&inner, depth + 1, c);
            }
        }
        _ => {}
    }
}

/// One item of `aws cloudtrail lookup-events` output: the event is a JSON string in `CloudTrailEvent`.
fn lookup_event(item: &Value, location: &str, c: &mut Collected) {
    let skip = |c: &mut Collected, reason: String| c.skipped.push(Skipped { location: location.to_string(), reason });
    match item.get("CloudTrailEvent") {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(ev) => match record_problem(&ev) {
                None => c.events.push(ev),
                Some(reason) => skip(c, reason),
            },
            Err(e) => skip(c, format!("CloudTrailEvent is not valid JSON: {e}")),
        },
        Some(Value::Object(_)) => {
            let ev = item.get("CloudTrailEvent").cloned().unwrap_or(Value::Null);
            match record_problem(&ev) {
                None => c.events.push(ev),
                Some(reason) => skip(c, reason),
            }
        }
        Some(other) => skip(c, format!("CloudTrailEvent is {}, expected a JSON string", kind_of(other))),
        None => skip(c, "no CloudTrailEvent".into()),
    }
}

/// Remembered readings of error messages, for many events that repeat the same message (a batch
/// over CloudTrail): the same message, code, operation and service always read the same.
#[derive(Default)]
pub struct MessageMemo {
    map: std::collections::HashMap<String, Vec<Finding>>,
    /// The key being looked up (built here, so a hit allocates nothing).
    key: String,
}

/// Most messages a memo keeps (then it starts again).
const MEMO_LIMIT: usize = 8192;

/// A finding for one event with an access error; `None` for events that succeeded or failed otherwise.
pub fn event_finding(ev: &Map<String, Value>, catalog: &dyn ActionCatalog) -> Option<Finding> {
    event_finding_memo(ev, catalog, None)
}

/// [`event_finding`], reading each distinct message once through `memo`.
pub fn event_finding_memo(ev: &Map<String, Value>, catalog: &dyn ActionCatalog, memo: Option<&mut MessageMemo>) -> Option<Finding> {
    record_finding(&EventRecord::from_map(ev), catalog, memo)
}

/// [`event_finding`] of an event's fields read straight from its text ([`EventRecord::from_json`]).
pub fn record_finding(ev: &EventRecord<'_>, catalog: &dyn ActionCatalog, memo: Option<&mut MessageMemo>) -> Option<Finding> {
    let code = ev.error_code.text()?;
    let message = ev.error_message.text().unwrap_or("");
    let source = ev.event_source.text();
    let name = ev.event_name.text();
    let service = source.and_then(|s| catalog.service_prefix(s));
    let hint = || Hint { error_code: Some(code.to_string()), operation: name.map(str::to_string), service: service.clone(), request_id: None };
    let parsed;
    let from_message: &[Finding] = if message.is_empty() {
        &[]
    } else if let Some(memo) = memo {
        memo.key.clear();
        for part in [code, name.unwrap_or(""), service.as_deref().unwrap_or(""), message] {
            memo.key.push_str(part);
            memo.key.push('\u{1}');
        }
        if !memo.map.contains_key(memo.key.as_str()) {
            let found = grammar::parse_text(message, catalog, Some(&hint()));
            if memo.map.len() >= MEMO_LIMIT {
                memo.map.clear();
            }
            memo.map.insert(memo.key.clone(), found);
        }
        memo.map.get(memo.key.as_str()).map_or(&[], Vec::as_slice)
    } else {
        parsed = grammar::parse_text(message, catalog, Some(&hint()));
        &parsed
    };
    let look_alike = lookalike::by_code(code);
    let denial_in_message = from_message.iter().find(|f| f.kind == Some(Kind::Denial));
    let mut f = if lookalike::is_denial_code(code) || (look_alike.is_none() && denial_in_message.is_some()) {
        let mut f = denial_in_message.cloned().unwrap_or_default();
        f.kind = Some(Kind::Cloudtrail);
        f
    } else if let Some(l) = look_alike {
        Finding { kind: Some(Kind::NotADenial), other_error: Some(code.to_string()).filter(|_| l.codes.contains(&code)).or(Some(l.name.to_string())), ..Finding::default() }
    } else {
        from_message.iter().find(|f| f.kind == Some(Kind::NotADenial))?.clone()
    };

    let identity = &ev.identity;
    let id = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().map(str::to_string);
    let identity_type = id(&identity.kind);
    // The identity's ARN is authoritative; without one (AWSAccount, AWSService) the message may name the caller better.
    let fallback = || match identity_type.as_deref() {
        Some("AWSService") => id(&identity.invoked_by),
        Some("AWSAccount") => id(&identity.account_id),
        _ => id(&identity.user_name).or_else(|| id(&identity.principal_id)),
    };
    f.principal = id(&identity.arn).or(f.principal.take()).or_else(fallback);
    if f.kind != Some(Kind::NotADenial) && f.action.is_none() {
        if let (Some(svc), Some(op)) = (service.as_deref(), name) {
            f.action = catalog.action_for(svc, op);
        }
    }
    if f.resource.is_none() && f.kind != Some(Kind::NotADenial) {
        f.resource = ev.resource_arn.as_deref().map(str::to_string);
    }
    let text = |v: &Field<'_>| v.text().map(str::to_string);
    f.error_code = Some(code.to_string());
    f.operation = name.map(str::to_string);
    f.service = service;
    f.request_id = text(&ev.request_id);
    f.message = message.to_string();
    f.cloudtrail = Some(CloudTrailInfo {
        event_time: text(&ev.event_time),
        event_source: source.map(str::to_string),
        event_name: name.map(str::to_string),
        region: text(&ev.region),
        source_ip: text(&ev.source_ip),
        user_agent: text(&ev.user_agent),
        event_id: text(&ev.event_id),
        error_message: text(&ev.error_message),
        identity_type,
        session_issuer: id(&identity.session_issuer),
        invoked_by: id(&identity.invoked_by),
        recipient_account: text(&ev.recipient_account),
    });
    Some(f.finish())
}

/// A JSON error object (`{"__type": ..., "message": ...}`, a JS SDK error dump, a Lambda error): read its strings as text.
fn from_error_object(v: &Value, catalog: &dyn ActionCatalog) -> Option<Parsed> {
    let mut strings = Vec::new();
    let mut code = None;
    collect_strings(v, 0, &mut strings, &mut code);
    let text = strings.join("\n");
    let hint = Hint { error_code: code, ..Hint::default() };
    let findings = grammar::parse_text(&text, catalog, Some(&hint));
    (!findings.is_empty()).then(|| Parsed { findings, ..Parsed::default() })
}

fn collect_strings(v: &Value, depth: usize, out: &mut Vec<String>, code: &mut Option<String>) {
    if depth > MAX_DEPTH || out.len() > 10_000 {
        return;
    }
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, depth + 1, out, code)),
        Value::Object(o) => {
            for (k, x) in o {
                if let (true, Some(s)) = (matches!(k.as_str(), "code" | "Code" | "__type" | "errorCode" | "ErrorCode" | "name" | "errorType"), x.as_str()) {
                    let c = s.rsplit('#').next().unwrap_or(s);
                    if code.is_none() && (lookalike::is_denial_code(c) || lookalike::by_code(c).is_some()) {
                        *code = Some(c.to_string());
                    }
                }
                collect_strings(x, depth + 1, out, code);
            }
        }
        _ => {}
    }
}
