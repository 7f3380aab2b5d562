//! Selectors and topics, checked against the real Foundry `cast`.
//!
//! `testdata/signatures/cast-vectors.tsv` holds several hundred function,
//! error and event signatures with the hash `cast sig` / `cast sig-event`
//! printed for them (`scripts/make-fixtures` regenerates it). One test checks
//! our computation against the file; the other runs the real `cast` (installed
//! by `npm ci`) on every line, so the file cannot drift from the tool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use argus_abi::{ItemKind, parse_signature_list};
use argus_testkit::{cast, testdata};

struct Vector {
    kind: ItemKind,
    signature: String,
    hash: String,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(testdata("signatures/cast-vectors.tsv"))
        .expect("the cast vectors fixture");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cols = line.split('\t');
            let kind = match cols.next().unwrap() {
                "function" => ItemKind::Function,
                "error" => ItemKind::Error,
                "event" => ItemKind::Event,
                other => panic!("unknown kind {other}"),
            };
            Vector {
                kind,
                signature: cols.next().unwrap().to_owned(),
                hash: cols.next().unwrap().to_owned(),
            }
        })
        .collect()
}

/// What Argus computes for a signature, through the same parser the linter
/// uses for signature lists.
fn ours(kind: ItemKind, signature: &str) -> String {
    let line = format!("{} {signature}", kind.as_str());
    let (list, errors) = parse_signature_list(&line, ItemKind::Function);
    assert!(errors.is_empty(), "{signature}: {errors:?}");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].signature, signature, "canonical form");
    let hash = alloy_primitives::keccak256(list[0].signature.as_bytes());
    match kind {
        ItemKind::Event => format!("{hash}"),
        ItemKind::Function | ItemKind::Error => {
            format!("0x{}", alloy_primitives::hex::encode(&hash[..4]))
        }
    }
}

#[test]
fn matches_the_recorded_cast_output() {
    let vectors = vectors();
    assert!(vectors.len() >= 700, "{}", vectors.len());
    let events = vectors.iter().filter(|v| v.kind == ItemKind::Event).count();
    assert!(events >= 100, "{events}");
    for v in &vectors {
        assert_eq!(ours(v.kind, &v.signature), v.hash, "{}", v.signature);
    }
}

#[test]
fn matches_the_real_cast_on_every_vector() {
    let cast = cast::path();
    for v in vectors() {
        let verb = if v.kind == ItemKind::Event {
            "sig-event"
        } else {
            "sig"
        };
        let output = Command::new(&cast)
            .arg(verb)
            .arg(&v.signature)
            .output()
            .expect("run cast");
        assert!(
            output.status.success(),
            "cast {verb} {}: {:?}",
            v.signature,
            output
        );
        let printed = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        assert_eq!(
            ours(v.kind, &v.signature),
            printed,
            "{verb} {}",
            v.signature
        );
    }
}

#[test]
fn aliases_and_names_hash_like_cast() {
    let cast = cast::path();
    for signature in [
        "f(uint,int)",
        "g(uint[] values, (uint,address)[] pairs)",
        "transfer(address to,uint amount)",
    ] {
        let output = Command::new(&cast)
            .arg("sig")
            .arg(signature)
            .output()
            .expect("run cast");
        let printed = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        let (list, errors) = parse_signature_list(signature, ItemKind::Function);
        assert!(errors.is_empty(), "{signature}: {errors:?}");
        let hash = alloy_primitives::keccak256(list[0].signature.as_bytes());
        assert_eq!(
            format!("0x{}", alloy_primitives::hex::encode(&hash[..4])),
            printed,
            "{signature}"
        );
    }
}
