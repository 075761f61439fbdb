//! `denyctl explain`: what an AccessDenied means, offline.
//!
//! JSON/YAML: one object per finding; a single finding is printed as that object, none or several
//! as an array of them. Table: a plain summary per finding with what to check next.

use std::io::{IsTerminal, Write};

use denyctl_denial::{Finding, Kind, Parsed};

use crate::cli::{ExplainArgs, GlobalArgs};
use crate::error::{exit, CliError, CmdResult};
use crate::input::read_bytes;
use crate::output::{emit, Format};

/// Run the verb.
pub fn run(args: &ExplainArgs, global: &GlobalArgs) -> CmdResult {
    if let Some(id) = &args.authorization_id {
        return authorization_record(id, global);
    }
    let (source, bytes) = read_input(args)?;
    let parsed = denyctl_denial::parse(&bytes).map_err(|e| CliError::input(&source, e))?;
    render(&parsed, global.output)?;
    if !parsed.skipped.is_empty() {
        return Err(CliError::input(&source, skipped_line(&parsed)));
    }
    Ok(exit::OK)
}

/// The input bytes and a name for them in error messages.
fn read_input(args: &ExplainArgs) -> Result<(String, Vec<u8>), CliError> {
    let limit = denyctl_denial::MAX_INPUT_BYTES;
    match (&args.file, args.text.as_deref()) {
        (Some(path), _) => Ok((path.clone(), read_bytes(path, limit)?)),
        (None, Some("-")) => Ok(("stdin".into(), read_bytes("-", limit)?)),
        (None, Some(text)) => Ok(("TEXT".into(), text.as_bytes().to_vec())),
        (None, None) if !std::io::stdin().is_terminal() => Ok(("stdin".into(), read_bytes("-", limit)?)),
        (None, None) => Err(CliError::Input("explain: give the message as TEXT, `-` to read stdin, or --file FILE".into())),
    }
}

/// One line for the records that could not be read.
fn skipped_line(parsed: &Parsed) -> String {
    let total = parsed.records.map(|n| format!(" of {n}")).unwrap_or_default();
    let details: Vec<String> = parsed.skipped.iter().take(5).map(|s| format!("{}: {}", s.location, s.reason)).collect();
    let more = if parsed.skipped.len() > 5 { format!("; and {} more", parsed.skipped.len() - 5) } else { String::new() };
    format!("{}{total} records could not be read and were skipped (the others are reported above): {}{more}", parsed.skipped.len(), details.join("; "))
}

fn render(parsed: &Parsed, format: Format) -> Result<(), CliError> {
    let table = |out: &mut dyn Write| table(parsed, out);
    match parsed.findings.as_slice() {
        [one] if format != Format::Table => emit(format, one, table),
        all => emit(format, &all, table),
    }
}

fn table(parsed: &Parsed, out: &mut dyn Write) -> std::io::Result<()> {
    if parsed.findings.is_empty() {
        let n = parsed.records.unwrap_or(0);
        return writeln!(out, "No access-denied events among {n} CloudTrail record{}.", if n == 1 { "" } else { "s" });
    }
    for (i, f) in parsed.findings.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        finding(f, out)?;
    }
    Ok(())
}

fn finding(f: &Finding, out: &mut dyn Write) -> std::io::Result<()> {
    let what = f.action.as_deref().or(f.operation.as_deref()).unwrap_or("(action not named)");
    match f.kind {
        Some(Kind::NotADenial) => writeln!(out, "NOT A DENIAL  {}", f.other_error.as_deref().unwrap_or("?"))?,
        Some(Kind::Cloudtrail) => writeln!(out, "DENIED  {what}  (CloudTrail event)")?,
        _ => writeln!(out, "DENIED  {what}")?,
    }
    let row = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "  {k:<11} {v}");
    if let Some(p) = &f.principal {
        let session = match (&f.role_name, &f.session_name) {
            (Some(r), Some(s)) => format!("  (role {r}, session {s})"),
            (Some(r), None) => format!("  (role {r})"),
            _ => String::new(),
        };
        row(out, "who", &format!("{p}{session}"))?;
    }
    if let Some(r) = &f.resource {
        row(out, "resource", r)?;
    }
    if f.kind != Some(Kind::NotADenial) {
        let layer = match (f.policy_type, f.deny) {
            (Some(t), Some(denyctl_denial::DenyKind::Explicit)) => format!("{}: explicit deny", t.describe()),
            (Some(t), _) => format!("{}: nothing allows it (implicit deny)", t.describe()),
            (None, Some(denyctl_denial::DenyKind::Explicit)) => "explicit deny, layer not named".into(),
            _ => "not named".into(),
        };
        row(out, "layer", &layer)?;
    }
    if let Some(v) = f.transitive_via {
        row(out, "through", v.describe())?;
    }
    if let Some(p) = &f.policy_arn {
        row(out, "policy", p)?;
    }
    if let Some(id) = &f.authorization_id {
        row(out, "auth id", id)?;
    }
    if f.encoded_message {
        row(out, "encoded", if f.encoded_blob.is_some() { "yes (decode with sts decode-authorization-message)" } else { "marker present, message empty" })?;
    }
    let mut via = Vec::new();
    if let Some(c) = &f.error_code {
        via.push(c.clone());
    }
    if let Some(op) = &f.operation {
        via.push(format!("from {op}"));
    }
    if let Some(r) = &f.request_id {
        via.push(format!("request {r}"));
    }
    if !via.is_empty() {
        row(out, "error", &via.join(" "))?;
    }
    if let Some(ct) = &f.cloudtrail {
        let parts: Vec<String> = [ct.event_time.clone(), ct.region.clone(), ct.source_ip.clone().map(|ip| format!("from {ip}")), ct.identity_type.clone()].into_iter().flatten().collect();
        row(out, "event", &parts.join("  "))?;
    }
    if !f.unknown.is_empty() {
        row(out, "unknown", &f.unknown.join(", "))?;
    }
    let advice = f.advice();
    writeln!(out, "\n  What it means\n    {}", advice.meaning)?;
    writeln!(out, "  Check next")?;
    for (n, c) in advice.checks.iter().enumerate() {
        writeln!(out, "    {}. {c}", n + 1)?;
    }
    writeln!(out, "  Avoid\n    {}", advice.avoid)
}

/// `explain --authorization-id`: AWS's record in denyctl's format. The one live path of `explain`.
fn authorization_record(id: &str, global: &GlobalArgs) -> CmdResult {
    if !denyctl_authz::valid_id(id) {
        return Err(CliError::input("--authorization-id", format!("{id:?} is not an authorization ID (lower-case letters and digits)")));
    }
    let profiles = super::live::profiles(global);
    let rec = super::live::block_on(async {
        let session = denyctl_runtime::Session::new(&profiles).await;
        super::authz::fetch(&session, id).await
    })?;
    let rec = rec.map_err(|e| match e {
        denyctl_authz::AuthzError::Invalid { .. } => CliError::Input(e.to_string()),
        other => CliError::Aws(other.to_string()),
    })?;
    crate::output::emit(global.output, &rec, |w| super::authz::render_record(w, &rec))?;
    Ok(exit::OK)
}
