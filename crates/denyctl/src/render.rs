//! Human-readable rendering of verdicts (the `-o table` view). JSON/YAML go through `output`.

use std::io::{self, Write};

pub mod plan;
pub mod triage;

use denyctl_eval::{Decision, LayerKind, LayerReport, Layers, Miss, Outcome, Request, StatementRef, Verdict};

/// Terminal styling, off when colour is not wanted.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Styling for stdout.
    pub fn stdout() -> Style {
        Style { color: crate::output::use_color() }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Red bold.
    pub fn bad(&self, s: &str) -> String {
        self.paint("1;31", s)
    }
    /// Green bold.
    pub fn good(&self, s: &str) -> String {
        self.paint("1;32", s)
    }
    /// Dim.
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// The one-line verdict a person reads first.
pub fn headline(v: &Verdict, st: Style) -> String {
    let layers: Vec<&str> = v.denied_by.iter().map(|k| k.title()).collect();
    let mut line = match v.decision {
        Decision::Allow => st.good("ALLOWED"),
        Decision::ExplicitDeny => format!("{} by an explicit Deny in the {}", st.bad("DENIED"), layers.join(" and the ")),
        Decision::ImplicitDeny if layers.is_empty() => format!("{} (implicit deny: nothing allows it)", st.bad("DENIED")),
        Decision::ImplicitDeny => format!("{} (implicit deny): no Allow in the {}", st.bad("DENIED"), layers.join(", nor in the ")),
    };
    if v.depends_on_unknown {
        line.push_str(" — but this depends on layers that could not be read");
    }
    line
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allows",
        Outcome::ExplicitDeny => "DENIES",
        Outcome::NoAllow => "no allow",
        Outcome::Delegates => "delegates to account",
        Outcome::NotApplied => "not applied",
        Outcome::Unknown => "UNKNOWN",
    }
}

fn stmt(s: &StatementRef) -> String {
    match &s.sid {
        Some(sid) => format!("{} statement {} (Sid {sid})", s.policy, s.index),
        None => format!("{} statement {}", s.policy, s.index),
    }
}

/// Why a statement did not apply, in words.
pub fn miss_text(m: &Miss) -> String {
    match m {
        Miss::Resource { patterns, negated: false } => format!("resource not in Resource {}", patterns.join(", ")),
        Miss::Resource { patterns, negated: true } => format!("resource excluded by NotResource {}", patterns.join(", ")),
        Miss::Principal => "principal does not match the statement's Principal".into(),
        Miss::Condition { operator, key, expected, actual: Some(a) } => {
            format!("condition {operator} {key} failed: expected {}, request has {}", expected.join(" | "), a.join(", "))
        }
        Miss::Condition { operator, key, expected, actual: None } => {
            format!("condition {operator} {key} failed: expected {}, request has no {key}", expected.join(" | "))
        }
        Miss::MissingVariable { key } => format!("policy variable ${{{key}}} has no value in this request"),
    }
}

/// Write the full verdict for a person: headline, request, each layer with its deciding statement.
pub fn verdict(out: &mut dyn Write, name: Option<&str>, req: &Request, _layers: &Layers, v: &Verdict) -> io::Result<()> {
    let st = Style::stdout();
    if let Some(n) = name {
        writeln!(out, "{}", st.dim(&format!("scenario {n}")))?;
    }
    writeln!(out, "{}", headline(v, st))?;
    writeln!(out, "  caller    {}", req.principal_raw)?;
    writeln!(out, "  action    {}", req.action)?;
    writeln!(out, "  resource  {}{}", req.resource, if v.cross_account { format!("  (account {}, cross-account)", req.resource_account) } else { String::new() })?;
    writeln!(out)?;
    if let Some(line) = unreadable_advice(v) {
        writeln!(out, "  {}", st.bad(&line))?;
        writeln!(out)?;
    }
    layer_lines(out, v, st, "  ", |_| true)?;
    if !v.missing_context.is_empty() {
        writeln!(out)?;
        writeln!(out, "  context keys the policies test but the request does not carry: {}", v.missing_context.join(", "))?;
    }
    assumptions(out, v, st)?;
    unknown_without_row(out, v, st, |_| true)
}

/// The undocumented readings the verdict rests on, each with the decision the other reading gives.
fn assumptions(out: &mut dyn Write, v: &Verdict, st: Style) -> io::Result<()> {
    for a in &v.assumptions {
        writeln!(out, "  {} {}", st.bold("assumption:"), a.note)?;
    }
    Ok(())
}

/// The one line said once, above the layers, when reads were denied: whose credentials to use.
fn unreadable_advice(v: &Verdict) -> Option<String> {
    let denied: Vec<LayerKind> = unknown_kinds(v).into_iter().filter(|k| denied_reads(v, *k).is_some()).collect();
    if denied.is_empty() {
        return None;
    }
    let org = denied.iter().any(|k| matches!(k, LayerKind::Scp | LayerKind::Rcp));
    Some(format!(
        "{} layer(s) could not be read with these credentials: name an operator who may read them with --profile{}",
        denied.len(),
        if org { " (and --org-profile, the management account or a delegated administrator, for SCPs/RCPs)" } else { "" }
    ))
}

/// The layers that could not be read, each once, in the order they were recorded.
fn unknown_kinds(v: &Verdict) -> Vec<LayerKind> {
    let mut kinds: Vec<LayerKind> = Vec::new();
    for u in &v.unknown_layers {
        if !kinds.contains(&u.layer) {
            kinds.push(u.layer);
        }
    }
    kinds
}

/// When every read of `layer` that failed was denied: the calls and the permissions they need.
fn denied_reads(v: &Verdict, layer: LayerKind) -> Option<(Vec<String>, Vec<String>)> {
    let (mut calls, mut perms) = (Vec::new(), Vec::new());
    for u in v.unknown_layers.iter().filter(|u| u.layer == layer) {
        let d = denyctl_runtime::error::DeniedRead::from_reason(&u.reason)?;
        if !calls.contains(&d.call) {
            calls.push(d.call);
        }
        if !perms.contains(&d.permission) {
            perms.push(d.permission);
        }
    }
    (!calls.is_empty()).then_some((calls, perms))
}

/// Why `layer` is unknown, in one line: the denied calls and the permissions they need, or the
/// reason as recorded (each different reason once).
fn unknown_line(v: &Verdict, layer: LayerKind) -> String {
    match denied_reads(v, layer) {
        Some((calls, perms)) if calls == perms => format!("{} denied (needs {})", calls.join(", "), if calls.len() == 1 { "that permission" } else { "those permissions" }),
        Some((calls, perms)) => format!("{} denied (needs {})", calls.join(", "), perms.join(", ")),
        None => {
            let mut reasons: Vec<&str> = Vec::new();
            for u in v.unknown_layers.iter().filter(|u| u.layer == layer) {
                if !reasons.contains(&u.reason.as_str()) {
                    reasons.push(&u.reason);
                }
            }
            reasons.join("; ")
        }
    }
}

/// Unknown layers the evaluation gave no row among those shown (each once).
fn unknown_without_row(out: &mut dyn Write, v: &Verdict, st: Style, shown: impl Fn(&LayerReport) -> bool) -> io::Result<()> {
    for k in unknown_kinds(v) {
        if !v.layers.iter().any(|l| l.layer == k && l.outcome == Outcome::Unknown && shown(l)) {
            writeln!(out, "  {} {}: {}", st.bad("unknown layer"), k.as_str(), unknown_line(v, k))?;
        }
    }
    Ok(())
}

/// Each layer's result, with its deciding statements, near misses and note.
fn layer_lines(out: &mut dyn Write, v: &Verdict, st: Style, indent: &str, keep: impl Fn(&LayerReport) -> bool) -> io::Result<()> {
    for l in v.layers.iter().filter(|l| keep(l)) {
        let title = match &l.target {
            Some(t) => format!("{} @ {t}", l.layer.as_str()),
            None => l.layer.as_str().to_string(),
        };
        let oc = outcome(l.outcome);
        let oc = match l.outcome {
            Outcome::ExplicitDeny | Outcome::Unknown => st.bad(oc),
            Outcome::NoAllow if v.denied_by.contains(&l.layer) => st.bad(oc),
            Outcome::Allow => st.good(oc),
            _ => oc.to_string(),
        };
        if l.outcome == Outcome::Unknown {
            // One line: the layer, UNKNOWN, and why (the call that was denied and what it needs).
            writeln!(out, "{indent}{:<28} {}  {}", title, oc, unknown_line(v, l.layer))?;
            continue;
        }
        writeln!(out, "{indent}{:<28} {}", title, oc)?;
        for s in &l.deciding {
            writeln!(out, "{indent}    {} {}", if s.effect == denyctl_policy::Effect::Deny { "deny: " } else { "allow:" }, stmt(s))?;
        }
        if l.outcome != Outcome::Allow {
            for m in l.near_misses.iter().take(5) {
                writeln!(out, "{indent}    {} {}: {}", st.dim("close:"), stmt(&m.statement), miss_text(&m.miss))?;
            }
            if l.near_misses.len() > 5 {
                writeln!(out, "{indent}    {}", st.dim(&format!("... and {} more", l.near_misses.len() - 5)))?;
            }
        }
        if let Some(n) = &l.note {
            writeln!(out, "{indent}    {}", st.dim(n))?;
        }
    }
    Ok(())
}

/// A hidden hop after the main verdict: `then ACTION on RESOURCE: VERDICT`, why it is needed,
/// and the layers that decide it (those that deny or could not be read, and the resource policy).
pub fn hop(out: &mut dyn Write, action: &str, resource: &str, why: &str, layers: &Layers, v: &Verdict) -> io::Result<()> {
    let st = Style::stdout();
    let mut line = headline(v, st);
    if let Some(p) = layers.resource.as_ref().filter(|_| v.denied_by.contains(&LayerKind::Resource)) {
        line.push_str(&format!(" ({})", p.name));
    }
    writeln!(out, "then {action} on {resource}: {line}")?;
    writeln!(out, "  {}", st.dim(&format!("needed because {why}")))?;
    let keep = |l: &LayerReport| {
        v.denied_by.contains(&l.layer) || l.outcome == Outcome::Unknown || l.outcome == Outcome::ExplicitDeny || l.layer == LayerKind::Resource
    };
    layer_lines(out, v, st, "  ", keep)?;
    assumptions(out, v, st)?;
    unknown_without_row(out, v, st, keep)
}

/// The calls AWS kept failing (their layers are `unknown`) with their attempts, and the retries
/// made. A denied read is already said on its unknown layer's line (the JSON lists every one).
pub fn failed_calls(out: &mut dyn Write, calls: &denyctl_runtime::snapshot::CallSummary) -> io::Result<()> {
    for f in calls.failed.iter().filter(|f| f.result == denyctl_runtime::calls::UNAVAILABLE || f.attempts > 1) {
        let times = if f.attempts == 1 { "attempt" } else { "attempts" };
        writeln!(out, "  failed call  {} on {}: {} after {} {times}", f.call, f.target, f.result, f.attempts)?;
    }
    if calls.retries > 0 {
        writeln!(out, "  retries      {} (the SDK's standard retry, within --timeout)", calls.retries)?;
    }
    Ok(())
}

/// A hidden hop that could not be collected or evaluated: not known to be allowed.
pub fn hop_not_evaluated(out: &mut dyn Write, action: &str, resource: &str, why: &str, error: &str) -> io::Result<()> {
    let st = Style::stdout();
    writeln!(out, "then {action} on {resource}: {} ({error})", st.bad("NOT EVALUATED"))?;
    writeln!(out, "  {}", st.dim(&format!("needed because {why}")))
}
