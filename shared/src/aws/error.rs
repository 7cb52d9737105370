//! SDK errors as Firebreak's: the AWS error code kept, and whether a retry may succeed.

use crate::error::Error;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;

/// Error codes AWS documents as transient: throttling and server-side faults.
const TRANSIENT_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    // GuardDuty's name for its server-side fault.
    "InternalServerErrorException",
    "ServiceUnavailable",
    "Unavailable",
];

/// Map an SDK error to ours, keeping the AWS error code and whether a retry may succeed.
pub(crate) fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let retryable = match &err {
        SdkError::ServiceError(_) => code.as_deref().is_some_and(|c| TRANSIENT_CODES.contains(&c)),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    let message = match (&code, err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    Error::Aws { operation, code, message, retryable }
}

pub(crate) fn code_of<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    err.code()
}
