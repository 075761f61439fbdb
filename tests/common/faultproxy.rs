//! A fault-injecting HTTP proxy between denyctl and moto, started by the tests on 127.0.0.1 with
//! a free port (std only, one thread per connection). denyctl points at it with AWS_ENDPOINT_URL.
//!
//! Each call is matched by rules on its service (the SigV4 credential scope of the Authorization
//! header), its operation (the `X-Amz-Target` header, the `Action=` form or query parameter, or
//! for S3 the method and path, e.g. `GetBucketPolicy`, `PutObject`), optionally a piece of its
//! request (`METHOD PATH RANGE`, e.g. one object's `bytes=0-999`), the nth matching call,
//! and a probability drawn from a fixed seed. A matched call gets one fault:
//!
//! - `Throttle`: the service's throttling error (`Throttling` for the query protocol,
//!   `ThrottlingException` for JSON, S3 `503 SlowDown`), not forwarded;
//! - `Http429`, `Http500`, `Http503`: that status with an error body, not forwarded;
//! - `Reset`: the connection is closed before the request is forwarded (nothing reaches moto);
//! - `Delay(d)`: forwarded, then answered after `d` (past the client's attempt timeout);
//! - `Truncate`: forwarded, then half the body is sent under the full Content-Length and the
//!   connection closed (the call took effect; the client cannot tell).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Throttle,
    Http429,
    Http500,
    Http503,
    Reset,
    Delay(Duration),
    Truncate,
}

impl Fault {
    /// A short label for reports.
    pub fn label(&self) -> &'static str {
        match self {
            Fault::Throttle => "throttle",
            Fault::Http429 => "429",
            Fault::Http500 => "500",
            Fault::Http503 => "503",
            Fault::Reset => "reset",
            Fault::Delay(_) => "delay",
            Fault::Truncate => "truncate",
        }
    }
}

/// A rule: which calls get which fault.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The SigV4 service (`iam`, `s3`, `organizations`); `None`: any.
    pub service: Option<String>,
    /// The operation (`GetRole`, `GetBucketPolicy`); `None`: any.
    pub operation: Option<String>,
    /// Only the nth matching call (1-based); `None`: every matching call.
    pub nth: Option<usize>,
    /// The chance a matching call gets the fault.
    pub probability: f64,
    /// The fault.
    pub fault: Fault,
    /// Only requests whose `METHOD PATH RANGE` contains this; `None`: any.
    pub request: Option<String>,
}

impl Rule {
    /// Every call of `service` (any operation) with probability `p`.
    pub fn service(service: &str, p: f64, fault: Fault) -> Rule {
        Rule { service: Some(service.into()), operation: None, nth: None, probability: p, fault, request: None }
    }

    /// The nth call of `operation` of `service`, always.
    pub fn nth(service: &str, operation: &str, nth: usize, fault: Fault) -> Rule {
        Rule { service: Some(service.into()), operation: Some(operation.into()), nth: Some(nth), probability: 1.0, fault, request: None }
    }

    /// Every call of `operation` of `service` whose request contains `request`, always.
    pub fn request(service: &str, operation: &str, request: &str, fault: Fault) -> Rule {
        Rule { service: Some(service.into()), operation: Some(operation.into()), nth: None, probability: 1.0, fault, request: Some(request.into()) }
    }

    fn matches(&self, service: &str, operation: &str, request: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == service) && self.operation.as_deref().is_none_or(|o| o == operation) && self.request.as_deref().is_none_or(|r| request.contains(r))
    }
}

/// The rules in force, and the seed their probabilities are drawn from.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    pub seed: u64,
    pub rules: Vec<Rule>,
}

/// A call that went through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub service: String,
    pub operation: String,
    /// The fault injected, if any.
    pub fault: Option<&'static str>,
}

#[derive(Default)]
struct State {
    schedule: Schedule,
    /// Matching calls so far, per rule.
    matched: Vec<usize>,
    /// Calls so far, per (service, operation): the index mixed into the seeded draw.
    occurrences: HashMap<(String, String), u64>,
    seen: Vec<Seen>,
}

impl State {
    fn decide(&mut self, service: &str, operation: &str, request: &str) -> Option<Fault> {
        let occ = {
            let n = self.occurrences.entry((service.to_string(), operation.to_string())).or_default();
            *n += 1;
            *n
        };
        self.matched.resize(self.schedule.rules.len(), 0);
        let mut chosen = None;
        for (i, r) in self.schedule.rules.iter().enumerate() {
            if !r.matches(service, operation, request) {
                continue;
            }
            self.matched[i] += 1;
            if chosen.is_some() || r.nth.is_some_and(|n| n != self.matched[i]) {
                continue;
            }
            let draw = unit(mix(self.schedule.seed, i as u64, service, operation, occ));
            if draw < r.probability {
                chosen = Some(r.fault);
            }
        }
        self.seen.push(Seen { service: service.into(), operation: operation.into(), fault: chosen.map(|f| f.label()) });
        chosen
    }
}

/// splitmix64 over the seed, the rule and the call: the same schedule and calls, the same faults.
fn mix(seed: u64, rule: u64, service: &str, operation: &str, occurrence: u64) -> u64 {
    let mut h = seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ occurrence.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for b in service.bytes().chain([b'/']).chain(operation.bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x1000_0000_01B3);
    }
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The running proxy.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts forwarding 127.0.0.1:(free port) to 127.0.0.1:`upstream`, with no rules.
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &st);
                });
            }
        });
        FaultProxy { port, endpoint: format!("http://127.0.0.1:{port}"), state, stop }
    }

    /// Puts a schedule in force (counters start again).
    pub fn set(&self, schedule: Schedule) {
        let mut s = self.state.lock().unwrap();
        *s = State { schedule, ..Default::default() };
    }

    /// No faults from now on.
    pub fn clear(&self) {
        self.set(Schedule::default());
    }

    /// The calls seen since the schedule was set.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many faults were injected since the schedule was set.
    pub fn injected(&self) -> usize {
        self.state.lock().unwrap().seen.iter().filter(|s| s.fault.is_some()).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A parsed HTTP message head.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "head cut short"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Some(Head { start: start.trim_end().to_string(), headers }))
}

/// A body framed by Content-Length or chunked encoding (or, with `to_eof`, the rest).
fn read_body(r: &mut impl BufRead, head: &Head, to_eof: bool) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if n == 0 {
                // Trailers until the empty line.
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l)? == 0 || l.trim().is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let mut chunk = vec![0; n];
            r.read_exact(&mut chunk)?;
            body.extend(chunk);
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    }
    if let Some(n) = head.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if to_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

fn query_param<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// (service, operation) of a request.
fn classify(method: &str, target: &str, head: &Head, body: &[u8]) -> (String, String) {
    let service = head
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split(',').next())
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if let Some(t) = head.get("x-amz-target") {
        return (service, t.rsplit('.').next().unwrap_or(t).to_string());
    }
    if let Some(a) = query_param(query, "Action").or_else(|| std::str::from_utf8(body).ok().and_then(|b| query_param(b, "Action"))) {
        return (service, a.to_string());
    }
    if service == "s3" {
        let verb = match method {
            "GET" => "Get",
            "PUT" => "Put",
            "DELETE" => "Delete",
            "HEAD" => "Head",
            _ => "Post",
        };
        let segments = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).count();
        let sub = query.split('&').map(|kv| kv.split('=').next().unwrap_or("")).find(|k| !k.is_empty() && !k.starts_with("x-") && *k != "list-type");
        let op = match (segments, sub) {
            (0, _) => format!("{verb}Buckets"),
            (1, Some(s)) => format!("{verb}Bucket{}{}", s[..1].to_ascii_uppercase(), &s[1..]),
            (1, None) => format!("{verb}Bucket"),
            (_, _) => format!("{verb}Object"),
        };
        return (service, op);
    }
    (service, format!("{method} {path}"))
}

fn error_response(status: u16, service: &str, json: bool, code: &str, message: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let (ctype, body) = if json {
        ("application/x-amz-json-1.1", format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"))
    } else if service == "s3" {
        ("application/xml", format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>faultproxy</RequestId></Error>"))
    } else {
        (
            "text/xml",
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>faultproxy</RequestId></ErrorResponse>"),
        )
    };
    (status, vec![("Content-Type".into(), ctype.into())], body.into_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        204 => "No Content",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_response(w: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8], head_only: bool, cut: bool) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        if ["connection", "transfer-encoding", "keep-alive"].iter().any(|h| k.eq_ignore_ascii_case(h)) || (!head_only && k.eq_ignore_ascii_case("content-length")) {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !head_only {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: keep-alive\r\n\r\n");
    w.write_all(out.as_bytes())?;
    if !head_only {
        let n = if cut { body.len() / 2 } else { body.len() };
        w.write_all(&body[..n])?;
    }
    w.flush()
}

/// Sends the request to moto (HTTP/1.0, one connection) and reads the whole answer.
fn forward(upstream: u16, method: &str, target: &str, head: &Head, body: &[u8]) -> std::io::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {target} HTTP/1.0\r\n");
    for (k, v) in &head.headers {
        if ["connection", "expect", "transfer-encoding", "content-length", "keep-alive"].iter().any(|h| k.eq_ignore_ascii_case(h)) {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    up.write_all(req.as_bytes())?;
    up.write_all(body)?;
    let mut r = BufReader::new(up);
    let rh = read_head(&mut r)?.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no answer"))?;
    let status = rh.start.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(502);
    let rbody = if method == "HEAD" || status == 204 || status == 304 { Vec::new() } else { read_body(&mut r, &rh, true)? };
    Ok((status, rh.headers, rbody))
}

fn serve(conn: TcpStream, upstream: u16, state: &Mutex<State>) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    while let Some(head) = read_head(&mut r)? {
        let mut parts = head.start.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("GET").to_string(), parts.next().unwrap_or("/").to_string());
        if head.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = read_body(&mut r, &head, false)?;
        let (service, operation) = classify(&method, &target, &head, &body);
        let request = format!("{method} {} {}", target.split('?').next().unwrap_or(""), head.get("range").unwrap_or(""));
        let fault = state.lock().unwrap_or_else(|e| e.into_inner()).decide(&service, &operation, &request);
        let json = head.get("x-amz-target").is_some();
        let head_only = method == "HEAD";
        let canned = |status: u16, code: &str, msg: &str| error_response(status, &service, json, code, msg);
        let answer = match fault {
            Some(Fault::Throttle) if service == "s3" => canned(503, "SlowDown", "Please reduce your request rate."),
            Some(Fault::Throttle) if json => canned(400, "ThrottlingException", "Rate exceeded"),
            Some(Fault::Throttle) => canned(400, "Throttling", "Rate exceeded"),
            Some(Fault::Http429) => canned(429, "TooManyRequestsException", "Too Many Requests"),
            Some(Fault::Http500) => canned(500, if json { "InternalFailure" } else { "InternalError" }, "We encountered an internal error. Please try again."),
            Some(Fault::Http503) => canned(503, "ServiceUnavailable", "Service is unavailable. Please try again."),
            Some(Fault::Reset) => {
                let _ = w.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Delay(d)) => {
                let a = forward(upstream, &method, &target, &head, &body)?;
                std::thread::sleep(d);
                a
            }
            Some(Fault::Truncate) => {
                let (status, headers, b) = forward(upstream, &method, &target, &head, &body)?;
                if b.len() < 2 || head_only {
                    // Nothing to cut: close instead (the call took effect, no answer came back).
                    let _ = w.shutdown(Shutdown::Both);
                    return Ok(());
                }
                write_response(&mut w, status, &headers, &b, false, true)?;
                let _ = w.shutdown(Shutdown::Both);
                return Ok(());
            }
            None => forward(upstream, &method, &target, &head, &body)?,
        };
        let (status, headers, b) = answer;
        write_response(&mut w, status, &headers, &b, head_only, false)?;
    }
    Ok(())
}
