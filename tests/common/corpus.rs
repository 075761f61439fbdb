//! A deterministic generator of a realistic CloudTrail corpus with planted denial groups, in an
//! organization trail's layout (`AWSLogs/o-…/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/….json.gz`).
//! Used by tests/triage.rs (triage must find exactly the planted groups, counts equal) and by the
//! triage benchmark. Self-contained (serde_json, flate2) so any test or bench can `#[path]`-include it.
//!
//! What is in it: assumed-role sessions (many session names per role, the role's path only in the
//! session issuer), IAM users, the console (signin user agent, AWS Internal), service principals
//! (AWSService with invokedBy), EC2's `Client.UnauthorizedOperation` with an encoded authorization
//! message, explicit denies naming an SCP or a resource policy, S3 object keys under prefixes (one
//! group with `--fold`), look-alikes (ExpiredToken, clock skew), other errors (throttling) and
//! successful calls around them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// The organization the trail belongs to.
pub const ORG: &str = "o-a1b2c3d4e5";
/// Its accounts: management, then two members.
pub const ACCOUNTS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];
/// The regions events come from.
pub const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// The first day of the corpus (it spans `days` days from here).
pub const START: (u32, u32, u32) = (2025, 3, 1);

/// One group the generator planted, as triage (with `--fold`) must report it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planted {
    /// Account of the principal (the recording account for a service principal).
    pub account: String,
    /// Role or user ARN, or the service.
    pub principal: String,
    /// IAM action.
    pub action: String,
    /// Resource (folded), or None.
    pub resource: Option<String>,
    /// Error code.
    pub error_code: String,
    /// `explicit`/`implicit` when the message says.
    pub deny_kind: Option<String>,
    /// Policy type when the message names it.
    pub policy_type: Option<String>,
    /// Events planted.
    pub count: u64,
}

/// Size of a corpus.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Denial events of the six realistic groups (spread over them unevenly).
    pub denials: u64,
    /// Extra synthetic groups (IAM users denied s3:GetObject on their own bucket), for scale.
    pub extra_groups: u64,
    /// Events per extra group.
    pub per_extra_group: u64,
    /// Successful events per denial event (noise).
    pub noise_per_denial: u64,
    /// Look-alike events (ExpiredToken, clock skew), and as many throttling errors.
    pub look_alikes: u64,
    /// Days covered.
    pub days: u32,
    /// Events per log file.
    pub per_file: usize,
}

impl Spec {
    /// The corpus the tests use: ~1,000 denials over 6 groups, 30 extra groups, noise and look-alikes.
    pub fn small() -> Spec {
        Spec { denials: 900, extra_groups: 30, per_extra_group: 3, noise_per_denial: 2, look_alikes: 40, days: 3, per_file: 150 }
    }
}

/// What was written.
#[derive(Debug, Default)]
pub struct Corpus {
    /// The planted groups, sorted.
    pub planted: Vec<Planted>,
    /// Look-alike events by what they really are.
    pub look_alikes: BTreeMap<String, u64>,
    /// Throttling (other) errors.
    pub other_errors: u64,
    /// Every event written.
    pub events: u64,
    /// Files written, relative to the root (`AWSLogs/…`).
    pub files: Vec<String>,
    /// Bytes written (compressed).
    pub bytes: u64,
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    /// Next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// In 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn uuid(r: &mut Rng) -> String {
    let a = r.next();
    let b = r.next();
    format!("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, b >> 52, b & 0xffff_ffff_ffff)
}

/// The six realistic groups: (identity maker, event maker) as a kind index.
const KINDS: usize = 6;
/// Their share of the denials (out of the sum).
const WEIGHTS: [u64; KINDS] = [40, 20, 15, 10, 10, 5];

struct Ev {
    account: &'static str,
    region: &'static str,
    time: String,
    value: Value,
}

fn time_of(day: u32, secs: u64) -> String {
    let (y, m, d) = START;
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{:02}T{:02}:{:02}:{:02}Z", d + day, s / 3600, (s / 60) % 60, s % 60)
}

fn assumed(account: &str, role: &str, path: &str, session: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROA{}EXAMPLE:{session}", &account[..6]),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}EXAMPLE", &account[..6]),
                "arn": format!("arn:aws:iam::{account}:role/{path}{role}"), "accountId": account, "userName": role},
            "attributes": {"creationDate": "2025-03-01T00:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

fn user(account: &str, name: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{account}:user/{name}"),
        "accountId": account, "accessKeyId": "AKIAEXAMPLE", "userName": name})
}

#[allow(clippy::too_many_arguments)]
fn event(r: &mut Rng, time: &str, identity: Value, source: &str, name: &str, region: &str, agent: &str, ip: &str, error: Option<(&str, &str)>, resources: Option<Value>, recipient: &str) -> Value {
    let mut v = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": {"example": true},
        "responseElements": null,
        "requestID": uuid(r),
        "eventID": uuid(r),
        "readOnly": name.starts_with("Get") || name.starts_with("List") || name.starts_with("Describe"),
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap_or(""))}
    });
    if let Some((code, msg)) = error {
        v["errorCode"] = code.into();
        v["errorMessage"] = msg.into();
    }
    if let Some(res) = resources {
        v["resources"] = res;
    }
    v
}

/// One denial event of realistic group `kind`; and the group it belongs to.
fn denial(r: &mut Rng, kind: usize, time: &str) -> (Ev, Planted) {
    let ip = format!("10.{}.{}.{}", r.below(4), r.below(16), r.below(250));
    let region = REGIONS[r.below(2) as usize];
    let p = |account: &str, principal: String, action: &str, resource: Option<String>, code: &str, dk: Option<&str>, pt: Option<&str>| Planted {
        account: account.into(),
        principal,
        action: action.into(),
        resource,
        error_code: code.into(),
        deny_kind: dk.map(Into::into),
        policy_type: pt.map(Into::into),
        count: 1,
    };
    match kind {
        // CI role sessions (many sessions, one role with a path) putting build artifacts: no identity allow.
        0 => {
            let a = ACCOUNTS[1];
            let session = format!("gh-run-{}", r.below(40));
            let key = format!("builds/{}/app-{}.zip", r.below(5), r.below(1000));
            let msg = format!("User: arn:aws:sts::{a}:assumed-role/ci-deploy/{session} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::artifacts-{a}/{key}\" because no identity-based policy allows the s3:PutObject action");
            let agents = ["aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22 command/s3.cp", "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 api/s3#1.51.4", "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux"];
            let agent = agents[r.below(3) as usize];
            let ev = event(r, time, assumed(a, "ci-deploy", "build/", &session), "s3.amazonaws.com", "PutObject", region, agent, &ip, Some(("AccessDenied", &msg)), None, a);
            let planted = p(a, format!("arn:aws:iam::{a}:role/build/ci-deploy"), "s3:PutObject", Some(format!("arn:aws:s3:::artifacts-{a}/builds/{}/*", key.split('/').nth(1).unwrap_or(""))), "AccessDenied", Some("implicit"), Some("identity"));
            (Ev { account: a, region, time: time.into(), value: ev }, planted)
        }
        // An IAM user writing to DynamoDB: explicit deny in an SCP.
        1 => {
            let a = ACCOUNTS[1];
            let msg = format!("User: arn:aws:iam::{a}:user/alice is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:{a}:table/orders with an explicit deny in a service control policy");
            let ev = event(r, time, user(a, "alice"), "dynamodb.amazonaws.com", "PutItem", "us-east-1", "aws-sdk-java/2.25.11 Linux/5.10 OpenJDK_64-Bit_Server_VM/17", &ip, Some(("AccessDenied", &msg)), None, a);
            let planted = p(a, format!("arn:aws:iam::{a}:user/alice"), "dynamodb:PutItem", Some(format!("arn:aws:dynamodb:us-east-1:{a}:table/orders")), "AccessDenied", Some("explicit"), Some("scp"));
            (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, planted)
        }
        // EC2 RunInstances from an instance role: Client.UnauthorizedOperation with an encoded message.
        2 => {
            let a = ACCOUNTS[2];
            let session = format!("i-0{:015x}", r.below(6));
            let blob: String = (0..120).map(|i| (b'A' + ((r.next() >> (i % 40)) % 26) as u8) as char).collect();
            let msg = format!("You are not authorized to perform this operation. Encoded authorization failure message: {blob}");
            let ev = event(r, time, assumed(a, "app-runner", "", &session), "ec2.amazonaws.com", "RunInstances", "us-east-1", "aws-sdk-go/1.50.0 (go1.21; linux; amd64)", &ip, Some(("Client.UnauthorizedOperation", &msg)), None, a);
            let planted = p(a, format!("arn:aws:iam::{a}:role/app-runner"), "ec2:RunInstances", None, "Client.UnauthorizedOperation", None, None);
            (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, planted)
        }
        // The console: a user listing roles.
        3 => {
            let a = ACCOUNTS[0];
            let msg = format!("User: arn:aws:iam::{a}:user/console-bob is not authorized to perform: iam:ListRoles on resource: arn:aws:iam::{a}:role/ because no identity-based policy allows the iam:ListRoles action");
            let agent = if r.below(2) == 0 { "AWS Internal" } else { "signin.amazonaws.com" };
            let ev = event(r, time, user(a, "console-bob"), "iam.amazonaws.com", "ListRoles", "us-east-1", agent, "203.0.113.7", Some(("AccessDenied", &msg)), None, a);
            let planted = p(a, format!("arn:aws:iam::{a}:user/console-bob"), "iam:ListRoles", Some(format!("arn:aws:iam::{a}:role/")), "AccessDenied", Some("implicit"), Some("identity"));
            (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, planted)
        }
        // A service principal (AWS Config) reading a bucket: "Access Denied", the resource from `resources`.
        4 => {
            let a = ACCOUNTS[0];
            let ident = json!({"type": "AWSService", "invokedBy": "config.amazonaws.com"});
            let res = json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::config-{a}/AWSLogs/{a}/Config/file-{}.json", r.below(100))}, {"accountId": a, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::config-{a}")}]);
            let ev = event(r, time, ident, "s3.amazonaws.com", "GetObject", region, "config.amazonaws.com", "config.amazonaws.com", Some(("AccessDenied", "Access Denied")), Some(res), a);
            let planted = p(a, "config.amazonaws.com".into(), "s3:GetObject", Some(format!("arn:aws:s3:::config-{a}/AWSLogs/{a}/Config/*")), "AccessDenied", None, None);
            (Ev { account: a, region, time: time.into(), value: ev }, planted)
        }
        // Cross-account: a member's role decrypting with the management account's key: explicit deny in the key policy.
        _ => {
            let (a, owner) = (ACCOUNTS[2], ACCOUNTS[0]);
            let session = format!("etl-{}", r.below(3));
            let msg = format!("User: arn:aws:sts::{a}:assumed-role/analytics/{session} is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:{owner}:key/1234abcd-12ab-34cd-56ef-1234567890ab with an explicit deny in a resource-based policy");
            let ev = event(r, time, assumed(a, "analytics", "", &session), "kms.amazonaws.com", "Decrypt", "us-east-1", "Boto3/1.34.69 md/Botocore#1.34.69", &ip, Some(("AccessDeniedException", &msg)), None, a);
            let planted = p(a, format!("arn:aws:iam::{a}:role/analytics"), "kms:Decrypt", Some(format!("arn:aws:kms:us-east-1:{owner}:key/1234abcd-12ab-34cd-56ef-1234567890ab")), "AccessDeniedException", Some("explicit"), Some("resource"));
            (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, planted)
        }
    }
}

/// A denial of extra group `g` (user u{g} reading its bucket, in one of the accounts).
fn extra(r: &mut Rng, g: u64, time: &str) -> (Ev, Planted) {
    let a = ACCOUNTS[(g % 3) as usize];
    let msg = format!("User: arn:aws:iam::{a}:user/u{g} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::data-{g}/k/{}\" because no identity-based policy allows the s3:GetObject action", r.below(50));
    let ev = event(r, time, user(a, &format!("u{g}")), "s3.amazonaws.com", "GetObject", "us-east-1", "aws-cli/2.15.30", "10.9.9.9", Some(("AccessDenied", &msg)), None, a);
    let planted = Planted {
        account: a.into(),
        principal: format!("arn:aws:iam::{a}:user/u{g}"),
        action: "s3:GetObject".into(),
        resource: Some(format!("arn:aws:s3:::data-{g}/k/*")),
        error_code: "AccessDenied".into(),
        deny_kind: Some("implicit".into()),
        policy_type: Some("identity".into()),
        count: 1,
    };
    (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, planted)
}

fn noise(r: &mut Rng, time: &str) -> Ev {
    let a = ACCOUNTS[r.below(3) as usize];
    let region = REGIONS[r.below(2) as usize];
    let (src, name) = [("s3.amazonaws.com", "GetObject"), ("sts.amazonaws.com", "AssumeRole"), ("ec2.amazonaws.com", "DescribeInstances"), ("kms.amazonaws.com", "Decrypt"), ("dynamodb.amazonaws.com", "Query")][r.below(5) as usize];
    let ev = event(r, time, assumed(a, "app", "", "i-0abc"), src, name, region, "aws-sdk-go-v2/1.25.2", "10.1.2.3", None, None, a);
    Ev { account: a, region, time: time.into(), value: ev }
}

fn look_alike(r: &mut Rng, i: u64, time: &str) -> (Ev, &'static str) {
    let a = ACCOUNTS[r.below(3) as usize];
    let (code, msg, name) = match i % 3 {
        0 => ("ExpiredToken", "The security token included in the request is expired", "ExpiredToken"),
        1 => ("SignatureDoesNotMatch", "Signature expired: 20250301T000000Z is now earlier than 20250301T001500Z (20250301T003000Z - 15 min.)", "SignatureDoesNotMatch"),
        _ => ("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", "RequestTimeTooSkewed"),
    };
    let ev = event(r, time, assumed(a, "laptop", "", "dev"), "s3.amazonaws.com", "ListBuckets", "us-east-1", "aws-cli/2.15.30", "198.51.100.4", Some((code, msg)), None, a);
    (Ev { account: a, region: "us-east-1", time: time.into(), value: ev }, name)
}

fn throttled(r: &mut Rng, time: &str) -> Ev {
    let a = ACCOUNTS[r.below(3) as usize];
    let ev = event(r, time, assumed(a, "app", "", "i-0abc"), "dynamodb.amazonaws.com", "Query", "us-east-1", "aws-sdk-go-v2/1.25.2", "10.1.2.3", Some(("ThrottlingException", "Rate exceeded")), None, a);
    Ev { account: a, region: "us-east-1", time: time.into(), value: ev }
}

/// Generate the corpus and hand each file (relative path, gzip bytes) to `sink`, file by file:
/// at most one file's events are in memory.
pub fn generate(spec: Spec, seed: u64, mut sink: impl FnMut(&str, Vec<u8>)) -> Corpus {
    let mut r = Rng::new(seed);
    let mut c = Corpus::default();
    let mut planted: BTreeMap<Planted, u64> = BTreeMap::new();
    let total_w: u64 = WEIGHTS.iter().sum();
    // A plan of what to emit, in order: (kind code, index). Built lazily per file to bound memory.
    let denials = spec.denials;
    let extras = spec.extra_groups * spec.per_extra_group;
    let total = denials + extras + spec.look_alikes * 2 + (denials + extras) * spec.noise_per_denial;
    let per_day = total.div_ceil(spec.days.max(1) as u64).max(1);
    // Buckets of events per (account, region, day) until a file is full.
    let mut open: BTreeMap<(&'static str, &'static str, u32), Vec<Value>> = BTreeMap::new();
    let mut file_no = 0u64;
    let mut flush = |key: (&'static str, &'static str, u32), records: Vec<Value>, c: &mut Corpus, sink: &mut dyn FnMut(&str, Vec<u8>)| {
        let (a, region, day) = key;
        let (y, m, d) = START;
        let d = d + day;
        file_no += 1;
        let path = format!("AWSLogs/{ORG}/{a}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}/{a}_CloudTrail_{region}_{y:04}{m:02}{d:02}T{:04}Z_{:016x}.json.gz", file_no % 2400, file_no);
        let body = serde_json::to_vec(&json!({"Records": records})).expect("json");
        let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 8), flate2::Compression::fast());
        enc.write_all(&body).expect("gzip");
        let gz = enc.finish().expect("gzip");
        c.bytes += gz.len() as u64;
        c.files.push(path.clone());
        sink(&path, gz);
    };
    let mut emitted = 0u64;
    let mut push = |ev: Ev, c: &mut Corpus, open: &mut BTreeMap<(&'static str, &'static str, u32), Vec<Value>>, sink: &mut dyn FnMut(&str, Vec<u8>)| {
        let day = ev.time[8..10].parse::<u32>().unwrap_or(START.2) - START.2;
        let key = (ev.account, ev.region, day);
        let list = open.entry(key).or_default();
        list.push(ev.value);
        c.events += 1;
        if list.len() >= spec.per_file {
            let records = std::mem::take(list);
            flush(key, records, c, sink);
        }
    };
    let mut next_time = |r: &mut Rng| {
        let day = ((emitted / per_day) as u32).min(spec.days.saturating_sub(1));
        emitted += 1;
        time_of(day, r.below(86_400))
    };
    let mut kind_left: Vec<u64> = WEIGHTS.iter().map(|w| denials * w / total_w).collect();
    kind_left[0] += denials - kind_left.iter().sum::<u64>();
    let mut extra_left: Vec<u64> = vec![spec.per_extra_group; spec.extra_groups as usize];
    let (mut la_left, mut thr_left) = (spec.look_alikes, spec.look_alikes);
    let mut k = 0usize;
    let mut g = 0u64;
    loop {
        let mut did = false;
        for _ in 0..KINDS {
            k = (k + 1) % KINDS;
            if kind_left[k] > 0 {
                kind_left[k] -= 1;
                let t = next_time(&mut r);
                let (ev, p) = denial(&mut r, k, &t);
                *planted.entry(p).or_default() += 1;
                push(ev, &mut c, &mut open, &mut sink);
                did = true;
                break;
            }
        }
        if spec.extra_groups > 0 {
            for _ in 0..spec.extra_groups {
                g = (g + 1) % spec.extra_groups;
                if extra_left[g as usize] > 0 {
                    extra_left[g as usize] -= 1;
                    let t = next_time(&mut r);
                    let (ev, p) = extra(&mut r, g, &t);
                    *planted.entry(p).or_default() += 1;
                    push(ev, &mut c, &mut open, &mut sink);
                    did = true;
                    break;
                }
            }
        }
        if did {
            for _ in 0..spec.noise_per_denial {
                let t = next_time(&mut r);
                let ev = noise(&mut r, &t);
                push(ev, &mut c, &mut open, &mut sink);
            }
        }
        if la_left > 0 {
            la_left -= 1;
            let t = next_time(&mut r);
            let (ev, name) = look_alike(&mut r, la_left, &t);
            *c.look_alikes.entry(name.to_string()).or_default() += 1;
            push(ev, &mut c, &mut open, &mut sink);
            did = true;
        }
        if thr_left > 0 {
            thr_left -= 1;
            let t = next_time(&mut r);
            push(throttled(&mut r, &t), &mut c, &mut open, &mut sink);
            c.other_errors += 1;
            did = true;
        }
        if !did {
            break;
        }
    }
    for (key, records) in std::mem::take(&mut open) {
        if !records.is_empty() {
            flush(key, records, &mut c, &mut sink);
        }
    }
    c.planted = planted.into_iter().map(|(mut p, n)| {
        p.count = n;
        p
    }).collect();
    c
}

/// Generate into a folder (the trail layout under `root`).
pub fn write_to(root: &Path, spec: Spec, seed: u64) -> Corpus {
    generate(spec, seed, |rel, bytes| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, bytes).expect("write");
    })
}
