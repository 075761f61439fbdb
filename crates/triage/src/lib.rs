//! Triage: CloudTrail events (log files, `lookup-events` output, JSON lines, query results) streamed
//! into groups of distinct denials, ranked. Pure: bytes in, groups out; the callers read files,
//! objects and query results.
//!
//! Every event is read with explain's CloudTrail reader (`denyctl_denial::cloudtrail_event`), so a
//! group means what `denyctl explain` would say of each of its events.

mod group;
pub mod query;
mod read;

pub use group::{fold_resource, normalise_principal, rank, AgentCount, Group, GroupKey, LookAlikeCount, Options, SkippedSource, Summary, Triage};
pub use read::{ReadError, MAX_DECOMPRESSED_BYTES, STREAM_BLOCK_BYTES};
