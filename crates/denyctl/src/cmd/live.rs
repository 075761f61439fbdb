//! What the live verbs (whoami, collect, diagnose) share: profiles, the async runtime, error
//! mapping, reading the denied request from text, an event or flags, and the `-v` call report.

use denyctl_runtime::{CallStats, CollectOptions, Profiles, Registry, RuntimeError, Session};
use serde_json::Value as Json;

use crate::cli::{GlobalArgs, RequestArgs};
use crate::error::CliError;
use crate::input::read_text;

/// Largest denial text or event accepted.
const MAX_DENIAL_BYTES: u64 = 8 * 1024 * 1024;

/// Profiles of the three identities, from the global flags.
pub fn profiles(g: &GlobalArgs) -> Profiles {
    Profiles {
        operator: g.profile.clone(),
        caller: g.caller_profile.clone(),
        org: g.org_profile.clone(),
        region: g.region.clone(),
        timeout: Some(std::time::Duration::from_secs_f64(g.timeout)),
    }
}

/// The service plugins: the four built-in ones, then the libraries on the plugin path. With
/// `-v`, libraries that were skipped are named on stderr (`denyctl plugin list` shows them too).
pub fn plugins(g: &GlobalArgs) -> Registry {
    let r = denyctl_builtin_plugins::registry();
    if g.verbose > 0 {
        for f in r.failures() {
            eprintln!("denyctl: plugin library {} skipped: {}", f.path.display(), f.error);
        }
    }
    r
}

/// A spinner on stderr while AWS is read: only on a terminal, never with `-q` or on a pipe.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Start showing `what` (e.g. "reading every policy layer").
    pub fn start(g: &GlobalArgs, what: &str) -> Progress {
        use std::io::IsTerminal;
        if g.quiet || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        bar.set_message(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Progress(Some(bar))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Run a future to completion on a small runtime (I/O bound: one thread is enough).
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Aws(format!("cannot start the async runtime: {e}")))?;
    Ok(rt.block_on(f))
}

/// A runtime failure as a CLI error: an unknown principal is bad input (exit 2), the rest exit 3.
pub fn cli_error(e: RuntimeError) -> CliError {
    match e {
        RuntimeError::UnknownPrincipal(m) | RuntimeError::UnresolvedResource(m) | RuntimeError::Unreadable(m) => CliError::Input(m),
        other => CliError::Aws(other.to_string()),
    }
}

/// `-v`: how many calls in how many waves; `-vv`: every call.
pub fn report_calls(g: &GlobalArgs, stats: &CallStats) {
    if g.verbose == 0 {
        return;
    }
    if g.verbose > 1 {
        let mut recs = stats.records();
        recs.sort_by_key(|r| r.wave);
        for r in recs {
            let tries = if r.attempts > 1 { format!(" ({} attempts)", r.attempts) } else { String::new() };
            eprintln!("denyctl: wave {} {} {} -> {}{tries}", r.wave, r.call, r.target, r.result);
        }
    }
    let retries = match stats.retries() {
        0 => String::new(),
        n => format!(", {n} retried"),
    };
    eprintln!("denyctl: {} AWS calls in {} sequential waves{retries}", stats.count(), stats.waves());
}

/// The denied request as far as the input says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Denied {
    /// The principal, when named.
    pub principal: Option<String>,
    /// The action.
    pub action: Option<String>,
    /// The resource, when named.
    pub resource: Option<String>,
    /// AWS's authorization ID, when the message carries one.
    pub authorization_id: Option<String>,
    /// An encoded authorization failure message, when the message carries one.
    pub encoded_blob: Option<String>,
}

/// Read a denial (any form `explain` reads) into what the live verbs need. A look-alike
/// (stale credentials, clock skew, a missing key) is an input error with its own advice.
fn read_denial(source: &str, bytes: &[u8]) -> Result<Denied, CliError> {
    let parsed = denyctl_denial::parse(bytes).map_err(|e| CliError::input(source, e))?;
    let finding = parsed
        .findings
        .iter()
        .find(|f| f.kind != Some(denyctl_denial::Kind::NotADenial))
        .or(parsed.findings.first())
        .ok_or_else(|| CliError::input(source, "no access-denied message found"))?;
    if finding.kind == Some(denyctl_denial::Kind::NotADenial) {
        let advice = finding.advice();
        return Err(CliError::input(
            source,
            format!(
                "this is not an authorization denial ({}): {} (see `denyctl explain`)",
                finding.other_error.as_deref().unwrap_or("look-alike"),
                advice.meaning
            ),
        ));
    }
    Ok(Denied {
        principal: finding.principal.clone().filter(|p| p.starts_with("arn:")),
        action: finding.action.clone(),
        resource: finding.resource.clone().filter(|r| r == "*" || r.starts_with("arn:")),
        authorization_id: finding.authorization_id.clone(),
        encoded_blob: finding.encoded_blob.clone(),
    })
}

fn parse_context(items: &[String]) -> Result<Vec<(String, Vec<String>)>, CliError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::Input(format!("--context {item:?}: expected KEY=VALUE (e.g. aws:SourceIp=203.0.113.5)")))?;
        if k.is_empty() {
            return Err(CliError::Input(format!("--context {item:?}: the key is empty")));
        }
        match out.iter_mut().find(|(have, _)| have.eq_ignore_ascii_case(k)) {
            Some((_, vals)) => vals.push(v.to_string()),
            None => out.push((k.to_string(), vec![v.to_string()])),
        }
    }
    Ok(out)
}

/// What the request input says, before any AWS call: the denial merged with the flags (flags win).
pub fn denied(a: &RequestArgs) -> Result<Denied, CliError> {
    let mut d = Denied::default();
    if let Some(t) = &a.text {
        let text = if t == "-" { read_text("-", MAX_DENIAL_BYTES)? } else { t.clone() };
        d = read_denial("the denial text", text.as_bytes())?;
    }
    if let Some(f) = &a.event {
        let bytes = crate::input::read_bytes(f, MAX_DENIAL_BYTES)?;
        d = read_denial(f, &bytes)?;
    }
    if a.principal.is_some() {
        d.principal = a.principal.clone();
    }
    if a.action.is_some() {
        d.action = a.action.clone();
    }
    if a.resource.is_some() {
        d.resource = a.resource.clone();
    }
    Ok(d)
}

/// Collect options from the request input.
pub fn collect_options(a: &RequestArgs) -> Result<CollectOptions, CliError> {
    let d = denied(a)?;
    let action = d.action.ok_or_else(|| CliError::Input("no action: give a denial message, --event FILE or --action ACTION".into()))?;
    if let Some(p) = &d.principal {
        denyctl_policy::Principal::parse(p).map_err(|e| CliError::Input(format!("principal: {e}")))?;
    }
    let resource = d.resource.unwrap_or_else(|| "*".into());
    if resource.is_empty() {
        return Err(CliError::Input("--resource is empty: give an ARN, a name, URL or alias, or *".into()));
    }
    if resource.starts_with("arn:") {
        denyctl_policy::Arn::parse(&resource).map_err(|e| CliError::Input(format!("resource: {e}")))?;
    }
    // Anything else (an SQS queue URL, a secret name, a KMS alias, s3://bucket/key) is turned into
    // an ARN by the service plugin when the layers are collected.
    let mut session_policies = Vec::new();
    for f in &a.session_policy {
        let text = read_text(f, MAX_DENIAL_BYTES)?;
        let v: Json = serde_json::from_str(&text).map_err(|e| CliError::input(f, format!("not JSON: {e}")))?;
        denyctl_policy::Policy::from_json(v.clone()).map_err(|e| CliError::input(f, e))?;
        session_policies.push((format!("session:{f}"), v));
    }
    Ok(CollectOptions {
        principal: d.principal,
        action,
        resource,
        resource_account: a.resource_account.clone(),
        context: parse_context(&a.context)?,
        session_policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_moto_and_aws_denials() {
        let d = read_denial("t", b"User: arn:aws:sts::123456789012:assumed-role/dev/s is not authorized to perform: iam:ListUsers").unwrap();
        assert_eq!(d.principal.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/dev/s"));
        assert_eq!(d.action.as_deref(), Some("iam:ListUsers"));
        assert_eq!(d.resource, None);
        let d = read_denial(
            "t",
            b"An error occurred (AccessDenied) when calling the PutObject operation: User: arn:aws:iam::123456789012:user/bob is not authorized \
             to perform: s3:PutObject on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:PutObject action",
        )
        .unwrap();
        assert_eq!(d.action.as_deref(), Some("s3:PutObject"));
        assert_eq!(d.resource.as_deref(), Some("arn:aws:s3:::b/k"));
        assert!(read_denial("t", b"nothing here").is_err());
    }

    #[test]
    fn look_alikes_are_refused_with_their_own_advice() {
        let e = read_denial("t", b"An error occurred (ExpiredToken) when calling the GetObject operation: The provided token has expired.")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an authorization denial") && e.contains("ExpiredToken"), "{e}");
    }

    #[test]
    fn reads_a_decoded_authorization_message() {
        // The shape STS returns in DecodedMessage (AWS STS API reference, DecodeAuthorizationMessage).
        let text = r#"{"allowed":false,"explicitDeny":false,"matchedStatements":{"items":[]},"failures":{"items":[]},
            "context":{"principal":{"id":"AROA123:dev","arn":"arn:aws:sts::123456789012:assumed-role/dev/alice"},
            "action":"ec2:RunInstances","resource":"arn:aws:ec2:us-east-1:123456789012:instance/*",
            "conditions":{"items":[{"key":"ec2:InstanceType","values":{"items":[{"value":"p5.48xlarge"}]}},
                                   {"key":"aws:RequestTag/team","values":{"items":[{"value":"a"},{"value":"b"}]}}]}}}"#;
        let d = read_decoded(text).unwrap();
        assert_eq!(d.principal.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/dev/alice"));
        assert_eq!(d.action.as_deref(), Some("ec2:RunInstances"));
        assert_eq!(d.resource.as_deref(), Some("arn:aws:ec2:us-east-1:123456789012:instance/*"));
        assert_eq!(d.context, vec![("ec2:InstanceType".into(), vec!["p5.48xlarge".into()]), ("aws:RequestTag/team".into(), vec!["a".into(), "b".into()])]);
        assert!(read_decoded("not json").is_err());
        assert!(read_decoded("{}").is_err());
    }

    #[test]
    fn reads_cloudtrail_events() {
        let v = serde_json::json!({"eventVersion": "1.08", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized to perform this operation.",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/r/s", "accountId": "123456789012"}});
        let d = read_denial("event.json", v.to_string().as_bytes()).unwrap();
        assert_eq!(d.action.as_deref(), Some("ec2:RunInstances"));
        assert_eq!(d.principal.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/r/s"));
    }
}

/// What an encoded authorization failure message says, once decoded by STS.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded {
    /// The principal's ARN.
    pub principal: Option<String>,
    /// The action.
    pub action: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The request's condition keys and values.
    pub context: Vec<(String, Vec<String>)>,
}

/// Read the JSON STS returns in `DecodedMessage` (pure).
pub fn read_decoded(text: &str) -> Result<Decoded, String> {
    let v: Json = serde_json::from_str(text).map_err(|e| format!("the decoded message is not JSON: {e}"))?;
    let ctx = v.get("context").ok_or("the decoded message has no context")?;
    let s = |p: &str| ctx.pointer(p).and_then(Json::as_str).map(str::to_string);
    let mut context = Vec::new();
    for item in ctx.pointer("/conditions/items").and_then(Json::as_array).into_iter().flatten() {
        let Some(key) = item.get("key").and_then(Json::as_str) else { continue };
        let values: Vec<String> = item
            .pointer("/values/items")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("value").and_then(Json::as_str).map(str::to_string))
            .collect();
        if !values.is_empty() {
            context.push((key.to_string(), values));
        }
    }
    Ok(Decoded { principal: s("/principal/arn"), action: s("/action"), resource: s("/resource"), context })
}

/// Decode with sts:DecodeAuthorizationMessage, as the operator.
pub fn decode_message(g: &GlobalArgs, blob: &str) -> Result<Decoded, String> {
    let profiles = profiles(g);
    let out = block_on(async {
        let session = Session::new(&profiles).await;
        session.operator.sts.decode_authorization_message().encoded_message(blob).send().await
    })
    .map_err(|e| e.to_string())?;
    let out = out.map_err(|e| {
        let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
        format!("sts:DecodeAuthorizationMessage failed (HTTP {status}; it needs sts:DecodeAuthorizationMessage): {}", aws_sdk_sts::error::DisplayErrorContext(&e).to_string().replace('\n', " "))
    })?;
    read_decoded(out.decoded_message().unwrap_or_default())
}
