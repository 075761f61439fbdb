//! The guided fix session: a denial walked to a verified fix, hop after hop.
//!
//! Each round: plan from live data (who is calling, every layer, the blocking statement), show the
//! verdict and the diff, ask (or `--yes`), apply (backup first, compare-and-swap, undone on
//! failure), replay the request as the caller, then follow the hidden hops (S3 allowed, then the
//! bucket's KMS key). Bounded, and never round again on the same denial. Ends with a summary: what
//! changed (plan and backup files), what was verified and how, what is left for someone else, and
//! the rollback commands.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use denyctl_remedy::{Options, Plan, Scope, Status};

use crate::cli::{ApplyArgs, FixArgs, GlobalArgs, ReplayArgs, RequestArgs};
use crate::error::{exit, CliError, CmdResult};
use crate::output::Format;

/// Most rounds in one session (a request and its hops, and re-plans after a deeper denial).
pub const MAX_ROUNDS: usize = 6;

/// How one request ended.
#[derive(Debug)]
enum Ending {
    /// Allowed before anything was changed.
    AlreadyAllowed,
    /// Changed, then the replay as the caller was allowed.
    VerifiedByReplay { plan: PathBuf },
    /// Changed; the replay could not prove it (not replayable, or the server does not enforce this
    /// layer): the re-evaluation of the live layers is the check.
    VerifiedByEvaluation { plan: PathBuf, why: String },
    /// The replay as the caller is still denied although the live layers read allow it: not verified.
    Unverified { plan: PathBuf, why: String },
    /// Someone else must act (SCP/RCP/session policy owner, a guardrail for a human).
    HandedOff { files: Vec<PathBuf> },
    /// The user said no, or the plan may not be applied.
    NotApplied { why: String },
    /// Applying or replaying failed.
    Failed { why: String },
    /// The fix was written to the IaC files (`--iac`): not deployed, so not verified yet.
    IacPatched { plan: PathBuf, files: Vec<PathBuf>, next: Vec<String> },
}

struct Round {
    action: String,
    resource: String,
    why: Option<String>,
    ending: Ending,
}

fn say(quiet: bool, s: &str) {
    if !quiet {
        println!("{s}");
    }
}

fn prompt_consent(question: &str, default: bool) -> Result<bool, CliError> {
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(default)
        .interact()
        .map_err(|e| CliError::Input(format!("prompt closed ({e}): nothing was written")))
}

/// On a terminal with wider scopes on offer, let the user pick one; each says what it would newly allow.
fn pick_scope(p: &Plan) -> Result<Option<Scope>, CliError> {
    if p.alternatives.is_empty() {
        return Ok(None);
    }
    let mut items = vec![format!("exact: {} on {} only (least privilege)", p.request.action, p.request.resource)];
    for a in &p.alternatives {
        items.push(format!("{:?}: {} — newly allows {} other request(s)", a.scope, a.description, a.newly_allowed.len()).to_lowercase());
    }
    let choice = dialoguer::Select::new()
        .with_prompt("Which scope?")
        .items(&items)
        .default(0)
        .interact()
        .map_err(|e| CliError::Input(format!("prompt closed ({e}): nothing was written")))?;
    Ok(if choice == 0 { None } else { Some(p.alternatives[choice - 1].scope) })
}

fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).map_err(|e| CliError::Input(format!("cannot write {}: {e}", path.display())))?;
    crate::state::write_private(path, (text + "\n").as_bytes()).map_err(|e| CliError::Input(format!("cannot write {}: {e}", path.display())))
}

fn request_args(action: &str, resource: &str, principal: Option<&str>, base: &RequestArgs) -> RequestArgs {
    RequestArgs {
        text: None,
        event: None,
        principal: principal.map(str::to_string),
        action: Some(action.to_string()),
        resource: Some(resource.to_string()),
        resource_account: None,
        context: base.context.clone(),
        session_policy: base.session_policy.clone(),
    }
}

/// Run the session. `interactive`: prompts on a terminal; otherwise `--yes` must have been given.
pub fn run(args: &FixArgs, global: &GlobalArgs, interactive: bool) -> CmdResult {
    let quiet = global.quiet;
    let g = GlobalArgs { output: Format::Table, ..global.clone() };
    let dir = crate::state::session_dir(args.session_dir.as_deref())?;
    say(quiet, &format!("session files (plans, backups, hand-offs): {}", dir.display()));

    // The first request: what the denial (or the flags) says. Later ones: hops and re-plans.
    let first = super::live::denied(&args.request)?;
    let action = first.action.clone().ok_or_else(|| CliError::Input("fix: the denial names no action; give --action".into()))?;
    let resource = first.resource.clone().unwrap_or_else(|| "*".into());
    let principal = first.principal.clone();
    let mut queue: VecDeque<(String, String, Option<String>)> = VecDeque::from([(action, resource, None)]);
    let mut seen_denials: HashSet<String> = HashSet::new();
    let mut rounds: Vec<Round> = Vec::new();
    let mut applied_plans: Vec<PathBuf> = Vec::new();
    let mut visited: HashSet<(String, String)> = HashSet::new();
    let iac = super::iac::IacInputs::validate(args.iac.as_deref(), &args.tf_state)?;

    while let Some((action, resource, why)) = queue.pop_front() {
        if rounds.len() >= MAX_ROUNDS {
            say(quiet, &format!("Stopping after {MAX_ROUNDS} rounds (the bound): {action} on {resource} was not looked at."));
            break;
        }
        let n = rounds.len() + 1;
        say(quiet, &format!("\n━━ round {n}: {action} on {resource}{}", why.as_deref().map(|w| format!("\n   ({w})")).unwrap_or_default()));
        let req = request_args(&action, &resource, principal.as_deref(), &args.request);
        let mut opts = Options { accept_widening: args.accept_widening, ..Options::default() };
        let (mut plan, hops, mut eval_req, mut eval_layers) = super::fix_live::plan_full(&req, &g, opts.clone())?;
        visited.insert((action.clone(), resource.clone()));
        let queue_hops = |queue: &mut VecDeque<(String, String, Option<String>)>| {
            for h in &hops {
                if !visited.contains(&(h.action.clone(), h.resource.clone())) && !queue.iter().any(|(a, r, _)| *a == h.action && *r == h.resource) {
                    queue.push_back((h.action.clone(), h.resource.clone(), Some(format!("hidden hop: {}", h.why))));
                }
            }
        };
        // Never go round on the same denial twice.
        let fingerprint = format!("{action}|{resource}|{:?}", plan.verification.before);
        if plan.status != Status::AlreadyAllowed && !seen_denials.insert(fingerprint) {
            rounds.push(Round { action, resource, why, ending: Ending::Failed { why: "the same denial came back after a change: stopping rather than looping".into() } });
            break;
        }
        if !quiet {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::render::plan::table(&mut out, &plan).or_else(crate::output::ignore_broken_pipe)?;
        }
        if plan.status == Status::AlreadyAllowed {
            say(quiet, "   allowed now: nothing to change.");
            queue_hops(&mut queue);
            rounds.push(Round { action, resource, why, ending: Ending::AlreadyAllowed });
            continue;
        }
        // A wider scope only when the user picks it, seeing what it would newly allow.
        if interactive && plan.status == Status::Ready {
            if let Some(scope) = pick_scope(&plan)? {
                opts.scope = scope;
                opts.accept_widening = true;
                let (p2, _, r2, l2) = super::fix_live::plan_full(&req, &g, opts.clone())?;
                (plan, eval_req, eval_layers) = (p2, r2, l2);
            }
        }
        let plan_path = dir.join(format!("plan-{n}.json"));
        write_json(&plan_path, &plan)?;
        let mut handoff_files = Vec::new();
        for (i, h) in plan.handoffs.iter().enumerate() {
            let path = dir.join(format!("handoff-{n}-{}.md", i + 1));
            let text = format!("To: {}\nSubject: {}\n\n{}\n", h.to, h.subject, h.body);
            crate::state::write_private(&path, text.as_bytes()).map_err(|e| CliError::Input(format!("cannot write {}: {e}", path.display())))?;
            handoff_files.push(path);
        }
        let mut applicable = plan.changes.iter().filter(|c| c.applicable).count();
        if iac.given() && applicable > 0 && !matches!(plan.status, Status::Refused | Status::Unresolved) {
            if let Some(ending) = iac_round(&mut plan, &eval_req, &eval_layers, &iac, &g, args, interactive, quiet, &plan_path)? {
                let all_in_iac = plan.changes.iter().all(|c| !c.applicable);
                rounds.push(Round { action: action.clone(), resource: resource.clone(), why: why.clone(), ending });
                if all_in_iac {
                    continue;
                }
                // Unmanaged changes stay API changes: they go through the usual consent below.
                applicable = plan.changes.iter().filter(|c| c.applicable).count();
                write_json(&plan_path, &plan)?;
            }
        }
        if applicable == 0 || matches!(plan.status, Status::Refused | Status::Unresolved) {
            let ending = if !handoff_files.is_empty() {
                say(quiet, &format!("   this layer is not yours to change: the request for its owner is in {}", handoff_files[0].display()));
                Ending::HandedOff { files: handoff_files }
            } else {
                Ending::NotApplied { why: plan.status_reason.clone().unwrap_or_else(|| format!("plan status {:?}", plan.status).to_lowercase()) }
            };
            rounds.push(Round { action, resource, why, ending });
            continue;
        }
        let needs_human: Vec<String> = plan.changes.iter().filter(|c| c.applicable && c.needs_human).map(|c| c.summary.clone()).collect();
        let mut accept_human = args.accept_needs_human;
        let consent = if interactive {
            let mut ok = prompt_consent(&format!("Apply {applicable} change(s) shown above? A backup is saved first; `denyctl rollback` undoes it"), false)?;
            if ok && !needs_human.is_empty() {
                say(false, &format!("   Flagged for a human: {}", needs_human.join("; ")));
                accept_human = prompt_consent("This narrows a Deny that may be deliberate. Apply it anyway?", false)?;
                ok = accept_human;
            }
            ok
        } else {
            args.yes && (needs_human.is_empty() || accept_human)
        };
        if !consent {
            let why_not = if !needs_human.is_empty() && !accept_human {
                "flagged for a human (pass --accept-needs-human, or decide on a terminal)".to_string()
            } else {
                "declined: nothing was written".to_string()
            };
            say(quiet, &format!("   not applied: {why_not}; the plan is in {}", plan_path.display()));
            rounds.push(Round { action, resource, why, ending: Ending::NotApplied { why: why_not } });
            continue;
        }
        let file = plan_path.to_string_lossy().into_owned();
        let apply = ApplyArgs {
            file: file.clone(),
            yes: true,
            backup: None,
            accept_widening: opts.accept_widening,
            partial: false,
            accept_needs_human: accept_human,
            allow_drift: args.allow_drift,
            iac: args.iac.clone(),
            tf_state: args.tf_state.clone(),
        };
        match super::apply::run(&apply, &g) {
            Ok(_) => applied_plans.push(plan_path.clone()),
            Err(e) => {
                rounds.push(Round { action, resource, why, ending: Ending::Failed { why: format!("apply: {e}") } });
                break;
            }
        }
        let service = action.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let unenforced = |what: &str| args.verify_by_evaluation.iter().any(|s| s.eq_ignore_ascii_case(what));
        let narrows = plan.changes.iter().any(|c| c.applicable && c.edit == denyctl_remedy::EditKind::NarrowDeny);
        let by_evaluation = if unenforced(&service) {
            Some(format!("this server does not enforce {service}'s resource policies"))
        } else if narrows && unenforced("conditions") {
            Some("this server does not evaluate conditions, and the fix narrows a Deny with a condition".to_string())
        } else {
            None
        };
        let replayed = if let Some(reason) = &by_evaluation {
            say(quiet, &format!("   not replayed: {reason}; verifying by evaluation"));
            Ok(exit::INPUT)
        } else {
            say(quiet, "   replaying the request as the caller ...");
            replay_with_consent(&file, args.allow_write_replay, interactive, &g)
        };
        let ending = match replayed {
            Ok(code) if code == exit::OK => Ending::VerifiedByReplay { plan: plan_path.clone() },
            Ok(code) if code == exit::DENIED => {
                // Denied again. If the live layers now allow it, the server knows something the
                // policies read do not show (an unreadable layer, an enforcement difference): say
                // so, never claim a fix. Otherwise a deeper layer denies: plan again.
                let (after, _) = super::fix_live::plan_with_hops(&req, &g, Options::default())?;
                if after.status == Status::AlreadyAllowed {
                    Ending::Unverified {
                        plan: plan_path.clone(),
                        why: "the replay is still denied although the policies read now allow it: a layer denyctl cannot see, or a server that evaluates differently".into(),
                    }
                } else {
                    queue.push_front((action.clone(), resource.clone(), Some("denied again after the change: a deeper layer".into())));
                    Ending::Failed { why: "replay denied after the change; planning again from live data".into() }
                }
            }
            Ok(_) | Err(_) => {
                // Not replayable (a write without consent, a service without replay): check by
                // re-evaluating the live layers after the change.
                let (after, _) = super::fix_live::plan_with_hops(&req, &g, Options::default())?;
                if after.status == Status::AlreadyAllowed {
                    Ending::VerifiedByEvaluation {
                        plan: plan_path.clone(),
                        why: "not replayed; the live layers re-read after the change allow it (a local server may not enforce every layer)".into(),
                    }
                } else {
                    Ending::Failed { why: "the live layers re-read after the change still deny it".into() }
                }
            }
        };
        queue_hops(&mut queue);
        rounds.push(Round { action, resource, why, ending });
    }
    summary(&rounds, &applied_plans, &dir, quiet)
}

/// Replay the request as the caller. Reads and non-mutating probes go ahead without asking; a
/// replay that would write is asked for on a terminal, saying exactly what it writes (`--allow-write-replay`
/// consents in scripts). Declined or not asked: not replayed (the session verifies by evaluation).
fn replay_with_consent(file: &str, allow_write: bool, interactive: bool, g: &GlobalArgs) -> CmdResult {
    let args = ReplayArgs { file: file.to_string(), allow_write_replay: allow_write };
    let (mut report, mut code) = super::replay::replay(&args, g)?;
    if let (true, "not_replayed", Some(write)) = (interactive, report.outcome, report.would_write.clone()) {
        say(false, &format!("   the replay would write, as the caller: {write}"));
        if prompt_consent("Send this write to prove the fix? (no: verify by re-reading the policies instead)", false)? {
            let args = ReplayArgs { allow_write_replay: true, ..args };
            (report, code) = super::replay::replay(&args, g)?;
        } else {
            report.message = Some("not replayed: the write was declined".into());
        }
    }
    super::replay::print(&report, g)?;
    Ok(code)
}

/// The IaC step of a round: patch the plan's targets in `--iac`, show the patch, ask (or --yes),
/// write the files all or nothing, and say what to commit and run. The changes written to the IaC
/// are taken out of the API plan (never written twice); `None` when nothing was patched.
#[allow(clippy::too_many_arguments)]
fn iac_round(
    plan: &mut Plan,
    req: &denyctl_eval::Request,
    layers: &denyctl_eval::Layers,
    inputs: &super::iac::IacInputs,
    g: &GlobalArgs,
    args: &FixArgs,
    interactive: bool,
    quiet: bool,
    plan_path: &Path,
) -> Result<Option<Ending>, CliError> {
    let (sources, skipped) = super::iac::sources(inputs, plan, g, true)?;
    let label = inputs.dir_label();
    let report = super::iac::patch(plan, req, layers, &sources, &label, skipped);
    for p in &report.iac_problems {
        say(quiet, &format!("   iac: {p}"));
    }
    if report.edits.is_empty() {
        for u in &report.unmanaged {
            say(quiet, &format!("   {} is not managed in {label}: {}; it stays an API change", u.change, u.reason));
        }
        return Ok(None);
    }
    if !quiet {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        crate::render::plan::iac(&mut out, &report, &label, crate::output::use_color()).or_else(crate::output::ignore_broken_pipe)?;
    }
    let consent = if interactive {
        prompt_consent(&format!("Write this patch to {label}? (files only: denyctl never runs terraform or a stack update)"), false)?
    } else {
        args.yes
    };
    let managed: HashSet<String> = report.iac_changes.iter().map(|c| c.change.clone()).collect();
    for c in plan.changes.iter_mut().filter(|c| managed.contains(&c.id)) {
        c.applicable = false;
        c.notes.push(format!("written to the IaC in {label}, not through the API"));
    }
    if !consent {
        return Ok(Some(Ending::NotApplied { why: format!("the IaC patch was declined: nothing was written to {label}") }));
    }
    let dir = inputs.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let files = super::iac::write_edits(&dir, &report.edits)?;
    let next = super::iac::next_steps(&report, &label);
    say(quiet, &format!("   wrote {} file(s) in {label}; next:", files.len()));
    for n in &next {
        say(quiet, &format!("     {n}"));
    }
    Ok(Some(Ending::IacPatched { plan: plan_path.to_path_buf(), files, next }))
}

fn summary(rounds: &[Round], applied: &[PathBuf], dir: &Path, quiet: bool) -> CmdResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let w = |out: &mut dyn Write, s: String| writeln!(out, "{s}").or_else(crate::output::ignore_broken_pipe);
    if !quiet {
        w(&mut out, "\n━━ summary".into())?;
    }
    for r in rounds {
        let what = format!("{} on {}", r.action, r.resource);
        let line = match &r.ending {
            Ending::AlreadyAllowed => format!("  ✓ {what}: allowed (nothing to change)"),
            Ending::VerifiedByReplay { plan } => format!("  ✓ {what}: fixed ({}) and verified by replaying it as the caller", plan.display()),
            Ending::VerifiedByEvaluation { plan, why } => format!("  ✓ {what}: fixed ({}); verified by evaluation: {why}", plan.display()),
            Ending::HandedOff { files } => {
                let f: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                format!("  → {what}: left for someone else: {}", f.join(", "))
            }
            Ending::Unverified { plan, why } => format!("  ? {what}: changed ({}) but NOT verified: {why}", plan.display()),
            Ending::NotApplied { why } => format!("  ✗ {what}: not applied: {why}"),
            Ending::Failed { why } => format!("  ✗ {what}: {why}"),
            Ending::IacPatched { plan, files, next } => {
                let f: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                let steps: String = next.iter().map(|n| format!("\n      next: {n}")).collect();
                format!(
                    "  ✎ {what}: the fix is written to {} — not deployed, so not verified yet; then `denyctl replay -f {}`{steps}",
                    f.join(", "),
                    plan.display()
                )
            }
        };
        let hop = r.why.as_deref().map(|w| format!("\n      ({w})")).unwrap_or_default();
        w(&mut out, format!("{line}{hop}"))?;
    }
    w(&mut out, format!("  session files: {}", dir.display()))?;
    if !applied.is_empty() {
        w(&mut out, "  to undo, newest first:".into())?;
        for p in applied.iter().rev() {
            w(&mut out, format!("    denyctl rollback -f {} --yes", p.display()))?;
        }
    }
    // A round that was re-planned and later fixed does not count as open.
    let fixed_later = |r: &Round| {
        rounds.iter().any(|o| {
            o.action == r.action && o.resource == r.resource && matches!(o.ending, Ending::VerifiedByReplay { .. } | Ending::VerifiedByEvaluation { .. })
        })
    };
    let still_open = rounds
        .iter()
        .filter(|r| matches!(r.ending, Ending::Failed { .. } | Ending::NotApplied { .. } | Ending::HandedOff { .. } | Ending::Unverified { .. }) && !fixed_later(r))
        .count();
    Ok(if still_open == 0 { exit::OK } else { exit::DENIED })
}
