//! Waiting for something a process or task does, with a deadline. Tests
//! wait on outcomes, never on the clock: these poll a condition.

use std::time::{Duration, Instant};

/// Polls `check` (every 20 ms, blocking the thread) until it returns `Some`.
/// For tests whose code under test runs elsewhere (a process, a node).
///
/// # Panics
/// When `timeout` passes first, naming `what` was awaited.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_for`] that yields to the tokio runtime between polls (every 5 ms),
/// for tests whose code under test runs on the same runtime.
///
/// # Panics
/// When `timeout` passes first, naming `what` was awaited.
pub async fn wait_for_async<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
