//! `denyctl explain`: what an AccessDenied means, offline.

use crate::cli::{ExplainArgs, GlobalArgs};
use crate::error::{CliError, CmdResult};

/// Run the verb.
pub fn run(_args: &ExplainArgs, _global: &GlobalArgs) -> CmdResult {
    Err(CliError::Input("explain: not built yet".into()))
}
