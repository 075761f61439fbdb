//! `denyctl collect --org DIR`: an organization snapshot (docs/snapshot.md) for `triage --snapshot`.

use std::io::Write;
use std::path::Path;

use denyctl_runtime::collect::{collect_org, OrgOptions, Want};
use denyctl_runtime::org_snapshot::{write_dir, Manifest};
use denyctl_runtime::Session;

use crate::cli::{CollectArgs, GlobalArgs};
use crate::cmd::live;
use crate::error::{exit, CliError, CmdResult};
use crate::output;

/// The default member role.
pub const MEMBER_ROLE: &str = "OrganizationAccountAccessRole";

/// Run `collect --org DIR`.
pub fn run(a: &CollectArgs, dir: &str, g: &GlobalArgs) -> CmdResult {
    let r = &a.request;
    if r.text.is_some() || r.event.is_some() || r.principal.is_some() || r.action.is_some() || r.resource.is_some() || !r.context.is_empty() || !r.session_policy.is_empty() {
        return Err(CliError::Input("--org collects every account; give the denials with --resources-from, not a request".into()));
    }
    let target = Path::new(dir);
    if target.exists() && std::fs::read_dir(target).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(CliError::input(dir, "exists and is not an empty folder; give a new folder"));
    }
    let mut wants = Vec::new();
    for f in &a.resources_from {
        wants.extend(wants_of(f)?);
    }
    wants.sort();
    wants.dedup();
    let opts = OrgOptions { member_role: a.member_role.clone().unwrap_or_else(|| MEMBER_ROLE.into()), wants };
    let profiles = live::profiles(g);
    let plugins = live::plugins(g);
    let progress = live::Progress::start(g, "reading the organization and every account");
    let (res, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        (collect_org(&session, &plugins, &opts).await, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let got = res.map_err(live::cli_error)?;
    for e in got.manifest.accounts.iter().filter(|e| e.skipped.is_some()) {
        eprintln!("denyctl: skipped account {}: {}", e.id, e.skipped.as_deref().unwrap_or(""));
    }
    if got.accounts.is_empty() {
        return Err(CliError::Input(format!("no account of {} could be read; nothing written to {dir}", got.manifest.organization.id)));
    }
    write_dir(target, &got.manifest, &got.tree, &got.accounts).map_err(CliError::Input)?;
    output::emit(g.output, &got.manifest, |w| table(w, &got.manifest, dir))?;
    Ok(exit::OK)
}

/// The resource layers a `triage -o json` output asks for: each group's (action, resource) in the
/// account that owns the resource (its ARN's, else the group's).
fn wants_of(path: &str) -> Result<Vec<Want>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::input(path, format!("cannot read: {e}")))?;
    let groups: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| CliError::input(path, format!("not a `denyctl triage -o json` output (a JSON array of groups): {e}")))?;
    let mut out = Vec::new();
    for g in groups {
        let s = |k: &str| g.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (Some(action), Some(resource), Some(account)) = (s("action"), s("resource"), s("account")) else { continue };
        if resource == "*" {
            continue;
        }
        let owner = denyctl_policy::Arn::parse(&resource).ok().map(|a| a.account).filter(|a| a.len() == 12).unwrap_or(account);
        out.push(Want { action, resource, account: owner });
    }
    Ok(out)
}

fn table(w: &mut dyn Write, m: &Manifest, dir: &str) -> std::io::Result<()> {
    let read = m.accounts.iter().filter(|a| a.file.is_some()).count();
    writeln!(w, "organization  {} (management account {})", m.organization.id, m.organization.management_account_id.as_deref().unwrap_or("?"))?;
    writeln!(w, "written       {dir} ({read} of {} accounts read, {} resource layers)", m.accounts.len(), m.resources)?;
    for a in &m.accounts {
        match (&a.file, &a.skipped) {
            (Some(f), _) => writeln!(w, "  {}  {:<20} {f}", a.id, a.name)?,
            (None, why) => writeln!(w, "  {}  {:<20} SKIPPED: {}", a.id, a.name, why.as_deref().unwrap_or(""))?,
        }
    }
    Ok(())
}
