//! One module per verb: each has `run(args, global) -> CmdResult`.

pub mod apply;
pub mod writes;
pub mod authz;
pub mod completion;
pub mod demo;
pub mod collect;
pub mod collect_org;
pub mod diagnose;
pub mod explain;
pub mod federation;
pub mod live;
pub mod mcp;
pub mod whoami;
pub mod fix;
pub mod fix_session;
pub mod fix_live;
pub mod iac;
pub mod plugin;
pub mod replay;
pub mod rollback;
pub mod simulate;
pub mod triage;
pub mod triage_org;
