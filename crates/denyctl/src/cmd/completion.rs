//! `denyctl completion` and `denyctl man`: generated from the clap definitions, never by hand.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs};
use crate::error::{exit, CmdResult};
use crate::output::ignore_broken_pipe;

/// Print the completion script for a shell.
pub fn completion(args: &CompletionArgs) -> CmdResult {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "denyctl", &mut buf);
    std::io::stdout().write_all(&buf).or_else(ignore_broken_pipe)?;
    Ok(exit::OK)
}

/// Print the man page.
pub fn man() -> CmdResult {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(|e| crate::error::CliError::Input(format!("cannot render the man page: {e}")))?;
    std::io::stdout().write_all(&buf).or_else(ignore_broken_pipe)?;
    Ok(exit::OK)
}
