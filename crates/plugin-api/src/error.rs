//! The one error type of the plugin API; its `kind` crosses the C ABI with the message.

/// Why a plugin operation failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The input (an ARN, name, URL or request) is malformed or of the wrong service.
    #[error("{0}")]
    InvalidInput(String),
    /// The resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The identity in the context was denied the call (reading or writing the policy).
    #[error("{0}")]
    Denied(String),
    /// The policy changed since it was read: the compare-and-swap write was not done.
    #[error("{0}")]
    Conflict(String),
    /// Any other AWS or network failure.
    #[error("{0}")]
    Aws(String),
    /// The plugin does not support this operation or action.
    #[error("{0}")]
    Unsupported(String),
    /// The plugin broke the contract: bad JSON, a panic, a null response.
    #[error("plugin {plugin}: {message}")]
    Plugin {
        /// The plugin's name or library path.
        plugin: String,
        /// What went wrong.
        message: String,
    },
    /// A shared library could not be loaded as a plugin (it is skipped).
    #[error("{path}: {reason}")]
    Load {
        /// The library's path.
        path: String,
        /// Why it was skipped, and what to do.
        reason: String,
    },
}

impl PluginError {
    /// The stable name of the variant, sent over the C ABI as `"kind"`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::InvalidInput(_) => "invalid_input",
            PluginError::NotFound(_) => "not_found",
            PluginError::Denied(_) => "denied",
            PluginError::Conflict(_) => "conflict",
            PluginError::Aws(_) => "aws",
            PluginError::Unsupported(_) => "unsupported",
            PluginError::Plugin { .. } => "plugin",
            PluginError::Load { .. } => "load",
        }
    }

    /// Rebuilds an error received over the C ABI from its kind and message.
    pub fn from_kind(kind: Option<&str>, message: String, plugin: &str) -> Self {
        match kind {
            Some("invalid_input") => PluginError::InvalidInput(message),
            Some("not_found") => PluginError::NotFound(message),
            Some("denied") => PluginError::Denied(message),
            Some("conflict") => PluginError::Conflict(message),
            Some("aws") => PluginError::Aws(message),
            Some("unsupported") => PluginError::Unsupported(message),
            _ => PluginError::Plugin { plugin: plugin.to_string(), message },
        }
    }
}
