//! `denyctl rollback -f PLAN`: restore every before-image saved by `apply`, exactly: the document
//! text as IAM returned it, an inline policy that did not exist deleted, a created managed-policy
//! version removed and the previous default set back, a policy denyctl created detached and
//! deleted. A target changed again after apply is not overwritten (unless `--force`). Denies are
//! restored first (the reverse of apply's order). A resource policy the fix created is deleted
//! through its plugin (compare-and-swap). The write an apply had in flight when it stopped (the
//! journal) is undone too, from what the target shows it did.

use denyctl_remedy::{Change, Plan};
use denyctl_runtime::apply::{describe, is_restored, plan_token, reconcile, Backup, Writer};
use denyctl_runtime::Session;

use super::apply::{backup_path, confirm, interactive, read_backup, read_plan, require_consent_possible, save_backup, ChangeReport, Report};
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::cmd::live;
use crate::cmd::writes::{lock_targets, Journal};
use crate::error::{exit, CliError, CmdResult};
use crate::output;

/// Run the verb.
pub fn run(a: &RollbackArgs, g: &GlobalArgs) -> CmdResult {
    let p = read_plan(&a.file)?;
    let backup_file = backup_path(&a.file, a.backup.as_deref())?;
    let mut backup = read_backup(&backup_file)?.ok_or_else(|| {
        CliError::input(&backup_file, "no backup here: nothing was applied from this plan, or the backup was deleted (give --backup FILE); nothing written")
    })?;
    if backup.plan_token != plan_token(&p.changes) {
        return Err(CliError::input(&backup_file, format!("this backup was written for another plan than {}", a.file)));
    }
    let mut report = Report { plan: a.file.clone(), result: "nothing_to_roll_back", backup: Some(backup_file.clone()), changes: Vec::new(), handoffs: Vec::new(), next: None };
    // Applied changes, and any whose write was in flight when an apply stopped (it may be written).
    let in_flight = Journal::in_flight(&Journal::read(&backup_file), "apply");
    if backup.entries.iter().all(|e| e.applied.is_none() && !in_flight.contains(&e.change)) {
        eprintln!("denyctl: nothing to roll back: the backup records no applied change");
        output::emit(g.output, &report, |w| writeln!(w, "nothing to roll back"))?;
        return Ok(exit::OK);
    }
    require_consent_possible("rollback", a.yes)?;
    let profiles = live::profiles(g);
    let res = live::block_on(async {
        let session = Session::new(&profiles).await;
        let plugins = denyctl_builtin_plugins::registry();
        let w = Writer { session: &session, plugins: &plugins };
        let r = rollback(&w, &p, a, &mut backup, &backup_file, &in_flight, &mut report).await;
        live::report_calls(g, &session.stats);
        r
    })?;
    res?;
    output::emit(g.output, &report, |w| {
        for c in &report.changes {
            writeln!(w, "{:<4} {:<18} {}{}", c.id, c.result, c.target, c.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())?;
        }
        if let Some(n) = &report.next {
            writeln!(w, "next    {n}")?;
        }
        Ok(())
    })?;
    Ok(exit::OK)
}

async fn rollback(
    w: &Writer<'_>,
    p: &Plan,
    a: &RollbackArgs,
    backup: &mut Backup,
    backup_file: &str,
    in_flight: &std::collections::BTreeSet<String>,
    report: &mut Report,
) -> Result<(), CliError> {
    let change_of = |id: &str| -> Option<&Change> { p.changes.iter().find(|c| c.id == id) };
    let targets: Vec<denyctl_remedy::Target> = backup.entries.iter().map(|e| e.target.clone()).collect();
    let refs: Vec<&denyctl_remedy::Target> = targets.iter().collect();
    let _locks = lock_targets(&refs, "rollback")?;
    // Reverse of the apply order.
    let ids: Vec<String> =
        backup.entries.iter().rev().filter(|e| e.applied.is_some() || in_flight.contains(&e.change)).map(|e| e.change.clone()).collect();
    let mut todo = Vec::new();
    let mut stale = Vec::new();
    for id in &ids {
        let idx = backup.entries.iter().position(|e| &e.change == id).ok_or_else(|| CliError::Input(format!("backup entry {id} vanished")))?;
        let e = &backup.entries[idx];
        let now = w.read(&e.target).await.map_err(|err| CliError::Aws(format!("reading {} ({id}): {err}", describe(&e.target))))?;
        if is_restored(e, &now) {
            if e.applied.is_some() {
                report.changes.push(ChangeReport { id: id.clone(), target: describe(&e.target), result: "already restored".into(), detail: None });
            }
            continue;
        }
        let after = change_of(id).map(|c| &c.after);
        // A managed policy half-way (a version deleted to make room, the new one not made yet)
        // still reads as its before-image's document: it is ours to finish.
        let half_way = now.document == e.before.document && now.exists == e.before.exists;
        if now.document.as_ref() != after && !half_way && !a.force {
            stale.push(format!(
                "{id}: {} changed again after apply: {}",
                describe(&e.target),
                denyctl_runtime::apply::statement_diff(after, now.document.as_ref())
            ));
            continue;
        }
        // What an interrupted write did, from the target as it is now.
        let applied = reconcile(e, &now);
        backup.entries[idx].applied = Some(applied);
        todo.push(id.clone());
    }
    if !stale.is_empty() {
        return Err(CliError::Input(format!(
            "rollback aborted, nothing written: {}; restoring would lose that change (inspect it, then use --force)",
            stale.join("; ")
        )));
    }
    if todo.is_empty() {
        report.result = "nothing_to_roll_back";
        return Ok(());
    }
    // A policy the fix created is deleted: a separate consent on a terminal (--yes covers it).
    let deletes: Vec<&String> = todo.iter().filter(|id| backup.entries.iter().any(|e| &e.change == *id && !e.before.exists)).collect();
    if interactive() && !a.yes {
        eprintln!("denyctl will restore {} target(s) from {backup_file}:", todo.len());
        for id in &todo {
            if let Some(e) = backup.entries.iter().find(|e| &e.change == id) {
                let how = if e.before.exists { "put back" } else { "DELETE (the fix created it)" };
                eprintln!("  {id}  {}  {how}", describe(&e.target));
            }
        }
        if !confirm("Restore these before-images?") {
            return Err(CliError::Input("rollback: not confirmed; nothing written".into()));
        }
        if !deletes.is_empty() && !confirm(&format!("Delete {} polic(ies) that the fix created (there was none before)?", deletes.len())) {
            return Err(CliError::Input("rollback: deleting the created policies not confirmed; nothing written".into()));
        }
    }
    let mut journal = Journal::open(backup_file)?;
    let mut done: Vec<String> = Vec::new();
    for id in &todo {
        let Some(idx) = backup.entries.iter().position(|e| &e.change == id) else { continue };
        let e = backup.entries[idx].clone();
        journal.record("rollback", id, "intent")?;
        let detail = w.restore(&e).await.map_err(|err| {
            let msg = format!(
                "rollback failed at {id} ({}): {err}; restored before it: {}; the backup {backup_file} is kept",
                describe(&e.target),
                if done.is_empty() { "none".into() } else { done.join(", ") }
            );
            match err {
                denyctl_runtime::apply::ApplyError::Aws(_) => CliError::Aws(msg),
                _ => CliError::Input(msg),
            }
        })?;
        let now = w.read(&e.target).await.map_err(|err| CliError::Aws(format!("reading back {id}: {err}")))?;
        if !is_restored(&e, &now) {
            return Err(CliError::Aws(format!("{id}: {} does not read back as its before-image after restoring it", describe(&e.target))));
        }
        backup.entries[idx].applied = None;
        save_backup(backup_file, backup)?;
        journal.record("rollback", id, "done")?;
        // The apply intent that was in flight is settled: the target is its before-image.
        if in_flight.contains(id) {
            journal.record("apply", id, "done")?;
        }
        done.push(id.clone());
        report.changes.push(ChangeReport { id: id.clone(), target: describe(&e.target), result: "restored".into(), detail: Some(detail) });
    }
    report.result = "rolled_back";
    report.next = Some(format!("denyctl replay -f {}", a.file));
    eprintln!("denyctl: restored {} target(s) from {backup_file}", done.len());
    Ok(())
}
