//! Condition evaluation: every operator IAM documents, with set qualifiers and IfExists.

use std::net::IpAddr;

use denyctl_policy::{glob, pattern, Base, Condition, SetQualifier};

use crate::request::Context;
use crate::verdict::Miss;

/// A policy value resolved against the request (variables substituted).
struct Resolved {
    /// For equality-style comparisons: the plain text.
    text: String,
    /// For `*`/`?` comparisons: the pattern bytes, with escapes for literal wildcards.
    pattern: Vec<u8>,
}

fn resolve(c: &Condition, ctx: &Context, missing: &mut Vec<String>) -> Vec<Resolved> {
    let lookup = |k: &str| ctx.get(k).and_then(|v| (v.len() == 1).then(|| v[0].clone()));
    let mut out = Vec::with_capacity(c.values.len());
    for v in &c.values {
        match &v.vars {
            None => out.push(Resolved { text: v.raw.clone(), pattern: v.raw.as_bytes().to_vec() }),
            Some(pieces) => {
                let plain = pattern::resolve(pieces, &lookup, false);
                let pat = pattern::resolve(pieces, &lookup, true);
                match (plain, pat) {
                    (Ok(text), Ok(pattern)) => {
                        out.push(Resolved { text: String::from_utf8_lossy(&text).into_owned(), pattern })
                    }
                    (Err(key), _) | (_, Err(key)) => note_missing(missing, key),
                }
            }
        }
    }
    out
}

fn note_missing(missing: &mut Vec<String>, key: &str) {
    if !missing.iter().any(|m| m.eq_ignore_ascii_case(key)) {
        missing.push(key.to_string());
    }
}

/// Seconds since the epoch for the date forms IAM accepts (ISO 8601, or epoch seconds).
pub fn parse_date(s: &str) -> Option<f64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp() as f64 + f64::from(d.timestamp_subsec_millis()) / 1000.0);
    }
    let bare = s.strip_suffix('Z').unwrap_or(s);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(bare, fmt) {
            return Some(d.and_utc().timestamp() as f64);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(bare, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp() as f64);
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn ip_in(policy: &str, value: &str) -> bool {
    let Ok(ip) = value.trim().parse::<IpAddr>() else { return false };
    let policy = policy.trim();
    if let Ok(net) = policy.parse::<ipnet::IpNet>() {
        return net.contains(&ip);
    }
    policy.parse::<IpAddr>().is_ok_and(|p| p == ip)
}

/// ARN matching: each of the six colon-delimited parts is compared separately, with wildcards.
pub fn arn_like(pattern: &[u8], value: &str) -> bool {
    let pp: Vec<&[u8]> = pattern.splitn(6, |b| *b == b':').collect();
    let vp: Vec<&str> = value.splitn(6, ':').collect();
    if pp.len() != 6 || vp.len() != 6 {
        return glob::glob(pattern, value.as_bytes());
    }
    pp.iter().zip(vp.iter()).all(|(p, v)| glob::glob(p, v.as_bytes()))
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

/// The positive test of an operator family between one policy value and one request value.
fn positive(base: Base, p: &Resolved, v: &str) -> bool {
    use Base::*;
    match base {
        StringEquals | StringNotEquals => p.text == v,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => p.text.to_lowercase() == v.to_lowercase(),
        StringLike | StringNotLike => glob::glob(&p.pattern, v.as_bytes()),
        NumericEquals | NumericNotEquals => cmp(num(&p.text), num(v), |a, b| a == b),
        NumericLessThan => cmp(num(&p.text), num(v), |p, v| v < p),
        NumericLessThanEquals => cmp(num(&p.text), num(v), |p, v| v <= p),
        NumericGreaterThan => cmp(num(&p.text), num(v), |p, v| v > p),
        NumericGreaterThanEquals => cmp(num(&p.text), num(v), |p, v| v >= p),
        DateEquals | DateNotEquals => cmp(parse_date(&p.text), parse_date(v), |a, b| a == b),
        DateLessThan => cmp(parse_date(&p.text), parse_date(v), |p, v| v < p),
        DateLessThanEquals => cmp(parse_date(&p.text), parse_date(v), |p, v| v <= p),
        DateGreaterThan => cmp(parse_date(&p.text), parse_date(v), |p, v| v > p),
        DateGreaterThanEquals => cmp(parse_date(&p.text), parse_date(v), |p, v| v >= p),
        Bool => p.text.eq_ignore_ascii_case(v),
        BinaryEquals => p.text == v,
        IpAddress | NotIpAddress => ip_in(&p.text, v),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_like(&p.pattern, v),
        Null => false,
    }
}

fn cmp(p: Option<f64>, v: Option<f64>, f: impl Fn(f64, f64) -> bool) -> bool {
    matches!((p, v), (Some(p), Some(v)) if f(p, v))
}

/// Evaluate one condition entry. `None` when it holds; otherwise why it failed.
/// Keys the request lacks are added to `missing` (except under `Null`, whose point is absence).
pub fn evaluate(c: &Condition, ctx: &Context, missing: &mut Vec<String>) -> Option<Miss> {
    let op = c.operator;
    let actual = ctx.get(&c.key_lc).filter(|v| !v.is_empty());
    let fail = |actual: Option<&[String]>| {
        Some(Miss::Condition {
            operator: c.operator_raw.clone(),
            key: c.key.clone(),
            expected: c.values.iter().map(|v| v.raw.clone()).collect(),
            actual: actual.map(|a| a.to_vec()),
        })
    };
    if op.base == Base::Null {
        let want_absent = c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("true"));
        let want_present = c.values.iter().any(|v| v.raw.eq_ignore_ascii_case("false"));
        let holds = if actual.is_none() { want_absent } else { want_present };
        return if holds { None } else { fail(actual) };
    }
    let Some(values) = actual else {
        if ctx.get(&c.key_lc).is_none() {
            note_missing(missing, &c.key);
        }
        // An absent key: IfExists holds; ForAllValues holds (empty set); negated operators hold
        // (AWS: "the condition is true" when a negated operator's key is missing); others fail.
        let holds = op.if_exists
            || match op.set {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::None => op.base.is_negated(),
            };
        return if holds { None } else { fail(None) };
    };
    let policy = resolve(c, ctx, missing);
    let negated = op.base.is_negated();
    // One request value against every policy value (values are OR-ed); negated operators
    // hold when no policy value matches.
    let test = |v: &str| {
        let any = policy.iter().any(|p| positive(op.base, p, v));
        any != negated
    };
    let holds = match op.set {
        SetQualifier::ForAllValues => values.iter().all(|v| test(v)),
        SetQualifier::ForAnyValue => values.iter().any(|v| test(v)),
        // Without a qualifier, a multivalued key behaves as "any value matches"; negated
        // operators hold only when no value matches.
        SetQualifier::None => {
            let any = values.iter().any(|v| policy.iter().any(|p| positive(op.base, p, v)));
            any != negated
        }
    };
    if holds {
        None
    } else {
        fail(Some(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:10Z"), Some(10.0));
        assert_eq!(parse_date("1970-01-02"), Some(86400.0));
        assert_eq!(parse_date("86400"), Some(86400.0));
        assert_eq!(parse_date("2026-01-01T00:00:00+01:00"), parse_date("2025-12-31T23:00:00Z"));
        assert_eq!(parse_date("tomorrow"), None);
    }

    #[test]
    fn ips() {
        assert!(ip_in("203.0.113.0/24", "203.0.113.5"));
        assert!(!ip_in("203.0.113.0/24", "198.51.100.1"));
        assert!(ip_in("2001:db8::/32", "2001:db8::1"));
        assert!(!ip_in("2001:db8::/32", "203.0.113.5"));
        assert!(ip_in("203.0.113.5", "203.0.113.5"));
        assert!(!ip_in("203.0.113.0/24", "not-an-ip"));
    }

    #[test]
    fn arns() {
        assert!(arn_like(b"arn:aws:iam::*:role/ops-*", "arn:aws:iam::111122223333:role/ops-admin"));
        assert!(!arn_like(b"arn:aws:iam::*:role/ops-*", "arn:aws:iam::111122223333:user/ops-admin"));
        assert!(!arn_like(b"arn:aws:iam::1*:role/x", "arn:aws:iam::2:role/x"));
    }
}
