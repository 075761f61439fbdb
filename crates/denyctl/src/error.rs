//! One error type for the binary, mapped to documented exit codes.

use std::fmt;

/// Exit codes, documented in README.md.
pub mod exit {
    /// The request is allowed (diagnose/replay), or the command succeeded.
    pub const OK: i32 = 0;
    /// The request is denied (diagnosed).
    pub const DENIED: i32 = 1;
    /// Usage or input error: bad flags, unreadable or malformed input.
    pub const INPUT: i32 = 2;
    /// AWS or network error.
    pub const AWS: i32 = 3;
}

/// A failure of a verb, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad flags or bad input (exit 2).
    Input(String),
    /// AWS or network failure (exit 3).
    Aws(String),
}

impl CliError {
    /// An input error naming its source (a file, `-`, an argument).
    pub fn input(source: impl fmt::Display, msg: impl fmt::Display) -> Self {
        CliError::Input(format!("{source}: {msg}"))
    }

    /// The process exit code for this error.
    pub fn code(&self) -> i32 {
        match self {
            CliError::Input(_) => exit::INPUT,
            CliError::Aws(_) => exit::AWS,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input(m) | CliError::Aws(m) => {
                // Always one line: fold any newline a lower layer put in.
                let one_line = m.replace('\n', " ");
                f.write_str(&one_line)
            }
        }
    }
}

impl std::error::Error for CliError {}

/// Result of a verb: the exit code on success (0 or 1), or an error.
pub type CmdResult = Result<i32, CliError>;
