//! One module per verb: each has `run(args, global) -> CmdResult`.

pub mod explain;
pub mod plugin;
pub mod simulate;
