//! Evaluation of an AWS request against every policy layer, as AWS documents it, to a verdict
//! that names the deciding layer, statement and condition. Pure: no I/O.

pub mod claims;
pub mod cond;
mod engine;
pub mod layers;
pub mod request;
pub mod scenario;
pub mod verdict;

pub use engine::evaluate;
pub use layers::{LayerKind, Layers, NamedPolicy, OrgLevel, UnknownLayer};
pub use request::{Context, Request, RequestError};
pub use verdict::{Assumption, Decision, LayerReport, Miss, NearMiss, Outcome, StatementRef, Verdict};
