//! Recovery decides what to cut off a log it cannot trust. Whatever bytes
//! follow (or replace part of) a real log, the plan never panics, never keeps
//! more than the log holds, and what it keeps needs no further recovery.
#![no_main]

use std::sync::OnceLock;

use argus_audit::{
    AuditLog, AuditPaths, CheckpointKey, CheckpointVerifier, Clock, NewEntry, RetentionClass,
    plan_recovery,
};
use libfuzzer_sys::fuzz_target;

struct Base {
    log: Vec<u8>,
    head: Vec<u8>,
    verifier: CheckpointVerifier,
}

/// A real log of three commits, signed with a fixed key.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("argus-fuzz-recover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = CheckpointKey::from_bytes(&[7; 32]);
        let verifier = key.verifier();
        let paths = AuditPaths::new(&dir);
        let mut log = AuditLog::open_with_key(paths.clone(), key, Clock::system())
            .expect("a log in the temp dir")
            .with_group_size(2);
        for commit in 0..3 {
            let entries: Vec<NewEntry> = (0..commit + 1)
                .map(|i| {
                    NewEntry::new(RetentionClass::Audit, "fuzz", format!("a.{i}"))
                        .because("fuzz")
                })
                .collect();
            log.append_batch(&entries).expect("append");
        }
        drop(log);
        let base = Base {
            log: std::fs::read(&paths.log).expect("log"),
            head: std::fs::read(&paths.head).expect("head"),
            verifier,
        };
        let _ = std::fs::remove_dir_all(&dir);
        base
    })
}

fuzz_target!(|data: &[u8]| {
    let base = base();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let log: Vec<u8> = match mode % 3 {
        // Bytes after the whole log: a torn commit, or anything else.
        0 => [&base.log[..], rest].concat(),
        // The log cut somewhere, then bytes.
        1 => {
            let at = rest.first().map_or(0, |&b| usize::from(b) * base.log.len() / 256);
            [&base.log[..at], rest.get(1..).unwrap_or_default()].concat()
        }
        // Bytes written over the log.
        _ => {
            let mut log = base.log.clone();
            let at = rest.first().map_or(0, |&b| usize::from(b) * log.len() / 256);
            for (i, b) in rest.iter().skip(1).enumerate() {
                if let Some(slot) = log.get_mut(at + i) {
                    *slot = *b;
                }
            }
            log
        }
    };
    let head = if mode & 0x80 == 0 { Some(&base.head[..]) } else { None };
    if let Ok(plan) = plan_recovery(&log, head, &base.verifier) {
        let kept = usize::try_from(plan.kept_bytes).expect("fits");
        assert!(kept <= log.len());
        assert_eq!(plan.cut_bytes as usize, log.len() - kept);
        let again = plan_recovery(&log[..kept], head, &base.verifier)
            .expect("what recovery keeps verifies");
        assert_eq!(again.cut_bytes, 0, "recovery is done in one step");
    }
});
