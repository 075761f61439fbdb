//! `denyctl collect`: fetch every layer for a request and print the snapshot.

use std::io::Write;

use denyctl_runtime::{collect, Session, Snapshot};

use crate::cli::{CollectArgs, GlobalArgs};
use crate::cmd::live;
use crate::error::{exit, CmdResult};
use crate::output;

/// Run the verb.
pub fn run(args: &CollectArgs, g: &GlobalArgs) -> CmdResult {
    if let Some(dir) = &args.org {
        return super::collect_org::run(args, dir, g);
    }
    let a = &args.request;
    let opts = live::collect_options(a)?;
    let profiles = live::profiles(g);
    let plugins = live::plugins(g);
    let progress = live::Progress::start(g, "reading every policy layer");
    let (res, session) = live::block_on(async {
        let session = Session::new(&profiles).await;
        (collect(&session, &plugins, &opts).await, session)
    })?;
    drop(progress);
    live::report_calls(g, &session.stats);
    let mut c = res.map_err(live::cli_error)?;
    c.snapshot.calls.count = session.stats.count();
    c.snapshot.calls.waves = session.stats.waves();
    output::emit(g.output, &c.snapshot, |w| table(w, &c.snapshot))?;
    Ok(exit::OK)
}

/// The `-o table` view of a snapshot: each layer and its policies.
pub fn table(w: &mut dyn Write, s: &Snapshot) -> std::io::Result<()> {
    let p = &s.policies;
    writeln!(w, "request       {} {} on {}", s.request.principal, s.request.action, s.request.resource)?;
    writeln!(w, "identity      {} policies", p.identity.len())?;
    for x in &p.identity {
        writeln!(w, "    {}{}", x.name, x.source.version_id.as_deref().map(|v| format!(" @ {v}")).unwrap_or_default())?;
    }
    if let Some(b) = &p.permissions_boundary {
        writeln!(w, "boundary      {}{}", b.name, b.source.version_id.as_deref().map(|v| format!(" @ {v}")).unwrap_or_default())?;
    }
    for (title, levels) in [("scp", &p.scp), ("rcp", &p.rcp)] {
        if let Some(levels) = levels {
            for l in levels {
                let names: Vec<&str> = l.policies.iter().map(|x| x.name.as_str()).collect();
                writeln!(w, "{title:<13} {} ({}): {}", l.target, l.target_type, names.join(", "))?;
            }
        }
    }
    if let Some(r) = &p.resource {
        writeln!(w, "resource      {}{}", r.name, r.source.version_id.as_deref().map(|v| format!(" @ {v}")).unwrap_or_default())?;
        if let Some(x) = &r.source.extra {
            writeln!(w, "    settings: {x}")?;
        }
    }
    for u in &p.unknown {
        writeln!(w, "UNKNOWN       {}: {}", u.layer.as_str(), u.reason)?;
    }
    for n in &s.notes {
        writeln!(w, "note          {n}")?;
    }
    for h in &s.hops {
        writeln!(w, "hop           {} on {} (after {}): {}", h.action, h.resource, h.after, h.why)?;
        match (&h.snapshot, &h.error) {
            (Some(hs), _) => {
                match &hs.policies.resource {
                    Some(r) => writeln!(w, "    resource  {}{}", r.name, r.source.version_id.as_deref().map(|v| format!(" @ {v}")).unwrap_or_default())?,
                    None => writeln!(w, "    resource  no resource policy")?,
                }
                for u in hs.policies.unknown.iter().filter(|u| !s.policies.unknown.contains(u)) {
                    writeln!(w, "    UNKNOWN   {}: {}", u.layer.as_str(), u.reason)?;
                }
            }
            (None, Some(e)) => writeln!(w, "    not collected: {e}")?,
            (None, None) => {}
        }
    }
    Ok(())
}
