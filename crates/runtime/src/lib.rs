//! Live AWS for denyctl: credentials and the two identities (caller and operator), `whoami`,
//! the IAM and Organizations collectors that turn a request into every policy layer, the
//! snapshot file, and the resource layer read through the service plugins (denyctl-plugin-api),
//! with the hidden hops they report.
//!
//! Every call goes through the official AWS SDK for Rust, so the standard credential chain,
//! `AWS_ENDPOINT_URL` and the service-specific endpoint variables all apply.

pub mod apply;
pub mod athena;
pub mod calls;
pub mod collect;
pub mod config;
pub mod decode;
pub mod error;
pub mod federation;
pub mod lake;
pub mod org_snapshot;
mod reads;
pub mod replay;
pub mod resource;
pub mod snapshot;
pub mod sourced;
pub mod stacks;
pub mod trail;
pub mod whoami;

pub use calls::{CallRecord, CallStats};
pub use collect::{collect, CollectOptions, Collected, PolicySource, SourcedPolicy};
pub use config::{Profiles, Session};
pub use error::{ReadError, RuntimeError};
pub use resource::{resource_policy_reader, Registry};
pub use org_snapshot::OrgSnapshot;
pub use snapshot::{Snapshot, SnapshotError, SnapshotHop, MAX_HOP_DEPTH};
pub use whoami::{whoami, Identity};
