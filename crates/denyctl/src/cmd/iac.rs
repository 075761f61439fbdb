//! The IaC edge of `fix` and `apply`: read the `--iac` folder, the Terraform states and (live) the
//! CloudFormation stacks that own a plan's targets; hand them to the pure denyctl-iac crate;
//! prove each patch with the evaluator (the rendered policy decides every neighbouring request as
//! the API plan does); write the patched files all or nothing; and refuse API writes that would
//! drift from the IaC.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use denyctl_eval::{Layers, Request};
use denyctl_iac::patch::{wanted_of, IacChange, Outcome, Unmanaged};
use denyctl_iac::{Live, Slot, SourceFile, Sources, StateSource};
use denyctl_remedy::Plan;
use denyctl_runtime::Session;
use serde::Serialize;
use serde_json::Value as Json;

use crate::cli::GlobalArgs;
use crate::cmd::live;
use crate::error::CliError;

/// Files larger than this under `--iac` are skipped (a template or a state is far smaller).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// At most this many files are read under `--iac`.
const MAX_FILES: usize = 20_000;
/// Folders never read: VCS data, Terraform's provider cache, package folders.
const SKIP_DIRS: &[&str] = &[".git", ".terraform", "node_modules", ".venv", "target", "__pycache__"];
/// The file kinds read under `--iac`.
const EXTENSIONS: &[&str] = &["tf", "tfvars", "tfstate", "json", "yaml", "yml", "template", "tpl", "tftpl", "hcl"];

/// The `--iac` flags of `fix` and `apply`, completed.
#[derive(Debug, Clone, Default)]
pub struct IacInputs {
    /// The IaC folder.
    pub dir: Option<PathBuf>,
    /// `--tf-state` values: files or `s3://bucket/key`.
    pub tf_states: Vec<String>,
}

impl IacInputs {
    /// Whether any IaC input was given.
    pub fn given(&self) -> bool {
        self.dir.is_some() || !self.tf_states.is_empty()
    }

    /// Validate: the folder exists and is a folder.
    pub fn validate(dir: Option<&str>, tf_states: &[String]) -> Result<IacInputs, CliError> {
        let dir = match dir {
            Some(d) => {
                let p = PathBuf::from(d);
                if !p.is_dir() {
                    return Err(CliError::input(format!("--iac {d}"), "not a folder"));
                }
                Some(p)
            }
            None => None,
        };
        if dir.is_none() && !tf_states.is_empty() {
            return Err(CliError::Input("--tf-state needs --iac DIR: the folder holding the .tf files the state belongs to".into()));
        }
        Ok(IacInputs { dir, tf_states: tf_states.to_vec() })
    }

    /// The folder, as printed.
    pub fn dir_label(&self) -> String {
        self.dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| ".".into())
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<SourceFile>, skipped: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        skipped.push(format!("{}: cannot be read", dir.display()));
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if out.len() >= MAX_FILES {
            skipped.push(format!("{}: more than {MAX_FILES} files; the rest are not read", root.display()));
            return;
        }
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(root, &path, out, skipped);
            }
            continue;
        }
        if !ft.is_file() {
            continue;
        }
        let ext = path.extension().map(|x| x.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        if !EXTENSIONS.contains(&ext.as_str()) {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        match e.metadata() {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                skipped.push(format!("{rel}: larger than {} MB, not read", MAX_FILE_BYTES / (1024 * 1024)));
                continue;
            }
            Err(_) => continue,
            _ => {}
        }
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => out.push(SourceFile { path: rel, text }),
                Err(_) => skipped.push(format!("{rel}: not UTF-8 text, not read")),
            },
            Err(e) => skipped.push(format!("{rel}: cannot be read: {e}")),
        }
    }
}

/// The live facts of a plan: partition and account of the caller, the region given or the
/// resource's.
pub fn live_of(plan: &Plan, region: Option<&str>) -> Live {
    let parts: Vec<&str> = plan.caller.entity_arn.split(':').collect();
    let partition = parts.get(1).copied().filter(|p| !p.is_empty()).unwrap_or("aws").to_string();
    let res_region = plan.request.resource.split(':').nth(3).filter(|r| !r.is_empty()).map(str::to_string);
    let region = region
        .map(str::to_string)
        .or(res_region)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    Live { partition, account: plan.caller.account.clone(), region }
}

/// The physical IDs a stack would hold for the plan's targets (role and user names, policy ARNs,
/// bucket names, key IDs, queue names, secret ARNs).
pub fn needles(plan: &Plan) -> BTreeSet<String> {
    plan.changes.iter().flat_map(change_needles).collect()
}

/// [`needles`] of one change.
pub fn change_needles(c: &denyctl_remedy::Change) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    {
        let Ok(Some(w)) = wanted_of(c) else { return out };
        match w.slot {
            Slot::InlinePolicy { role_name, user_name, .. } => out.extend(role_name.into_iter().chain(user_name)),
            Slot::ManagedPolicy { policy_arn, .. } | Slot::Boundary { policy_arn, .. } => {
                out.insert(policy_arn);
            }
            Slot::TrustPolicy { role_name, .. } => {
                out.insert(role_name);
            }
            Slot::ResourcePolicy { service, resource_arn, .. } => {
                let last = resource_arn.rsplit([':', '/']).next().unwrap_or_default().to_string();
                match service.as_str() {
                    "secretsmanager" => {
                        out.insert(resource_arn);
                    }
                    _ => {
                        out.insert(last);
                    }
                }
            }
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Read everything the backends search: the folder's files, the states given, and (when
/// `session` is given) the stacks that own the plan's targets.
pub fn sources(inputs: &IacInputs, plan: &Plan, g: &GlobalArgs, live_read: bool) -> Result<(Sources, Vec<String>), CliError> {
    let mut skipped = Vec::new();
    let mut files = Vec::new();
    if let Some(d) = &inputs.dir {
        walk(d, d, &mut files, &mut skipped);
    }
    let mut states = Vec::new();
    let mut remote: Vec<(String, String, String)> = Vec::new();
    for s in &inputs.tf_states {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').ok_or_else(|| CliError::input(format!("--tf-state {s}"), "expected s3://BUCKET/KEY"))?;
            remote.push((s.clone(), bucket.to_string(), key.to_string()));
            continue;
        }
        let text = crate::input::read_text(s, MAX_FILE_BYTES)?;
        states.push(StateSource { origin: s.clone(), dir: String::new(), text });
    }
    let live = live_of(plan, g.region.as_deref());
    let mut stacks = Vec::new();
    if live_read || !remote.is_empty() {
        let profiles = live::profiles(g);
        let wanted = needles(plan);
        let (read, fetched) = live::block_on(async {
            let session = Session::new(&profiles).await;
            let mut fetched = Vec::new();
            for (origin, bucket, key) in &remote {
                fetched.push((origin.clone(), denyctl_runtime::stacks::read_s3_state(&session, bucket, key).await));
            }
            let read = if live_read { Some(denyctl_runtime::stacks::stacks_owning(&session, &wanted).await) } else { None };
            live::report_calls(g, &session.stats);
            (read, fetched)
        })?;
        for (origin, r) in fetched {
            let text = r.map_err(live::cli_error)?;
            states.push(StateSource { origin, dir: String::new(), text });
        }
        if let Some(r) = read {
            let r = r.map_err(live::cli_error)?;
            skipped.extend(r.problems.iter().map(|p| format!("CloudFormation: {p}")));
            stacks = r.stacks;
        }
    }
    Ok((Sources { files, stacks, states, live }, skipped))
}

/// One patched target as printed: the crate's record plus the evaluator's verdict on it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The patched targets that are proven to be the plan (`iac_changes`).
    pub iac_changes: Vec<IacChange>,
    /// Targets that stay API changes (`unmanaged`), with why.
    pub unmanaged: Vec<Unmanaged>,
    /// One line per problem met.
    pub iac_problems: Vec<String>,
    /// The unified diff of the verified patches (git-style paths relative to the folder).
    #[serde(skip)]
    pub diff: String,
    /// The verified file edits.
    #[serde(skip)]
    pub edits: Vec<denyctl_iac::FileEdit>,
}

/// Patch the plan's targets in the IaC and prove each patch with the evaluator: a patch whose
/// rendered policy does not decide the neighbourhood as the plan does, or cannot be rendered, is
/// withheld (the API change stays, listed as unmanaged with the reason).
pub fn patch(plan: &Plan, req: &Request, layers: &Layers, sources: &Sources, dir_label: &str, skipped: Vec<String>) -> Report {
    let outcome: Outcome = denyctl_iac::patch_plan(plan, sources, dir_label);
    let mut problems: Vec<String> = skipped;
    problems.extend(outcome.problems.iter().map(|p| p.to_string()));
    let mut rendered: BTreeMap<String, Json> = BTreeMap::new();
    for (id, p) in &outcome.patched {
        if let Ok(doc) = &p.rendered_after {
            rendered.insert(id.clone(), doc.clone());
        }
    }
    let verdicts = match denyctl_remedy::equiv::compare(req, layers, plan, &rendered) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("the patched policies cannot be evaluated: {e}"));
            Vec::new()
        }
    };
    let mut changes = Vec::new();
    let mut unmanaged = outcome.unmanaged.clone();
    let mut verified_files: BTreeSet<String> = BTreeSet::new();
    let mut withheld_files: BTreeSet<String> = BTreeSet::new();
    for mut c in outcome.changes.into_iter() {
        let v = verdicts.iter().find(|v| v.change == c.change);
        let reason = match (c.rendered.as_str(), v) {
            (_, Some(v)) if v.holds() => None,
            (_, Some(v)) if !v.intended_allowed => Some("the rendered patched policy does not allow the request".to_string()),
            (_, Some(v)) => Some(format!(
                "the rendered patched policy decides {} neighbouring request(s) differently from the plan (first: {} {} by {})",
                v.differences.len(),
                v.differences[0].access.action,
                v.differences[0].access.resource,
                v.differences[0].access.principal
            )),
            ("unrenderable", None) => Some("the patched policy cannot be rendered, so it cannot be proven to be the plan".to_string()),
            _ => Some("the patched policy was not evaluated".to_string()),
        };
        match reason {
            None => {
                c.rendered = format!("equivalent ({} requests decided alike)", v.map(|v| v.checked).unwrap_or(0));
                verified_files.extend(c.files.iter().cloned());
                changes.push(c);
            }
            Some(r) => {
                problems.push(format!("{}: {}: {r}; the API change is kept", c.file, c.resource));
                withheld_files.extend(c.files.iter().cloned());
                unmanaged.push(Unmanaged { change: c.change.clone(), layer: c.layer.clone(), target: format!("{} in {}", c.resource, c.file), reason: r });
            }
        }
    }
    // A file is written only when every patch to it is proven.
    let edits: Vec<denyctl_iac::FileEdit> =
        outcome.edits.iter().filter(|e| verified_files.contains(&e.path) && !withheld_files.contains(&e.path)).cloned().collect();
    if edits.len() != outcome.edits.len() {
        changes.retain(|c| c.files.iter().all(|f| !withheld_files.contains(f)));
    }
    let diff = denyctl_iac::filediff::unified_all(&edits);
    Report { iac_changes: changes, unmanaged, iac_problems: problems, diff, edits }
}

/// Write every edit under `dir`, all or nothing: each new text goes to a temporary file beside
/// its target first; only when all are written are they renamed into place.
pub fn write_edits(dir: &Path, edits: &[denyctl_iac::FileEdit]) -> Result<Vec<PathBuf>, CliError> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let cleanup = |staged: &[(PathBuf, PathBuf)]| {
        for (tmp, _) in staged {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for e in edits {
        let target = dir.join(&e.path);
        // The file must still be what was patched (nobody edited it meanwhile).
        let now = std::fs::read_to_string(&target).ok();
        if now != e.before {
            cleanup(&staged);
            return Err(CliError::input(target.display(), "changed since it was read; nothing was written, run fix again"));
        }
        if let Some(parent) = target.parent() {
            if let Err(err) = std::fs::create_dir_all(parent) {
                cleanup(&staged);
                return Err(CliError::input(parent.display(), format!("cannot create the folder: {err}")));
            }
        }
        let tmp = target.with_file_name(format!(".{}.denyctl-tmp", target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
        let written = std::fs::File::create(&tmp).and_then(|mut f| {
            use std::io::Write;
            f.write_all(e.after.as_bytes())?;
            f.sync_all()
        });
        if let Err(err) = written {
            cleanup(&staged);
            return Err(CliError::input(tmp.display(), format!("cannot write: {err}; nothing was written")));
        }
        // The file keeps its mode (an executable script stays executable).
        if let Ok(m) = std::fs::metadata(&target) {
            let _ = std::fs::set_permissions(&tmp, m.permissions());
        }
        staged.push((tmp, target));
    }
    let mut done = Vec::new();
    for (tmp, target) in &staged {
        std::fs::rename(tmp, target).map_err(|e| CliError::input(target.display(), format!("cannot replace: {e}")))?;
        done.push(target.clone());
    }
    Ok(done)
}

/// `apply`'s drift guard: every applicable change whose target a CloudFormation stack holds (the
/// role, user, policy, bucket, key, queue or secret is one of its resources) or the Terraform
/// state given owns is refused, naming the owner and the `--iac` command to use instead.
pub fn refuse_drift(plan: &Plan, plan_file: &str, inputs: &IacInputs, g: &GlobalArgs) -> Result<(), CliError> {
    let (sources, skipped) = sources(inputs, plan, g, true)?;
    for s in skipped.iter().filter(|s| s.starts_with("CloudFormation:")) {
        eprintln!("denyctl: warning: the stack owner check is incomplete: {s}");
    }
    let mut owned: Vec<String> = Vec::new();
    for c in plan.changes.iter().filter(|c| c.applicable) {
        let wanted = change_needles(c);
        let mut owners: BTreeSet<String> = BTreeSet::new();
        for st in &sources.stacks {
            for r in &st.resources {
                if r.physical_id.as_deref().is_some_and(|p| denyctl_runtime::stacks::physical_matches(p, &wanted)) {
                    owners.insert(format!("stack {} ({} {})", st.name, r.logical_id, r.resource_type));
                }
            }
        }
        if let Ok(Some(w)) = wanted_of(c) {
            for (located, _) in denyctl_iac::patch::owners(&w, &sources) {
                if located.tool == denyctl_iac::Tool::Terraform {
                    owners.insert(format!("Terraform {} in {}", located.resource, located.file));
                }
            }
        }
        if !owners.is_empty() {
            owned.push(format!("{} is owned by {}", c.id, owners.into_iter().collect::<Vec<_>>().join(" and ")));
        }
    }
    if owned.is_empty() {
        return Ok(());
    }
    let dir = inputs.dir.as_ref().map(|d| d.display().to_string()).unwrap_or_else(|| "DIR".into());
    Err(CliError::Input(format!(
        "apply: {}; writing it through the API would drift from the IaC (the next stack update or terraform apply may revert it): nothing written. Patch the IaC instead: denyctl fix --dry-run --iac {dir} ... -o diff (the same request as {plan_file}), or pass --allow-drift to accept the drift",
        owned.join("; ")
    )))
}

/// What to run after the patch is written, per tool.
pub fn next_steps(r: &Report, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let files: BTreeSet<&str> = r.edits.iter().map(|e| e.path.as_str()).collect();
    if !files.is_empty() {
        out.push(format!("review and commit: git -C {dir} add {} && git -C {dir} commit -m 'denyctl: least-privilege fix'", files.into_iter().collect::<Vec<_>>().join(" ")));
    }
    let stacks: BTreeSet<&str> = r.iac_changes.iter().filter_map(|c| c.stack.as_deref()).collect();
    for s in stacks {
        let file = r.iac_changes.iter().find(|c| c.stack.as_deref() == Some(s)).map(|c| c.file.as_str()).unwrap_or("TEMPLATE");
        out.push(format!("deploy through your pipeline, or: aws cloudformation deploy --stack-name {s} --template-file {dir}/{file} --capabilities CAPABILITY_NAMED_IAM"));
    }
    if r.iac_changes.iter().any(|c| c.tool == denyctl_iac::Tool::Cloudformation && c.stack.is_none()) {
        out.push("deploy the patched template through your pipeline (a stack update)".into());
    }
    if r.iac_changes.iter().any(|c| c.tool == denyctl_iac::Tool::Terraform) {
        out.push(format!("terraform -chdir={dir} plan   # check that only the policy changes, then terraform apply"));
    }
    if !r.iac_changes.is_empty() {
        out.push("then verify: denyctl replay -f PLAN (the plan file from fix -o json)".into());
    }
    out
}
