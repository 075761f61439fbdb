//! `denyctl apply -f PLAN`: write a plan's applicable changes. Consent first (`--yes`, or a prompt
//! on a terminal; refused without either); every target re-read and compared with the plan
//! (compare-and-swap: nothing is written if one changed); every before-image saved to the backup
//! file before the first write; writes in an order that never leaves more access than the
//! finished apply; a failure undoes what was written. An applied plan applies as a no-op.

use std::io::IsTerminal;
use std::path::Path;

use denyctl_remedy::{Change, Plan, Status, PLAN_VERSION};
use denyctl_runtime::apply::{check, ApplyError, describe, order, plan_token, Backup, BackupEntry, Current, State, Writer, BACKUP_FORMAT};
use denyctl_runtime::Session;
use serde::Serialize;

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::cmd::live;
use crate::error::{exit, CliError, CmdResult};
use crate::input::read_text;
use crate::output;

/// A plan or backup file may not be larger than this.
const MAX_PLAN_BYTES: u64 = 64 * 1024 * 1024;

/// What happened to one change.
#[derive(Debug, Serialize)]
pub struct ChangeReport {
    /// `c1`.
    pub id: String,
    /// The target, in words.
    pub target: String,
    /// `written`, `already applied`, `restored`, `already restored`, `not applied (hand-off)`.
    pub result: String,
    /// What was done (versions created or deleted, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The JSON shape of `apply` and `rollback`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The plan file.
    pub plan: String,
    /// `applied`, `already_applied`, `nothing_to_apply`, `rolled_back`, `nothing_to_roll_back`.
    pub result: &'static str,
    /// The backup file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// Per change.
    pub changes: Vec<ChangeReport>,
    /// Hand-offs the plan carries (not written by denyctl).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handoffs: Vec<String>,
    /// What to run next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Read and check a plan file.
pub fn read_plan(path: &str) -> Result<Plan, CliError> {
    let text = read_text(path, MAX_PLAN_BYTES)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| CliError::input(path, format!("not valid JSON: {e}")))?;
    match v.get("plan_version").and_then(|x| x.as_u64()) {
        Some(n) if n == u64::from(PLAN_VERSION) => {}
        Some(n) => return Err(CliError::input(path, format!("plan_version {n} is not supported (this denyctl reads {PLAN_VERSION})"))),
        None => return Err(CliError::input(path, "not a denyctl plan (no plan_version): make one with `denyctl fix --dry-run ... -o json`")),
    }
    serde_json::from_value(v).map_err(|e| CliError::input(path, format!("not a valid plan: {e}")))
}

/// The backup file: `--backup`, else `PLAN.backup.json` beside the plan (`plan.json` → `plan.backup.json`).
pub fn backup_path(plan: &str, given: Option<&str>) -> Result<String, CliError> {
    if let Some(b) = given {
        return Ok(b.to_string());
    }
    if plan == "-" {
        return Err(CliError::Input("a plan read from stdin needs --backup FILE for its before-images".into()));
    }
    let p = Path::new(plan);
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".into());
    let stem = if p.extension().is_some_and(|e| e == "json") { stem } else { p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or(stem) };
    Ok(p.with_file_name(format!("{stem}.backup.json")).to_string_lossy().into_owned())
}

/// Read a backup file, if there is one.
pub fn read_backup(path: &str) -> Result<Option<Backup>, CliError> {
    if !Path::new(path).exists() {
        return Ok(None);
    }
    let text = read_text(path, MAX_PLAN_BYTES)?;
    let b: Backup = serde_json::from_str(&text).map_err(|e| CliError::input(path, format!("not a denyctl backup: {e}")))?;
    if b.format != BACKUP_FORMAT {
        return Err(CliError::input(path, format!("backup format {:?} is not supported (this denyctl reads {BACKUP_FORMAT:?})", b.format)));
    }
    Ok(Some(b))
}

/// Save the backup atomically (a temporary file renamed over it).
pub fn save_backup(path: &str, b: &Backup) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(b).map_err(|e| CliError::Input(format!("cannot encode the backup: {e}")))?;
    let tmp = format!("{path}.tmp");
    // Before-images of policies: owner-only, like everything a session keeps.
    crate::state::write_private(std::path::Path::new(&tmp), (text + "\n").as_bytes())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::input(path, format!("cannot write the backup ({e}); nothing was written to AWS")))
}

/// Whether a person can be asked.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask on the terminal (stderr); `false` on no or on any terminal error.
pub fn confirm(prompt: &str) -> bool {
    dialoguer::Confirm::new().with_prompt(prompt).default(false).interact().unwrap_or(false)
}

/// Without `--yes` and without a terminal, refuse before any AWS call.
pub fn require_consent_possible(verb: &str, yes: bool) -> Result<(), CliError> {
    if !yes && !interactive() {
        return Err(CliError::Input(format!(
            "{verb}: not writing without consent: there is no terminal to ask on; review the plan (denyctl fix ... -o diff) and pass --yes"
        )));
    }
    Ok(())
}

fn gate(p: &Plan, a: &ApplyArgs) -> Result<(), CliError> {
    let why = p.status_reason.as_deref().unwrap_or("");
    match p.status {
        Status::Refused if !a.accept_widening => Err(CliError::input(&a.file, format!("the plan is refused ({why}); apply it only with --accept-widening, or make a narrower plan"))),
        Status::Unresolved if !a.partial => Err(CliError::input(&a.file, format!("the plan is unresolved ({why}); its changes do not make the request allowed: apply them anyway with --partial"))),
        _ => Ok(()),
    }
}

struct Checked<'p> {
    change: &'p Change,
    current: Current,
    state: State,
}

async fn read_all<'p>(w: &Writer<'_>, changes: &[&'p Change]) -> Result<Vec<Checked<'p>>, CliError> {
    let reads = futures_join(changes.iter().map(|c| w.read(&c.target))).await;
    let mut out = Vec::new();
    for (c, r) in changes.iter().zip(reads) {
        let current = r.map_err(|e| {
            let m = format!("apply aborted, nothing written: reading {} ({}): {e}", describe(&c.target), c.id);
            match e {
                ApplyError::Aws(_) => CliError::Aws(m),
                ApplyError::Stale(_) | ApplyError::Unsupported(_) => CliError::Input(m),
            }
        })?;
        let state = check(c, &current);
        out.push(Checked { change: c, current, state });
    }
    let stale: Vec<String> = out.iter().filter_map(|k| if let State::Changed(m) = &k.state { Some(format!("{}: {m}", k.change.id)) } else { None }).collect();
    if !stale.is_empty() {
        return Err(CliError::Input(format!(
            "apply aborted, nothing written: {}; make the plan again (denyctl fix --dry-run ...)",
            stale.join("; ")
        )));
    }
    Ok(out)
}

/// `join_all` without naming the futures crate in this binary.
async fn futures_join<F: std::future::Future>(it: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in it {
        out.push(f.await);
    }
    out
}

fn handoffs(p: &Plan) -> Vec<String> {
    p.handoffs.iter().map(|h| format!("{}: {} (for {})", h.change, h.subject, h.to)).collect()
}

/// Run the verb.
pub fn run(a: &ApplyArgs, g: &GlobalArgs) -> CmdResult {
    let p = read_plan(&a.file)?;
    gate(&p, a)?;
    let changes = order(&p.changes);
    let mut report = Report { plan: a.file.clone(), result: "nothing_to_apply", backup: None, changes: Vec::new(), handoffs: handoffs(&p), next: None };
    for c in p.changes.iter().filter(|c| !c.applicable) {
        report.changes.push(ChangeReport { id: c.id.clone(), target: describe(&c.target), result: "not applied (hand-off)".into(), detail: None });
    }
    if changes.is_empty() {
        let why = if p.status == Status::AlreadyAllowed { "the request was already allowed when the plan was made" } else { "the plan has no change denyctl can write" };
        eprintln!("denyctl: nothing to apply: {why}");
        output::emit(g.output, &report, |w| writeln!(w, "nothing to apply: {why}"))?;
        return Ok(exit::OK);
    }
    let backup_file = backup_path(&a.file, a.backup.as_deref())?;
    require_consent_possible("apply", a.yes)?;
    let human: Vec<&&Change> = changes.iter().filter(|c| c.needs_human).collect();
    if !human.is_empty() && !interactive() && !a.accept_needs_human {
        let reasons: Vec<String> = human.iter().map(|c| format!("{}: {}", c.id, c.needs_human_reason.as_deref().unwrap_or("flagged"))).collect();
        return Err(CliError::Input(format!(
            "apply: {} flagged for a person ({}); read the reasons and pass --accept-needs-human, or apply on a terminal",
            if human.len() == 1 { "a change is" } else { "changes are" },
            reasons.join("; ")
        )));
    }
    if !a.allow_drift {
        let inputs = super::iac::IacInputs::validate(a.iac.as_deref(), &a.tf_state)?;
        super::iac::refuse_drift(&p, &a.file, &inputs, g)?;
    }
    let profiles = live::profiles(g);
    let result = live::block_on(async {
        let session = Session::new(&profiles).await;
        let plugins = denyctl_builtin_plugins::registry();
        let w = Writer { session: &session, plugins: &plugins };
        let res = apply(&w, &p, a, &changes, &backup_file, &mut report).await;
        live::report_calls(g, &session.stats);
        res
    })?;
    result?;
    output::emit(g.output, &report, |w| {
        for c in &report.changes {
            writeln!(w, "{:<4} {:<24} {}{}", c.id, c.result, c.target, c.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())?;
        }
        if let Some(b) = &report.backup {
            writeln!(w, "backup  {b}")?;
        }
        for h in &report.handoffs {
            writeln!(w, "hand-off  {h}")?;
        }
        if let Some(n) = &report.next {
            writeln!(w, "next    {n}")?;
        }
        Ok(())
    })?;
    Ok(exit::OK)
}

async fn apply(w: &Writer<'_>, p: &Plan, a: &ApplyArgs, changes: &[&Change], backup_file: &str, report: &mut Report) -> Result<(), CliError> {
    let mut checked = read_all(w, changes).await?;
    let pending = checked.iter().filter(|k| k.state == State::Ready).count();
    if pending == 0 {
        report.result = "already_applied";
        for k in &checked {
            report.changes.push(ChangeReport { id: k.change.id.clone(), target: describe(&k.change.target), result: "already applied".into(), detail: None });
        }
        report.next = Some(format!("denyctl replay -f {}", a.file));
        eprintln!("denyctl: already applied: every target already is as the plan makes it; nothing written");
        return Ok(());
    }
    // Consent: a prompt without --yes, and one per change flagged for a person even with --yes.
    let mut asked = false;
    if interactive() {
        if !a.yes {
            eprintln!("denyctl will write {pending} change(s) of {}:", a.file);
            for k in checked.iter().filter(|k| k.state == State::Ready) {
                eprintln!("  {}  {}\n      {}", k.change.id, describe(&k.change.target), k.change.summary);
            }
            if !confirm("Apply these changes?") {
                return Err(CliError::Input("apply: not confirmed; nothing written".into()));
            }
            asked = true;
        }
        for k in checked.iter().filter(|k| k.state == State::Ready && k.change.needs_human) {
            let reason = k.change.needs_human_reason.as_deref().unwrap_or("flagged for review");
            if !a.accept_needs_human && !confirm(&format!("{} is flagged for a person: {reason}. Apply it?", k.change.id)) {
                return Err(CliError::Input(format!("apply: {} not confirmed; nothing written", k.change.id)));
            }
            asked = true;
        }
    }
    if asked {
        // Time passed at the prompt: compare again.
        checked = read_all(w, changes).await?;
    }
    // The backup, before any write.
    let token = plan_token(&p.changes);
    let mut backup = match read_backup(backup_file)? {
        Some(b) if b.plan_token != token => {
            return Err(CliError::input(backup_file, "this backup belongs to another plan; nothing written: pass --backup FILE to keep both"));
        }
        Some(b) => b,
        None => Backup { format: BACKUP_FORMAT.into(), plan_token: token, entries: Vec::new() },
    };
    for k in checked.iter().filter(|k| k.state == State::Ready) {
        let to_delete = w.to_delete(k.change, &k.current).await.map_err(|e| CliError::Aws(format!("{}: {e}", k.change.id)))?;
        let entry = BackupEntry { change: k.change.id.clone(), target: k.change.target.clone(), before: k.current.clone(), to_delete, applied: None };
        backup.entries.retain(|e| e.change != entry.change);
        backup.entries.push(entry);
    }
    // Keep the entries in apply order.
    let pos = |id: &str| changes.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    backup.entries.sort_by_key(|e| pos(&e.change));
    save_backup(backup_file, &backup)?;
    report.backup = Some(backup_file.to_string());

    let mut written: Vec<String> = Vec::new();
    for k in &checked {
        let c = k.change;
        if k.state != State::Ready {
            report.changes.push(ChangeReport { id: c.id.clone(), target: describe(&c.target), result: "already applied".into(), detail: None });
            continue;
        }
        let entry_idx = backup.entries.iter().position(|e| e.change == c.id).unwrap_or(0);
        let to_delete = backup.entries[entry_idx].to_delete.clone();
        match w.write(c, &k.current, to_delete.as_ref()).await {
            Ok(applied) => {
                let mut detail = Vec::new();
                if let Some(d) = &applied.deleted_version {
                    detail.push(format!("deleted non-default version {} first (five-version quota; its document is in the backup)", d.version_id));
                }
                if let Some(v) = &applied.created_version {
                    detail.push(format!("created {v} as the default version"));
                }
                if applied.created_policy {
                    detail.push("created and attached".into());
                }
                backup.entries[entry_idx].applied = Some(applied);
                save_backup(backup_file, &backup)?;
                written.push(c.id.clone());
                report.changes.push(ChangeReport { id: c.id.clone(), target: describe(&c.target), result: "written".into(), detail: (!detail.is_empty()).then(|| detail.join("; ")) });
            }
            Err(e) => {
                let mut undone = Vec::new();
                let mut failed = Vec::new();
                for id in written.iter().rev() {
                    let Some(entry) = backup.entries.iter_mut().find(|x| &x.change == id) else { continue };
                    match w.restore(entry).await {
                        Ok(_) => {
                            entry.applied = None;
                            undone.push(id.clone());
                        }
                        Err(re) => failed.push(format!("{id}: {re}")),
                    }
                }
                let _ = save_backup(backup_file, &backup);
                let tail = if failed.is_empty() {
                    if undone.is_empty() { "nothing had been written".to_string() } else { format!("rolled back what was written ({}): restored", undone.join(", ")) }
                } else {
                    format!(
                        "rolling back failed for {} (restored: {}); the before-images are in {backup_file}: run `denyctl rollback -f {}`",
                        failed.join("; "),
                        if undone.is_empty() { "none".into() } else { undone.join(", ") },
                        a.file
                    )
                };
                return Err(CliError::Aws(format!("apply failed at {} ({}): {e}; {tail}", c.id, describe(&c.target))));
            }
        }
    }
    // Check what was written reads back as planned.
    for k in checked.iter().filter(|k| k.state == State::Ready) {
        let now = w.read(&k.change.target).await.map_err(|e| CliError::Aws(format!("reading back {}: {e}", k.change.id)))?;
        if check(k.change, &now) != State::AlreadyApplied {
            eprintln!("denyctl: WARNING: {} does not read back as the plan's after-image", describe(&k.change.target));
        }
    }
    report.result = "applied";
    report.changes.sort_by_key(|c| c.id.trim_start_matches('c').parse::<usize>().unwrap_or(usize::MAX));
    report.next = Some(format!("denyctl replay -f {}", a.file));
    eprintln!("denyctl: applied {} change(s); before-images in {backup_file} (undo: denyctl rollback -f {})", written.len(), a.file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_beside_the_plan() {
        assert_eq!(backup_path("plan.json", None).unwrap(), "plan.backup.json");
        assert_eq!(backup_path("/tmp/x/p.json", None).unwrap(), "/tmp/x/p.backup.json");
        assert_eq!(backup_path("plan", None).unwrap(), "plan.backup.json");
        assert_eq!(backup_path("plan.json", Some("b.json")).unwrap(), "b.json");
        assert!(backup_path("-", None).is_err());
    }
}
