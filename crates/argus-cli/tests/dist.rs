//! The distribution build and the container image stay in step with the
//! code: CI builds neither (the `dist` profile takes too long, and CI has no
//! Docker), so what can drift without a build failing is checked here from
//! the files themselves and from the binary's own systemd unit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of one `[section]` of a TOML file, comments and blanks left out.
fn toml_section(text: &str, section: &str) -> Vec<String> {
    let header = format!("[{section}]");
    text.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_dockerfile_builds_with_the_pinned_toolchain() {
    let toolchain = repo_file("rust-toolchain.toml");
    let channel = toml_section(&toolchain, "toolchain")
        .into_iter()
        .find_map(|line| {
            line.strip_prefix("channel = ")
                .map(|v| v.trim_matches('"').to_owned())
        })
        .expect("rust-toolchain.toml has a channel");
    let dockerfile = repo_file("Dockerfile");
    let pinned: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.strip_prefix("ARG RUST_TOOLCHAIN="))
        .collect();
    assert_eq!(
        pinned,
        [channel.as_str()],
        "Dockerfile's `ARG RUST_TOOLCHAIN=` must be rust-toolchain.toml's channel"
    );
    assert!(
        dockerfile.contains("--profile dist"),
        "the image ships the dist build"
    );
}

#[test]
fn the_dist_profile_is_stripped_and_still_unwinds() {
    let manifest = repo_file("Cargo.toml");
    let dist = toml_section(&manifest, "profile.dist");
    for setting in [
        "inherits = \"release\"",
        "strip = true",
        "debug = false",
        "lto = \"fat\"",
    ] {
        assert!(
            dist.iter().any(|line| line == setting),
            "[profile.dist] lacks `{setting}`: {dist:?}"
        );
    }
    // The node stops cleanly on a task's panic, the incident runner retries
    // a step whose task panicked and the server survives a handler's panic:
    // each needs the unwind, which `panic = "abort"` would take away.
    assert!(
        !dist.iter().any(|line| line.starts_with("panic")),
        "[profile.dist] must keep the unwinding panics: {dist:?}"
    );
    assert!(
        !toml_section(&manifest, "profile.release")
            .iter()
            .any(|line| line.starts_with("panic")),
        "dist inherits release's panic strategy, which must stay unwind"
    );
}

#[test]
fn the_deploy_doc_maps_every_setting_of_the_systemd_unit() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("argus")
        .unwrap()
        .env("ARGUS_DATA_DIR", data.path())
        .args(["doctor", "systemd-unit"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let unit = String::from_utf8(out.stdout).unwrap();
    let deploy = repo_file("docs/deploy.md");
    let mut missing = Vec::new();
    let mut in_service = false;
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        // The unit's own mechanics, not hardening a container could carry.
        if !in_service || line.starts_with('#') || matches!(key, "Type" | "ExecStart") {
            continue;
        }
        if !deploy.contains(&format!("`{key}=")) {
            missing.push(key.to_owned());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/deploy.md's table of the systemd hardening does not say what becomes of {missing:?}"
    );
}
