//! Retrying RPC reads through transient faults (a node restarting, a dropped connection),
//! with exponential backoff, while errors the node itself returned (a revert, a bad
//! argument) fail at once: retrying them cannot help.

use std::future::Future;
use std::time::Duration;

use alloy::transports::{RpcError, TransportErrorKind};
use backon::{ExponentialBuilder, Retryable};

/// How long one RPC call may take, and how long and how often to retry a transient fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Longest wait for one call (the HTTP client's timeout): a node that accepts the
    /// connection and never answers is a transient fault, not a hang.
    pub call_timeout: Duration,
    /// Delay before the first retry.
    pub first_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
    /// Attempts after the first one before giving up.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    /// 30 s a call; 100 ms doubling up to 5 s, 12 retries: rides out about 40 s of outage.
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_retries: 12,
        }
    }
}

impl RetryPolicy {
    /// The backoff schedule of this policy.
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
    }

    /// The delay after `failures` consecutive failed rounds of a daemon loop.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Whether `error` is a fault of the transport (worth retrying) rather than an answer of the
/// node (a revert or a rejected call, which would fail again).
pub fn is_transient(error: &anyhow::Error) -> bool {
    rpc_errors(error).any(transient_rpc)
}

/// Whether `error` is a fault of the transport alone (no answer from the node at all): what a
/// read whose error answers mean something else (a refused log range) still retries.
pub fn is_transport_fault(error: &anyhow::Error) -> bool {
    is_transient(error) && !is_error_response(error)
}

/// Whether the node answered `error` itself (a JSON-RPC error object: a revert, a rejected
/// argument, a provider's range or result cap, a rate limit).
pub fn is_error_response(error: &anyhow::Error) -> bool {
    rpc_errors(error).any(|e| matches!(e, RpcError::ErrorResp(_)))
}

/// The RPC errors in `error`'s chain of causes, also those wrapped by a contract call or a
/// pending transaction.
fn rpc_errors(error: &anyhow::Error) -> impl Iterator<Item = &RpcError<TransportErrorKind>> {
    error.chain().filter_map(|cause| {
        if let Some(e) = cause.downcast_ref::<RpcError<TransportErrorKind>>() {
            return Some(e);
        }
        match cause.downcast_ref::<alloy::contract::Error>() {
            Some(alloy::contract::Error::TransportError(e)) => return Some(e),
            Some(_) => return None,
            None => {}
        }
        match cause.downcast_ref::<alloy::providers::PendingTransactionError>() {
            Some(alloy::providers::PendingTransactionError::TransportError(e)) => Some(e),
            _ => None,
        }
    })
}

fn transient_rpc(error: &RpcError<TransportErrorKind>) -> bool {
    match error {
        RpcError::Transport(_) | RpcError::NullResp => true,
        RpcError::ErrorResp(payload) => {
            // Rate limits and "try again" answers are worth retrying; reverts are not.
            matches!(payload.code, 429 | -32005)
        }
        _ => false,
    }
}

/// Runs `op` until it succeeds, retrying transient faults per `policy` and logging each retry
/// with `what`; a permanent error or the last transient one is returned.
pub async fn with_retry<T, F, Fut>(what: &str, policy: &RetryPolicy, op: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    with_retry_if(what, policy, is_transient, op).await
}

/// [`with_retry`] retrying only the errors `retryable` accepts.
pub async fn with_retry_if<T, F, Fut>(
    what: &str,
    policy: &RetryPolicy,
    retryable: fn(&anyhow::Error) -> bool,
    op: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    op.retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(retryable)
        .notify(|error, delay| {
            tracing::warn!(%what, %error, ?delay, "RPC fault, retrying");
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transport_fault() -> anyhow::Error {
        anyhow::Error::new(TransportErrorKind::custom_str("connection refused"))
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            call_timeout: Duration::from_secs(1),
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retries: 5,
        }
    }

    #[tokio::test]
    async fn transient_faults_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let value = with_retry("probe", &fast(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(transport_fault())
            } else {
                Ok(42)
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn permanent_errors_fail_at_once_and_retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let err = with_retry("probe", &fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(anyhow::anyhow!("execution reverted"))
        })
        .await
        .unwrap_err();
        assert!(!is_transient(&err));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        with_retry("probe", &fast(), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(transport_fault())
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 6);
    }

    #[test]
    fn error_answers_are_told_from_transport_faults() {
        let answer = |code: i64| {
            anyhow::Error::new(RpcError::<TransportErrorKind>::ErrorResp(
                alloy::rpc::json_rpc::ErrorPayload {
                    code,
                    message: "query returned more than 10000 results".into(),
                    data: None,
                },
            ))
        };
        // A provider's result cap answers -32005, which is also its "try again later".
        assert!(is_transient(&answer(-32005)));
        assert!(is_error_response(&answer(-32005)));
        assert!(!is_transport_fault(&answer(-32005)));
        assert!(!is_transient(&answer(-32602)));
        assert!(is_error_response(
            &answer(-32602).context("reading event logs")
        ));
        assert!(is_transport_fault(&transport_fault()));
        assert!(!is_error_response(&transport_fault()));
    }

    #[test]
    fn loop_delays_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_after(0), Duration::from_millis(100));
        assert_eq!(p.delay_after(3), Duration::from_millis(800));
        assert_eq!(p.delay_after(30), Duration::from_secs(5));
    }
}
