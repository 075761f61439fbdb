//! `denyctl apply -f PLAN`: write a plan's applicable changes. Consent first (`--yes`, or a prompt
//! on a terminal; refused without either); every target re-read and compared with the plan
//! (compare-and-swap: nothing is written if one changed); every before-image saved to the backup
//! file before the first write; writes in an order that never leaves more access than the
//! finished apply; a failure undoes what was written. An applied plan applies as a no-op.
//! Before any AWS call each change is re-checked from the plan file (an edited plan is
//! refused); each target is locked (one denyctl run per policy on this machine); a journal
//! beside the backup records each write's intent and completion, so that an apply that stopped
//! half-way is finished by running it again, or undone by `rollback`.

use std::io::IsTerminal;
use std::path::Path;

use denyctl_remedy::{Change, Plan, Status, TargetKind, PLAN_VERSION};
use denyctl_runtime::apply::{check, describe, order, plan_token, reconcile, ApplyError, Backup, BackupEntry, Current, State, Writer, BACKUP_FORMAT};
use denyctl_runtime::Session;
use serde::Serialize;

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::cmd::live;
use crate::cmd::writes::{durable_write, lock_targets, Journal};
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

/// Save the backup durably (a temporary file written and fsynced, renamed over it, the
/// directory fsynced): after a crash the file holds the old or the new backup, whole.
pub fn save_backup(path: &str, b: &Backup) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(b).map_err(|e| CliError::Input(format!("cannot encode the backup: {e}")))?;
    // Before-images of policies: owner-only, flushed to disk before the first write to AWS.
    durable_write(path, &(text + "\n")).map_err(|e| CliError::input(path, format!("cannot write the backup ({e}); nothing more was written to AWS")))
}

/// Refuse a plan whose changes, re-checked from the file alone, newly allow more than its
/// request (edited after it was made, or widened) unless `--accept-widening`; refuse one that
/// cannot be checked at all. Pure: before any AWS call.
fn integrity(p: &Plan, a: &ApplyArgs) -> Result<(), CliError> {
    let checks = denyctl_remedy::integrity::recheck(p);
    if let Some(r) = checks.iter().find(|r| r.error.is_some()) {
        let c = p.changes.iter().find(|c| c.id == r.change);
        let what = c.map(|c| describe(&c.target)).unwrap_or_default();
        return Err(CliError::input(&a.file, format!("change {} ({what}): {}; nothing written", r.change, r.error.as_deref().unwrap_or(""))));
    }
    let widened: Vec<String> = checks
        .iter()
        .filter(|r| !r.newly_allowed.is_empty())
        .map(|r| {
            let what = p.changes.iter().find(|c| c.id == r.change).map(|c| describe(&c.target)).unwrap_or_default();
            let first: Vec<String> = r.newly_allowed.iter().take(3).map(|x| format!("{} on {} ({})", x.action, x.resource, x.probe)).collect();
            let more = if r.newly_allowed.len() > 3 { format!(" and {} more", r.newly_allowed.len() - 3) } else { String::new() };
            format!("{} ({what}) newly allows {}{more}", r.change, first.join(", "))
        })
        .collect();
    if !widened.is_empty() && !a.accept_widening {
        return Err(CliError::input(
            &a.file,
            format!(
                "apply refused, nothing written: re-checked from the plan file, {} beyond the plan's request {} on {}: the change was edited after the plan was made, or the plan widens; make the plan again, or pass --accept-widening if you accept exactly that",
                widened.join("; "),
                p.request.action,
                p.request.resource
            ),
        ));
    }
    Ok(())
}

/// The account each applicable change lives in must be the operator's: a plan from another
/// account is refused before anything is read or written.
async fn same_account(session: &Session, p: &Plan, changes: &[&Change], file: &str) -> Result<(), CliError> {
    let out = session
        .call(&session.operator, "sts:GetCallerIdentity", "operator", 1, session.operator.sts.get_caller_identity().send())
        .await
        .map_err(|e| {
            let why = match e {
                denyctl_runtime::calls::Failure::Read(r) => r.to_string(),
                denyctl_runtime::calls::Failure::Fatal(f) => f.to_string(),
            };
            CliError::Aws(format!("apply aborted, nothing written: who is the operator (sts:GetCallerIdentity): {why}"))
        })?;
    let mine = out.account().unwrap_or_default().to_string();
    for c in changes {
        let theirs = match c.target.kind {
            TargetKind::ResourcePolicy | TargetKind::TrustPolicy => &p.request.resource_account,
            _ => &p.caller.account,
        };
        if !theirs.is_empty() && !mine.is_empty() && *theirs != mine {
            return Err(CliError::input(
                file,
                format!("{} ({}) is in account {theirs}, but the operator's credentials are in account {mine}: use a profile of account {theirs} (--profile); nothing written", c.id, describe(&c.target)),
            ));
        }
    }
    Ok(())
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

async fn read_all<'p>(w: &Writer<'_>, changes: &[&'p Change], backup: &Backup, in_flight: &std::collections::BTreeSet<String>) -> Result<Vec<Checked<'p>>, CliError> {
    let reads = futures_join(changes.iter().map(|c| w.read(&c.target))).await;
    let mut out = Vec::new();
    for (c, r) in changes.iter().zip(reads) {
        let current = r.map_err(|e| {
            let m = format!("apply aborted, nothing written: reading {} ({}): {e}", describe(&c.target), c.id);
            match e {
                ApplyError::Aws(_) => CliError::Aws(m),
                ApplyError::Stale(_) | ApplyError::Unsupported(_) | ApplyError::Gone(_) => CliError::Input(m),
            }
        })?;
        let mut state = check(c, &current);
        // Resuming: a policy the interrupted run created (it did not exist in the backup's
        // before-image) and did not finish (not attached yet) is the plan's, not someone else's.
        let ours = backup.entries.iter().any(|e| e.change == c.id && !e.before.exists) && in_flight.contains(&c.id);
        if ours && matches!(state, State::Changed(_)) && c.target.create && current.document.as_ref() == Some(&c.after) {
            state = State::Ready;
        }
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
    integrity(&p, a)?;
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
    same_account(w.session, p, changes, &a.file).await?;
    // One denyctl run at a time per target on this machine; compare-and-swap catches the rest.
    let targets: Vec<&denyctl_remedy::Target> = changes.iter().map(|c| &c.target).collect();
    let _locks = lock_targets(&targets, "apply")?;
    // An earlier apply of this plan that stopped half-way (crash, kill, lost network) left its
    // backup and journal: its entries keep the first before-images, and a change whose write
    // was in flight may be written already, or not.
    let token = plan_token(&p.changes);
    let mut backup = match read_backup(backup_file)? {
        Some(b) if b.plan_token != token => {
            return Err(CliError::input(backup_file, "this backup belongs to another plan; nothing written: pass --backup FILE to keep both"));
        }
        Some(b) => b,
        None => Backup { format: BACKUP_FORMAT.into(), plan_token: token, entries: Vec::new() },
    };
    let in_flight = Journal::in_flight(&Journal::read(backup_file), "apply");
    let mut checked = read_all(w, changes, &backup, &in_flight).await?;
    let pending = checked.iter().filter(|k| k.state == State::Ready).count();
    let unrecorded: Vec<usize> = checked
        .iter()
        .enumerate()
        .filter(|(_, k)| {
            k.state == State::AlreadyApplied
                && in_flight.contains(&k.change.id)
                && backup.entries.iter().any(|e| e.change == k.change.id && e.applied.is_none())
        })
        .map(|(i, _)| i)
        .collect();
    if !unrecorded.is_empty() {
        // Written by the interrupted run but not yet recorded: record it now, so rollback undoes it.
        let mut journal = Journal::open(backup_file)?;
        for i in unrecorded {
            let k = &checked[i];
            if let Some(e) = backup.entries.iter_mut().find(|e| e.change == k.change.id) {
                e.applied = Some(reconcile(e, &k.current));
            }
            save_backup(backup_file, &backup)?;
            journal.record("apply", &k.change.id, "done")?;
            eprintln!("denyctl: {} ({}) was written by an interrupted apply; recorded in {backup_file}", k.change.id, describe(&k.change.target));
        }
    }
    if pending == 0 {
        report.result = "already_applied";
        report.backup = Path::new(backup_file).exists().then(|| backup_file.to_string());
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
        checked = read_all(w, changes, &backup, &in_flight).await?;
    }
    // The backup, before any write: an entry of an interrupted run keeps its before-image (the
    // target then was as it is now, or half-way); a new one is read now.
    for k in checked.iter().filter(|k| k.state == State::Ready) {
        let id = &k.change.id;
        if backup.entries.iter().any(|e| &e.change == id && (e.applied.is_some() || in_flight.contains(id))) {
            continue;
        }
        let to_delete = w.to_delete(k.change, &k.current).await.map_err(|e| CliError::Aws(format!("{}: {e}", k.change.id)))?;
        backup.entries.retain(|e| &e.change != id);
        backup.entries.push(BackupEntry { change: k.change.id.clone(), target: k.change.target.clone(), before: k.current.clone(), to_delete, applied: None });
    }
    // Keep the entries in apply order.
    let pos = |id: &str| changes.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    backup.entries.sort_by_key(|e| pos(&e.change));
    save_backup(backup_file, &backup)?;
    let mut journal = Journal::open(backup_file)?;
    report.backup = Some(backup_file.to_string());

    let mut written: Vec<String> = Vec::new();
    for k in &checked {
        let c = k.change;
        if k.state != State::Ready {
            report.changes.push(ChangeReport { id: c.id.clone(), target: describe(&c.target), result: "already applied".into(), detail: None });
            continue;
        }
        let entry_idx = backup.entries.iter().position(|e| e.change == c.id).unwrap_or(0);
        // A version the interrupted run already deleted to make room is not deleted twice.
        let planned = backup.entries[entry_idx].to_delete.clone();
        let gone = planned.clone().filter(|d| k.current.exists && !k.current.versions.iter().any(|v| v.version_id == d.version_id));
        let to_delete = if gone.is_some() { None } else { planned };
        journal.record("apply", &c.id, "intent")?;
        match w.write(c, &k.current, to_delete.as_ref()).await {
            Ok(mut applied) => {
                if applied.deleted_version.is_none() {
                    applied.deleted_version = gone;
                }
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
                journal.record("apply", &c.id, "done")?;
                written.push(c.id.clone());
                report.changes.push(ChangeReport { id: c.id.clone(), target: describe(&c.target), result: "written".into(), detail: (!detail.is_empty()).then(|| detail.join("; ")) });
            }
            Err(e) => {
                let mut undone = Vec::new();
                let mut failed = Vec::new();
                for id in written.iter().rev() {
                    let Some(entry) = backup.entries.iter_mut().find(|x| &x.change == id) else { continue };
                    let _ = journal.record("rollback", id, "intent");
                    match w.restore(entry).await {
                        Ok(_) => {
                            entry.applied = None;
                            let _ = journal.record("rollback", id, "done");
                            undone.push(id.clone());
                        }
                        Err(re) => failed.push(format!("{id}: {re}")),
                    }
                }
                let _ = save_backup(backup_file, &backup);
                // The failed write itself: nothing was written (the journal's intent stays open
                // only if the failure left it unknown; a re-read decides on the next run).
                let _ = journal.record("apply", &c.id, "done");
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
                let msg = format!("apply failed at {} ({}): {e}; {tail}", c.id, describe(&c.target));
                return Err(match e {
                    ApplyError::Stale(_) | ApplyError::Gone(_) => CliError::Input(msg),
                    _ => CliError::Aws(msg),
                });
            }
        }
    }
    // Check what was written reads back as planned: a write that another writer replaced at once
    // (outside this machine's lock, where IAM offers no compare-and-swap) shows here, and this
    // apply is then reported as lost, not as done.
    let mut lost = Vec::new();
    for k in checked.iter().filter(|k| k.state == State::Ready) {
        let now = w.read(&k.change.target).await.map_err(|e| CliError::Aws(format!("reading back {}: {e}", k.change.id)))?;
        if check(k.change, &now) != State::AlreadyApplied {
            lost.push(format!(
                "{} ({}): another writer changed it right after this apply wrote it: {}; {}",
                k.change.id,
                describe(&k.change.target),
                denyctl_runtime::apply::statement_diff(Some(&k.change.after), now.document.as_ref()),
                denyctl_runtime::apply::who_changed_hint(&k.change.target)
            ));
        }
    }
    if !lost.is_empty() {
        return Err(CliError::Input(format!(
            "apply lost a race: {}; the other writer's change is kept; make the plan again (denyctl fix --dry-run ...)",
            lost.join("; ")
        )));
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
