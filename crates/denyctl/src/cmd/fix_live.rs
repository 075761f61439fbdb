//! `denyctl fix --dry-run` from a live diagnosis: collect every layer exactly as `diagnose` does
//! (the same collector and options), read the version tokens and managed-policy version lists,
//! evaluate, and plan. The plan file carries the tokens for `apply`'s compare-and-swap.

use denyctl_eval::evaluate;
use denyctl_remedy::{plan as make_plan, Options, Plan};
use denyctl_runtime::apply::plan_inputs;
use denyctl_runtime::{collect, Session};

use crate::cli::{GlobalArgs, RequestArgs};
use crate::cmd::live;
use crate::error::CliError;

/// A hidden hop the request needs (an SSE-KMS bucket's key, ...): the next request to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// The hop's action.
    pub action: String,
    /// Its resource.
    pub resource: String,
    /// Why it is needed.
    pub why: String,
}

/// Collect, evaluate and plan.
pub fn plan(request: &RequestArgs, g: &GlobalArgs, opts: Options) -> Result<Plan, CliError> {
    plan_with_hops(request, g, opts).map(|(p, _)| p)
}

/// Collect, evaluate and plan; also return the request's hidden hops (first level).
pub fn plan_with_hops(request: &RequestArgs, g: &GlobalArgs, mut opts: Options) -> Result<(Plan, Vec<NextHop>), CliError> {
    let copts = live::collect_options(request)?;
    let profiles = live::profiles(g);
    // The resource layer comes from the same plugins `diagnose` uses.
    let plugins = live::plugins(g);
    let progress = live::Progress::start(g, "reading every policy layer to plan the fix");
    let (res, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        let res = match collect(&session, &plugins, &copts).await {
            Ok(c) => {
                let mut snap = c.snapshot;
                match plan_inputs(&session, &mut snap).await {
                    Ok(v) => Ok((snap, v)),
                    Err(e) => Err(CliError::Aws(e.to_string())),
                }
            }
            Err(e) => Err(live::cli_error(e)),
        };
        (res, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let (snap, (versions, policy_versions)) = res?;
    if let Some(m) = snap.caller.as_ref().and_then(|c| super::diagnose::principal_mismatch(&snap.request.principal, c)) {
        eprintln!("denyctl: WARNING: {m}");
    }
    let (req, layers) = snap.evaluable().map_err(|e| CliError::Input(format!("cannot evaluate: {e}")))?;
    let verdict = evaluate(&req, &layers);
    opts.versions = versions;
    opts.policy_versions = policy_versions;
    let mut p = make_plan(&req, &layers, &verdict, &opts).map_err(|e| CliError::Input(format!("cannot plan: {e}")))?;
    for u in &snap.policies.unknown {
        p.notes.push(format!("{} layer unknown: {}", u.layer.as_str(), u.reason));
    }
    let hops = snap
        .hops
        .iter()
        .filter(|h| h.depth == 1)
        .map(|h| NextHop { action: h.action.clone(), resource: h.resource.clone(), why: h.why.clone() })
        .collect();
    Ok((p, hops))
}
