//! A CloudTrail trail in S3 (`s3://bucket/prefix`), read as the operator for `denyctl triage`:
//! the organization trail's layout (`AWSLogs/o-…/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`) is walked
//! with delimiter listings down to the regions, then only the date prefixes in `--since/--until`
//! are listed, so keys outside the range are never listed. Objects are fetched in parallel
//! (bounded by the session's in-flight limit) and handed on one by one; the parsing is the caller's.

use chrono::NaiveDate;
use futures::stream::{self, StreamExt};

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;

/// Most days a date range may span.
pub const MAX_DAYS: i64 = 3_660;
/// Deepest prefix level searched for the `CloudTrail/` folder.
const MAX_DEPTH: usize = 6;
/// Objects fetched at once.
pub const PARALLEL_GETS: usize = 16;

/// An object of the trail to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: i64,
}

/// What a listing found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The log objects (digest and insight files left out), in key order.
    pub objects: Vec<TrailObject>,
    /// Prefixes that could not be listed, with the reason.
    pub problems: Vec<(String, String)>,
    /// ListObjectsV2 calls made.
    pub list_calls: usize,
}

/// `s3://bucket/prefix` split; `None` when it is not one.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.to_string()))
}

/// The days from `since` to `until`, inclusive, as `YYYY/MM/DD`.
pub fn day_prefixes(since: NaiveDate, until: NaiveDate) -> Result<Vec<String>, String> {
    let span = (until - since).num_days();
    if span < 0 {
        return Err(format!("--since {since} is after --until {until}"));
    }
    if span >= MAX_DAYS {
        return Err(format!("{since}..{until} spans {} days; at most {MAX_DAYS}", span + 1));
    }
    Ok(since.iter_days().take(span as usize + 1).map(|d| d.format("%Y/%m/%d").to_string()).collect())
}

/// The date prefixes `--since`/`--until` choose (`YYYY-MM-DD`, inclusive); `None` when neither is
/// given (every key under the prefix is listed). `--until` defaults to today (UTC), `--since` to 30
/// days before `--until`.
pub fn date_range(since: Option<&str>, until: Option<&str>) -> Result<Option<Vec<String>>, String> {
    if since.is_none() && until.is_none() {
        return Ok(None);
    }
    let parse = |s: &str, flag: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{flag} {s}: expected a date as YYYY-MM-DD"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let today = epoch.checked_add_days(chrono::Days::new(now / 86_400)).unwrap_or(epoch);
    let until = until.map(|u| parse(u, "--until")).transpose()?.unwrap_or(today);
    let since = match since {
        Some(s) => parse(s, "--since")?,
        None => until.checked_sub_days(chrono::Days::new(29)).unwrap_or(until),
    };
    day_prefixes(since, until).map(Some)
}

fn client(session: &Session) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(&session.operator.config);
    if session.operator.config.endpoint_url().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn is_log_key(key: &str) -> bool {
    !key.ends_with('/') && !key.contains("/CloudTrail-Digest/") && !key.contains("/CloudTrail-Insight/")
}

/// One prefix listed: with a delimiter, its sub-prefixes; without, every object under it.
async fn list_one(session: &Session, s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, delimiter: bool, out: &mut Listing) -> Result<Vec<String>, RuntimeError> {
    let mut token = None;
    let mut subs = Vec::new();
    loop {
        let mut req = s3.list_objects_v2().bucket(bucket).prefix(prefix);
        if delimiter {
            req = req.delimiter("/");
        }
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        out.list_calls += 1;
        let target = format!("s3://{bucket}/{prefix}");
        let page = match session.call(&session.operator, "s3:ListObjectsV2", &target, 1, req.send()).await {
            Ok(p) => p,
            Err(Failure::Read(r)) => {
                out.problems.push((target, r.to_string()));
                return Ok(subs);
            }
            Err(Failure::Fatal(e)) => return Err(e),
        };
        subs.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
        for o in page.contents() {
            if let Some(k) = o.key().filter(|k| is_log_key(k)) {
                out.objects.push(TrailObject { key: k.to_string(), size: o.size().unwrap_or(0) });
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
            _ => return Ok(subs),
        }
    }
}

/// List the trail's log objects under `prefix`; with `days`, only those date prefixes under each
/// `…/CloudTrail/REGION/`.
pub async fn list(session: &Session, bucket: &str, prefix: &str, days: Option<&[String]>) -> Result<Listing, RuntimeError> {
    let s3 = client(session);
    let mut out = Listing::default();
    let Some(days) = days else {
        list_one(session, &s3, bucket, prefix, false, &mut out).await?;
        out.objects.sort_by(|a, b| a.key.cmp(&b.key));
        return Ok(out);
    };
    // Walk down to the CloudTrail/ folders (org ID, account, ...), then regions, then the days.
    let mut level = vec![prefix.to_string()];
    let mut regions = Vec::new();
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for p in &level {
            if p.ends_with("/CloudTrail/") || p == "CloudTrail/" {
                regions.extend(list_one(session, &s3, bucket, p, true, &mut out).await?);
                continue;
            }
            for sub in list_one(session, &s3, bucket, p, true, &mut out).await? {
                let name = sub.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                if name == "CloudTrail-Digest" || name == "CloudTrail-Insight" {
                    continue;
                }
                // Under an account folder only CloudTrail/ matters (not Config/, CloudTrail-Digest/, ...).
                if name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()) {
                    next.push(format!("{sub}CloudTrail/"));
                } else {
                    next.push(sub);
                }
            }
        }
        // Objects listed on the way down are not in a date folder: leave them out.
        out.objects.clear();
        if next.is_empty() {
            break;
        }
        level = next;
    }
    if regions.is_empty() {
        return Err(RuntimeError::Unreadable(format!(
            "s3://{bucket}/{prefix}: no CloudTrail/REGION/ folders under it (the trail layout is AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/); without --since/--until every key under it is read"
        )));
    }
    regions.sort();
    for r in &regions {
        for d in days {
            list_one(session, &s3, bucket, &format!("{r}{d}/"), false, &mut out).await?;
        }
    }
    out.objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Fetch every object, [`PARALLEL_GETS`] at a time, handing each body (or why it could not be
/// read) to `each` as it arrives.
pub async fn fetch_all(session: &Session, bucket: &str, objects: &[TrailObject], mut each: impl FnMut(&TrailObject, Result<Vec<u8>, String>)) -> Result<(), RuntimeError> {
    let s3 = client(session);
    let s3 = &s3;
    let mut bodies = stream::iter(objects.iter())
        .map(|o| async move {
            let target = format!("s3://{bucket}/{}", o.key);
            let res = match session.call(&session.operator, "s3:GetObject", &target, 2, s3.get_object().bucket(bucket).key(&o.key).send()).await {
                Ok(out) => out.body.collect().await.map(|b| b.into_bytes().to_vec()).map_err(|e| format!("reading the body: {e}")),
                Err(Failure::Read(r)) => Err(r.to_string()),
                Err(Failure::Fatal(e)) => return Err(e),
            };
            Ok((o, res))
        })
        .buffer_unordered(PARALLEL_GETS);
    while let Some(r) = bodies.next().await {
        let (o, res) = r?;
        each(o, res);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_days() {
        assert_eq!(parse_s3_url("s3://b/AWSLogs/o-1/"), Some(("b".into(), "AWSLogs/o-1/".into())));
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_s3_url("/tmp/x"), None);
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(day_prefixes(d("2025-02-27"), d("2025-03-01")).unwrap(), vec!["2025/02/27", "2025/02/28", "2025/03/01"]);
        assert!(day_prefixes(d("2025-03-02"), d("2025-03-01")).is_err());
        assert!(day_prefixes(d("2000-01-01"), d("2025-03-01")).is_err());
    }
}
