//! `denyctl plugin list`: the plugins denyctl can use, where each came from, and the libraries skipped.

use std::io::Write;

use denyctl_plugin_api::{plugin_dirs, LoadFailure, PluginInfo};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::error::{exit, CmdResult};
use crate::output::emit;

/// What `plugin list` prints (JSON/YAML shape).
#[derive(Serialize)]
struct Listing {
    /// Every plugin, in the order requests are matched.
    plugins: Vec<PluginInfo>,
    /// Libraries on the plugin path that were skipped, with why.
    skipped: Vec<LoadFailure>,
    /// The directories searched, in order.
    plugin_path: Vec<String>,
}

/// Run `plugin list`.
pub fn list(global: &GlobalArgs) -> CmdResult {
    let registry = denyctl_builtin_plugins::registry();
    let listing = Listing {
        plugins: registry.list(),
        skipped: registry.failures().to_vec(),
        plugin_path: plugin_dirs().iter().map(|d| d.display().to_string()).collect(),
    };
    emit(global.output, &listing, |out| table(out, &listing))?;
    Ok(exit::OK)
}

fn table(out: &mut dyn Write, l: &Listing) -> std::io::Result<()> {
    let rows: Vec<[String; 5]> = l
        .plugins
        .iter()
        .map(|p| [p.name.clone(), p.version.clone(), p.abi_version.to_string(), p.services.join(","), p.source.to_string()])
        .collect();
    let header = ["NAME", "VERSION", "ABI", "SERVICES", "SOURCE"].map(String::from);
    let mut width = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r.iter().zip(width).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if !l.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "skipped {} librar{}:", l.skipped.len(), if l.skipped.len() == 1 { "y" } else { "ies" })?;
        for f in &l.skipped {
            writeln!(out, "  {}: {}", f.path.display(), f.error)?;
        }
    }
    Ok(())
}
