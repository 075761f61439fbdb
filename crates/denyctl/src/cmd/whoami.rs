//! `denyctl whoami`: who is really calling in this runtime.

use std::io::Write;

use denyctl_runtime::{whoami, Identity, Session};

use crate::cli::GlobalArgs;
use crate::cmd::live;
use crate::error::{exit, CmdResult};
use crate::output;

/// Run the verb.
pub fn run(g: &GlobalArgs) -> CmdResult {
    let profiles = live::profiles(g);
    let progress = live::Progress::start(g, "asking STS and IAM who is calling");
    let (res, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        (whoami(&session).await, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let id = res.map_err(live::cli_error)?;
    output::emit(g.output, &id, |w| table(w, &id))?;
    Ok(exit::OK)
}

/// The `-o table` view of an identity.
pub fn table(w: &mut dyn Write, id: &Identity) -> std::io::Result<()> {
    writeln!(w, "arn           {}", id.arn)?;
    writeln!(w, "account       {}", id.account)?;
    writeln!(w, "user id       {}", id.user_id)?;
    writeln!(w, "kind          {}", id.kind)?;
    if let Some(r) = &id.role_arn {
        writeln!(w, "role          {r}")?;
    }
    if let Some(s) = &id.session_name {
        writeln!(w, "session       {s}")?;
    }
    if let Some(m) = id.max_session_duration {
        writeln!(w, "max session   {m}s")?;
    }
    if let Some(u) = &id.user_name {
        writeln!(w, "user          {u}")?;
    }
    if let Some(g) = &id.groups {
        writeln!(w, "groups        {}", if g.is_empty() { "(none)".to_string() } else { g.join(", ") })?;
    }
    writeln!(w, "boundary      {}", id.permissions_boundary.as_deref().unwrap_or("(none)"))?;
    for (k, v) in &id.principal_tags {
        writeln!(w, "tag           {k} = {v}")?;
    }
    match &id.organization {
        Some(o) => writeln!(
            w,
            "organization  {} (management account {})",
            o.id,
            o.management_account_id.as_deref().unwrap_or("?")
        )?,
        None if id.unreadable.iter().any(|u| u.starts_with("organization")) => {}
        None => writeln!(w, "organization  (none)")?,
    }
    if let Some(t) = &id.trust_policy {
        let principals: Vec<String> = t
            .get("Statement")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|s| s.get("Principal")).map(|p| p.to_string()).collect())
            .unwrap_or_default();
        writeln!(w, "trusted by    {}", principals.join("; "))?;
    }
    for u in &id.unreadable {
        writeln!(w, "unreadable    {u}")?;
    }
    Ok(())
}
