//! `denyctl fix`: the least-privilege plan for a denied request. Only `--dry-run` is built: the
//! plan is printed (table, JSON/YAML plan file, or unified diffs) and nothing is written.

use std::io::IsTerminal;

use denyctl_eval::evaluate;
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
    scenario: String,
    planner: Options,
}

fn scope(s: FixScope) -> Scope {
    match s {
        FixScope::Exact => Scope::Exact,
        FixScope::Prefix => Scope::Prefix,
        FixScope::Bucket => Scope::Bucket,
        FixScope::AccessLevel => Scope::AccessLevel,
    }
}

/// Complete and validate: offline dry-run from a scenario is the only path built so far.
fn validate(args: &FixArgs, interactive: bool) -> Result<FixOptions, CliError> {
    if !args.dry_run && interactive {
        return Err(CliError::Input(
            "fix without --dry-run needs a live session (not built yet); use `fix --dry-run --scenario FILE` to print the plan".into(),
        ));
    }
    let scenario = args.scenario.clone().ok_or_else(|| {
        CliError::Input("fix: give --scenario FILE (planning from a live diagnosis is not built yet)".into())
    })?;
    Ok(FixOptions {
        scenario,
        planner: Options { scope: scope(args.scope), accept_widening: args.accept_widening, ..Options::default() },
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

/// Run the verb.
pub fn run(args: &FixArgs, global: &GlobalArgs) -> CmdResult {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut o = validate(args, interactive)?;
    let text = read_text(&o.scenario, MAX_SCENARIO_BYTES)?;
    let doc: Json = serde_json::from_str(&text).map_err(|e| CliError::input(&o.scenario, format!("not valid JSON: {e}")))?;
    read_versions(&o.scenario, &doc, &mut o.planner)?;
    let sc = Scenario::from_json(doc).map_err(|e| CliError::input(&o.scenario, e))?;
    let verdict = evaluate(&sc.request, &sc.layers);
    let p = plan(&sc.request, &sc.layers, &verdict, &o.planner).map_err(|e| CliError::input(&o.scenario, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dry_run: bool, scenario: Option<&str>) -> FixArgs {
        FixArgs { dry_run, scenario: scenario.map(str::to_string), scope: FixScope::Exact, accept_widening: false }
    }

    #[test]
    fn live_mode_is_refused_on_a_terminal_and_dry_run_elsewhere() {
        let e = validate(&args(false, Some("f.json")), true).unwrap_err();
        assert!(e.to_string().contains("needs a live session (not built yet)"));
        assert!(validate(&args(false, Some("f.json")), false).is_ok());
        assert!(validate(&args(true, Some("f.json")), true).is_ok());
        assert!(validate(&args(true, None), false).unwrap_err().to_string().contains("--scenario"));
    }
}
