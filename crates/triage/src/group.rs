//! Grouping: each denial event into (account, principal, action, resource, error code, deny kind,
//! policy type), with the statistics a queue needs; look-alikes counted apart.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use denyctl_denial::{BuiltinCatalog, DenyKind, Finding, Kind, PolicyType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::read::{self, EventSink, ReadError};

/// How events are grouped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Fold S3 object keys to their prefix (`arn:aws:s3:::b/logs/2025/a.gz` → `arn:aws:s3:::b/logs/2025/*`).
    pub fold: bool,
}

/// What makes two denials the same problem.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    /// The principal's account (else the account that recorded the event).
    pub account: String,
    /// The principal: a role ARN for role sessions, a user ARN, a service (`ec2.amazonaws.com`).
    pub principal: String,
    /// The IAM action (`s3:GetObject`).
    pub action: String,
    /// The resource ARN, folded with `--fold`; empty when the event does not name one.
    pub resource: String,
    /// The error code as CloudTrail records it.
    pub error_code: String,
    /// `explicit` or `implicit`, when the message says.
    pub deny_kind: Option<String>,
    /// The policy type the message names (`identity`, `scp`, `resource`, ...).
    pub policy_type: Option<String>,
}

/// Most user agents and distinct values remembered per group (beyond it: counted as "other").
const MAX_AGENTS: usize = 64;
/// Most distinct sessions or source IPs remembered per group; the count stops there (and says so).
const MAX_DISTINCT: usize = 100_000;

#[derive(Clone, Debug, Default)]
struct Stats {
    count: u64,
    sessions: HashSet<u64>,
    first: String,
    last: String,
    regions: BTreeSet<String>,
    ips: HashSet<u64>,
    agents: HashMap<String, u64>,
    other_agents: u64,
    /// (eventTime, eventID) of the earliest event: the sample (deterministic whatever the file order).
    sample: (String, String),
    session_sample: Option<String>,
    per_day: BTreeMap<String, u64>,
    encoded: u64,
    /// Lower bounds from query results (distinct counts the engine gave for part of the group).
    sessions_floor: u64,
    ips_floor: u64,
}

fn hash_of(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Stats {
    fn add(&mut self, ct: &denyctl_denial::CloudTrailInfo, session: Option<&str>, encoded: bool) {
        let time = ct.event_time.as_deref().unwrap_or("");
        let id = ct.event_id.as_deref().unwrap_or("");
        let (region, ip, agent) = (ct.region.as_deref(), ct.source_ip.as_deref(), ct.user_agent.as_deref());
        self.count += 1;
        if let Some(s) = session {
            if self.sessions.len() < MAX_DISTINCT {
                self.sessions.insert(hash_of(s));
            }
        }
        if self.first.is_empty() || time < self.first.as_str() {
            self.first = time.to_string();
        }
        if time > self.last.as_str() {
            self.last = time.to_string();
        }
        if let Some(r) = region {
            if !self.regions.contains(r) {
                self.regions.insert(r.to_string());
            }
        }
        if let Some(ip) = ip {
            if self.ips.len() < MAX_DISTINCT {
                self.ips.insert(hash_of(ip));
            }
        }
        if let Some(a) = agent {
            if let Some(n) = self.agents.get_mut(a) {
                *n += 1;
            } else if self.agents.len() < MAX_AGENTS {
                self.agents.insert(a.to_string(), 1);
            } else {
                self.other_agents += 1;
            }
        }
        if self.sample.0.is_empty() || (time, id) < (self.sample.0.as_str(), self.sample.1.as_str()) {
            self.sample = (time.to_string(), id.to_string());
            self.session_sample = session.map(str::to_string);
        }
        let day = time.get(..10).unwrap_or(time);
        match self.per_day.get_mut(day) {
            Some(n) => *n += 1,
            None => {
                self.per_day.insert(day.to_string(), 1);
            }
        }
        self.encoded += u64::from(encoded);
    }

    fn merge(&mut self, o: Stats) {
        self.count += o.count;
        self.sessions.extend(o.sessions.into_iter().take(MAX_DISTINCT.saturating_sub(self.sessions.len())));
        if self.first.is_empty() || (!o.first.is_empty() && o.first < self.first) {
            self.first = o.first;
        }
        if o.last > self.last {
            self.last = o.last;
        }
        self.regions.extend(o.regions);
        self.ips.extend(o.ips.into_iter().take(MAX_DISTINCT.saturating_sub(self.ips.len())));
        for (a, n) in o.agents {
            if let Some(m) = self.agents.get_mut(&a) {
                *m += n;
            } else if self.agents.len() < MAX_AGENTS {
                self.agents.insert(a, n);
            } else {
                self.other_agents += n;
            }
        }
        self.other_agents += o.other_agents;
        if !o.sample.0.is_empty() && (self.sample.0.is_empty() || o.sample < self.sample) {
            self.sample = o.sample;
            self.session_sample = o.session_sample;
        }
        for (d, n) in o.per_day {
            *self.per_day.entry(d).or_default() += n;
        }
        self.encoded += o.encoded;
        self.sessions_floor = self.sessions_floor.max(o.sessions_floor);
        self.ips_floor = self.ips_floor.max(o.ips_floor);
    }
}

/// A user agent and how many of the group's events it sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCount {
    /// The `userAgent`.
    pub agent: String,
    /// Events.
    pub count: u64,
}

/// One distinct problem: its key, its statistics, and (filled in by the caller) its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// See [`GroupKey::account`].
    pub account: String,
    /// See [`GroupKey::principal`].
    pub principal: String,
    /// A session name seen (the sample event's), for role sessions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_sample: Option<String>,
    /// See [`GroupKey::action`].
    pub action: String,
    /// See [`GroupKey::resource`]; `null` when the events name none.
    pub resource: Option<String>,
    /// See [`GroupKey::error_code`].
    pub error_code: String,
    /// See [`GroupKey::deny_kind`].
    pub deny_kind: Option<String>,
    /// See [`GroupKey::policy_type`].
    pub policy_type: Option<String>,
    /// Events in the group.
    pub count: u64,
    /// Distinct sessions (session names, else principals).
    pub sessions: u64,
    /// Earliest `eventTime`.
    pub first_seen: String,
    /// Latest `eventTime`.
    pub last_seen: String,
    /// Regions seen.
    pub regions: Vec<String>,
    /// Distinct source IP addresses (or calling services).
    pub source_ips: u64,
    /// The three commonest user agents.
    pub user_agents: Vec<AgentCount>,
    /// The earliest event's ID.
    pub sample_event_id: String,
    /// Events whose message carried an encoded authorization message.
    pub encoded_messages: u64,
    /// Events per day (`YYYY-MM-DD`).
    pub per_day: BTreeMap<String, u64>,
    /// The verdict, when a snapshot or `--live` gave one (`decision`, `denied_by`, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verdict: Option<Value>,
}

impl Group {
    /// The key this group was built from.
    pub fn key(&self) -> GroupKey {
        GroupKey {
            account: self.account.clone(),
            principal: self.principal.clone(),
            action: self.action.clone(),
            resource: self.resource.clone().unwrap_or_default(),
            error_code: self.error_code.clone(),
            deny_kind: self.deny_kind.clone(),
            policy_type: self.policy_type.clone(),
        }
    }
}

/// Look-alike events (expired tokens, clock skew, ...) of one kind: counted, not triaged as denials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookAlikeCount {
    /// What the error really is (`ExpiredToken`, `RequestTimeTooSkewed`, ...).
    pub error: String,
    /// Events.
    pub count: u64,
    /// Distinct principals.
    pub principals: u64,
    /// Earliest and latest `eventTime`.
    pub first_seen: String,
    /// Latest `eventTime`.
    pub last_seen: String,
}

/// A source that could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedSource {
    /// The file, object or query.
    pub source: String,
    /// Why.
    pub reason: String,
}

/// What was read, grouped and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Sources read (fully or partly).
    pub sources_read: u64,
    /// Sources skipped, with the reason (a partly read source is listed here and counted as read).
    pub sources_skipped: Vec<SkippedSource>,
    /// Events read (every record, denied or not).
    pub events: u64,
    /// Denial events (grouped).
    pub denials: u64,
    /// Groups.
    pub groups: u64,
    /// Look-alike events, by what they really are.
    pub look_alikes: Vec<LookAlikeCount>,
    /// Events with an errorCode that is neither a denial nor a look-alike (throttling, not found, ...).
    pub other_errors: u64,
    /// Records skipped inside sources that were read (missing fields, broken lines).
    pub skipped_events: u64,
    /// The first few of those, as `source: location: reason`.
    pub skipped_samples: Vec<String>,
}

#[derive(Default)]
struct LookAlikeAcc {
    count: u64,
    principals: HashSet<u64>,
    first: String,
    last: String,
}

const MAX_SKIPPED_SAMPLES: usize = 20;

/// The accumulator: feed it sources (each worker its own), merge, then take the ranked groups.
pub struct Triage {
    opts: Options,
    catalog: BuiltinCatalog,
    memo: denyctl_denial::MessageMemo,
    groups: HashMap<GroupKey, Stats>,
    look_alikes: BTreeMap<String, LookAlikeAcc>,
    summary: Summary,
    source: String,
}

impl Triage {
    /// An empty accumulator.
    pub fn new(opts: Options) -> Triage {
        Triage { opts, catalog: BuiltinCatalog, memo: denyctl_denial::MessageMemo::default(), groups: HashMap::new(), look_alikes: BTreeMap::new(), summary: Summary::default(), source: String::new() }
    }

    /// Read one source's bytes (a log file, plain or gzip; lookup-events output; JSON lines; long
    /// JSON lines a block at a time once decompressed).
    /// A source that cannot be read is recorded as skipped and its error returned.
    pub fn read(&mut self, source: &str, bytes: &[u8]) -> Result<u64, ReadError> {
        self.source = source.to_string();
        let res = read::read(bytes, self);
        self.count_source(source, res)
    }

    /// Read one source from a reader (a file), as [`Triage::read`] reads bytes in memory: at most
    /// one block of its text ([`crate::STREAM_BLOCK_BYTES`]) held when it is long JSON lines.
    /// `input_len`, when known (the file's length), sizes the buffer.
    pub fn read_stream(&mut self, source: &str, input: &mut dyn std::io::Read, input_len: Option<u64>) -> Result<u64, ReadError> {
        self.source = source.to_string();
        let res = read::read_stream(input, input_len, self);
        self.count_source(source, res)
    }

    fn count_source(&mut self, source: &str, res: Result<u64, ReadError>) -> Result<u64, ReadError> {
        match &res {
            Ok(n) => {
                self.summary.sources_read += 1;
                self.summary.events += n;
            }
            Err(ReadError::Broken { records, .. }) => {
                // Read in part: the records before the break count; broken before its first
                // record, nothing of it was read.
                if *records > 0 {
                    self.summary.sources_read += 1;
                    self.summary.events += records;
                }
                self.source_skipped(source, res.as_ref().err().map(ToString::to_string).unwrap_or_default());
            }
            Err(e) => self.source_skipped(source, e.to_string()),
        }
        res
    }

    /// Record a source (file, object, query, account) that could not be read.
    pub fn source_skipped(&mut self, source: &str, reason: String) {
        self.summary.sources_skipped.push(SkippedSource { source: source.to_string(), reason });
    }

    /// Count one source as read without reading bytes through [`Triage::read`] (query results).
    pub fn source_read(&mut self, events: u64) {
        self.summary.sources_read += 1;
        self.summary.events += events;
    }

    /// Record an event or row that could not be read, inside a source that was read.
    pub fn record_skipped(&mut self, location: String, reason: String) {
        self.summary.skipped_events += 1;
        if self.summary.skipped_samples.len() < MAX_SKIPPED_SAMPLES {
            self.summary.skipped_samples.push(format!("{location}: {reason}"));
        }
    }

    /// Count a look-alike finding (`n` events); `true` when it was one.
    fn look_alike(&mut self, f: &Finding, time_first: &str, time_last: &str, n: u64) -> bool {
        if f.kind != Some(Kind::NotADenial) {
            return false;
        }
        let name = f.other_error.clone().or_else(|| f.error_code.clone()).unwrap_or_else(|| "unknown".into());
        let acc = self.look_alikes.entry(name).or_default();
        acc.count += n;
        acc.principals.insert(hash_of(f.principal.as_deref().unwrap_or("")));
        if acc.first.is_empty() || time_first < acc.first.as_str() {
            acc.first = time_first.to_string();
        }
        if time_last > acc.last.as_str() {
            acc.last = time_last.to_string();
        }
        true
    }

    /// The group a denial finding belongs to, and its session name.
    fn key_of(&self, f: &Finding) -> (GroupKey, Option<String>) {
        let no_info = denyctl_denial::CloudTrailInfo::default();
        let ct = f.cloudtrail.as_ref().unwrap_or(&no_info);
        let raw_principal = f.principal.as_deref().unwrap_or("");
        let (principal, session) = normalise_principal(raw_principal, ct.session_issuer.as_deref());
        let account = f.account.clone().or_else(|| ct.recipient_account.clone()).unwrap_or_default();
        let action = f
            .action
            .clone()
            .or_else(|| Some(format!("{}:{}", f.service.as_deref()?, ct.event_name.as_deref()?)))
            .or_else(|| ct.event_name.clone())
            .unwrap_or_default();
        let mut resource = f.resource.clone().unwrap_or_default();
        if self.opts.fold {
            resource = fold_resource(&resource);
        }
        let key = GroupKey {
            account,
            principal,
            action,
            resource,
            error_code: f.error_code.clone().unwrap_or_default(),
            deny_kind: f.deny.map(deny_name),
            policy_type: f.policy_type.map(policy_name),
        };
        (key, session.or_else(|| f.principal.clone()))
    }

    /// Add one finding read from a CloudTrail event (explain's reader).
    pub fn add(&mut self, f: &Finding) {
        let Some(ct) = &f.cloudtrail else { return };
        let time = ct.event_time.as_deref().unwrap_or("");
        if self.look_alike(f, time, time, 1) {
            return;
        }
        let (key, session) = self.key_of(f);
        let stats = match self.groups.get_mut(&key) {
            Some(s) => s,
            None => self.groups.entry(key).or_default(),
        };
        stats.add(ct, session.as_deref(), f.encoded_message);
        self.summary.denials += 1;
    }

    /// Add one row of a server-side grouping (a query result): its sample event read with explain's
    /// reader decides the group; its statistics are merged in. `false` when the sample is not an
    /// access error explain reads (counted as other errors).
    pub fn add_aggregate(&mut self, sample: &Map<String, Value>, a: &crate::query::Aggregate) -> bool {
        self.summary.events += a.count;
        let Some(f) = denyctl_denial::cloudtrail_event(sample, &self.catalog) else {
            self.summary.other_errors += a.count;
            return false;
        };
        if self.look_alike(&f, &a.first_seen, &a.last_seen, a.count) {
            return true;
        }
        let (key, session) = self.key_of(&f);
        let mut s = Stats {
            count: a.count,
            first: a.first_seen.clone(),
            last: a.last_seen.clone(),
            regions: a.regions.iter().cloned().collect(),
            agents: a.user_agents.iter().cloned().collect(),
            sample: (a.first_seen.clone(), a.sample_event_id.clone()),
            session_sample: session,
            encoded: if f.encoded_message { a.count } else { 0 },
            sessions_floor: a.sessions,
            ips_floor: a.source_ips,
            ..Stats::default()
        };
        s.per_day.insert(a.day.clone(), a.count);
        match self.groups.get_mut(&key) {
            Some(mine) => mine.merge(s),
            None => {
                self.groups.insert(key, s);
            }
        }
        self.summary.denials += a.count;
        true
    }

    /// Merge another accumulator (another worker's) into this one.
    pub fn merge(&mut self, other: Triage) {
        for (k, s) in other.groups {
            match self.groups.get_mut(&k) {
                Some(mine) => mine.merge(s),
                None => {
                    self.groups.insert(k, s);
                }
            }
        }
        for (k, a) in other.look_alikes {
            let mine = self.look_alikes.entry(k).or_default();
            mine.count += a.count;
            mine.principals.extend(a.principals);
            if mine.first.is_empty() || (!a.first.is_empty() && a.first < mine.first) {
                mine.first = a.first;
            }
            if a.last > mine.last {
                mine.last = a.last;
            }
        }
        let o = other.summary;
        self.summary.sources_read += o.sources_read;
        self.summary.sources_skipped.extend(o.sources_skipped);
        self.summary.events += o.events;
        self.summary.denials += o.denials;
        self.summary.other_errors += o.other_errors;
        self.summary.skipped_events += o.skipped_events;
        for s in o.skipped_samples {
            if self.summary.skipped_samples.len() < MAX_SKIPPED_SAMPLES {
                self.summary.skipped_samples.push(s);
            }
        }
    }

    /// The groups, ranked: most events first, then most recent, then by key.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = self
            .groups
            .iter()
            .map(|(k, s)| {
                let mut agents: Vec<AgentCount> = s.agents.iter().map(|(a, n)| AgentCount { agent: a.clone(), count: *n }).collect();
                agents.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.agent.cmp(&b.agent)));
                agents.truncate(3);
                Group {
                    account: k.account.clone(),
                    principal: k.principal.clone(),
                    session_sample: s.session_sample.clone().filter(|x| *x != k.principal),
                    action: k.action.clone(),
                    resource: Some(k.resource.clone()).filter(|r| !r.is_empty()),
                    error_code: k.error_code.clone(),
                    deny_kind: k.deny_kind.clone(),
                    policy_type: k.policy_type.clone(),
                    count: s.count,
                    sessions: (s.sessions.len() as u64).max(s.sessions_floor),
                    first_seen: s.first.clone(),
                    last_seen: s.last.clone(),
                    regions: s.regions.iter().cloned().collect(),
                    source_ips: (s.ips.len() as u64).max(s.ips_floor),
                    user_agents: agents,
                    sample_event_id: s.sample.1.clone(),
                    encoded_messages: s.encoded,
                    per_day: s.per_day.clone(),
                    verdict: None,
                }
            })
            .collect();
        rank(&mut out);
        out
    }

    /// Events read and denials grouped so far (cheap: for progress).
    pub fn summary_counts(&self) -> (u64, u64) {
        (self.summary.events, self.summary.denials)
    }

    /// Groups so far.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// What was read and skipped.
    pub fn summary(&self) -> Summary {
        let mut s = self.summary.clone();
        s.groups = self.groups.len() as u64;
        s.look_alikes = self
            .look_alikes
            .iter()
            .map(|(k, a)| LookAlikeCount { error: k.clone(), count: a.count, principals: a.principals.len() as u64, first_seen: a.first.clone(), last_seen: a.last.clone() })
            .collect();
        s.look_alikes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.error.cmp(&b.error)));
        s.sources_skipped.sort_by(|a, b| a.source.cmp(&b.source));
        s
    }
}

/// Rank groups: most events first, then the most recently seen, then by key (stable output).
pub fn rank(groups: &mut [Group]) {
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| b.last_seen.cmp(&a.last_seen)).then_with(|| a.key().cmp(&b.key())));
}

impl EventSink for Triage {
    fn error_event(&mut self, event: &denyctl_denial::EventRecord<'_>, _location: &dyn Fn() -> String) {
        match denyctl_denial::cloudtrail_record(event, &self.catalog, Some(&mut self.memo)) {
            Some(f) => self.add(&f),
            None => self.summary.other_errors += 1,
        }
    }

    fn skipped(&mut self, location: String, reason: String) {
        self.summary.skipped_events += 1;
        if self.summary.skipped_samples.len() < MAX_SKIPPED_SAMPLES {
            self.summary.skipped_samples.push(format!("{}: {location}: {reason}", self.source));
        }
    }
}

fn deny_name(d: DenyKind) -> String {
    match d {
        DenyKind::Explicit => "explicit",
        DenyKind::Implicit => "implicit",
    }
    .to_string()
}

fn policy_name(p: PolicyType) -> String {
    match p {
        PolicyType::Identity => "identity",
        PolicyType::Resource => "resource",
        PolicyType::PermissionsBoundary => "permissions_boundary",
        PolicyType::Session => "session",
        PolicyType::Scp => "scp",
        PolicyType::Rcp => "rcp",
        PolicyType::VpcEndpoint => "vpc_endpoint",
        PolicyType::Trust => "trust",
    }
    .to_string()
}

/// A principal as a group names it, and the session name it had: a role session becomes its role's
/// ARN (the issuer's, which keeps the role's path, when the event gives it).
pub fn normalise_principal(arn: &str, session_issuer: Option<&str>) -> (String, Option<String>) {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "sts" {
        if let Some(rest) = parts[5].strip_prefix("assumed-role/") {
            let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
            let session = Some(session.to_string()).filter(|s| !s.is_empty());
            let role_arn = match session_issuer.filter(|i| i.contains(":role/")) {
                Some(issuer) => issuer.to_string(),
                None => format!("arn:{}:iam::{}:role/{role}", parts[1], parts[4]),
            };
            return (role_arn, session);
        }
    }
    (arn.to_string(), None)
}

/// An S3 object ARN folded to its key's prefix (`arn:aws:s3:::b/a/b.txt` → `arn:aws:s3:::b/a/*`);
/// anything else unchanged.
pub fn fold_resource(resource: &str) -> String {
    let Some(rest) = resource.strip_prefix("arn:").and_then(|r| r.split_once(":s3:::")).map(|(_, r)| r) else {
        return resource.to_string();
    };
    let Some((bucket, key)) = rest.split_once('/') else { return resource.to_string() };
    let head = &resource[..resource.len() - rest.len()];
    match key.rfind('/') {
        Some(i) => format!("{head}{bucket}/{}/*", &key[..i]),
        None => format!("{head}{bucket}/*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn principal_and_fold() {
        assert_eq!(
            normalise_principal("arn:aws:sts::111122223333:assumed-role/ci/run-1", Some("arn:aws:iam::111122223333:role/team/ci")),
            ("arn:aws:iam::111122223333:role/team/ci".into(), Some("run-1".into()))
        );
        assert_eq!(normalise_principal("arn:aws:sts::111122223333:assumed-role/ci/run-1", None).0, "arn:aws:iam::111122223333:role/ci");
        assert_eq!(normalise_principal("arn:aws:iam::111122223333:user/bob", None), ("arn:aws:iam::111122223333:user/bob".into(), None));
        assert_eq!(fold_resource("arn:aws:s3:::b/logs/2025/a.gz"), "arn:aws:s3:::b/logs/2025/*");
        assert_eq!(fold_resource("arn:aws:s3:::b/a.gz"), "arn:aws:s3:::b/*");
        assert_eq!(fold_resource("arn:aws:s3:::b"), "arn:aws:s3:::b");
        assert_eq!(fold_resource("arn:aws:kms:us-east-1:1:key/x"), "arn:aws:kms:us-east-1:1:key/x");
    }

    fn ev(id: &str, time: &str, session: &str, key: &str, code: &str, msg: &str) -> Value {
        json!({"eventVersion": "1.08", "eventTime": time, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1", "userAgent": "aws-cli/2", "eventID": id,
            "errorCode": code, "errorMessage": msg, "recipientAccountId": "111122223333",
            "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/ci/{session}"),
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/ci"}}},
            "resources": [{"ARN": format!("arn:aws:s3:::data/{key}")}]})
    }

    #[test]
    fn groups_stats_merge_and_look_alikes() {
        let a = json!({"Records": [
            ev("e2", "2025-01-02T00:00:00Z", "s1", "x/1", "AccessDenied", "Access Denied"),
            ev("e1", "2025-01-01T00:00:00Z", "s2", "x/2", "AccessDenied", "Access Denied"),
            ev("t1", "2025-01-01T00:00:00Z", "s2", "x/2", "ExpiredToken", "The provided token has expired."),
            ev("o1", "2025-01-01T00:00:00Z", "s2", "x/2", "NoSuchKey", "The specified key does not exist."),
        ]});
        let b = json!({"Records": [ev("e3", "2025-01-03T00:00:00Z", "s1", "y/3", "AccessDenied", "Access Denied")]});
        let mut t1 = Triage::new(Options { fold: true });
        t1.read("a.json", a.to_string().as_bytes()).unwrap();
        let mut t2 = Triage::new(Options { fold: true });
        t2.read("b.json", b.to_string().as_bytes()).unwrap();
        assert!(t2.read("c.json", b"{\"x\": 1}").is_err());
        t1.merge(t2);
        let g = t1.groups();
        assert_eq!(g.len(), 2, "{g:#?}");
        assert_eq!((g[0].count, g[0].sessions, g[0].resource.as_deref()), (2, 2, Some("arn:aws:s3:::data/x/*")));
        assert_eq!(g[0].principal, "arn:aws:iam::111122223333:role/ci");
        assert_eq!((g[0].first_seen.as_str(), g[0].last_seen.as_str(), g[0].sample_event_id.as_str()), ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "e1"));
        assert_eq!(g[0].session_sample.as_deref(), Some("s2"));
        assert_eq!(g[0].per_day.len(), 2);
        let s = t1.summary();
        assert_eq!((s.events, s.denials, s.groups, s.other_errors, s.sources_read), (5, 3, 2, 1, 2));
        assert_eq!(s.look_alikes.len(), 1);
        assert_eq!((s.look_alikes[0].error.as_str(), s.look_alikes[0].count), ("ExpiredToken", 1));
        assert_eq!(s.sources_skipped.len(), 1);
        assert_eq!(s.sources_skipped[0].source, "c.json");
    }

    #[test]
    fn a_source_broken_before_its_first_record_is_skipped_not_read() {
        let mut t = Triage::new(Options { fold: false });
        assert!(matches!(t.read("empty.json", b"{\"Records\":[{\"eventVersion\":\"1.08\""), Err(ReadError::Broken { records: 0, .. })));
        let e = ev("e1", "2025-01-01T00:00:00Z", "s1", "x/1", "AccessDenied", "Access Denied").to_string();
        let half = format!("{{\"Records\":[{e},{{\"eventVersion\"");
        assert!(matches!(t.read("half.json", half.as_bytes()), Err(ReadError::Broken { records: 1, .. })));
        let s = t.summary();
        assert_eq!((s.sources_read, s.events, s.sources_skipped.len()), (1, 1, 2));
    }
}
