//! The one error type of the library, and whether a failure is worth retrying.

use thiserror::Error;

/// Cloneable and comparable so that a failed step keeps its error in the report, typed, for the
/// retry decision and the notification alike.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    /// The payload is not something Firebreak can act on; retrying will not change that.
    #[error("refused: {field}: {message}")]
    Refused { field: String, message: String },
    /// A configuration variable is missing or malformed; the process must not start.
    #[error("configuration: {variable}: {message}")]
    Config { variable: String, message: String },
    /// An AWS call failed; `retryable` for throttling, 5xx and the network, not for `AccessDenied`,
    /// `UnauthorizedOperation` or invalid parameters.
    #[error("AWS {operation} failed: {message}")]
    Aws { operation: &'static str, code: Option<String>, message: String, retryable: bool },
    /// The state table could not be read or written; destructive actions are held (fail closed).
    #[error("state table unavailable: {0}")]
    State(String),
    /// Another run holds the incident's claim until its lease ends; a redelivery after it acts.
    #[error("held by another run: {0}")]
    HeldElsewhere(String),
    /// The invocation's deadline came before the step could start or finish; a redelivery has time.
    #[error("deadline: {0}")]
    Deadline(String),
    /// Interfaces were left on the allow-all untracking group and could not be put back: wide open.
    /// The loudest outcome there is (a critical notification) and always retried.
    #[error("LEFT WIDE OPEN on the allow-all untracking group: {}: {message}", interfaces.join(", "))]
    LeftOpen { interfaces: Vec<String>, message: String },
    /// Channels of a contained instance read back open after one repair: never reported as done, always
    /// retried (the retry repairs again), and loud (a critical notification).
    #[error("NOT VERIFIED CLOSED: {}: {message}", channels.join(", "))]
    Unverified { channels: Vec<String>, message: String },
    /// Several parts of one step, or several steps, failed; retryable when any of them is.
    #[error("{failed} of {total} failed: {summary}")]
    ActionsFailed { failed: usize, total: usize, summary: String, retryable: bool },
}

impl Error {
    pub fn refused(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Refused { field: field.into(), message: message.into() }
    }

    pub fn config(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config { variable: variable.into(), message: message.into() }
    }

    /// Several failures as one: what failed, and retryable when any of them may pass.
    pub fn combined<'a>(failures: impl IntoIterator<Item = (String, &'a Error)>, total: usize) -> Self {
        let failures: Vec<(String, &Error)> = failures.into_iter().collect();
        let summary = failures.iter().map(|(what, e)| format!("{what}: {e}")).collect::<Vec<_>>().join("; ");
        let retryable = failures.iter().any(|(_, e)| e.is_retryable());
        Self::ActionsFailed { failed: failures.len(), total, summary, retryable }
    }

    /// Whether redelivering the same event could succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused { .. } | Self::Config { .. } => false,
            Self::Aws { retryable, .. } | Self::ActionsFailed { retryable, .. } => *retryable,
            Self::State(_)
            | Self::HeldElsewhere(_)
            | Self::Deadline(_)
            | Self::LeftOpen { .. }
            | Self::Unverified { .. } => true,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(code: &str, retryable: bool) -> Error {
        Error::Aws { operation: "X", code: Some(code.into()), message: code.into(), retryable }
    }

    #[test]
    fn a_combination_is_retryable_only_when_one_of_its_parts_is() {
        let denied = aws("UnauthorizedOperation", false);
        let throttled = aws("RequestLimitExceeded", true);
        assert!(!Error::combined([("a".to_owned(), &denied)], 1).is_retryable());
        assert!(Error::combined([("a".to_owned(), &denied), ("b".to_owned(), &throttled)], 2).is_retryable());
        assert!(Error::Deadline("near".into()).is_retryable());
        assert!(!Error::refused("instance.vpc_id", "not in a VPC").is_retryable());
    }
}
