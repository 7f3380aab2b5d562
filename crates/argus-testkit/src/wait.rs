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

/// The lines a child process writes (its stderr, say), read on a thread of
/// their own so that a process that stays silent or hangs cannot hang the
/// test: waits poll a channel with a deadline.
#[derive(Debug)]
pub struct Lines {
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    /// Starts reading `from` line by line.
    pub fn follow(from: impl std::io::Read + Send + 'static) -> Self {
        use std::io::BufRead as _;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(from).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the first line `pick` makes something of; that value.
    ///
    /// # Panics
    /// When `timeout` passes first, naming `what` and the lines seen.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let picked = pick(&line);
                self.seen.push(line);
                if let Some(value) = picked {
                    return value;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; lines: {:?}",
                self.seen
            );
        }
    }

    /// Every line read so far, those not waited for included.
    pub fn all(&mut self) -> &[String] {
        self.seen.extend(self.lines.try_iter());
        &self.seen
    }
}
