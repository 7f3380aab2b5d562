#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `argus alerts …` end to end: the real binary on a real SQLite file, with
//! alerts recorded through the library exactly as the daemon records them.

use std::path::Path;

use alloy_primitives::B256;
use argus_alerting::outbox::{self, Recorded};
use argus_alerting::{AlertingConfig, Routing};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_store::Store;
use assert_cmd::Command;
use serde_json::Value;

const MASTER: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
const WATCHED: &str = "0x00000000000000000000000000000000000000aa";
const OTHER: &str = "0x00000000000000000000000000000000000000bb";
const HOUR_MS: i64 = 3_600_000;

fn argus(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("argus").unwrap();
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("ARGUS_DATA_DIR")
        .env_remove("ARGUS_MASTER_KEY")
        .env_remove("ARGUS_LOG");
    cmd
}

fn alerts(data: &Path, args: &[&str]) -> std::process::Output {
    argus(data).arg("alerts").args(args).output().unwrap()
}

/// stdout of a command that must succeed.
fn ok(output: std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// stderr of a command that must exit 2.
fn refused(output: std::process::Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn ids(text: &str) -> Vec<String> {
    json_lines(text)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The daemon's routing with one webhook notifier, `hook`.
fn routing() -> Routing {
    let config: AlertingConfig = serde_saphyr::from_str(
        "notifiers:\n  hook:\n    type: webhook\n    url: \"http://127.0.0.1:9/hook\"\n    \
         secret: { env: HOOK_SECRET }\n",
    )
    .unwrap();
    Routing::from_config(&config).unwrap()
}

/// A finding from block `block` of the local chain about `address`.
fn finding(rule: &str, severity: Severity, block: u8, address: &str) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(block),
            hash: B256::repeat_byte(block),
            parent_hash: B256::repeat_byte(block.wrapping_sub(1)),
            timestamp: 1_767_225_600,
        },
        tx_hash: Some(B256::repeat_byte(0xee)),
        log_index: Some(0),
    };
    let id = finding_id(rule, Some(&origin), &[]);
    Finding {
        id,
        rule_id: rule.to_owned(),
        severity,
        title: format!("{rule} fired"),
        dedup_key: format!("{id:#x}"),
        origin: Some(origin),
        at_ms: now_ms(),
        fields: serde_json::json!({ "address": address, "amount": "5000000" }).into(),
    }
}

/// Records findings in one committed transaction at `at_ms`, as the daemon does.
fn record(data: &Path, findings: &[Finding], at_ms: i64) -> Vec<Recorded> {
    let mut store = Store::open_in_dir(data).unwrap().connect().unwrap();
    let routing = routing();
    let tx = store.transaction().unwrap();
    let out = findings
        .iter()
        .map(|f| outbox::record(&tx, f, &routing, at_ms).unwrap())
        .collect();
    tx.commit().unwrap();
    out
}

fn id_of(finding: &Finding) -> String {
    format!("{:#x}", finding.id)
}

/// The alert and its deliveries, through `argus alerts show --json`.
fn show(data: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(alerts(data, &["show", id, "--json"]))).unwrap()
}

#[test]
fn list_filters_by_state_rule_severity_time_and_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let now = now_ms();
    let old = finding("token.transfer", Severity::High, 1, WATCHED);
    record(data, std::slice::from_ref(&old), now - 3 * HOUR_MS);
    let low = finding("token.transfer", Severity::Low, 2, WATCHED);
    let critical = finding("bot.memory", Severity::Critical, 3, OTHER);
    let mut duplicate = finding("bot.memory", Severity::Critical, 4, OTHER);
    duplicate.dedup_key.clone_from(&critical.dedup_key);
    let retracted = finding("token.approval", Severity::Medium, 5, WATCHED);
    let recorded = record(
        data,
        &[
            low.clone(),
            critical.clone(),
            duplicate.clone(),
            retracted.clone(),
        ],
        now,
    );
    assert!(recorded[2].suppressed_by.is_some(), "{:?}", recorded[2]);
    {
        let mut store = Store::open_in_dir(data).unwrap().connect().unwrap();
        let tx = store.transaction().unwrap();
        outbox::retract_alert(&tx, &id_of(&retracted), "false positive", now).unwrap();
        tx.commit().unwrap();
    }
    let list = |args: &[&str]| ids(&ok(alerts(data, &[&["list", "--json"], args].concat())));

    // Newest first; every alert by default.
    assert_eq!(
        list(&[]),
        [&retracted, &duplicate, &critical, &low, &old].map(id_of)
    );
    assert_eq!(list(&["--state", "suppressed"]), [id_of(&duplicate)]);
    assert_eq!(list(&["--state", "retracted"]), [id_of(&retracted)]);
    assert_eq!(
        list(&["--state", "firing"]),
        [&critical, &low, &old].map(id_of)
    );
    assert_eq!(list(&["--rule", "token.transfer"]), [&low, &old].map(id_of));
    assert_eq!(
        list(&["--min-severity", "high"]),
        [&duplicate, &critical, &old].map(id_of)
    );
    assert_eq!(list(&["--since", "2h"]).len(), 4, "the old one is left out");
    let four_hours_ago = jiff::Timestamp::from_millisecond(now - 4 * HOUR_MS).unwrap();
    assert_eq!(list(&["--since", &four_hours_ago.to_string()]).len(), 5);
    assert_eq!(list(&["-n", "2"]), [&retracted, &duplicate].map(id_of));
    assert_eq!(
        list(&["--min-severity", "medium", "--since", "90m", "-n", "1"]),
        [id_of(&retracted)]
    );

    // JSON documents carry the whole alert.
    let docs = json_lines(&ok(alerts(data, &["list", "--json", "--state", "firing"])));
    let head = &docs[0];
    assert_eq!(head["rule_id"], "bot.memory");
    assert_eq!(head["severity"], "critical");
    assert_eq!(head["state"], "firing");
    assert_eq!(head["duplicates"], 1);
    assert_eq!(head["chain_id"], 31337);
    assert_eq!(head["block_number"], 3);
    assert_eq!(head["fields"]["address"], OTHER);

    // One line per alert for people: id prefix, time, severity, state, rule,
    // chain and block, title, and the duplicates of a group head.
    let human = ok(alerts(data, &["list"]));
    let lines: Vec<&str> = human.lines().collect();
    assert_eq!(lines.len(), 5, "{human}");
    let head_line = lines[2];
    assert!(
        head_line.starts_with(&id_of(&critical)[..10]),
        "{head_line}"
    );
    for part in [
        "critical",
        "firing",
        "bot.memory",
        "anvil#3",
        "bot.memory fired",
        "(+1 duplicates)",
    ] {
        assert!(head_line.contains(part), "{part} in {head_line}");
    }
    let time = head_line.split_whitespace().nth(1).unwrap();
    assert!(
        time.ends_with('Z') && time.parse::<jiff::Timestamp>().is_ok(),
        "an RFC 3339 time in UTC: {time}"
    );
    assert!(lines[0].contains("retracted") && lines[0].contains("medium"));

    // Nothing matches: an empty result, said on stderr.
    let none = alerts(data, &["list", "--rule", "nope"]);
    assert!(none.status.success());
    assert!(none.stdout.is_empty());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no alerts match"));

    for (args, problem) in [
        (&["list", "--state", "burning"][..], "not an alert state"),
        (&["list", "--min-severity", "huge"], "not a severity"),
        (
            &["list", "--since", "yesterday"],
            "neither an RFC 3339 time",
        ),
        (&["list", "-n", "0"], "--limit"),
        (&["list", "-n", "many"], "--limit"),
    ] {
        let stderr = refused(alerts(data, args));
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
    }
}

#[test]
fn show_finds_an_alert_by_its_id_or_a_unique_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let mut plain = finding("token.transfer", Severity::High, 1, WATCHED);
    plain.title = "Transfer\u{1b}[2J of 5,000,000\nTKN".to_owned();
    // Two alerts whose ids share their first 8 hex digits.
    let mut twin_a = finding("bot.gas", Severity::Low, 2, OTHER);
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&[0xab, 0xcd, 0xef, 0x01]);
    bytes[31] = 1;
    twin_a.id = B256::from(bytes);
    let mut twin_b = twin_a.clone();
    bytes[31] = 2;
    twin_b.id = B256::from(bytes);
    twin_b.dedup_key = "other".to_owned();
    record(
        data,
        &[plain.clone(), twin_a.clone(), twin_b.clone()],
        now_ms(),
    );
    let id = id_of(&plain);

    let full = show(data, &id);
    assert_eq!(full["alert"]["id"], id.as_str());
    assert_eq!(full["alert"]["fields"]["amount"], "5000000");
    let deliveries = full["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["notifier"], "hook");
    assert_eq!(deliveries[0]["kind"], "fire");
    assert_eq!(deliveries[0]["status"], "pending");
    assert_eq!(deliveries[0]["attempts"], 0);

    // A prefix of 8 hex digits, with or without 0x, in any case.
    assert_eq!(show(data, &id[..10])["alert"]["id"], id.as_str());
    assert_eq!(
        show(data, &id[2..12].to_uppercase())["alert"]["id"],
        id.as_str()
    );

    let human = ok(alerts(data, &["show", &id[..12]]));
    for part in [
        id.as_str(),
        "token.transfer",
        "high",
        "firing",
        "anvil (31337)",
        "\"amount\": \"5000000\"",
        "deliveries",
        "hook  fire  pending  attempts 0  delivered -",
    ] {
        assert!(human.contains(part), "{part} in:\n{human}");
    }
    // The title came from the chain: it cannot drive the terminal.
    assert!(!human.contains('\u{1b}'), "{human}");
    assert!(
        human.contains("Transfer\\u{1b}[2J of 5,000,000\\nTKN"),
        "{human}"
    );
    let line = ok(alerts(data, &["list", "--rule", "token.transfer"]));
    assert_eq!(line.lines().count(), 1);
    assert!(!line.contains('\u{1b}'));

    let ambiguous = refused(alerts(data, &["show", "0xabcdef01"]));
    assert!(ambiguous.contains("ambiguous"), "{ambiguous}");
    assert!(ambiguous.contains(&id_of(&twin_a)) && ambiguous.contains(&id_of(&twin_b)));
    // The full id settles it.
    let twin = id_of(&twin_b);
    assert_eq!(show(data, &twin)["alert"]["id"], twin.as_str());

    for (given, problem) in [
        (
            "0x0000000012",
            "no alert has an id starting with 0x0000000012",
        ),
        (&format!("0x{}", "1".repeat(64)), "no alert"),
        ("0xabcd", "at least 8 hex digits"),
        ("not-an-id", "not an alert id"),
        (&format!("0x{}", "1".repeat(65)), "not an alert id"),
    ] {
        let stderr = refused(alerts(data, &["show", given]));
        assert!(stderr.contains(problem), "{given}: {stderr}");
    }
}

#[test]
fn a_silence_mutes_matching_alerts_until_it_is_ended() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    record(
        data,
        &[finding("token.transfer", Severity::Low, 1, OTHER)],
        now_ms(),
    );

    let added = alerts(
        data,
        &[
            "silence",
            "add",
            "--rule",
            "bot.*",
            "--max-severity",
            "high",
            "--chain",
            "anvil",
            "--address",
            WATCHED,
            "--for",
            "2h",
            "--reason",
            "bot maintenance, INC-7",
            "--author",
            "alice",
        ],
    );
    let stderr = String::from_utf8_lossy(&added.stderr).into_owned();
    let silence_id: i64 = ok(added).trim().parse().unwrap();
    // No master key: made anyway, with a warning that says how to record it.
    assert!(stderr.contains("NOT recorded in the audit log"), "{stderr}");
    assert!(stderr.contains("argus --data-dir"), "{stderr}");
    assert!(stderr.contains("audit record --class security"), "{stderr}");
    assert!(stderr.contains("--action silence.add"), "{stderr}");

    let listed = ok(alerts(data, &["silence", "list"]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    for part in [
        "active",
        "rule=bot.*",
        "max-severity=high",
        "chain=anvil",
        WATCHED,
        "by alice: bot maintenance, INC-7",
    ] {
        assert!(listed.contains(part), "{part} in {listed}");
    }
    let docs = json_lines(&ok(alerts(data, &["silence", "list", "--json"])));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["id"], silence_id);
    assert_eq!(docs[0]["status"], "active");
    assert_eq!(docs[0]["matcher"]["rule_id"], "bot.*");
    assert_eq!(docs[0]["matcher"]["max_severity"], "high");
    assert_eq!(docs[0]["matcher"]["chain"], 31337);
    assert_eq!(docs[0]["created_by"], "alice");

    // Recorded after the silence: the matching alert is silenced; a worse
    // one, another contract and another rule fire.
    let muted = finding("bot.memory", Severity::Medium, 2, WATCHED);
    let worse = finding("bot.memory", Severity::Critical, 3, WATCHED);
    let elsewhere = finding("bot.memory", Severity::Low, 4, OTHER);
    let other_rule = finding("token.transfer", Severity::Low, 5, WATCHED);
    record(
        data,
        &[
            muted.clone(),
            worse.clone(),
            elsewhere.clone(),
            other_rule.clone(),
        ],
        now_ms(),
    );
    assert_eq!(
        ids(&ok(alerts(
            data,
            &["list", "--state", "silenced", "--json"]
        ))),
        [id_of(&muted)]
    );
    let shown = show(data, &id_of(&muted));
    assert_eq!(shown["alert"]["state"], "silenced");
    assert_eq!(shown["alert"]["silence_id"], silence_id);
    assert_eq!(shown["deliveries"], serde_json::json!([]));
    let human = ok(alerts(data, &["show", &id_of(&muted)]));
    assert!(human.contains("a silenced alert is never sent"), "{human}");
    for firing in [&worse, &elsewhere, &other_rule] {
        let shown = show(data, &id_of(firing));
        assert_eq!(shown["alert"]["state"], "firing");
        assert_eq!(shown["deliveries"][0]["status"], "pending");
    }

    // Ended: nothing in force, the silence kept as expired, and the same
    // kind of alert fires again.
    let ended = alerts(
        data,
        &[
            "silence",
            "end",
            &silence_id.to_string(),
            "--reason",
            "done",
        ],
    );
    let stderr = String::from_utf8_lossy(&ended.stderr).into_owned();
    assert_eq!(ok(ended).trim(), silence_id.to_string());
    assert!(stderr.contains("--action silence.end"), "{stderr}");
    let none = alerts(data, &["silence", "list"]);
    assert!(none.status.success() && none.stdout.is_empty());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no silence is in force"));
    let all = json_lines(&ok(alerts(data, &["silence", "list", "--all", "--json"])));
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["status"], "expired");

    let again = finding("bot.memory", Severity::Medium, 6, WATCHED);
    record(data, std::slice::from_ref(&again), now_ms());
    let shown = show(data, &id_of(&again));
    assert_eq!(shown["alert"]["state"], "firing");
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), 1);
    // What it silenced stays silenced.
    assert_eq!(show(data, &id_of(&muted))["alert"]["state"], "silenced");

    // Ending it again is not an error, and says so; an unknown id is.
    let twice = alerts(data, &["silence", "end", &silence_id.to_string()]);
    assert!(twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("had already ended"));
    let unknown = refused(alerts(data, &["silence", "end", "4242"]));
    assert!(unknown.contains("there is no silence 4242"), "{unknown}");
}

#[test]
fn silences_are_security_entries_in_the_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    record(data, &[], now_ms());
    let with_key = |args: &[&str]| {
        argus(data)
            .env("ARGUS_MASTER_KEY", MASTER)
            .arg("alerts")
            .args(args)
            .output()
            .unwrap()
    };

    let added = with_key(&[
        "silence",
        "add",
        "--rule",
        "large-transfer",
        "--until",
        "2099-01-01T00:00:00Z",
        "--reason",
        "known OTC desk transfers",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&added.stderr).into_owned();
    let doc: Value = serde_json::from_str(&ok(added)).unwrap();
    assert!(!stderr.contains("NOT recorded"), "{stderr}");
    assert_eq!(doc["status"], "active");
    assert_eq!(doc["ends_at"], "2099-01-01T00:00:00Z");
    assert!(doc["audit_seq"].is_u64(), "{doc}");
    let silence_id = doc["id"].as_i64().unwrap();

    let ended = with_key(&[
        "silence",
        "end",
        &silence_id.to_string(),
        "--reason",
        "desk closed",
    ]);
    assert!(!String::from_utf8_lossy(&ended.stderr).contains("NOT recorded"));
    ok(ended);

    let entries = json_lines(&ok(argus(data)
        .args(["audit", "query", "--action", "silence.*", "--json"])
        .output()
        .unwrap()));
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (add, end) = (&entries[0], &entries[1]);
    assert_eq!(add["action"], "silence.add");
    assert_eq!(add["class"], "security");
    assert_eq!(add["component"], "alerts");
    assert_eq!(add["reason"], "known OTC desk transfers");
    assert_eq!(add["details"]["silence_id"], silence_id);
    assert_eq!(add["details"]["matcher"]["rule_id"], "large-transfer");
    assert_eq!(add["details"]["ends_at"], "2099-01-01T00:00:00Z");
    assert_eq!(end["action"], "silence.end");
    assert_eq!(end["class"], "security");
    assert_eq!(end["reason"], "desk closed");
    assert_eq!(end["details"]["silence_id"], silence_id);
    assert_eq!(end["details"]["was_to_end_at"], "2099-01-01T00:00:00Z");
    ok(argus(data).args(["audit", "verify"]).output().unwrap());

    // A master key given but unusable stops the command before any change.
    let missing = tmp.path().join("no-such-key");
    let stderr = refused(
        argus(data)
            .args(["alerts", "silence", "add", "--rule", "x", "--for", "1h"])
            .args(["--reason", "r", "--master-key-file"])
            .arg(&missing)
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("no-such-key"), "{stderr}");
    let all = json_lines(&ok(alerts(data, &["silence", "list", "--all", "--json"])));
    assert_eq!(all.len(), 1, "no silence was added: {all:?}");
}

#[test]
fn bad_input_is_refused_with_the_problem_named() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    record(data, &[], now_ms());
    let add = |args: &[&str]| refused(alerts(data, &[&["silence", "add"], args].concat()));
    for (args, problem) in [
        (
            &["--for", "2h", "--reason", "x"][..],
            "at least one matcher",
        ),
        (
            &["--rule", "*", "--for", "2h", "--reason", "x"],
            "mute every alert",
        ),
        (
            &["--max-severity", "critical", "--for", "2h", "--reason", "x"],
            "mute every alert",
        ),
        (&["--rule", "x", "--for", "2h"], "--reason"),
        (
            &["--rule", "x", "--for", "2h", "--reason", " "],
            "--reason is empty",
        ),
        (
            &[
                "--rule",
                "x",
                "--for",
                "2h",
                "--until",
                "2099-01-01T00:00:00Z",
                "--reason",
                "x",
            ],
            "cannot be used with",
        ),
        (&["--rule", "x", "--reason", "x"], "--for 2h"),
        (
            &["--rule", "x", "--for", "2x", "--reason", "x"],
            "not a unit of time",
        ),
        (
            &["--rule", "x", "--for", "soon", "--reason", "x"],
            "not a duration",
        ),
        (
            &["--rule", "x", "--for", "0m", "--reason", "x"],
            "longer than zero",
        ),
        (
            &["--address", "0x12", "--for", "2h", "--reason", "x"],
            "not an address",
        ),
        (
            &[
                "--address",
                "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",
                "--for",
                "2h",
                "--reason",
                "x",
            ],
            "checksum",
        ),
        (
            &["--chain", "mainet", "--for", "2h", "--reason", "x"],
            "not a known chain name",
        ),
        (
            &["--max-severity", "huge", "--for", "2h", "--reason", "x"],
            "not a severity",
        ),
        (
            &["--rule", "a*b", "--for", "2h", "--reason", "x"],
            "may only end",
        ),
        (
            &["--rule", "x", "--until", "tomorrow", "--reason", "x"],
            "not an RFC 3339 time",
        ),
        (
            &[
                "--rule",
                "x",
                "--until",
                "2020-01-01T00:00:00Z",
                "--reason",
                "x",
            ],
            "before it starts",
        ),
        (
            &[
                "--rule",
                "x",
                "--starts",
                "2019-01-01T00:00:00Z",
                "--until",
                "2020-01-01T00:00:00Z",
                "--reason",
                "x",
            ],
            "has passed",
        ),
    ] {
        let stderr = add(args);
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let nothing = alerts(data, &["silence", "list", "--all"]);
    assert!(nothing.status.success() && nothing.stdout.is_empty());

    let stderr = refused(alerts(data, &["silence", "end", "one"]));
    assert!(stderr.contains("invalid value 'one'"), "{stderr}");

    // A later start is fine: pending until then.
    let pending = ok(alerts(
        data,
        &[
            "silence",
            "add",
            "--rule",
            "x",
            "--starts",
            "2098-01-01T00:00:00Z",
            "--for",
            "1d",
            "--reason",
            "planned upgrade",
        ],
    ));
    let listed = ok(alerts(data, &["silence", "list", "--all"]));
    assert!(listed.starts_with(pending.trim()), "{listed}");
    assert!(listed.contains("pending"), "{listed}");
    assert!(
        listed.contains("2098-01-01T00:00:00Z  2098-01-02T00:00:00Z"),
        "{listed}"
    );
    // Ending it before it starts cancels it.
    let cancelled = alerts(data, &["silence", "end", pending.trim()]);
    assert!(String::from_utf8_lossy(&cancelled.stderr).contains("will never start"));
    ok(cancelled);
    let all = json_lines(&ok(alerts(data, &["silence", "list", "--all", "--json"])));
    assert_eq!(all[0]["status"], "expired");
    assert_eq!(all[0]["ends_at"], "2098-01-01T00:00:00Z");
}

#[test]
fn a_data_dir_without_a_database_is_an_error_that_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nowhere");
    for args in [
        &["list"][..],
        &["show", "0x12345678"],
        &["silence", "list"],
        &[
            "silence", "add", "--rule", "x", "--for", "1h", "--reason", "r",
        ],
        &["silence", "end", "1"],
    ] {
        let stderr = refused(alerts(&data, args));
        assert!(stderr.contains("no Argus database"), "{args:?}: {stderr}");
        assert!(stderr.contains("argus run"), "{stderr}");
        assert!(stderr.contains("--data-dir"), "{stderr}");
    }
    assert!(!data.join("argus.db").exists(), "nothing was created");
}

#[test]
fn show_names_the_digest_that_carried_a_grouped_alert() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let config: AlertingConfig = serde_saphyr::from_str(
        "dedup_window: 0s\nnotifiers:\n  chat:\n    type: slack\n    webhook_url: { env: SLACK_URL }\n",
    )
    .unwrap();
    let routing = Routing::from_config(&config).unwrap();
    let findings: Vec<Finding> = (1..=3)
        .map(|block| finding("token.transfer", Severity::High, block, WATCHED))
        .collect();
    let now = now_ms();
    let mut store = Store::open_in_dir(data).unwrap().connect().unwrap();
    let tx = store.transaction().unwrap();
    for f in &findings {
        outbox::record(&tx, f, &routing, now).unwrap();
    }
    tx.commit().unwrap();
    // The dispatcher's claim after the group wait: the three fold into one
    // digest, which the sink accepts.
    let tx = store.transaction().unwrap();
    let at = now + 5_000;
    let plan = argus_alerting::digest::FoldPlan::from_config(&config);
    assert_eq!(
        argus_alerting::digest::fold_due(&tx, at, &plan, None).unwrap(),
        1
    );
    let claimed = outbox::claim_due(&tx, at, 10, 15_000).unwrap();
    assert_eq!(claimed.len(), 1);
    outbox::mark_delivered(&tx, claimed[0].0.id, at).unwrap();
    tx.commit().unwrap();
    let digest_id = claimed[0].0.id;

    let shown = show(data, &id_of(&findings[1]));
    let delivery = &shown["deliveries"][0];
    assert_eq!(delivery["status"], "digested");
    assert_eq!(delivery["digest_id"], digest_id);
    let text = ok(alerts(data, &["show", &id_of(&findings[1])]));
    assert!(
        text.contains("digested  attempts 0  delivered")
            && text.contains(&format!("in digest {digest_id}")),
        "{text}"
    );
    // The first alert's deliveries list the digest itself, with its group.
    let text = ok(alerts(data, &["show", &id_of(&findings[0])]));
    assert!(
        text.contains("digest  delivered")
            && text.contains(&format!("digest {digest_id} of group rule=token.transfer")),
        "{text}"
    );
}
