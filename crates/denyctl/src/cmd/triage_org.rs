//! `triage --snapshot DIR` over an organization snapshot (`collect --org DIR`): each group's
//! request snapshot built from it, the same one a live collection would read, then decided in one
//! parallel batch with the engine (docs/triage.md).

use std::path::Path;

use denyctl_runtime::OrgSnapshot;
use denyctl_triage::Group;

use crate::error::CliError;

/// Whether DIR is an organization snapshot (it has a manifest).
pub fn is_org(dir: &str) -> bool {
    OrgSnapshot::is_one(Path::new(dir))
}

/// The verdict of one group from the organization snapshot: the engine's decision and the plan
/// `fix --snapshot` would make, or `unknown` with why the group is not in the snapshot.
fn verdict(org: &OrgSnapshot, g: &Group, source: &str) -> serde_json::Value {
    let unknown = |why: String| serde_json::json!({"decision": "unknown", "denied_by": null, "source": source, "error": why});
    match org.request(&g.principal, &g.action, g.resource.as_deref().unwrap_or("*")) {
        Ok(snap) => match snap.evaluable() {
            Ok((req, layers)) => {
                let v = denyctl_eval::evaluate(&req, &layers);
                let p = denyctl_remedy::plan(&req, &layers, &v, &denyctl_remedy::Options::default());
                super::triage::verdict_json(&v, p, source)
            }
            Err(e) => unknown(e.to_string()),
        },
        Err(why) => unknown(why),
    }
}

/// Decide every group from the organization snapshot in DIR, one worker per core.
pub fn decide(groups: &mut [Group], dir: &str) -> Result<(), CliError> {
    // Only the account files the groups name are read: the principals' and the resources' accounts.
    let mut needed = std::collections::BTreeSet::new();
    for g in groups.iter() {
        needed.insert(g.account.clone());
        for arn in std::iter::once(g.principal.as_str()).chain(g.resource.as_deref()) {
            if let Ok(a) = denyctl_policy::Arn::parse(arn) {
                if a.account.len() == 12 {
                    needed.insert(a.account);
                }
            }
        }
    }
    let org = OrgSnapshot::load(Path::new(dir), Some(&needed)).map_err(|e| CliError::input(dir, e))?;
    for (id, why) in org.accounts.iter().filter(|(id, _)| needed.contains(*id)).filter_map(|(id, a)| a.as_ref().err().map(|w| (id, w))) {
        eprintln!("denyctl: snapshot {dir}: account {id} {why}");
    }
    let source = format!("{dir} (organization snapshot of {})", org.manifest.collected_at);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1);
    let chunk = groups.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        for part in groups.chunks_mut(chunk) {
            let (org, source) = (&org, &source);
            s.spawn(move || {
                for g in part {
                    g.verdict = Some(verdict(org, g, source));
                }
            });
        }
    });
    let outside = groups.iter().filter(|g| g.verdict.as_ref().and_then(|v| v["error"].as_str()).is_some_and(|e| e.starts_with("not in snapshot"))).count();
    eprintln!("triage: {} groups decided from the organization snapshot {dir}; {outside} not in it", groups.len() - outside);
    Ok(())
}
