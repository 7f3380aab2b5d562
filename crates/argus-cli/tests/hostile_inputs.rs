//! Hostile inputs against the real binary (issue 12, "Inputs"): files that
//! never end or never open (`/dev/zero`, a FIFO), files over their cap, file
//! names that are not UTF-8, absurd labels, integers at the edge of their
//! type. Each must end quickly with exit code 2 and a message that says what
//! was wrong; none may panic (exit code 101) or run away.
//!
//! The binary runs under a 2 GiB address-space limit (`ulimit -v`) and a
//! timeout, so a regression that reads `/dev/zero` to the end fails the test
//! instead of taking the machine down.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::json;

/// Long enough for a debug binary on a busy machine; far shorter than reading
/// a device to the end.
const TIMEOUT: Duration = Duration::from_secs(60);

/// `argus ARGS…` with its own data directory, under a memory limit and a
/// timeout (exit code `None` when it was killed).
fn argus(data: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("argus");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 2097152 && exec \"$@\"")
        .arg("sh")
        .arg(bin)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("ARGUS_DATA_DIR")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("start argus");
    let pid = child.id();
    // Collected on a thread so a full pipe never stalls the child.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(TIMEOUT) {
        Ok(output) => output.expect("output"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            let output = finished.recv().expect("killed").expect("output");
            panic!(
                "argus {args:?} still ran after {TIMEOUT:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

/// Asserts exit code 2 and that stderr holds every one of `needles`.
fn refused(output: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "no `{needle}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

struct Dir {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

fn dir() -> Dir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    Dir {
        data: root.join("data"),
        root,
        _dir: dir,
    }
}

const CONFIG_HEAD: &str = "chains: [{ chain: anvil, rpc: [http://127.0.0.1:1] }]\n";

// ---- unbounded reads ----------------------------------------------------

#[test]
fn a_device_or_a_fifo_as_the_config_is_refused() {
    let d = dir();
    let fifo = d.root.join("argus.yaml");
    mkfifo(&fifo);
    let out = argus(&d.data, &[os("validate"), os("-c"), fifo.as_os_str()]);
    refused(&out, &["argus.yaml", "FIFO", "not a regular file"]);

    let out = argus(&d.data, &[os("validate"), os("-c"), os("/dev/zero")]);
    refused(&out, &["/dev/zero", "character device"]);

    let out = argus(&d.data, &[os("validate"), os("-c"), d.root.as_os_str()]);
    refused(&out, &["directory"]);
}

#[test]
fn a_config_over_its_cap_is_refused() {
    let d = dir();
    let config = d.root.join("argus.yaml");
    let mut text = String::from(CONFIG_HEAD);
    text.push_str(&format!("# {}\n", "x".repeat(5 * 1024 * 1024)));
    std::fs::write(&config, text).unwrap();
    let out = argus(&d.data, &[os("validate"), os("-c"), config.as_os_str()]);
    refused(&out, &["argus.yaml", "byte limit for a config file"]);
}

#[test]
fn a_device_or_a_fifo_as_a_rule_file_is_refused() {
    let d = dir();
    let fifo = d.root.join("rules.yaml");
    mkfifo(&fifo);
    let config = d.root.join("argus.yaml");
    std::fs::write(
        &config,
        format!("{CONFIG_HEAD}rules: [rules.yaml, /dev/zero]\n"),
    )
    .unwrap();
    let out = argus(&d.data, &[os("validate"), os("-c"), config.as_os_str()]);
    // Both at once, each with its own reason.
    refused(
        &out,
        &["rules.yaml", "FIFO", "/dev/zero", "character device"],
    );

    // `argus rules test` on either.
    let out = argus(&d.data, &[os("rules"), os("test"), os("/dev/zero")]);
    refused(&out, &["/dev/zero", "character device"]);
    let out = argus(&d.data, &[os("rules"), os("test"), fifo.as_os_str()]);
    refused(&out, &["rules.yaml", "FIFO"]);
}

#[test]
fn a_device_or_a_fifo_as_an_import_is_refused() {
    let d = dir();
    let fifo = d.root.join("abi.json");
    mkfifo(&fifo);
    let out = argus(
        &d.data,
        &[
            os("registry"),
            os("import"),
            fifo.as_os_str(),
            os("--chain"),
            os("anvil"),
        ],
    );
    refused(&out, &["abi.json", "FIFO"]);
    let out = argus(&d.data, &[os("registry"), os("import"), os("/dev/zero")]);
    refused(&out, &["/dev/zero", "character device"]);
    // The linter reads the same files the same way.
    let out = argus(&d.data, &[os("lint"), fifo.as_os_str()]);
    refused(&out, &["abi.json", "FIFO"]);
}

#[test]
fn an_import_over_its_cap_is_refused() {
    let d = dir();
    let big = d.root.join("big.json");
    let file = std::fs::File::create(&big).unwrap();
    // Sparse: 65 MiB without writing them.
    file.set_len(65 * 1024 * 1024).unwrap();
    let out = argus(&d.data, &[os("registry"), os("import"), big.as_os_str()]);
    refused(&out, &["big.json", "68157440 bytes", "67108864-byte limit"]);
}

#[test]
fn signature_lists_and_allow_lists_refuse_devices_and_fifos() {
    let d = dir();
    let abi = d.root.join("token.json");
    std::fs::write(
        &abi,
        json!([{"type": "function", "name": "f", "inputs": [], "outputs": [], "stateMutability": "view"}])
            .to_string(),
    )
    .unwrap();
    let fifo = d.root.join("sigs.txt");
    mkfifo(&fifo);
    let out = argus(&d.data, &[os("lint"), abi.as_os_str(), fifo.as_os_str()]);
    refused(&out, &["sigs.txt", "FIFO"]);
    let out = argus(
        &d.data,
        &[
            os("lint"),
            abi.as_os_str(),
            os("--reference"),
            os("/dev/zero"),
        ],
    );
    refused(&out, &["/dev/zero", "character device"]);
    let out = argus(
        &d.data,
        &[os("lint"), abi.as_os_str(), os("--allow"), os("/dev/zero")],
    );
    refused(&out, &["/dev/zero", "character device"]);
}

// ---- panics -------------------------------------------------------------

#[test]
fn a_file_name_that_is_not_utf8_is_refused_at_import_not_a_panic() {
    let d = dir();
    let project = d.root.join("project");
    std::fs::create_dir(&project).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.json");
    std::fs::write(
        project.join(name),
        json!([{"type": "function", "name": "f", "inputs": [], "outputs": [], "stateMutability": "view"}])
            .to_string(),
    )
    .unwrap();
    let out = argus(
        &d.data,
        &[os("registry"), os("import"), project.as_os_str()],
    );
    refused(&out, &["not UTF-8", "rename"]);
    // Nothing was imported, and the registry still lists.
    let out = argus(&d.data, &[os("registry"), os("list"), os("--json")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

fn hardhat_artifact(name: &str) -> String {
    json!({
        "_format": "hh-sol-artifact-1",
        "contractName": name,
        "sourceName": "contracts/A.sol",
        "abi": [{"type": "function", "name": "f", "inputs": [], "outputs": [], "stateMutability": "view"}],
        "bytecode": "0x",
    })
    .to_string()
}

#[test]
fn an_absurd_contract_name_is_refused_at_import_and_list_survives_one_stored() {
    let d = dir();
    let artifact = d.root.join("A.json");
    std::fs::write(&artifact, hardhat_artifact(&"A".repeat(100_000))).unwrap();
    let out = argus(
        &d.data,
        &[os("registry"), os("import"), artifact.as_os_str()],
    );
    refused(&out, &["A.json", "100000 characters", "128"]);

    // A database written before the check (or by hand) still lists.
    std::fs::write(&artifact, hardhat_artifact("Short")).unwrap();
    let out = argus(
        &d.data,
        &[os("registry"), os("import"), artifact.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let conn = rusqlite::Connection::open(d.data.join("argus.db")).unwrap();
    conn.execute(
        "UPDATE registry_entries SET label = ?1",
        [&"B".repeat(100_000)],
    )
    .unwrap();
    drop(conn);
    for args in [&["registry", "list"][..], &["registry", "list", "--json"]] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| os(a)).collect();
        let out = argus(&d.data, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&"B".repeat(1000)));
    }
}

#[test]
fn replay_refuses_a_range_it_cannot_count() {
    let d = dir();
    let config = d.root.join("argus.yaml");
    std::fs::write(&config, format!("{CONFIG_HEAD}rules: []\n")).unwrap();
    let max = u64::MAX.to_string();
    let out = argus(
        &d.data,
        &[
            os("replay"),
            os("-c"),
            config.as_os_str(),
            os("--from"),
            os("0"),
            os("--to"),
            os(&max),
        ],
    );
    refused(&out, &["--from 0", "--to 18446744073709551615"]);
    let out = argus(
        &d.data,
        &[
            os("replay"),
            os("-c"),
            config.as_os_str(),
            os("--from"),
            os("9"),
            os("--to"),
            os("3"),
        ],
    );
    refused(&out, &["--to 3 is before --from 9"]);
}

#[test]
fn bench_refuses_counts_it_cannot_allocate() {
    let d = dir();
    let max = u64::MAX.to_string();
    for flag in ["--runs", "--signatures", "--abis"] {
        let out = argus(&d.data, &[os("bench"), os("lint"), os(flag), os(&max)]);
        refused(&out, &[flag]);
    }
}

#[test]
fn secret_and_key_files_refuse_fifos_and_oversized_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = dir();
    let fifo = d.root.join("master.key");
    mkfifo(&fifo);
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = argus(
        &d.data,
        &[
            os("keys"),
            os("create"),
            os("--label"),
            os("ops"),
            os("--master-key-file"),
            fifo.as_os_str(),
        ],
    );
    refused(&out, &["master.key", "FIFO"]);

    let big = d.root.join("big.key");
    std::fs::write(&big, "k".repeat(2 * 1024 * 1024)).unwrap();
    std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = argus(
        &d.data,
        &[
            os("keys"),
            os("create"),
            os("--label"),
            os("ops"),
            os("--master-key-file"),
            big.as_os_str(),
        ],
    );
    refused(&out, &["big.key", "2097152 bytes", "secret file"]);

    // A keystore to import that never ends.
    let out = argus(
        &d.data,
        &[
            os("keys"),
            os("import"),
            os("/dev/zero"),
            os("--label"),
            os("ops"),
        ],
    );
    refused(&out, &["/dev/zero", "character device"]);
}
