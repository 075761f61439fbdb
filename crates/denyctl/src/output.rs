//! Output formats: every verb renders through here, so `-o` behaves the same everywhere.

use clap::ValueEnum;
use serde::Serialize;
use std::io::Write;

use crate::error::CliError;

/// `-o` values shared by every verb.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable summary (default).
    #[default]
    Table,
    /// Pretty JSON (one document).
    Json,
    /// YAML.
    Yaml,
    /// Unified diff of every changed policy (`fix` only).
    Diff,
}

/// The version of every `-o json`/`-o yaml` shape (docs/schema/*.json). A change to any shape
/// changes its schema file and this number; tests validate real outputs against the schemas.
pub const SCHEMA_VERSION: &str = "1";

/// `value` as JSON with `"schema_version"` first in every top-level object (in each element when
/// the top level is an array: `explain` of a CloudTrail file with several events).
pub fn versioned<T: Serialize>(value: &T) -> Result<serde_json::Value, serde_json::Error> {
    let mut v = serde_json::to_value(value)?;
    match &mut v {
        serde_json::Value::Object(m) => stamp(m),
        serde_json::Value::Array(items) => items.iter_mut().filter_map(|i| i.as_object_mut()).for_each(stamp),
        _ => {}
    }
    Ok(v)
}

fn stamp(m: &mut serde_json::Map<String, serde_json::Value>) {
    m.shift_insert(0, "schema_version".into(), serde_json::Value::String(SCHEMA_VERSION.into()));
}

/// Write a value as JSON or YAML; for `Table` the caller's `table` closure renders it.
pub fn emit<T: Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let res = match format {
        // `From` keeps the kind of an I/O error (a closed pipe stays BrokenPipe).
        Format::Json => versioned(value)
            .and_then(|v| serde_json::to_writer_pretty(&mut out, &v))
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out)),
        Format::Yaml => versioned(value)
            .and_then(|v| serde_yaml::to_string(&v).map_err(serde::ser::Error::custom))
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
        Format::Table => table(&mut out),
        Format::Diff => return Err(CliError::Input("-o diff is only for `fix`; use -o table, json or yaml".into())),
    };
    res.or_else(ignore_broken_pipe)
}

/// A closed pipe (`| head`) is not an error worth a message.
pub fn ignore_broken_pipe(e: std::io::Error) -> Result<(), CliError> {
    // serde_json's writer errors arrive wrapped (`io::Error::other`): look inside for the pipe.
    let wrapped = e.get_ref().and_then(|inner| inner.downcast_ref::<serde_json::Error>()).and_then(|j| j.io_error_kind());
    if e.kind() == std::io::ErrorKind::BrokenPipe || wrapped == Some(std::io::ErrorKind::BrokenPipe) {
        Ok(())
    } else {
        Err(CliError::Input(format!("cannot write output: {e}")))
    }
}

/// One line on stdout (the binary's `println!`): a closed pipe ends nothing and prints nothing,
/// another write error is said once on stderr.
pub fn print_line(args: std::fmt::Arguments<'_>) {
    if let Err(e) = writeln!(std::io::stdout(), "{args}") {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprint_line(format_args!("denyctl: cannot write output: {e}"));
        }
    }
}

/// One line on stderr (the binary's `eprintln!`): never panics; a closed stderr is ignored.
pub fn eprint_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// Whether colour should be used on stdout (respects NO_COLOR and terminals).
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}
