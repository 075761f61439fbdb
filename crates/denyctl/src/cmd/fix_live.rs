//! `denyctl fix --dry-run` from a live diagnosis: collect every layer exactly as `diagnose` does
//! (the same collector and options), read the version tokens and managed-policy version lists,
//! evaluate, and plan. The plan file carries the tokens for `apply`'s compare-and-swap.

use denyctl_eval::{evaluate, Layers, Request};
use denyctl_remedy::{plan as make_plan, Options, Plan, Status};
use denyctl_runtime::apply::plan_inputs;
use denyctl_runtime::Session;

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

/// Collect, evaluate and plan; also return the request's hidden hops (first level).
pub fn plan_with_hops(request: &RequestArgs, g: &GlobalArgs, opts: Options) -> Result<(Plan, Vec<NextHop>), CliError> {
    plan_full(request, g, opts).map(|(p, h, _, _)| (p, h))
}

/// Collect, evaluate and plan; also return the hops, and the request and layers the plan was made
/// from (to prove an IaC patch against them).
pub fn plan_full(request: &RequestArgs, g: &GlobalArgs, mut opts: Options) -> Result<(Plan, Vec<NextHop>, Request, Layers), CliError> {
    let copts = live::collect_options(request)?;
    let profiles = live::profiles(g);
    // The resource layer comes from the same plugins `diagnose` uses.
    let plugins = live::plugins(g);
    let auth_id = live::denied(request)?.authorization_id;
    let progress = live::Progress::start(g, "reading every policy layer to plan the fix");
    let (res, record, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        // AWS's own record of the denial, when there is one: the plan follows it.
        let (collected, record) = super::authz::collect_with_record(&session, &plugins, &copts, auth_id.as_deref()).await;
        let res = match collected {
            Ok(c) => {
                let mut snap = c.snapshot;
                match plan_inputs(&session, &mut snap).await {
                    Ok(v) => Ok((snap, v)),
                    Err(e) => Err(CliError::Aws(e.to_string())),
                }
            }
            Err(e) => Err(live::cli_error(e)),
        };
        (res, record, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let (mut snap, (versions, policy_versions)) = res?;
    let mut record_note = None;
    let record = match record {
        Some(Ok(rec)) => {
            super::authz::fill_context(&mut snap.request, &rec);
            Some(rec)
        }
        Some(Err(e)) => {
            record_note = Some(format!("AWS's authorization record was not used: {e}; the plan follows denyctl's own evaluation"));
            None
        }
        None => None,
    };
    if let Some(m) = snap.caller.as_ref().and_then(|c| super::diagnose::principal_mismatch(&snap.request.principal, c)) {
        eprintln!("denyctl: WARNING: {m}");
    }
    let (req, layers) = snap.evaluable().map_err(|e| CliError::Input(format!("cannot evaluate: {e}")))?;
    let verdict = evaluate(&req, &layers);
    opts.versions = versions;
    opts.policy_versions = policy_versions;
    let mut p = make_plan(&req, &layers, &verdict, &opts).map_err(|e| CliError::Input(format!("cannot plan: {e}")))?;
    p.notes.extend(record_note);
    if let Some(rec) = &record {
        follow_aws_record(&mut p, rec, &snap.request, &verdict);
    }
    for u in &snap.policies.unknown {
        p.notes.push(format!("{} layer unknown: {}", u.layer.as_str(), u.reason));
    }
    incomplete_reads(&mut p, &session.stats.unavailable());
    let hops = snap
        .hops
        .iter()
        .filter(|h| h.depth == 1)
        .map(|h| NextHop { action: h.action.clone(), resource: h.resource.clone(), why: h.why.clone() })
        .collect();
    Ok((p, hops, req, layers))
}

/// Reads that AWS kept failing (throttling, 5xx, resets, timeouts) leave the layers incomplete:
/// a plan made from them is not applicable (nor is "already allowed" claimed); run `fix` again.
fn incomplete_reads(p: &mut Plan, failed: &[denyctl_runtime::CallRecord]) {
    if failed.is_empty() || !matches!(p.status, Status::Ready | Status::AlreadyAllowed | Status::NeedsHandoff) {
        return;
    }
    let calls: Vec<String> = failed.iter().map(|c| format!("{} on {} ({} attempts)", c.call, c.target, c.attempts)).collect();
    p.status = Status::Unresolved;
    p.status_reason = Some(format!(
        "AWS kept failing while the layers were read ({}): the plan would be made from incomplete layers; run `denyctl fix` again",
        calls.join(", ")
    ));
}

/// When AWS's own record of the denial disagrees with denyctl's verdict, the plan follows AWS:
/// denyctl's changes are withheld (they would fix the wrong thing), and the statements AWS names
/// become the thing to act on.
fn follow_aws_record(p: &mut Plan, rec: &denyctl_authz::AuthzRecord, req: &denyctl_runtime::snapshot::SnapshotRequest, verdict: &denyctl_eval::Verdict) {
    let cmp = denyctl_authz::compare(rec, &req.action, &req.resource, verdict);
    if cmp.agrees {
        p.notes.push(format!("AWS's own record (authorization ID {}) agrees with this verdict", rec.authorization_id));
        return;
    }
    for c in &mut p.changes {
        c.applicable = false;
    }
    p.status = denyctl_remedy::Status::Unresolved;
    p.status_reason = Some(format!(
        "AWS's own record (authorization ID {}) disagrees with denyctl's evaluation ({}): the plan follows AWS's record, so denyctl's changes are withheld",
        rec.authorization_id,
        cmp.differences.join("; ")
    ));
    if let Some(e) = rec.evaluation_for(&req.action, &req.resource) {
        for m in &e.matched {
            for s in m.statements.iter().filter(|s| s.effect == "deny") {
                p.notes.push(format!(
                    "AWS names the denying statement{} in {} policy {}{}: read it (it may be one denyctl could not see) and change it there",
                    s.sid.as_deref().map(|x| format!(" Sid {x}")).unwrap_or_default(),
                    m.layer.map(|l| l.title()).unwrap_or("a"),
                    m.uri,
                    if m.attached_to.is_empty() { String::new() } else { format!(" (attached to {})", m.attached_to.join(", ")) }
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disagreeing_aws_record_withholds_denyctls_changes() {
        // Without the SCP (unreadable here), denyctl would add an identity grant; AWS's record says
        // an SCP statement denied. The plan must follow AWS: no applicable change, the SCP named.
        let sc = denyctl_eval::scenario::Scenario::from_json(serde_json::json!({
            "request": {"principal": "arn:aws:sts::111122223333:assumed-role/dev/alice", "action": "ec2:RunInstances",
                        "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*"},
            "policies": {"identity": []}
        }))
        .unwrap();
        let v = evaluate(&sc.request, &sc.layers);
        let mut p = make_plan(&sc.request, &sc.layers, &v, &Options::default()).unwrap();
        assert!(p.changes.iter().any(|c| c.applicable), "denyctl alone proposes a change");
        let rec: denyctl_authz::AuthzRecord = serde_json::from_value(serde_json::json!({
            "authorization_id": "abc123", "request_context": {},
            "evaluations": [{"action": "ec2:RunInstances", "resource": "arn:aws:ec2:us-east-1:111122223333:instance/*",
                "decision": "explicit_deny", "context": {},
                "matched": [{"uri": "arn:aws:organizations::999988887777:policy/o-abc/service_control_policy/p-deny", "layer": "scp",
                             "inline": false, "attached_to": ["ou-abcd-11111111"], "statements": [{"sid": "NoRun", "effect": "deny"}]}]}]
        }))
        .unwrap();
        let req = denyctl_runtime::snapshot::SnapshotRequest {
            principal: "arn:aws:sts::111122223333:assumed-role/dev/alice".into(),
            action: "ec2:RunInstances".into(),
            resource: "arn:aws:ec2:us-east-1:111122223333:instance/*".into(),
            resource_account: Some("111122223333".into()),
            context: Default::default(),
        };
        follow_aws_record(&mut p, &rec, &req, &v);
        assert_eq!(p.status, denyctl_remedy::Status::Unresolved);
        assert!(p.changes.iter().all(|c| !c.applicable));
        assert!(p.status_reason.as_deref().unwrap_or_default().contains("follows AWS's record"));
        assert!(p.notes.iter().any(|n| n.contains("Sid NoRun") && n.contains("service control policies")), "{:?}", p.notes);
    }
}
