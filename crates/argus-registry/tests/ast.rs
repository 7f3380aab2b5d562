//! Reading the compiler's AST out of real build output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use argus_registry::load_compilations;

fn testdata(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(relative)
}

#[test]
fn a_foundry_project_and_its_hardhat_build_info_are_two_compilations() {
    let project = testdata("events-project");
    let compilations = load_compilations([project.as_path()]).unwrap();
    assert_eq!(compilations.len(), 2);
    let hardhat = compilations
        .iter()
        .find(|c| c.origin.ends_with(".json"))
        .unwrap();
    assert_eq!(hardhat.units.len(), 1);
    assert!(hardhat.sources.contains_key("src/Settings.sol"));
    let ids = &hardhat.method_ids[&("src/Settings.sol".to_owned(), "Settings".to_owned())];
    assert_eq!(ids["setFee(uint256)"], "69fe0e2d");

    let foundry = compilations
        .iter()
        .find(|c| !c.origin.ends_with(".json"))
        .unwrap();
    // One unit per source file (Settings.sol holds three contracts), the
    // OpenZeppelin files included; the project's sources read for lines.
    let mut paths: Vec<&str> = foundry
        .units
        .iter()
        .map(|u| u["absolutePath"].as_str().unwrap())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), foundry.units.len());
    assert!(paths.contains(&"src/Settings.sol"));
    assert!(paths.contains(&"lib/openzeppelin/token/ERC20/ERC20.sol"));
    assert!(foundry.sources.contains_key("src/Settings.sol"));
    assert!(
        foundry
            .method_ids
            .contains_key(&("src/Settings.sol".to_owned(), "Guarded".to_owned()))
    );
}

#[test]
fn output_without_an_ast_gives_nothing_and_a_broken_file_is_named() {
    let plain = testdata("foundry-project/out");
    assert!(load_compilations([plain.as_path()]).unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("Broken.json");
    std::fs::write(&broken, "{\"ast\": ").unwrap();
    let errors = load_compilations([dir.path()]).unwrap_err();
    assert!(errors.to_string().contains("Broken.json"), "{errors}");
}

#[test]
fn a_source_path_outside_the_project_is_not_read() {
    // An artifact whose AST names an absolute path: the file exists, but it
    // is not the project's, so no source text is taken from it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out/X.sol");
    std::fs::create_dir_all(&out).unwrap();
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, "not yours\n").unwrap();
    let artifact = serde_json::json!({
        "abi": [],
        "methodIdentifiers": {},
        "ast": { "nodeType": "SourceUnit", "absolutePath": outside.display().to_string(), "nodes": [] }
    });
    std::fs::write(out.join("X.json"), artifact.to_string()).unwrap();
    let compilations = load_compilations([dir.path()]).unwrap();
    assert_eq!(compilations.len(), 1);
    assert!(compilations[0].sources.is_empty());
}
