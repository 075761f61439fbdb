//! `denyctl fix`: the least-privilege plan for a denied request, from a scenario file (offline) or
//! read live (fix_live.rs). `--dry-run` prints the plan (table, JSON/YAML plan file, or unified
//! diffs) and writes nothing; without it, on a terminal or with `--yes`, the guided session
//! (fix_session.rs) applies, replays and follows the hops. Without a terminal and without `--yes`
//! it never prompts: it prints the plan and says so.

use std::io::IsTerminal;

use denyctl_eval::{evaluate, Layers, Request};
use denyctl_eval::scenario::Scenario;
use denyctl_remedy::{plan, Options, PolicyVersion, Scope};
use serde_json::Value as Json;

use crate::cli::{FixArgs, FixScope, GlobalArgs};
use crate::error::{exit, CliError, CmdResult};
use crate::input::read_text;
use crate::output::{self, Format};

/// A scenario file may not be larger than this.
const MAX_SCENARIO_BYTES: u64 = 64 * 1024 * 1024;

/// The options struct of the verb, after `complete` and `validate`.
#[derive(Debug)]
struct FixOptions {
    scenario: Option<String>,
    planner: Options,
    iac: super::iac::IacInputs,
}

fn scope(s: FixScope) -> Scope {
    match s {
        FixScope::Exact => Scope::Exact,
        FixScope::Prefix => Scope::Prefix,
        FixScope::Bucket => Scope::Bucket,
        FixScope::AccessLevel => Scope::AccessLevel,
    }
}

/// Complete and validate: a scenario file (offline) or a denied request (live), not both.
fn validate(args: &FixArgs, _interactive: bool) -> Result<FixOptions, CliError> {
    let r = &args.request;
    let live = r.text.is_some() || r.event.is_some() || r.action.is_some() || r.principal.is_some() || r.resource.is_some();
    if args.scenario.is_some() && live {
        return Err(CliError::Input("fix: give either --scenario FILE (offline) or the denied request (TEXT, --event, --action ...), not both".into()));
    }
    if args.scenario.is_some() && !args.dry_run && args.yes {
        return Err(CliError::Input("fix: a --scenario is offline and cannot be applied; use --dry-run, or give the denied request to fix it live".into()));
    }
    if args.scenario.is_none() && !live {
        return Err(CliError::Input(
            "fix: give the denied request (TEXT, `-` for stdin, --event FILE, or --action/--resource) to plan live, or --scenario FILE to plan offline".into(),
        ));
    }
    let iac = super::iac::IacInputs::validate(args.iac.as_deref(), &args.tf_state)?;
    Ok(FixOptions {
        scenario: args.scenario.clone(),
        planner: Options { scope: scope(args.scope), accept_widening: args.accept_widening, ..Options::default() },
        iac,
    })
}

/// The optional `versions` (policy name → version token) and `policy_versions` (policy name →
/// managed-policy versions) maps of a scenario file.
fn read_versions(path: &str, doc: &Json, opts: &mut Options) -> Result<(), CliError> {
    if let Some(v) = doc.get("versions").filter(|v| !v.is_null()) {
        opts.versions = serde_json::from_value(v.clone())
            .map_err(|e| CliError::input(path, format!("versions: expected an object of policy name → version token: {e}")))?;
    }
    if let Some(v) = doc.get("policy_versions").filter(|v| !v.is_null()) {
        let map: std::collections::BTreeMap<String, Vec<PolicyVersion>> = serde_json::from_value(v.clone()).map_err(|e| {
            CliError::input(path, format!("policy_versions: expected an object of policy name → [{{version_id, is_default}}]: {e}"))
        })?;
        opts.policy_versions = map;
    }
    Ok(())
}

/// The plan from a scenario file (offline), with the request and layers it was made from.
fn from_scenario(path: &str, mut opts: Options) -> Result<(denyctl_remedy::Plan, Request, Layers), CliError> {
    let text = read_text(path, MAX_SCENARIO_BYTES)?;
    let doc: Json = serde_json::from_str(&text).map_err(|e| CliError::input(path, format!("not valid JSON: {e}")))?;
    read_versions(path, &doc, &mut opts)?;
    let sc = Scenario::from_json(doc).map_err(|e| CliError::input(path, e))?;
    let verdict = evaluate(&sc.request, &sc.layers);
    let p = plan(&sc.request, &sc.layers, &verdict, &opts).map_err(|e| CliError::input(path, e))?;
    Ok((p, sc.request, sc.layers))
}

/// Run the verb.
pub fn run(args: &FixArgs, global: &GlobalArgs) -> CmdResult {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.scenario.is_none() && super::federation::handles(&args.request) {
        return super::federation::fix(&args.request, &args.federation, global, args.dry_run);
    }
    let o = validate(args, interactive)?;
    if !args.dry_run && o.scenario.is_none() {
        if interactive || args.yes {
            return super::fix_session::run(args, global, interactive);
        }
        eprintln!("denyctl: not a terminal and no --yes: printing the plan only (a dry run); nothing is written");
    }
    let (p, req, layers) = match &o.scenario {
        Some(path) => from_scenario(path, o.planner)?,
        None => {
            let (p, _, req, layers) = super::fix_live::plan_full(&args.request, global, o.planner)?;
            (p, req, layers)
        }
    };
    if o.iac.given() {
        return print_with_iac(&p, &req, &layers, &o.iac, global, o.scenario.is_none());
    }
    match global.output {
        Format::Diff => {
            let color = output::use_color();
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            crate::render::plan::diffs(&mut out, &p, color).or_else(output::ignore_broken_pipe)?;
        }
        f => output::emit(f, &p, |w| crate::render::plan::table(w, &p))?,
    }
    Ok(exit::OK)
}

/// The plan with its IaC patch: `-o diff` prints only the verified patch (git-style, relative to
/// the folder: `git apply` takes it there); `-o json|yaml` add `iac_changes`, `unmanaged` and
/// `iac_problems` to the plan file; the table shows the plan, then the patch.
fn print_with_iac(p: &denyctl_remedy::Plan, req: &Request, layers: &Layers, inputs: &super::iac::IacInputs, global: &GlobalArgs, live: bool) -> CmdResult {
    let (sources, skipped) = super::iac::sources(inputs, p, global, live)?;
    let label = inputs.dir_label();
    let report = super::iac::patch(p, req, layers, &sources, &label, skipped);
    for line in &report.iac_problems {
        eprintln!("denyctl: iac: {line}");
    }
    let applicable = p.changes.iter().filter(|c| c.applicable).count();
    if applicable == 0 {
        eprintln!("denyctl: the plan has no change to write ({}); nothing to patch", p.status_reason.as_deref().unwrap_or("see the plan"));
    }
    match global.output {
        Format::Diff => {
            for u in &report.unmanaged {
                eprintln!("denyctl: {} ({}) is unmanaged: {}; it stays an API change (see -o json)", u.change, u.target, u.reason);
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            use std::io::Write;
            out.write_all(report.diff.as_bytes()).or_else(output::ignore_broken_pipe)?;
        }
        f => {
            let mut doc = serde_json::to_value(p).map_err(|e| CliError::Input(format!("cannot render the plan: {e}")))?;
            if let (Json::Object(m), Ok(Json::Object(extra))) = (&mut doc, serde_json::to_value(&report)) {
                m.extend(extra);
            }
            output::emit(f, &doc, |w| {
                crate::render::plan::table(w, p)?;
                crate::render::plan::iac(w, &report, &label, output::use_color())
            })?;
        }
    }
    if applicable > 0 && report.iac_changes.is_empty() && report.unmanaged.is_empty() {
        return Ok(exit::INPUT);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dry_run: bool, scenario: Option<&str>) -> FixArgs {
        FixArgs {
            request: Default::default(),
            dry_run,
            scenario: scenario.map(str::to_string),
            scope: FixScope::Exact,
            accept_widening: false,
            yes: false,
            allow_write_replay: false,
            accept_needs_human: false,
            verify_by_evaluation: Vec::new(),
            session_dir: None,
            iac: None,
            tf_state: Vec::new(),
            allow_drift: false,
            federation: Default::default(),
        }
    }

    #[test]
    fn live_mode_is_refused_on_a_terminal_and_dry_run_elsewhere() {
        let mut a = args(false, Some("f.json"));
        a.yes = true;
        assert!(validate(&a, true).unwrap_err().to_string().contains("offline and cannot be applied"));
        assert!(validate(&args(false, Some("f.json")), false).is_ok());
        assert!(validate(&args(true, Some("f.json")), true).is_ok());
        assert!(validate(&args(true, None), false).unwrap_err().to_string().contains("--scenario"));
    }

    #[test]
    fn a_scenario_or_a_request_not_both() {
        let mut a = args(true, Some("f.json"));
        a.request.action = Some("iam:GetUser".into());
        assert!(validate(&a, false).unwrap_err().to_string().contains("not both"));
        a.scenario = None;
        assert!(validate(&a, false).unwrap().scenario.is_none());
    }
}
