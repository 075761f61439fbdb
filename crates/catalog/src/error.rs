//! The one error type of the catalog.

use std::fmt;

/// Why a catalog look-up failed; every message says what to try instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The text is not of the form `service:Action`.
    #[error("invalid action name {input:?}: expected SERVICE:ACTION, e.g. s3:GetObject")]
    MalformedAction {
        /// The text that was given.
        input: String,
    },
    /// The service prefix is known but it has no such action.
    #[error("unknown action {input}{}", DidYouMean(suggestion))]
    UnknownAction {
        /// The action name that was given.
        input: String,
        /// The closest action of the service, if one is close enough.
        suggestion: Option<String>,
    },
    /// No service has this prefix.
    #[error("unknown service prefix {service:?}{}", DidYouMean(suggestion))]
    UnknownService {
        /// The prefix that was given.
        service: String,
        /// The closest known prefix (or `prefix:Action`), if one is close enough.
        suggestion: Option<String>,
    },
    /// The service has neither an action of that name nor a documented mapping for it.
    #[error(
        "no IAM action known for the {service} API operation {operation:?}{}",
        DidYouMean(suggestion)
    )]
    UnknownOperation {
        /// The service prefix.
        service: String,
        /// The operation name that was given.
        operation: String,
        /// The closest action of the service, if one is close enough.
        suggestion: Option<String>,
    },
    /// The catalog embedded in this binary could not be read (a build problem, not a user error).
    #[error(
        "the embedded IAM catalog is unreadable ({reason}); rebuild denyctl from a clean checkout"
    )]
    CorruptData {
        /// What went wrong while decoding it.
        reason: String,
    },
}

/// Renders " — did you mean X?" when there is a suggestion.
struct DidYouMean<'a>(&'a Option<String>);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " — did you mean {s}?"),
            None => Ok(()),
        }
    }
}
