//! `denyctl simulate`: evaluate scenarios offline.

use crate::cli::{GlobalArgs, SimulateArgs};
use crate::error::{CliError, CmdResult};

/// Run the verb.
pub fn run(_args: &SimulateArgs, _global: &GlobalArgs) -> CmdResult {
    Err(CliError::Input("simulate: not built yet".into()))
}
