//! Server-side grouping: the SQL denyctl runs on Athena over a CloudTrail table (the table AWS's
//! CloudTrail console creates, or `CREATE EXTERNAL TABLE … cloudtrail_logs`), and the reading of
//! its result rows back into groups.
//!
//! The engine groups by what it can see without explain's parser: account, principal (the role a
//! session belongs to), event source and name, error code, the resource (from the message, else
//! `resources[1]`, folded with `--fold`), the message's shape (ARNs and encoded blobs removed: it
//! carries the deny kind and policy type) and the day. Each row brings its statistics and one
//! sample event (the earliest); the sample goes through explain's CloudTrail reader like a logged
//! event, so a row lands in the same group a local file's events would. Rows of several days (or
//! shapes) of one group are merged here.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// The result columns, in order.
pub const COLUMNS: &[&str] = &[
    "account",
    "principal",
    "event_source",
    "event_name",
    "error_code",
    "resource",
    "message_shape",
    "day",
    "events",
    "sessions",
    "first_seen",
    "last_seen",
    "regions",
    "source_ips",
    "user_agents",
    "sample_event_id",
    "sample_arn",
    "sample_identity_type",
    "sample_message",
];

/// What the query is over.
#[derive(Clone, Debug, Default)]
pub struct QuerySpec {
    /// The CloudTrail table (`db.table` or `table`).
    pub table: String,
    /// Fold S3 object keys to their prefix.
    pub fold: bool,
    /// First day (`YYYY-MM-DD`), inclusive.
    pub since: Option<String>,
    /// Last day (`YYYY-MM-DD`), inclusive.
    pub until: Option<String>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Whether `s` is a safe table name (`name` or `db.name`, letters, digits, `_`, optionally quoted).
pub fn valid_table(s: &str) -> bool {
    !s.is_empty() && s.split('.').count() <= 3 && s.split('.').all(|p| {
        let p = p.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(p);
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// Whether `s` is a `YYYY-MM-DD` date.
fn valid_day(s: &str) -> bool {
    s.len() == 10 && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
}

/// Where the grouping query runs: the two engines differ only in the table they read and in the
/// type of `eventTime` (a string in Athena's CloudTrail table, a timestamp in CloudTrail Lake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Athena (engine v3) over a CloudTrail table.
    Athena,
    /// CloudTrail Lake over an event data store.
    Lake,
}

/// The SQL Athena (engine v3 / Trino) runs. Errors name a bad table or date.
pub fn athena_sql(q: &QuerySpec) -> Result<String, String> {
    if !valid_table(&q.table) {
        return Err(format!("{}: not a table name (letters, digits, _ and -, as db.table)", q.table));
    }
    grouping_sql(q, Engine::Athena, &q.table)
}

/// The SQL CloudTrail Lake runs; `q.table` is the event data store, as its ARN or the ID part of
/// it. Errors name a bad event data store or date.
pub fn lake_sql(q: &QuerySpec) -> Result<String, String> {
    let id = event_data_store_id(&q.table).ok_or_else(|| format!("{}: not an event data store (its ARN, or the ID at the end of it)", q.table))?;
    grouping_sql(q, Engine::Lake, id)
}

/// The ID of an event data store given as its ID or its ARN
/// (`arn:aws:cloudtrail:REGION:ACCOUNT:eventdatastore/ID`).
pub fn event_data_store_id(s: &str) -> Option<&str> {
    let id = match s.strip_prefix("arn:") {
        Some(_) => s.rsplit_once(":eventdatastore/")?.1,
        None => s,
    };
    (id.len() >= 3 && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then_some(id)
}

fn grouping_sql(q: &QuerySpec, engine: Engine, from: &str) -> Result<String, String> {
    let (denials, looks) = denyctl_denial::error_codes();
    let codes: Vec<String> = denials.iter().chain(looks.iter()).map(|c| quote(c)).collect();
    let mut resource = "coalesce(regexp_extract(errormessage, 'on resource: \"?(arn:[^\" ]+)', 1), element_at(resources, 1).arn)".to_string();
    if q.fold {
        resource = format!("regexp_replace({resource}, '^(arn:[^:]+:s3:::[^/]+/(?:.*/)?)[^/]*$', '$1*')");
    }
    let mut filter = format!("errorcode IN ({})", codes.join(", "));
    for (day, last, flag) in [(&q.since, false, "--since"), (&q.until, true, "--until")] {
        if let Some(d) = day {
            if !valid_day(d) {
                return Err(format!("{flag} {d}: expected a date as YYYY-MM-DD"));
            }
            // Both bounds inclusive. Athena compares ISO strings; Lake compares timestamps.
            let bound = match (engine, last) {
                (Engine::Athena, false) => d.clone(),
                (Engine::Athena, true) => format!("{d}T23:59:59Z"),
                (Engine::Lake, false) => format!("{d} 00:00:00"),
                (Engine::Lake, true) => format!("{d} 23:59:59"),
            };
            let op = if last { "<=" } else { ">=" };
            filter.push_str(&format!("\n    AND eventtime {op} {}", quote(&bound)));
        }
    }
    let (by, day) = match engine {
        Engine::Athena => ("the engine", "substr(eventtime, 1, 10)"),
        Engine::Lake => ("CloudTrail Lake", "date_format(eventtime, '%Y-%m-%d')"),
    };
    Ok(format!(
        "-- denyctl triage: CloudTrail denials grouped by {by} (docs/triage.md)
WITH denials AS (
  SELECT
    recipientaccountid AS account,
    coalesce(useridentity.sessioncontext.sessionissuer.arn, useridentity.arn, useridentity.invokedby, useridentity.principalid) AS principal,
    eventsource AS event_source,
    eventname AS event_name,
    errorcode AS error_code,
    {resource} AS resource,
    regexp_replace(regexp_replace(coalesce(errormessage, ''), 'Encoded authorization failure message: .*', 'Encoded authorization failure message:'), 'arn:[^ \"]+', 'ARN') AS message_shape,
    {day} AS day,
    eventtime, eventid, useridentity.arn AS arn, useridentity.type AS identity_type, errormessage, awsregion, sourceipaddress, useragent
  FROM {from}
  WHERE {filter}
)
SELECT account, principal, event_source, event_name, error_code, resource, message_shape, day,
  count(*) AS events,
  approx_distinct(coalesce(arn, principal)) AS sessions,
  min(eventtime) AS first_seen,
  max(eventtime) AS last_seen,
  array_join(array_sort(array_agg(DISTINCT awsregion)), ',') AS regions,
  approx_distinct(sourceipaddress) AS source_ips,
  json_format(CAST(approx_most_frequent(3, useragent, 1000) AS JSON)) AS user_agents,
  min_by(eventid, eventtime) AS sample_event_id,
  min_by(arn, eventtime) AS sample_arn,
  min_by(identity_type, eventtime) AS sample_identity_type,
  min_by(errormessage, eventtime) AS sample_message
FROM denials
GROUP BY account, principal, event_source, event_name, error_code, resource, message_shape, day
ORDER BY events DESC
"
    ))
}

/// A CloudTrail Lake result row (a list of one-entry column → value maps, in SELECT order) as a
/// row of column → value, its timestamps (`2025-03-01 09:30:00.000`) written as CloudTrail writes
/// `eventTime` (`2025-03-01T09:30:00Z`), so it reads like an Athena row.
pub fn lake_row(cells: Vec<HashMap<String, String>>) -> HashMap<String, String> {
    let mut row: HashMap<String, String> = cells.into_iter().flatten().collect();
    for k in ["first_seen", "last_seen"] {
        if let Some(v) = row.get_mut(k) {
            *v = iso_time(v);
        }
    }
    row
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` as `YYYY-MM-DDTHH:MM:SSZ`; anything else as it is.
fn iso_time(v: &str) -> String {
    let b = v.as_bytes();
    let shaped = b.len() >= 19 && b[10] == b' ' && b[13] == b':' && b[16] == b':' && v.is_char_boundary(19) && v[19..].bytes().all(|c| c == b'.' || c.is_ascii_digit());
    if shaped {
        format!("{}T{}Z", &v[..10], &v[11..19])
    } else {
        v.to_string()
    }
}

/// One result row's statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aggregate {
    /// Events.
    pub count: u64,
    /// Distinct sessions (approximate).
    pub sessions: u64,
    /// Earliest `eventTime`.
    pub first_seen: String,
    /// Latest `eventTime`.
    pub last_seen: String,
    /// Regions.
    pub regions: Vec<String>,
    /// Distinct source IPs (approximate).
    pub source_ips: u64,
    /// Commonest user agents with counts.
    pub user_agents: Vec<(String, u64)>,
    /// The earliest event's ID.
    pub sample_event_id: String,
    /// The day (`YYYY-MM-DD`) the row counts.
    pub day: String,
}

/// A result row (column → value) as a sample CloudTrail event and its statistics; why not, when a
/// column is missing or malformed.
pub fn row_event(row: &HashMap<String, String>) -> Result<(Map<String, Value>, Aggregate), String> {
    let get = |k: &str| row.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let need = |k: &str| get(k).ok_or_else(|| format!("no {k} in the row"));
    let num = |k: &str| need(k).and_then(|v| v.parse::<u64>().map_err(|_| format!("{k} is not a number: {v}")));
    let principal = need("principal")?;
    let sample_arn = get("sample_arn");
    let identity_type = get("sample_identity_type").unwrap_or("Unknown");
    let mut identity = Map::new();
    identity.insert("type".into(), identity_type.into());
    match sample_arn {
        Some(arn) => {
            identity.insert("arn".into(), arn.into());
        }
        None if identity_type == "AWSService" => {
            identity.insert("invokedBy".into(), principal.into());
        }
        None => {
            identity.insert("principalId".into(), principal.into());
        }
    }
    if principal.contains(":role/") {
        identity.insert("sessionContext".into(), json!({"sessionIssuer": {"type": "Role", "arn": principal}}));
    }
    let first = need("first_seen")?;
    let mut ev = Map::new();
    ev.insert("eventTime".into(), first.into());
    ev.insert("eventSource".into(), need("event_source")?.into());
    ev.insert("eventName".into(), need("event_name")?.into());
    ev.insert("errorCode".into(), need("error_code")?.into());
    ev.insert("errorMessage".into(), get("sample_message").unwrap_or("").into());
    ev.insert("eventID".into(), get("sample_event_id").unwrap_or("").into());
    ev.insert("userIdentity".into(), Value::Object(identity));
    if let Some(a) = get("account") {
        ev.insert("recipientAccountId".into(), a.into());
    }
    if let Some(r) = get("resource") {
        ev.insert("resources".into(), json!([{"ARN": r}]));
    }
    let agents = match get("user_agents") {
        Some(j) => match serde_json::from_str::<Map<String, Value>>(j) {
            Ok(m) => m.into_iter().map(|(k, v)| (k, v.as_u64().unwrap_or(0))).collect(),
            Err(e) => return Err(format!("user_agents is not a JSON object: {e}")),
        },
        None => Vec::new(),
    };
    let agg = Aggregate {
        count: num("events")?,
        sessions: num("sessions").unwrap_or(0),
        first_seen: first.to_string(),
        last_seen: get("last_seen").unwrap_or(first).to_string(),
        regions: get("regions").map(|r| r.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()).unwrap_or_default(),
        source_ips: num("source_ips").unwrap_or(0),
        user_agents: agents,
        sample_event_id: get("sample_event_id").unwrap_or("").to_string(),
        day: get("day").unwrap_or(first.get(..10).unwrap_or(first)).to_string(),
    };
    Ok((ev, agg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_is_checked_and_filters_codes_and_days() {
        let sql = athena_sql(&QuerySpec { table: "default.cloudtrail_logs".into(), fold: true, since: Some("2025-03-01".into()), until: Some("2025-03-03".into()) }).unwrap();
        assert!(sql.contains("FROM default.cloudtrail_logs"));
        assert!(sql.contains("'AccessDenied'") && sql.contains("'Client.UnauthorizedOperation'") && sql.contains("'ExpiredToken'"));
        assert!(sql.contains("eventtime >= '2025-03-01'") && sql.contains("eventtime <= '2025-03-03T23:59:59Z'"));
        assert!(sql.contains("s3:::"), "folds object keys");
        assert!(athena_sql(&QuerySpec { table: "x; DROP TABLE y".into(), ..QuerySpec::default() }).is_err());
        assert!(athena_sql(&QuerySpec { table: "t".into(), since: Some("2025-3-1".into()), ..QuerySpec::default() }).is_err());
    }

    #[test]
    fn lake_sql_reads_an_event_data_store_with_timestamp_bounds() {
        let spec = |t: &str| QuerySpec { table: t.into(), fold: false, since: Some("2025-03-01".into()), until: Some("2025-03-03".into()) };
        let arn = "arn:aws:cloudtrail:us-east-1:111122223333:eventdatastore/EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE";
        let sql = lake_sql(&spec(arn)).unwrap();
        assert!(sql.contains("FROM EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE\n"), "{sql}");
        assert!(sql.contains("eventtime >= '2025-03-01 00:00:00'") && sql.contains("eventtime <= '2025-03-03 23:59:59'"));
        assert!(sql.contains("date_format(eventtime, '%Y-%m-%d') AS day"));
        assert_eq!(lake_sql(&spec("EXAMPLE-f852")).unwrap().replace("EXAMPLE-f852\n", "X\n"), lake_sql(&spec(arn)).unwrap().replace("EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE\n", "X\n"));
        for bad in ["", "ab", "x; DROP", "arn:aws:cloudtrail:us-east-1:1:trail/t", "eds id"] {
            assert!(lake_sql(&spec(bad)).is_err(), "{bad}");
        }
        // The Athena query is unchanged by the Lake dialect beside it.
        let athena = athena_sql(&QuerySpec { table: "t".into(), ..spec("t") }).unwrap();
        assert!(athena.contains("substr(eventtime, 1, 10) AS day") && athena.contains("eventtime <= '2025-03-03T23:59:59Z'"));
    }

    #[test]
    fn lake_rows_read_like_athena_rows() {
        let cells = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| HashMap::from([(k.to_string(), v.to_string())])).collect::<Vec<_>>();
        let row = lake_row(cells(&[("account", "1"), ("first_seen", "2025-03-01 09:30:00.000"), ("last_seen", "2025-03-02 10:00:01"), ("events", "3")]));
        assert_eq!(row["first_seen"], "2025-03-01T09:30:00Z");
        assert_eq!(row["last_seen"], "2025-03-02T10:00:01Z");
        assert_eq!((row["account"].as_str(), row["events"].as_str()), ("1", "3"));
        // Already ISO, or not a time at all: left as it is (row_event then judges it).
        for v in ["2025-03-01T09:30:00Z", "yesterday", "2025-03-01 09:30:00 UTC", "2025-03-01 09:30:00.0é"] {
            assert_eq!(lake_row(cells(&[("first_seen", v)]))["first_seen"], v);
        }
    }

    #[test]
    fn rows_become_sample_events() {
        let row: HashMap<String, String> = [
            ("account", "111122223333"),
            ("principal", "arn:aws:iam::111122223333:role/ci"),
            ("event_source", "s3.amazonaws.com"),
            ("event_name", "PutObject"),
            ("error_code", "AccessDenied"),
            ("resource", "arn:aws:s3:::b/k/1"),
            ("day", "2025-03-01"),
            ("events", "7"),
            ("sessions", "3"),
            ("first_seen", "2025-03-01T00:00:00Z"),
            ("last_seen", "2025-03-01T09:00:00Z"),
            ("regions", "eu-west-1,us-east-1"),
            ("source_ips", "2"),
            ("user_agents", "{\"aws-cli/2\":5,\"boto3\":2}"),
            ("sample_event_id", "e1"),
            ("sample_arn", "arn:aws:sts::111122223333:assumed-role/ci/s1"),
            ("sample_identity_type", "AssumedRole"),
            ("sample_message", "Access Denied"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (ev, agg) = row_event(&row).unwrap();
        assert_eq!(ev["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"], "arn:aws:iam::111122223333:role/ci");
        assert_eq!((agg.count, agg.sessions, agg.regions.len(), agg.user_agents.len()), (7, 3, 2, 2));
        let mut bad = row.clone();
        bad.insert("events".into(), "many".into());
        assert!(row_event(&bad).is_err());
    }
}
