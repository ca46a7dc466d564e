//! What a failed DynamoDB call means for the client.
//!
//! The SDK has already retried throttling, 5xx and timeouts (with
//! exponential backoff and jitter) by the time an error reaches here. What is
//! left becomes one of the stack's infrastructure errors: [`TryAgain`] when
//! the client may simply retry (throttling, conflicts), [`BackendUnavailable`]
//! otherwise. Both leave the connection open. Errors the client caused
//! (an item too large) are Redis error replies instead.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use redynamo_layers::error::{BackendUnavailable, TryAgain};
use redynamo_layers::{BoxError, Reply};

/// The reply for a value DynamoDB cannot hold in one item.
pub const TOO_LARGE: Reply =
    Reply::static_error("ERR value too large for DynamoDB item (max 400 KB)");

/// The reply for a key too long for a DynamoDB partition key.
pub const KEY_TOO_LONG: Reply =
    Reply::static_error("ERR key too long for the DynamoDB backend (max 2044 bytes)");

/// The outcome of a failed call, as the engine needs to tell them apart.
#[derive(Debug)]
pub enum CallError {
    /// A condition failed: a concurrent write got there first (or, for a
    /// conditional command, the condition simply does not hold).
    Condition,
    /// The item is being changed by a DynamoDB transaction right now
    /// (TransactionConflictException): nothing was written; try again.
    Conflict,
    /// A transaction was cancelled.
    Cancelled(Cancellation),
    /// DynamoDB refused the item as too large.
    TooLarge,
    /// Anything else: the client gets an error and may retry.
    Failed(BoxError),
}

/// Why DynamoDB cancelled a transaction, action by action, in order.
#[derive(Debug, Default)]
pub struct Cancellation {
    /// The reason code of each action (`None`/"None" for actions that were
    /// fine).
    pub codes: Vec<Option<String>>,
    /// For an action whose condition failed, the item as it was (the
    /// transaction asks for ALL_OLD on condition failures).
    pub old: Vec<Option<HashMap<String, AttributeValue>>>,
}

impl Cancellation {
    pub fn of(reasons: &[CancellationReason]) -> Cancellation {
        Cancellation {
            codes: reasons
                .iter()
                .map(|r| r.code().map(str::to_string))
                .collect(),
            old: reasons.iter().map(|r| r.item().cloned()).collect(),
        }
    }

    /// Whether some action was cancelled with `code`.
    pub fn any(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c.as_deref() == Some(code))
    }
}

impl CallError {
    /// What kind of failure, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Condition => "condition failed",
            CallError::Conflict => "transaction conflict",
            CallError::Cancelled(_) => "transaction cancelled",
            CallError::TooLarge => "item too large",
            CallError::Failed(_) => "failed",
        }
    }
}

impl From<BoxError> for CallError {
    fn from(e: BoxError) -> Self {
        CallError::Failed(e)
    }
}

const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// Classify an SDK error. `op` names the operation for the message.
pub fn classify<E, R>(op: &str, err: SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError");
            let message = e.message().unwrap_or_default();
            if code == "ConditionalCheckFailedException" {
                return CallError::Condition;
            }
            if code == "TransactionConflictException" {
                return CallError::Conflict;
            }
            if code == "TransactionCanceledException" {
                // Callers that need the reasons read the typed error first.
                return CallError::Cancelled(Cancellation::default());
            }
            if code == "ValidationException" && message.contains("size") {
                return CallError::TooLarge;
            }
            if THROTTLING.contains(&code) || code == "TransactionInProgressException" {
                return CallError::Failed(Box::new(TryAgain(format!(
                    "DynamoDB is throttling requests ({code}), retries exhausted"
                ))));
            }
            CallError::Failed(Box::new(BackendUnavailable(format!(
                "DynamoDB {op} failed: {code}: {message}"
            ))))
        }
        SdkError::TimeoutError(_) => CallError::Failed(Box::new(BackendUnavailable(format!(
            "DynamoDB {op} timed out"
        )))),
        SdkError::DispatchFailure(d) => {
            let what = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "connection failed"
            } else {
                "could not be sent"
            };
            CallError::Failed(Box::new(BackendUnavailable(format!(
                "DynamoDB {op} {what}"
            ))))
        }
        SdkError::ResponseError(_) => CallError::Failed(Box::new(BackendUnavailable(format!(
            "DynamoDB {op} returned an unreadable response"
        )))),
        _ => CallError::Failed(Box::new(BackendUnavailable(format!(
            "DynamoDB {op} failed: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&err)
        )))),
    }
}

/// For calls where a condition failure is not expected: everything is an
/// infrastructure error.
pub fn fail<E, R>(op: &str, err: SdkError<E, R>) -> BoxError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match classify(op, err) {
        CallError::Failed(e) => e,
        CallError::TooLarge => Box::new(BackendUnavailable(format!(
            "DynamoDB {op} refused an item as too large"
        ))),
        CallError::Conflict => Box::new(TryAgain(format!(
            "DynamoDB {op} conflicted with a transaction in progress"
        ))),
        CallError::Condition | CallError::Cancelled(_) => Box::new(BackendUnavailable(format!(
            "DynamoDB {op} failed a condition unexpectedly"
        ))),
    }
}

/// A request the SDK would not build (a bug, not a runtime condition).
pub fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> BoxError {
    Box::new(BackendUnavailable(format!(
        "cannot build DynamoDB request: {e}"
    )))
}

/// Conflicts that did not resolve within the retry budget.
pub fn contended(attempts: u32) -> BoxError {
    Box::new(TryAgain(format!(
        "key modified concurrently, gave up after {attempts} attempts"
    )))
}
