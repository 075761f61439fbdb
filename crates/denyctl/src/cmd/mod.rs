//! One module per verb: each has `run(args, global) -> CmdResult`.

pub mod completion;
pub mod explain;
pub mod simulate;
