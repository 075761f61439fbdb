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
    /// Comma-separated values, one row per item (`triage` only).
    Csv,
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
        Format::Json => serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        Format::Yaml => serde_yaml::to_string(value)
            .map_err(std::io::Error::other)
            .and_then(|s| out.write_all(s.as_bytes())),
        Format::Table => table(&mut out),
        Format::Diff => return Err(CliError::Input("-o diff is only for `fix`; use -o table, json or yaml".into())),
        Format::Csv => return Err(CliError::Input("-o csv is only for `triage`; use -o table, json or yaml".into())),
    };
    res.or_else(ignore_broken_pipe)
}

/// A closed pipe (`| head`) is not an error worth a message.
pub fn ignore_broken_pipe(e: std::io::Error) -> Result<(), CliError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(CliError::Input(format!("cannot write output: {e}")))
    }
}

/// Whether colour should be used on stdout (respects NO_COLOR and terminals).
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}
