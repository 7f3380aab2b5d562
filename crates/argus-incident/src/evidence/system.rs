//! The host's part of a bundle: what `ps aux`, `netstat -tulpn` and
//! `journalctl -u BOT --since "1 hour ago"` would show, read directly, plus
//! the hashes of the config and rule files and the tails of log files.
//!
//! Processes come from `/proc/<pid>/stat` and `cmdline`, sockets from
//! `/proc/net/{tcp,tcp6,udp,udp6,unix}` with their owning processes found
//! through `/proc/<pid>/fd` (what `netstat -p` does; another user's
//! descriptors are unreadable without privileges, so their sockets show no
//! pid). No external program is run for these: `ps` and `netstat` may be
//! missing or replaced on a compromised host, and their text is harder to
//! parse than the kernel's tables. `/proc/net` shows Argus's own network
//! namespace. A process that exits while it is read is skipped (normal);
//! every read is capped. The bots' journals come from `journalctl` when it
//! exists (its absence is a note). Log files keep their **last 1 MiB**, not
//! "the last hour": finding the hour would mean trusting each line's own
//! time format.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncReadExt as _;

use super::chain::shorten;
use super::{BundleWriter, EvidenceError, EvidenceSources, safe_name, sha256_hex};

/// The most processes listed.
const MAX_PROCESSES: usize = 32_768;
/// The most file descriptors looked at to find sockets' owners.
const MAX_FDS: usize = 262_144;
/// The most bytes read of one `/proc` table.
const MAX_TABLE_BYTES: u64 = 16 << 20;
/// The most rows kept of one socket table.
const MAX_SOCKETS: usize = 100_000;
/// What is kept of a log file: its last MiB.
const LOG_TAIL_BYTES: u64 = 1 << 20;
/// The most journal output kept per unit.
const MAX_JOURNAL_BYTES: u64 = 16 << 20;
/// How long `journalctl` may take.
const JOURNAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest config or rule file hashed.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// `config-files.json`: each config and rule file's SHA-256.
pub(super) fn config_hashes(
    files: &[PathBuf],
    writer: &mut BundleWriter,
) -> Result<(), EvidenceError> {
    if files.is_empty() {
        writer.note("no config or rule files were named: their hashes are not in the bundle");
        return Ok(());
    }
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|path| {
            match argus_core::file::read_capped(path, MAX_CONFIG_BYTES, "config or rule file") {
                Ok(bytes) => json!({
                    "path": path.display().to_string(),
                    "bytes": bytes.len(),
                    "sha256": sha256_hex(&bytes),
                }),
                Err(e) => json!({ "path": path.display().to_string(), "error": e.to_string() }),
            }
        })
        .collect();
    writer.add_json(
        "config-files.json",
        "SHA-256 of the config and rule files in force at capture",
        &entries,
    )
}

/// Processes, sockets, the bots' journals and the log files' tails.
pub(super) async fn capture(
    sources: &EvidenceSources,
    writer: &mut BundleWriter,
) -> Result<(), EvidenceError> {
    let proc_root = PathBuf::from("/proc");
    let snapshot = tokio::task::spawn_blocking(move || read_proc(&proc_root)).await;
    match snapshot {
        Ok(snapshot) => {
            writer.add_json(
                "processes.json",
                "the process list read from /proc/<pid>/stat and cmdline (what `ps aux` shows)",
                &json!({ "processes": snapshot.processes, "skipped": snapshot.skipped }),
            )?;
            writer.add_json(
                "sockets.json",
                "open sockets read from /proc/net/{tcp,tcp6,udp,udp6,unix}, with the pids \
                 holding them where /proc/<pid>/fd is readable (what `netstat -tulpn` shows)",
                &snapshot.sockets,
            )?;
            for note in snapshot.notes {
                writer.note(note);
            }
        }
        Err(e) => writer.note(format!("the /proc reader stopped: {e}")),
    }
    for (name, bot) in &sources.bots {
        if let Some(unit) = &bot.unit {
            journal(name, unit, writer).await?;
        }
    }
    for (index, path) in sources.config.log_files.iter().enumerate() {
        log_tail(index, path, writer)?;
    }
    Ok(())
}

/// `journalctl --unit=UNIT --since=-1h -o json --no-pager`, as JSON lines.
async fn journal(bot: &str, unit: &str, writer: &mut BundleWriter) -> Result<(), EvidenceError> {
    let mut command = tokio::process::Command::new("journalctl");
    command
        .arg(format!("--unit={unit}"))
        .args(["--since=-1h", "--output=json", "--no-pager", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            writer.note(format!(
                "bot {bot}: journalctl is not installed here, so the journal of unit `{}` was \
                 not captured",
                shorten(unit)
            ));
            return Ok(());
        }
        Err(e) => {
            writer.note(format!("bot {bot}: journalctl could not start: {e}"));
            return Ok(());
        }
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        writer.note(format!("bot {bot}: journalctl's output could not be read"));
        return Ok(());
    };
    let read = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut stdout = stdout.take(MAX_JOURNAL_BYTES + 1);
        let mut stderr = stderr.take(64 << 10);
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        let status = child.wait().await;
        (a.and(b).and(status), out, err)
    };
    match tokio::time::timeout(JOURNAL_TIMEOUT, read).await {
        Err(_) => writer.note(format!(
            "bot {bot}: journalctl did not finish within {}s; the journal was not captured",
            JOURNAL_TIMEOUT.as_secs()
        )),
        Ok((Err(e), _, _)) => writer.note(format!("bot {bot}: journalctl failed: {e}")),
        Ok((Ok(status), mut out, err)) => {
            if !status.success() {
                writer.note(format!(
                    "bot {bot}: journalctl exited with {status}: {}",
                    shorten(String::from_utf8_lossy(&err).trim())
                ));
            }
            let cut = out.len() as u64 > MAX_JOURNAL_BYTES;
            out.truncate(usize::try_from(MAX_JOURNAL_BYTES).unwrap_or(usize::MAX));
            writer.add(
                &format!("journal-{}.jsonl", safe_name(bot)),
                format!(
                    "the journal of unit `{}` (bot {bot}) for the last hour: `journalctl \
                     --unit=UNIT --since=-1h --output=json`, one JSON object per line",
                    shorten(unit)
                ),
                &out,
                cut,
            )?;
        }
    }
    Ok(())
}

/// The last MiB of a log file.
fn log_tail(index: usize, path: &Path, writer: &mut BundleWriter) -> Result<(), EvidenceError> {
    let read = || -> Result<(Vec<u8>, bool), String> {
        let mut file =
            argus_core::file::open_regular(path, "log file").map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let start = len.saturating_sub(LOG_TAIL_BYTES);
        file.seek(SeekFrom::Start(start))
            .map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(LOG_TAIL_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok((bytes, start > 0))
    };
    let base = path
        .file_name()
        .map(|n| safe_name(&n.to_string_lossy()))
        .unwrap_or_else(|| "log".to_owned());
    match read() {
        Ok((bytes, cut)) => writer.add(
            &format!("log-{index}-{base}"),
            format!(
                "the last {} of log file {} (a tail by size, not by the lines' times)",
                if cut { "MiB" } else { "bytes (the whole file)" },
                path.display()
            ),
            &bytes,
            cut,
        ),
        Err(e) => {
            writer.note(format!("log file {}: not captured: {e}", path.display()));
            Ok(())
        }
    }
}

/// What `/proc` said.
#[derive(Debug, Default)]
pub(super) struct ProcSnapshot {
    processes: Vec<Process>,
    /// Processes that vanished or could not be read mid-listing.
    skipped: usize,
    sockets: BTreeMap<&'static str, Vec<Socket>>,
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Process {
    pid: u32,
    ppid: Option<u32>,
    uid: u32,
    state: String,
    comm: String,
    cmdline: Vec<String>,
    /// Clock ticks since boot.
    start_ticks: Option<u64>,
    rss_pages: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Socket {
    local: String,
    remote: String,
    state: String,
    uid: Option<u32>,
    inode: u64,
    /// For unix sockets: the bound path, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    pids: Vec<u32>,
}

pub(super) fn read_proc(root: &Path) -> ProcSnapshot {
    let mut snapshot = ProcSnapshot::default();
    let mut inode_pids: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) => {
            snapshot
                .notes
                .push(format!("{} could not be listed: {e}", root.display()));
            return snapshot;
        }
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    if pids.len() > MAX_PROCESSES {
        snapshot.notes.push(format!(
            "{} processes; the first {MAX_PROCESSES} by pid are listed",
            pids.len()
        ));
        pids.truncate(MAX_PROCESSES);
    }
    let mut fds_seen = 0usize;
    for pid in pids {
        let dir = root.join(pid.to_string());
        match read_process(&dir, pid) {
            Some(process) => snapshot.processes.push(process),
            None => {
                snapshot.skipped += 1;
                continue;
            }
        }
        if fds_seen < MAX_FDS
            && let Ok(fds) = fs::read_dir(dir.join("fd"))
        {
            for fd in fds.filter_map(Result::ok) {
                fds_seen += 1;
                if fds_seen >= MAX_FDS {
                    break;
                }
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                if let Some(inode) = socket_inode(&target.to_string_lossy()) {
                    let holders = inode_pids.entry(inode).or_default();
                    if !holders.contains(&pid) {
                        holders.push(pid);
                    }
                }
            }
        }
    }
    if fds_seen >= MAX_FDS {
        snapshot.notes.push(format!(
            "more than {MAX_FDS} file descriptors: sockets past them show no pid"
        ));
    }
    for (name, unix) in [
        ("tcp", false),
        ("tcp6", false),
        ("udp", false),
        ("udp6", false),
        ("unix", true),
    ] {
        let path = root.join("net").join(name);
        match argus_core::file::read_capped(&path, MAX_TABLE_BYTES, "socket table") {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let mut rows = if unix {
                    parse_unix(&text)
                } else {
                    parse_inet(&text, name.starts_with("tcp"))
                };
                for row in &mut rows {
                    if let Some(pids) = inode_pids.get(&row.inode) {
                        row.pids.clone_from(pids);
                    }
                }
                snapshot.sockets.insert(name, rows);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => snapshot.notes.push(format!("{name} sockets not read: {e}")),
        }
    }
    snapshot
}

fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// One process; `None` when it vanished or is unreadable.
fn read_process(dir: &Path, pid: u32) -> Option<Process> {
    let uid = fs::metadata(dir).ok()?.uid();
    let stat = argus_core::file::read_capped(&dir.join("stat"), 4096, "process stat").ok()?;
    let stat = String::from_utf8_lossy(&stat);
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so
    // it ends at the *last* `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    let cmdline = argus_core::file::read_capped(&dir.join("cmdline"), 8192, "process cmdline")
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Some(Process {
        pid,
        ppid: field(4).and_then(|v| v.parse().ok()),
        uid,
        state: field(3).unwrap_or("?").to_owned(),
        comm,
        cmdline,
        start_ticks: field(22).and_then(|v| v.parse().ok()),
        rss_pages: field(24).and_then(|v| v.parse().ok()),
    })
}

/// Rows of `/proc/net/tcp`-like tables.
fn parse_inet(text: &str, tcp: bool) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .take(MAX_SOCKETS)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let state = u8::from_str_radix(cols.get(3)?, 16).ok()?;
            Some(Socket {
                local: inet_address(cols.get(1)?)?,
                remote: inet_address(cols.get(2)?)?,
                state: if tcp {
                    tcp_state(state).to_owned()
                } else if state == 7 {
                    "unconnected".to_owned()
                } else {
                    format!("{state:02X}")
                },
                uid: cols.get(7).and_then(|v| v.parse().ok()),
                inode: cols.get(9)?.parse().ok()?,
                path: None,
                pids: Vec::new(),
            })
        })
        .collect()
}

/// `0100007F:1F90` → `127.0.0.1:8080`; IPv6 as 4 little-endian words.
fn inet_address(text: &str) -> Option<String> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    match addr.len() {
        8 => {
            let word = u32::from_str_radix(addr, 16).ok()?;
            let ip = std::net::Ipv4Addr::from(word.swap_bytes());
            Some(format!("{ip}:{port}"))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            let ip = std::net::Ipv6Addr::from(bytes);
            Some(format!("[{ip}]:{port}"))
        }
        _ => None,
    }
}

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        0x0C => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Rows of `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode [Path]`.
fn parse_unix(text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .take(MAX_SOCKETS)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let kind = match u16::from_str_radix(cols.get(4)?, 16).ok()? {
                1 => "stream",
                2 => "dgram",
                5 => "seqpacket",
                _ => "other",
            };
            let state = match u8::from_str_radix(cols.get(5)?, 16).ok()? {
                1 => "unconnected",
                2 => "connecting",
                3 => "connected",
                4 => "disconnecting",
                _ => "free",
            };
            Some(Socket {
                local: kind.to_owned(),
                remote: String::new(),
                state: state.to_owned(),
                uid: None,
                inode: cols.get(6)?.parse().ok()?,
                path: cols.get(7).map(|p| (*p).to_owned()),
                pids: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_tables_decode_addresses_states_and_inodes() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n   1: garbage\n";
        let rows = parse_inet(table, true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].local, "127.0.0.1:8080");
        assert_eq!(rows[0].remote, "0.0.0.0:0");
        assert_eq!(rows[0].state, "LISTEN");
        assert_eq!(rows[0].uid, Some(1000));
        assert_eq!(rows[0].inode, 12345);
        assert_eq!(
            inet_address("00000000000000000000000001000000:0050").as_deref(),
            Some("[::1]:80")
        );
        assert_eq!(inet_address("zz:1"), None);
    }

    #[test]
    fn unix_rows_keep_their_paths() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/bot.sock\n0000000000000000: 00000002 00000000 00000000 0002 03 4343\n";
        let rows = parse_unix(table);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].path.as_deref(), Some("/run/bot.sock"));
        assert_eq!(rows[0].state, "unconnected");
        assert_eq!(rows[1].inode, 4343);
        assert_eq!(rows[1].local, "dgram");
    }

    #[test]
    fn this_process_is_listed_with_its_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let snapshot = read_proc(Path::new("/proc"));
        let me = std::process::id();
        let process = snapshot.processes.iter().find(|p| p.pid == me).unwrap();
        assert!(!process.cmdline.is_empty());
        let tcp = snapshot.sockets.get("tcp").unwrap();
        let mine = tcp
            .iter()
            .find(|s| s.local == format!("127.0.0.1:{port}"))
            .unwrap();
        assert_eq!(mine.state, "LISTEN");
        assert!(mine.pids.contains(&me), "{:?}", mine.pids);
    }

    #[test]
    fn a_comm_with_parentheses_and_spaces_parses() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("stat"),
            "77 (evil) (name) S 1 77 77 0 -1 4194560 0 0 0 0 3 4 0 0 20 0 1 0 999 1000 55 x",
        )
        .unwrap();
        fs::write(tmp.path().join("cmdline"), b"bot\0--flag\0").unwrap();
        let process = read_process(tmp.path(), 77).unwrap();
        assert_eq!(process.comm, "evil) (name");
        assert_eq!(process.ppid, Some(1));
        assert_eq!(process.start_ticks, Some(999));
        assert_eq!(process.rss_pages, Some(55));
        assert_eq!(process.cmdline, ["bot", "--flag"]);
    }
}
