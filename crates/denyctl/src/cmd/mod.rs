//! One module per verb: each has `run(args, global) -> CmdResult`.

pub mod authz;
pub mod completion;
pub mod demo;
pub mod collect;
pub mod diagnose;
pub mod explain;
pub mod live;
pub mod whoami;
pub mod fix;
pub mod plugin;
pub mod simulate;
