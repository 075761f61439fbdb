//! Reading AWS authorization failures: error text, SDK and tool wrappers, CloudTrail
//! events and log files, into structured [`Finding`]s. Pure: no I/O, no AWS calls.
//!
//! ```
//! let parsed = denyctl_denial::parse(b"User: arn:aws:iam::123456789012:user/bob is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::b/k because no identity-based policy allows the s3:GetObject action").unwrap();
//! let f = &parsed.findings[0];
//! assert_eq!(f.action.as_deref(), Some("s3:GetObject"));
//! assert_eq!(f.policy_type, Some(denyctl_denial::PolicyType::Identity));
//! ```

mod advice;
mod catalog;
mod cloudtrail;
mod grammar;
mod input;
mod lookalike;
mod model;
mod record;
mod text;
mod wrapper;

pub use advice::Advice;
pub use catalog::{ActionCatalog, BuiltinCatalog};
pub use cloudtrail::{event_finding as cloudtrail_event, event_finding_memo as cloudtrail_event_memo, kind_of as json_kind, record_finding as cloudtrail_record, MessageMemo};
pub use record::{EventRecord, Field as EventField, Identity as EventIdentity};
pub use model::{CloudTrailInfo, DenyKind, Finding, Kind, Parsed, PolicyType, Skipped};

/// The error codes that mean a denial, then those of the look-alikes (expired tokens, clock skew,
/// ...): what a query over CloudTrail filters on.
pub fn error_codes() -> (Vec<&'static str>, Vec<&'static str>) {
    let looks = lookalike::LOOK_ALIKES.iter().flat_map(|l| l.codes.iter().copied()).collect();
    (lookalike::DENIAL_CODES.to_vec(), looks)
}

/// Largest input accepted, in bytes, as read (compressed or not).
pub const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Largest input accepted after gzip decompression, in bytes.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Why an input could not be read as an authorization failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Nothing but whitespace.
    #[error("input is empty: paste the error message, or give a CloudTrail event or log file")]
    Empty,
    /// Larger than the limit.
    #[error("input is larger than the {limit} byte limit: give the error message or one CloudTrail file, not a whole log")]
    TooLarge {
        /// The limit that was passed.
        limit: u64,
    },
    /// Not text.
    #[error("input looks like binary data, not text: give the error message, a CloudTrail JSON file, or a .json.gz")]
    Binary,
    /// Invalid UTF-8.
    #[error("input is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// A gzip stream that could not be decompressed.
    #[error("input starts like gzip but cannot be decompressed: {reason}")]
    Gzip {
        /// What the decompressor said.
        reason: String,
    },
    /// JSON that names CloudTrail but does not parse.
    #[error("input looks like CloudTrail JSON but is not valid JSON: {reason}")]
    BadJson {
        /// Where and why it failed.
        reason: String,
    },
    /// Text without any AWS error in it.
    #[error("no AWS access-denied message, SDK error or CloudTrail event found in the input")]
    NothingFound,
}

/// Parse raw input (text, JSON, CloudTrail, gzip) with the built-in action catalog.
pub fn parse(input: &[u8]) -> Result<Parsed, Error> {
    parse_with(input, &BuiltinCatalog)
}

/// Parse raw input, mapping API operation names to IAM actions through `catalog`.
pub fn parse_with(input: &[u8], catalog: &dyn ActionCatalog) -> Result<Parsed, Error> {
    let text = input::decode(input)?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::Empty);
    }
    let json = cloudtrail::parse_json(trimmed, catalog);
    if let Ok(Some(parsed)) = json {
        return Ok(parsed);
    }
    // Broken JSON may still be a pasted fragment of an event whose errorMessage reads as text.
    let findings = grammar::parse_text(trimmed, catalog, None);
    if findings.is_empty() {
        return Err(json.err().unwrap_or(Error::NothingFound));
    }
    Ok(Parsed { findings, skipped: Vec::new(), records: None })
}
