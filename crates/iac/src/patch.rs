//! The orchestration over a plan: for every applicable change, find its owners with each
//! backend, patch the one owner found (several owners, or none, are reported), chain the edits
//! of several changes to the same file, and collect what the CLI prints.

use denyctl_remedy::{Change, Plan, TargetKind};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::cfn::CloudFormation;
use crate::delta::PolicyEdit;
use crate::model::{Backend, FileEdit, IacError, Patched, Slot, SourceFile, Sources, Tool, Unrenderable, Wanted};
use crate::tf::Terraform;

/// One patched target, as `fix -o json` lists it under `iac_changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IacChange {
    /// The file patched (relative to the IaC folder).
    pub file: String,
    /// `cloudformation` or `terraform`.
    pub tool: Tool,
    /// The logical ID or the resource address.
    pub resource: String,
    /// The stack, for CloudFormation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The plan layer.
    pub layer: String,
    /// The plan change id.
    pub change: String,
    /// Every file the patch writes (the `.tf` and a `file()` policy, ...).
    pub files: Vec<String>,
    /// Whether the patched policy, rendered with the live values, is the plan's policy
    /// (`equivalent`), could not be rendered (`unrenderable`), or differs (`differs`). The CLI
    /// replaces this with the evaluation-based verdict.
    pub rendered: String,
    /// Notes (the form patched, drift already present, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A target with no IaC owner: the API change stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmanaged {
    /// The plan change id.
    pub change: String,
    /// The plan layer.
    pub layer: String,
    /// The target, in words.
    pub target: String,
    /// Why it is unmanaged (`no stack or state under DIR owns it`, or the error that stopped it).
    pub reason: String,
}

/// What [`patch_plan`] found and did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The patched targets.
    pub changes: Vec<IacChange>,
    /// The targets left to the API plan.
    pub unmanaged: Vec<Unmanaged>,
    /// Problems, one line each (a template that does not parse, two owners, an unrenderable policy).
    pub problems: Vec<IacError>,
    /// The file edits, one per file, the edits of several changes chained.
    pub edits: Vec<FileEdit>,
    /// The patch results by change id (rendered policies for the equivalence check).
    pub patched: Vec<(String, Patched)>,
}

impl Outcome {
    /// The unified diff of every edited file.
    pub fn diff(&self) -> String {
        crate::filediff::unified_all(&self.edits)
    }
}

/// What an applicable plan change writes, as a slot; `None` for hand-offs and targets IaC does
/// not hold here (SCPs, RCPs, session and VPC endpoint policies, a managed policy to create).
pub fn wanted_of(change: &Change) -> Result<Option<Wanted>, String> {
    if !change.applicable {
        return Ok(None);
    }
    let t = &change.target;
    let slot = match t.kind {
        TargetKind::InlinePolicy => Slot::InlinePolicy {
            role_name: t.role_name.clone(),
            user_name: t.user_name.clone(),
            policy_name: t.policy_name.strip_prefix("inline:").unwrap_or(&t.policy_name).to_string(),
            create: t.create,
        },
        TargetKind::ManagedPolicy if !t.create => Slot::ManagedPolicy {
            policy_arn: t.policy_arn.clone().unwrap_or_else(|| t.policy_name.clone()),
            policy_name: t.policy_name.rsplit('/').next().unwrap_or(&t.policy_name).to_string(),
        },
        TargetKind::Boundary => {
            let arn = t.policy_arn.clone().unwrap_or_else(|| t.policy_name.clone());
            Slot::Boundary { policy_name: arn.rsplit('/').next().unwrap_or(&arn).to_string(), policy_arn: arn }
        }
        TargetKind::TrustPolicy => {
            let role_arn = t.resource_arn.clone().unwrap_or_default();
            let role_name = t.role_name.clone().unwrap_or_else(|| role_arn.rsplit('/').next().unwrap_or_default().to_string());
            Slot::TrustPolicy { role_name, role_arn }
        }
        TargetKind::ResourcePolicy => Slot::ResourcePolicy {
            service: t.service.clone().unwrap_or_default(),
            resource_arn: t.resource_arn.clone().unwrap_or_default(),
            create: t.create,
        },
        _ => return Ok(None),
    };
    let edit = PolicyEdit::new(change.before.as_ref(), &change.after).map_err(|e| format!("change {}: {e}", change.id))?;
    Ok(Some(Wanted { change: change.id.clone(), layer: change.layer.as_str().to_string(), slot, edit }))
}

/// The backends, in the order they are asked.
fn backends() -> [&'static dyn Backend; 2] {
    [&CloudFormation, &Terraform]
}

fn set_file(sources: &mut Sources, path: &str, text: &str) {
    match sources.files.iter_mut().find(|f| f.path == path) {
        Some(f) => f.text = text.to_string(),
        None => sources.files.push(SourceFile { path: path.to_string(), text: text.to_string() }),
    }
}

/// `equivalent`, `differs` or `unrenderable` for a rendered patch against the plan's policy.
pub fn rendered_state(rendered: &Result<Json, Unrenderable>, after: &Json) -> &'static str {
    match rendered {
        Ok(r) if crate::delta::same_policy(r, after) => "equivalent",
        Ok(_) => "differs",
        Err(_) => "unrenderable",
    }
}

/// Find the owner of every applicable change of `plan` and patch it. Pure: `sources` holds
/// everything read; nothing is written (the caller writes `Outcome::edits`).
pub fn patch_plan(plan: &Plan, sources: &Sources, iac_dir: &str) -> Outcome {
    let mut out = Outcome::default();
    let mut work = sources.clone();
    for change in &plan.changes {
        let wanted = match wanted_of(change) {
            Ok(Some(w)) => w,
            Ok(None) => continue,
            Err(e) => {
                out.problems.push(IacError::new(iac_dir, &change.id, e.clone()));
                out.unmanaged.push(Unmanaged { change: change.id.clone(), layer: change.layer.as_str().into(), target: change.target.policy_name.clone(), reason: e });
                continue;
            }
        };
        let target = wanted.slot.describe();
        let mut found = Vec::new();
        for b in backends() {
            let (locs, errs) = b.locate(&wanted, &work);
            out.problems.extend(errs);
            found.extend(locs.into_iter().map(|l| (b, l)));
        }
        let unmanaged = |reason: String| Unmanaged { change: change.id.clone(), layer: wanted.layer.clone(), target: target.clone(), reason };
        match found.len() {
            0 => out.unmanaged.push(unmanaged(format!("no CloudFormation stack or Terraform state under {iac_dir} owns the {target}"))),
            1 => {
                let (b, loc) = found.remove(0);
                match b.patch(&wanted, &loc, &work) {
                    Ok(p) => {
                        let rendered = rendered_state(&p.rendered_after, &change.after).to_string();
                        if let Err(u) = &p.rendered_after {
                            out.problems.push(IacError::new(
                                &loc.file,
                                &loc.resource,
                                format!("the patched policy cannot be rendered: {} ({}); the API plan is kept as the reference", u.expression, u.reason),
                            ));
                        }
                        for e in &p.edits {
                            set_file(&mut work, &e.path, &e.after);
                        }
                        out.changes.push(IacChange {
                            file: loc.file.clone(),
                            tool: loc.tool,
                            resource: loc.resource.clone(),
                            stack: loc.stack.clone(),
                            layer: wanted.layer.clone(),
                            change: change.id.clone(),
                            files: p.edits.iter().map(|e| e.path.clone()).collect(),
                            rendered,
                            notes: p.notes.clone(),
                        });
                        out.patched.push((change.id.clone(), p));
                    }
                    Err(e) => {
                        out.unmanaged.push(unmanaged(e.to_string()));
                        out.problems.push(e);
                    }
                }
            }
            _ => {
                let names: Vec<String> = found.iter().map(|(_, l)| format!("{} in {}", l.resource, l.file)).collect();
                let msg = format!("two or more owners of the {target}: {}; patch the one that is deployed by hand", names.join(", "));
                out.problems.push(IacError::new(iac_dir, &change.id, msg.clone()));
                out.unmanaged.push(unmanaged(msg));
            }
        }
    }
    // One edit per file: the first `before`, the last `after`.
    for (path, original) in sources.files.iter().map(|f| (f.path.clone(), Some(f.text.clone()))) {
        if let Some(now) = work.file(&path) {
            if Some(&now.text) != original.as_ref() {
                out.edits.push(FileEdit { path, before: original, after: now.text.clone() });
            }
        }
    }
    for f in work.files.iter().filter(|f| sources.file(&f.path).is_none()) {
        out.edits.push(FileEdit { path: f.path.clone(), before: None, after: f.text.clone() });
    }
    out
}
