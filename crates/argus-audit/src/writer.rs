//! Group commit across threads: callers hand entries to one writer thread,
//! which commits everything that queued up while the previous fsync ran in a
//! single write and fsync. Each caller returns once its entry is durable.

use std::ops::Range;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::{AuditError, AuditLog, NewEntry};

type Reply = mpsc::SyncSender<Result<Range<u64>, String>>;

struct Request {
    entries: Vec<NewEntry>,
    reply: Reply,
}

/// A shareable handle (`&GroupCommitWriter` is `Sync`) to a writer thread.
#[derive(Debug)]
pub struct GroupCommitWriter {
    sender: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<AuditLog>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// Entries one commit takes at most.
const MAX_COMMIT: usize = 65_536;

impl GroupCommitWriter {
    /// Starts the writer thread over `log`.
    pub fn spawn(log: AuditLog) -> Result<Self, AuditError> {
        let (sender, receiver) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("argus-audit-writer".into())
            .spawn(move || run(log, &receiver))
            .map_err(|e| AuditError::WriterStopped {
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Self {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Appends one entry; returns its sequence number once it is durable.
    pub fn append(&self, entry: NewEntry) -> Result<u64, AuditError> {
        self.append_batch(vec![entry]).map(|r| r.start)
    }

    /// Appends entries; returns their sequence numbers once they are durable.
    pub fn append_batch(&self, entries: Vec<NewEntry>) -> Result<Range<u64>, AuditError> {
        let stopped = || AuditError::WriterStopped {
            reason: "the writer thread has ended".into(),
        };
        let sender = self.sender.as_ref().ok_or_else(stopped)?;
        // Refuse a bad entry here, so it cannot fail the others' commit.
        let mut scratch = Vec::new();
        for entry in &entries {
            scratch.clear();
            entry.payload.encode(&mut scratch)?;
        }
        let (reply, answer) = mpsc::sync_channel(1);
        sender
            .send(Request { entries, reply })
            .map_err(|_| stopped())?;
        match answer.recv() {
            Ok(Ok(range)) => Ok(range),
            Ok(Err(reason)) => Err(AuditError::WriterStopped { reason }),
            Err(_) => Err(stopped()),
        }
    }

    /// Stops the thread after the queued entries and gives the log back.
    pub fn close(mut self) -> Result<AuditLog, AuditError> {
        self.sender.take();
        let thread = self
            .thread
            .take()
            .ok_or_else(|| AuditError::WriterStopped {
                reason: "the writer was already closed".into(),
            })?;
        thread.join().map_err(|_| AuditError::WriterStopped {
            reason: "the writer thread panicked".into(),
        })
    }
}

impl Drop for GroupCommitWriter {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut log: AuditLog, receiver: &mpsc::Receiver<Request>) -> AuditLog {
    let mut batch: Vec<NewEntry> = Vec::new();
    let mut waiting: Vec<(usize, Reply)> = Vec::new();
    while let Ok(first) = receiver.recv() {
        batch.clear();
        waiting.clear();
        let mut take = |request: Request, batch: &mut Vec<NewEntry>| {
            waiting.push((request.entries.len(), request.reply));
            batch.extend(request.entries);
        };
        take(first, &mut batch);
        while batch.len() < MAX_COMMIT {
            match receiver.try_recv() {
                Ok(request) => take(request, &mut batch),
                Err(_) => break,
            }
        }
        match log.append_batch(&batch) {
            Ok(range) => {
                let mut next = range.start;
                for (count, reply) in waiting.drain(..) {
                    let end = next + count as u64;
                    let _ = reply.send(Ok(next..end));
                    next = end;
                }
            }
            Err(error) => {
                let reason = error.to_string();
                for (_, reply) in waiting.drain(..) {
                    let _ = reply.send(Err(reason.clone()));
                }
            }
        }
    }
    log
}
