//! The one error type of the library, and whether a failure is worth retrying.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The payload is not something Firebreak can act on; retrying will not change that.
    #[error("refused: {field}: {message}")]
    Refused { field: String, message: String },
    /// A configuration variable is missing or malformed; the process must not start.
    #[error("configuration: {variable}: {message}")]
    Config { variable: String, message: String },
    /// An AWS call failed in a way that may pass (throttling, 5xx, network); the event should be retried.
    #[error("AWS {operation} failed: {message}")]
    Aws { operation: &'static str, code: Option<String>, message: String, retryable: bool },
    /// The state table could not be read or written; destructive actions are held (fail closed).
    #[error("state table unavailable: {0}")]
    State(String),
    /// An action in the plan failed; the report says which. Returned so the event is retried.
    #[error("{failed} of {total} actions failed: {summary}")]
    ActionsFailed { failed: usize, total: usize, summary: String },
}

impl Error {
    pub fn refused(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Refused { field: field.into(), message: message.into() }
    }

    pub fn config(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config { variable: variable.into(), message: message.into() }
    }

    /// Whether redelivering the same event could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused { .. } | Self::Config { .. } => false,
            Self::Aws { retryable, .. } => *retryable,
            Self::State(_) | Self::ActionsFailed { .. } => true,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
