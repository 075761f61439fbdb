//! `denyctl replay -f PLAN`: send the plan's original request again as the caller (the current
//! runtime, or `--caller-profile`) and say whether AWS allows it now. IAM and STS reads go
//! through the SDK; S3, KMS, SQS and Secrets Manager through their plugins (reads as they are,
//! writes only with `--allow-write-replay` or as a non-mutating probe). A denial is parsed the
//! way `explain` reads one: it is the next hop, to plan again.

use denyctl_denial::{Finding, Kind};
use denyctl_plugin_api::{Outcome, ReplayMethod};
use denyctl_policy::Principal;
use denyctl_runtime::Session;
use serde::Serialize;

use super::apply::read_plan;
use crate::cli::{GlobalArgs, ReplayArgs};
use crate::cmd::live;
use crate::error::{exit, CmdResult};
use crate::output;

/// The request replayed.
#[derive(Debug, Serialize)]
pub struct Replayed {
    /// The principal the plan was made for.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource.
    pub resource: String,
}

/// The JSON shape of `replay`.
#[derive(Debug, Serialize)]
pub struct ReplayReport {
    /// `allowed`, `denied`, `not_replayed` or `error`.
    pub outcome: &'static str,
    /// `as-is read`, `non-mutating probe`, `write (consented)` or `not replayed`.
    pub method: ReplayMethod,
    /// The request.
    pub request: Replayed,
    /// Who replayed it (STS), when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The call made and what it proves.
    pub detail: String,
    /// AWS's message (denied, error) or why it was not replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When denied: the denial in `explain`'s shape (the next hop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial: Option<Finding>,
    /// Warnings (the caller is not the plan's principal, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What to run next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Not replayed for want of consent: exactly what `--allow-write-replay` would write (the
    /// table and the guided session show it; not part of the JSON contract, docs/schema/replay.json).
    #[serde(skip)]
    pub would_write: Option<String>,
}

/// The denial as `explain` reads AWS's message, with what the replayed request says filled in
/// where the message is silent (moto and S3 give short messages).
fn denial(message: &str, r: &Replayed) -> Finding {
    let parsed = denyctl_denial::parse(message.as_bytes()).ok().and_then(|p| p.findings.into_iter().find(|f| f.kind != Some(Kind::NotADenial)));
    let mut f = parsed.unwrap_or_else(|| Finding { kind: Some(Kind::Denial), message: message.to_string(), ..Finding::default() });
    if f.principal.is_none() {
        f.principal = Some(r.principal.clone());
    }
    if f.action.is_none() {
        f.action = Some(r.action.clone());
    }
    if f.resource.is_none() && r.resource != "*" {
        f.resource = Some(r.resource.clone());
    }
    f.unknown.retain(|u| !matches!(*u, "principal" | "action" | "resource"));
    f
}

fn shell_quote(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_alphanumeric() || ":/-_.*@=+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Run the verb.
pub fn run(a: &ReplayArgs, g: &GlobalArgs) -> CmdResult {
    let (report, code) = replay(a, g)?;
    print(&report, g)?;
    // Not replayed (2) and AWS errors (3) print the report too; the exit code says which.
    Ok(code)
}

/// Replay the plan's request as the caller: the report and the exit code it maps to; prints
/// nothing but warnings.
pub fn replay(a: &ReplayArgs, g: &GlobalArgs) -> Result<(ReplayReport, i32), crate::error::CliError> {
    let p = read_plan(&a.file)?;
    let r = Replayed { principal: p.replay.principal.clone(), action: p.replay.action.clone(), resource: p.replay.resource.clone() };
    let profiles = live::profiles(g);
    let (outcome, caller) = live::block_on(async {
        let session = Session::new(&profiles).await;
        let plugins = denyctl_builtin_plugins::registry();
        let (outcome, id) = tokio::join!(
            denyctl_runtime::replay::replay(&session, &plugins, &r.action, &r.resource, a.allow_write_replay),
            session.identity_of(&session.caller, 1)
        );
        (outcome, id.ok().map(|i| i.arn))
    })?;
    let mut warnings = Vec::new();
    if let Some(c) = &caller {
        let same = match (Principal::parse(c), Principal::parse(&r.principal)) {
            (Ok(a), Ok(b)) => a.entity_arn() == b.entity_arn(),
            _ => c == &r.principal,
        };
        if !same {
            warnings.push(format!("the plan was made for {}, but this runtime calls as {c}: the replay proves nothing for the plan's principal (use --caller-profile)", r.principal));
        }
    }
    for w in &warnings {
        eprintln!("denyctl: WARNING: {w}");
    }
    let (word, message, code) = match &outcome.outcome {
        Outcome::Allowed => ("allowed", None, exit::OK),
        Outcome::Denied { message } => ("denied", Some(message.clone()), exit::DENIED),
        Outcome::NotReplayed { reason } => ("not_replayed", Some(reason.clone()), exit::INPUT),
        Outcome::Error { message } => ("error", Some(message.clone()), exit::AWS),
    };
    let denial = (word == "denied").then(|| denial(message.as_deref().unwrap_or(""), &r));
    let next = match word {
        "denied" => Some(format!(
            "denyctl fix --dry-run --principal {} --action {} --resource {} -o json > next-plan.json",
            shell_quote(&r.principal),
            shell_quote(&r.action),
            shell_quote(&r.resource)
        )),
        _ => None,
    };
    let report = ReplayReport {
        outcome: word,
        method: outcome.method,
        request: r,
        caller,
        detail: outcome.detail.clone(),
        message,
        denial,
        warnings,
        next,
        would_write: outcome.would_write.clone(),
    };
    Ok((report, code))
}

/// Print a replay report in the chosen format (the reason on stderr when not replayed or failed).
pub fn print(report: &ReplayReport, g: &GlobalArgs) -> Result<(), crate::error::CliError> {
    let word = report.outcome;
    match word {
        "not_replayed" => eprintln!("denyctl: {}", report.message.as_deref().unwrap_or("not replayed")),
        "error" => eprintln!("denyctl: replay failed: {}", report.message.as_deref().unwrap_or("")),
        _ => {}
    }
    output::emit(g.output, &report, |w| {
        writeln!(w, "{}  {} {} as {}", word.to_uppercase(), report.request.action, report.request.resource, report.caller.as_deref().unwrap_or(&report.request.principal))?;
        writeln!(w, "  method   {}", report.method)?;
        writeln!(w, "  call     {}", report.detail)?;
        if let Some(m) = &report.message {
            writeln!(w, "  message  {m}")?;
        }
        if let Some(n) = &report.next {
            writeln!(w, "  next     {n}")?;
        }
        if let Some(ww) = &report.would_write {
            writeln!(w, "  would write (with --allow-write-replay)  {ww}")?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Replayed {
        Replayed { principal: "arn:aws:iam::123456789012:user/alice".into(), action: "s3:GetObject".into(), resource: "arn:aws:s3:::b/k".into() }
    }

    #[test]
    fn moto_short_message_and_s3_access_denied() {
        let f = denial("User: arn:aws:iam::123456789012:user/alice is not authorized to perform: iam:GetUser", &req());
        assert_eq!(f.principal.as_deref(), Some("arn:aws:iam::123456789012:user/alice"));
        assert_eq!(f.action.as_deref(), Some("iam:GetUser"));
        let f = denial("Access Denied", &req());
        assert_eq!(f.action.as_deref(), Some("s3:GetObject"));
        assert_eq!(f.resource.as_deref(), Some("arn:aws:s3:::b/k"));
        assert_eq!(f.message, "Access Denied");
    }
}
