//! The `-o table` and `-o diff` views of a fix plan.

use std::io::{self, Write};

use denyctl_remedy::{Change, Plan, Status};

use super::Style;

fn status(p: &Plan, st: Style) -> String {
    match p.status {
        Status::Ready => st.good("READY"),
        Status::AlreadyAllowed => st.good("ALREADY ALLOWED"),
        Status::Refused => st.bad("REFUSED"),
        Status::NeedsHandoff => st.bold("NEEDS HAND-OFF"),
        Status::Unresolved => st.bad("UNRESOLVED"),
    }
}

fn where_(c: &Change) -> String {
    let t = &c.target;
    let mut s = format!("{} {}", t.kind.as_str(), t.policy_name);
    if let Some(r) = &t.role_name {
        s.push_str(&format!(" (role {r})"));
    } else if let Some(u) = &t.user_name {
        s.push_str(&format!(" (user {u})"));
    }
    if let Some(r) = &t.resource_arn {
        s.push_str(&format!(" on {r}"));
    }
    if let Some(o) = &t.org_target {
        s.push_str(&format!(" at {o}"));
    }
    if t.create {
        s.push_str(" [new]");
    }
    s
}

/// The plan for a person: status, what changes where, what was checked.
pub fn table(out: &mut dyn Write, p: &Plan) -> io::Result<()> {
    let st = Style::stdout();
    writeln!(out, "PLAN {}{}", status(p, st), p.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())?;
    writeln!(out, "  caller    {}", p.request.principal)?;
    writeln!(out, "  action    {}", p.request.action)?;
    writeln!(out, "  resource  {}", p.request.resource)?;
    let dec = |d: &denyctl_remedy::DecisionSummary| {
        let by: Vec<&str> = d.denied_by.iter().map(|k| k.as_str()).collect();
        if by.is_empty() { d.decision.clone() } else { format!("{} ({})", d.decision, by.join(", ")) }
    };
    writeln!(out, "  before    {}", dec(&p.verification.before))?;
    writeln!(out, "  after     {}", dec(&p.verification.after))?;
    if p.verification.with_handoffs != p.verification.after {
        writeln!(out, "  + hand-offs {}", dec(&p.verification.with_handoffs))?;
    }
    if let Some(n) = &p.verification.next_hop {
        writeln!(out, "  next hop  {n}")?;
    }
    let nna = &p.no_new_access;
    if nna.newly_allowed.is_empty() {
        writeln!(out, "  checked   {} neighbouring requests: nothing else newly allowed", nna.checked)?;
    } else {
        writeln!(out, "  checked   {} neighbouring requests: {} newly allowed beyond the request", nna.checked, st.bad(&nna.newly_allowed.len().to_string()))?;
    }
    for c in &p.changes {
        writeln!(out)?;
        let tag = if c.applicable { String::new() } else { format!(" {}", st.bold("[hand-off]")) };
        writeln!(out, "{}  {} → {}{tag}", st.bold(&c.id), c.layer.as_str(), where_(c))?;
        writeln!(out, "    {}", c.summary)?;
        for s in &c.statements {
            writeln!(out, "    {} {}", st.good("+"), serde_json::to_string(s).unwrap_or_default())?;
        }
        if let Some(sz) = &c.size {
            writeln!(out, "    {}", st.dim(&format!("size {} / {} ({})", sz.size, sz.limit, sz.quota)))?;
        }
        if let Some(v) = &c.versions {
            writeln!(out, "    {}", st.dim(&format!("versions: {}", v.note)))?;
        }
        if let Some(b) = &c.blast_radius {
            let b = match b {
                denyctl_remedy::BlastRadius::Count(n) => n.to_string(),
                denyctl_remedy::BlastRadius::Text(t) => t.clone(),
            };
            writeln!(out, "    {}", st.dim(&format!("blast radius: {b}")))?;
        }
        if c.needs_human {
            writeln!(out, "    {} {}", st.bad("needs a human:"), c.needs_human_reason.as_deref().unwrap_or(""))?;
        }
        for n in &c.notes {
            writeln!(out, "    {}", st.dim(&format!("note: {n}")))?;
        }
    }
    if !nna.newly_allowed.is_empty() {
        writeln!(out)?;
        writeln!(out, "newly allowed beyond the request{}:", if nna.widening_accepted { " (accepted with --accept-widening)" } else { "" })?;
        for a in nna.newly_allowed.iter().take(20) {
            writeln!(out, "  {} on {}  {}", a.action, a.resource, st.dim(&format!("({}; {})", a.probe, a.principal)))?;
        }
        if nna.newly_allowed.len() > 20 {
            writeln!(out, "  ... and {} more (-o json lists them all)", nna.newly_allowed.len() - 20)?;
        }
    }
    if !p.alternatives.is_empty() {
        writeln!(out)?;
        writeln!(out, "wider scopes (pick with --scope; each also needs --accept-widening if it opens more):")?;
        for a in &p.alternatives {
            writeln!(out, "  {:<13} {}: newly allows {} more request(s)", a.scope.as_str().replace('_', "-"), a.description, a.newly_allowed.len())?;
        }
    }
    for h in &p.handoffs {
        writeln!(out)?;
        writeln!(out, "hand-off {} to {}:", h.change, h.to)?;
        writeln!(out, "  {}", h.subject)?;
    }
    for n in &p.notes {
        writeln!(out, "{}", st.dim(&format!("note: {n}")))?;
    }
    Ok(())
}

/// The lines of a unified diff, coloured when `color`: headers bold, additions green, removals
/// red, hunk headers cyan.
fn diff_lines(out: &mut dyn Write, diff: &str, color: bool) -> io::Result<()> {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    for line in diff.lines() {
        let l = if line.starts_with("+++") || line.starts_with("---") || line.starts_with("diff --git") {
            paint("1", line)
        } else if line.starts_with('+') {
            paint("32", line)
        } else if line.starts_with('-') {
            paint("31", line)
        } else if line.starts_with("@@") {
            paint("36", line)
        } else {
            line.to_string()
        };
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// A unified diff per changed policy; coloured when `color`.
pub fn diffs(out: &mut dyn Write, p: &Plan, color: bool) -> io::Result<()> {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    if p.changes.is_empty() {
        writeln!(out, "# no changes: {}", p.status_reason.as_deref().unwrap_or("nothing to do"))?;
    }
    for c in &p.changes {
        let hand = if c.applicable { "" } else { " (hand-off: not applied by denyctl)" };
        writeln!(out, "{}", paint("1", &format!("# {} {} → {}{hand}", c.id, c.layer.as_str(), where_(c))))?;
        diff_lines(out, &c.diff, color)?;
    }
    Ok(())
}

/// The IaC section after the plan table: each patched target, the patch, what stays an API change.
pub fn iac(out: &mut dyn Write, r: &crate::cmd::iac::Report, dir: &str, color: bool) -> io::Result<()> {
    let paint = |code: &str, s: &str| if color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() };
    writeln!(out)?;
    writeln!(out, "{}", paint("1", &format!("IAC PATCH ({dir})")))?;
    if r.iac_changes.is_empty() {
        writeln!(out, "  no target of this plan is patched in {dir}")?;
    }
    for c in &r.iac_changes {
        let stack = c.stack.as_deref().map(|s| format!(", stack {s}")).unwrap_or_default();
        writeln!(out, "{:<4}{} {} in {}{stack}: {}", c.change, c.tool.as_str(), c.resource, c.file, c.rendered)?;
        for n in &c.notes {
            writeln!(out, "    note: {n}")?;
        }
    }
    for u in &r.unmanaged {
        writeln!(out, "{:<4}unmanaged: {}: {} (the API change is kept)", u.change, u.target, u.reason)?;
    }
    diff_lines(out, &r.diff, color)?;
    if !r.diff.is_empty() {
        writeln!(out, "  write it: denyctl fix ... --iac {dir} -o diff > fix.patch && git -C {dir} apply \"$PWD/fix.patch\"")?;
    }
    Ok(())
}
