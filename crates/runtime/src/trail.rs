//! A CloudTrail trail in S3 (`s3://bucket/prefix`), read as the operator for `denyctl triage`:
//! the organization trail's layout (`AWSLogs/o-…/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`) is walked
//! with delimiter listings down to the regions, then only the date prefixes in `--since/--until`
//! are listed, so keys outside the range are never listed. Objects are fetched in parallel
//! (bounded by the session's in-flight limit) and handed on one by one; the parsing is the caller's.
//! An object larger than the part size ([`PART_SIZE`], or `DENYCTL_S3_PART_SIZE` bytes) is fetched
//! as byte ranges in parallel (`Range: bytes=a-b`, `If-Match` its listed ETag), reassembled in
//! order and checked against its listed size and ETag: an object that changed while it was read is
//! skipped with the reason, never read half old and half new. Small objects keep one GET; whole
//! objects and ranges share the same in-flight limit.

use chrono::NaiveDate;
use futures::stream::{self, StreamExt};

use crate::calls::Failure;
use crate::config::Session;
use crate::error::RuntimeError;

/// Most days a date range may span.
pub const MAX_DAYS: i64 = 3_660;
/// Deepest prefix level searched for the `CloudTrail/` folder.
const MAX_DEPTH: usize = 6;
/// GETs (whole objects and ranges) in flight at once.
pub const PARALLEL_GETS: usize = 16;
/// Objects larger than this are fetched as ranges of this size (8 MiB).
pub const PART_SIZE: u64 = 8 << 20;
/// The environment variable that sets another part size in bytes (tests use a small one).
pub const PART_SIZE_ENV: &str = "DENYCTL_S3_PART_SIZE";

/// An object of the trail to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: i64,
    /// Its ETag as listed (with its quotes), when the listing gave one.
    pub etag: Option<String>,
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
                out.objects.push(TrailObject { key: k.to_string(), size: o.size().unwrap_or(0), etag: o.e_tag().map(str::to_string) });
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

/// The part size: [`PART_SIZE`], or `DENYCTL_S3_PART_SIZE` bytes when it is set.
pub fn part_size() -> Result<u64, String> {
    match std::env::var(PART_SIZE_ENV) {
        Err(_) => Ok(PART_SIZE),
        Ok(v) => v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{PART_SIZE_ENV}={v}: expected a number of bytes above 0")),
    }
}

/// What one GET fetches: a whole object, or one byte range of it (`first..=last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// The object's index in the listing.
    pub object: usize,
    /// The part's index within its object (0 for a whole object).
    pub part: usize,
    /// The byte range; `None`: the whole object in one GET.
    pub range: Option<(u64, u64)>,
}

/// The GETs that fetch `objects` with parts of `part_size` bytes, object after object: one GET for
/// an object of at most `part_size` bytes, else one per range. The number of parts of each object.
pub fn pieces(objects: &[TrailObject], part_size: u64) -> (Vec<Piece>, Vec<usize>) {
    let part_size = part_size.max(1);
    let mut out = Vec::new();
    let mut counts = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        let size = u64::try_from(o.size).unwrap_or(0);
        if size <= part_size {
            out.push(Piece { object: i, part: 0, range: None });
            counts.push(1);
            continue;
        }
        let n = size.div_ceil(part_size);
        for p in 0..n {
            let first = p * part_size;
            out.push(Piece { object: i, part: p as usize, range: Some((first, (first + part_size).min(size) - 1)) });
        }
        counts.push(n as usize);
    }
    (out, counts)
}

/// `bytes a-b/total` of a Content-Range header.
fn content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let (span, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()))
}

/// Fetch one range of `o` and check it against the listing: the bytes asked for, the listed size
/// and ETag (a changed object is refused by `If-Match`, and checked again here).
async fn fetch_range(session: &Session, s3: &aws_sdk_s3::Client, bucket: &str, o: &TrailObject, (first, last): (u64, u64)) -> Result<Result<bytes::Bytes, String>, RuntimeError> {
    let target = format!("s3://{bucket}/{}", o.key);
    let range = format!("bytes={first}-{last}");
    let mut req = s3.get_object().bucket(bucket).key(&o.key).range(&range);
    if let Some(tag) = &o.etag {
        req = req.if_match(tag);
    }
    let out = match session.call(&session.operator, "s3:GetObject", &target, 2, req.send()).await {
        Ok(out) => out,
        Err(Failure::Read(r)) if r.code() == Some("PreconditionFailed") => {
            return Ok(Err(format!("changed since it was listed (its ETag is no longer {}; range {range})", o.etag.as_deref().unwrap_or("?"))))
        }
        Err(Failure::Read(r)) => return Ok(Err(format!("range {range}: {r}"))),
        Err(Failure::Fatal(e)) => return Err(e),
    };
    if let (Some(listed), Some(now)) = (&o.etag, out.e_tag()) {
        if listed != now {
            return Ok(Err(format!("changed since it was listed (ETag {listed} listed, {now} in range {range})")));
        }
    }
    match out.content_range().and_then(content_range) {
        Some((a, b, total)) if a == first && b == last && total.is_none_or(|t| t == o.size as u64) => {}
        Some((_, _, Some(t))) if t != o.size as u64 => return Ok(Err(format!("changed since it was listed ({t} bytes now, {} listed; range {range})", o.size))),
        other => return Ok(Err(format!("range {range}: the answer covers {}", other.map_or("no range".to_string(), |(a, b, _)| format!("bytes {a}-{b}"))))),
    }
    let body = match out.body.collect().await {
        Ok(b) => b.into_bytes(),
        Err(e) => return Ok(Err(format!("range {range}: reading the body: {e}"))),
    };
    if body.len() as u64 != last - first + 1 {
        return Ok(Err(format!("range {range}: {} bytes came back, {} expected", body.len(), last - first + 1)));
    }
    Ok(Ok(body))
}

/// An object being put together from its parts.
struct Assembly {
    parts: Vec<Option<bytes::Bytes>>,
    left: usize,
    failed: Option<String>,
}

/// Fetch every object, handing each body (or why it could not be read) to `each` as it is
/// complete. At most [`PARALLEL_GETS`] GETs are in flight (whole objects and ranges alike); an
/// object larger than the part size ([`part_size`]) is fetched as ranges and reassembled in order;
/// a range that fails (after the SDK's retries) or shows the object changed skips that object with
/// the reason, the other objects are still read.
pub async fn fetch_all(session: &Session, bucket: &str, objects: &[TrailObject], mut each: impl FnMut(&TrailObject, Result<Vec<u8>, String>)) -> Result<(), RuntimeError> {
    let part = part_size().map_err(RuntimeError::Unreadable)?;
    let s3 = client(session);
    let s3 = &s3;
    let (pieces, counts) = pieces(objects, part);
    let mut assembly: Vec<Option<Assembly>> = counts.iter().map(|&n| Some(Assembly { parts: vec![None; n], left: n, failed: None })).collect();
    // Objects already known to be skipped: their remaining ranges are not fetched.
    let failed = std::sync::Mutex::new(vec![false; objects.len()]);
    let failed = &failed;
    let mut bodies = stream::iter(pieces)
        .map(|p| async move {
            let o = &objects[p.object];
            if failed.lock().map(|f| f[p.object]).unwrap_or(false) {
                return Ok((p, Err(String::new())));
            }
            let target = format!("s3://{bucket}/{}", o.key);
            let res = match p.range {
                Some(r) => fetch_range(session, s3, bucket, o, r).await?,
                None => match session.call(&session.operator, "s3:GetObject", &target, 2, s3.get_object().bucket(bucket).key(&o.key).send()).await {
                    Ok(out) => out.body.collect().await.map(|b| b.into_bytes()).map_err(|e| format!("reading the body: {e}")),
                    Err(Failure::Read(r)) => Err(r.to_string()),
                    Err(Failure::Fatal(e)) => return Err(e),
                },
            };
            if res.is_err() {
                if let Ok(mut f) = failed.lock() {
                    f[p.object] = true;
                }
            }
            Ok((p, res))
        })
        .buffer_unordered(PARALLEL_GETS);
    while let Some(r) = bodies.next().await {
        let (p, res) = r?;
        let Some(a) = assembly[p.object].as_mut() else { continue };
        match res {
            Ok(b) => a.parts[p.part] = Some(b),
            Err(e) => {
                if a.failed.is_none() && !e.is_empty() {
                    a.failed = Some(e);
                }
            }
        }
        a.left -= 1;
        if a.left > 0 {
            continue;
        }
        let Some(a) = assembly[p.object].take() else { continue };
        let o = &objects[p.object];
        match a.failed {
            Some(e) => each(o, Err(e)),
            None => {
                let mut body = Vec::with_capacity(a.parts.iter().flatten().map(|b| b.len()).sum());
                for b in a.parts.iter().flatten() {
                    body.extend_from_slice(b);
                }
                each(o, Ok(body));
            }
        }
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

    #[test]
    fn pieces_cover_each_object_in_order() {
        let o = |size: i64| TrailObject { key: format!("k{size}"), size, etag: None };
        let objects = [o(0), o(10), o(11), o(25)];
        let (p, counts) = pieces(&objects, 10);
        assert_eq!(counts, vec![1, 1, 2, 3]);
        let ranges: Vec<(usize, usize, Option<(u64, u64)>)> = p.iter().map(|x| (x.object, x.part, x.range)).collect();
        assert_eq!(
            ranges,
            vec![(0, 0, None), (1, 0, None), (2, 0, Some((0, 9))), (2, 1, Some((10, 10))), (3, 0, Some((0, 9))), (3, 1, Some((10, 19))), (3, 2, Some((20, 24)))]
        );
        assert_eq!(content_range("bytes 10-19/25"), Some((10, 19, Some(25))));
        assert_eq!(content_range("bytes 10-19/*"), Some((10, 19, None)));
        assert_eq!(content_range("10-19"), None);
    }
}
