//! The vault in-process: create, import, list, remove, policy, rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_vault::{
    AccessPolicy, Action, ArgonCost, KdfParams, Keystore, MasterKey, OutsideWindow, Permit,
    PrivateKeySigner, TimeWindow, Vault, VaultError,
};

const CHEAP: ArgonCost = ArgonCost {
    m_cost: 1024,
    t_cost: 1,
    p_cost: 1,
};
const OLD: &str = "q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=";
const NEW: &str = "Zx8Qw2Er5Ty7Ui9Op1As3Df4Gh6Jk0LmNbVcX2z4y6=";

fn master(key: &str) -> MasterKey {
    MasterKey::new(key.to_string()).unwrap()
}

#[test]
fn create_import_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore");
    let mut vault = Vault::init(&path, &master(OLD), CHEAP).unwrap();
    let created = vault
        .create("guardian", AccessPolicy::default())
        .unwrap()
        .address;

    let outside = PrivateKeySigner::random();
    let file = Keystore::encrypt(&outside, b"import-pw", KdfParams::Pbkdf2 { c: 1000 }).unwrap();
    let err = vault
        .import(&file, b"wrong", "bot", AccessPolicy::default())
        .unwrap_err();
    assert!(matches!(err, VaultError::WrongPassword));
    vault
        .import(
            &file,
            b"import-pw",
            "bot",
            AccessPolicy {
                actions: vec![Action::SignAny],
                window: None,
                rotate_every_secs: None,
            },
        )
        .unwrap();
    assert!(matches!(
        vault.import(&file, b"import-pw", "bot2", AccessPolicy::default()),
        Err(VaultError::DuplicateAddress { .. })
    ));
    assert!(matches!(
        vault.create("bot", AccessPolicy::default()),
        Err(VaultError::DuplicateLabel { .. })
    ));
    assert!(matches!(
        vault.create("no spaces", AccessPolicy::default()),
        Err(VaultError::InvalidLabel { .. })
    ));
    drop(vault);

    let vault = Vault::open(&path, &master(OLD)).unwrap();
    let labels: Vec<&str> = vault.keys().iter().map(|k| k.label.as_str()).collect();
    assert_eq!(labels, ["guardian", "bot"]);
    assert_eq!(
        vault
            .signer("guardian", Action::SignContainment)
            .unwrap()
            .address(),
        created
    );
    assert!(matches!(
        vault.signer("guardian", Action::SignAny),
        Err(VaultError::PolicyDenied { .. })
    ));
    assert_eq!(
        vault.signer("bot", Action::SignAny).unwrap().address(),
        outside.address()
    );
    assert_eq!(vault.verify().unwrap(), 2);
    drop(vault);

    assert!(matches!(
        Vault::open(&path, &master(NEW)),
        Err(VaultError::WrongMasterKey { .. })
    ));
    let mut vault = Vault::open(&path, &master(OLD)).unwrap();
    vault.remove("bot").unwrap();
    assert_eq!(vault.keys().len(), 1);
    assert!(matches!(
        vault.signer("bot", Action::SignAny),
        Err(VaultError::UnknownLabel { .. })
    ));
}

#[test]
fn the_vault_is_locked_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore");
    let _vault = Vault::init(&path, &master(OLD), CHEAP).unwrap();
    let err = Vault::open(&path, &master(OLD)).unwrap_err().to_string();
    assert!(err.contains("another argus process"), "{err}");
}

#[test]
fn rotate_master_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore");
    let mut vault = Vault::init(&path, &master(OLD), CHEAP).unwrap();
    let a = vault.create("a", AccessPolicy::default()).unwrap().address;
    let b = vault.create("b", AccessPolicy::default()).unwrap().address;
    vault.set_secret("slack-token", b"xoxb-canary").unwrap();
    let before = vault.purpose_key("notifiers");
    let vault = vault.rotate_master(&master(NEW)).unwrap();
    assert_eq!(vault.generation(), 2);
    assert_ne!(*vault.purpose_key("notifiers"), *before);
    drop(vault);
    assert!(matches!(
        Vault::open(&path, &master(OLD)),
        Err(VaultError::WrongMasterKey { .. })
    ));
    let vault = Vault::open(&path, &master(NEW)).unwrap();
    assert!(vault.notices().is_empty(), "{:?}", vault.notices());
    assert_eq!(
        vault
            .signer("a", Action::SignContainment)
            .unwrap()
            .address(),
        a
    );
    assert_eq!(
        vault
            .signer("b", Action::SignContainment)
            .unwrap()
            .address(),
        b
    );
    assert_eq!(
        vault.secret("slack-token").unwrap().as_slice(),
        b"xoxb-canary"
    );
    assert_eq!(vault.secret_names(), ["slack-token"]);
    let names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    assert_eq!(names, ["gen-000002"]);
}

#[test]
fn debug_of_secrets_is_opaque() {
    let m = master(OLD);
    assert!(!format!("{m:?}").contains("q7Vd"));
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::init(&dir.path().join("k"), &m, CHEAP).unwrap();
    let debug = format!("{vault:?}");
    assert!(!debug.contains(OLD) && !debug.contains("q7Vd"));
}

#[test]
fn time_window_refuses_or_flags_a_use_outside_hours() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = Vault::init(&dir.path().join("k"), &master(OLD), CHEAP).unwrap();
    let window = TimeWindow {
        time_zone: "America/New_York".into(),
        days: vec![1, 2, 3, 4, 5],
        start_hour: 9,
        end_hour: 17,
        outside: OutsideWindow::Refuse,
    };
    let policy = AccessPolicy {
        actions: vec![Action::SignContainment],
        window: Some(window.clone()),
        rotate_every_secs: None,
    };
    vault.create("ops", policy.clone()).unwrap();
    let monday_10am_ny: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let monday_3am_ny: jiff::Timestamp = "2026-11-23T08:00:00Z".parse().unwrap();
    let (_, permit) = vault
        .signer_at("ops", Action::SignContainment, monday_10am_ny)
        .unwrap();
    assert_eq!(permit, Permit::Allowed);
    let err = vault
        .signer_at("ops", Action::SignContainment, monday_3am_ny)
        .unwrap_err();
    assert!(matches!(err, VaultError::PolicyDenied { .. }), "{err}");
    let flagged = AccessPolicy {
        window: Some(TimeWindow {
            outside: OutsideWindow::AllowWithCriticalSignal,
            ..window
        }),
        ..policy
    };
    vault.set_policy("ops", flagged).unwrap();
    let (_, permit) = vault
        .signer_at("ops", Action::SignContainment, monday_3am_ny)
        .unwrap();
    assert_eq!(permit, Permit::OutsideWindow);
    let bad = AccessPolicy {
        actions: vec![Action::SignAny],
        window: Some(TimeWindow {
            time_zone: "Nowhere/Land".into(),
            days: vec![],
            start_hour: 1,
            end_hour: 2,
            outside: OutsideWindow::Refuse,
        }),
        rotate_every_secs: None,
    };
    assert!(matches!(
        vault.create("bad", bad),
        Err(VaultError::InvalidPolicy { .. })
    ));
}

#[test]
fn the_plain_signer_never_hands_out_a_key_that_needs_a_critical_signal() {
    let dir = tempfile::tempdir().unwrap();
    let mut vault = Vault::init(&dir.path().join("k"), &master(OLD), CHEAP).unwrap();
    // A one-hour window twelve hours away from now, every day.
    let now_hour = (jiff::Timestamp::now().as_second().rem_euclid(86_400) / 3_600) as u8;
    let start_hour = (now_hour + 12) % 24;
    let policy = AccessPolicy {
        actions: vec![Action::SignContainment],
        window: Some(TimeWindow {
            time_zone: "UTC".into(),
            days: vec![],
            start_hour,
            end_hour: (start_hour + 1) % 24,
            outside: OutsideWindow::AllowWithCriticalSignal,
        }),
        rotate_every_secs: None,
    };
    vault.create("ops", policy).unwrap();
    let (_, permit) = vault
        .signer_at("ops", Action::SignContainment, jiff::Timestamp::now())
        .unwrap();
    assert_eq!(permit, Permit::OutsideWindow);
    let err = vault.signer("ops", Action::SignContainment).unwrap_err();
    assert!(matches!(err, VaultError::PolicyDenied { .. }), "{err}");
}

#[test]
fn a_retired_key_no_longer_signs_and_the_label_moves_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore");
    let mut vault = Vault::init(&path, &master(OLD), CHEAP).unwrap();
    let old = vault
        .create("guardian", AccessPolicy::default())
        .unwrap()
        .address;
    let (retired, new) = vault.rotate_key("guardian").unwrap();
    assert_eq!(retired.address, old);
    assert_eq!(retired.label, "guardian.retired-1");
    assert_ne!(new.address, old);
    assert!(retired.retired_at.is_some());
    assert_eq!(new.policy, AccessPolicy::default());
    let signer = vault.signer("guardian", Action::SignContainment).unwrap();
    assert_eq!(signer.address(), new.address);
    assert!(matches!(
        vault.signer(&retired.label, Action::SignContainment),
        Err(VaultError::PolicyDenied { .. })
    ));
    drop(vault);
    let vault = Vault::open(&path, &master(OLD)).unwrap();
    assert_eq!(vault.key("guardian").unwrap().address, new.address);
    assert_eq!(vault.verify().unwrap(), 2);
}

/// A damaged key file is named by its key's label and file, with what to do.
#[test]
fn a_damaged_key_file_is_named_with_its_label() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystore");
    let mut vault = Vault::init(&path, &master(OLD), CHEAP).unwrap();
    let policy = AccessPolicy {
        actions: vec![Action::SignAny],
        window: None,
        rotate_every_secs: None,
    };
    vault.create("arb-bot", policy).unwrap();
    let key_file = walk(&path)
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n != "vault.json")
        })
        .expect("the key's keystore file");
    let text = std::fs::read_to_string(&key_file).unwrap();
    std::fs::write(&key_file, &text[..text.len() / 2]).unwrap();
    let error = vault.signer("arb-bot", Action::SignAny).unwrap_err();
    assert!(
        matches!(&error, VaultError::KeyFile { label, .. } if label == "arb-bot"),
        "{error:?}"
    );
    let message = error.to_string();
    let file_name = key_file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        message.contains("`arb-bot`") && message.contains(&file_name),
        "{message}"
    );
    assert!(message.contains("argus keys remove arb-bot"), "{message}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
