//! Against real compiler output: `testdata/events-project` built by forge
//! with `ast = true`, and its Hardhat build-info made by solc-js.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use serde_json::Value;

use super::*;

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The Foundry artifacts as one compilation, read here without the
/// registry's loader (which has its own tests).
fn foundry() -> Compilation {
    let out = argus_testkit::testdata("events-project/out");
    let mut compilation = Compilation::default();
    let mut seen = std::collections::HashSet::new();
    for dir in std::fs::read_dir(&out).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let value = read(&path);
            let ast = value["ast"].clone();
            let source = ast["absolutePath"].as_str().unwrap().to_owned();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let ids: HashMap<String, String> =
                serde_json::from_value(value["methodIdentifiers"].clone()).unwrap();
            compilation.method_ids.insert((source.clone(), name), ids);
            if seen.insert(source.clone()) {
                compilation.units.push(ast);
            }
        }
    }
    let settings = argus_testkit::testdata("events-project/src/Settings.sol");
    compilation.sources.insert(
        "src/Settings.sol".to_owned(),
        std::fs::read_to_string(settings).unwrap(),
    );
    compilation
}

fn facts(compilation: &Compilation, name: &str) -> ContractFacts {
    AstIndex::new(compilation)
        .contracts()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no contract {name}"))
}

fn silent(contract: &ContractFacts) -> Vec<&str> {
    let mut names: Vec<&str> = contract
        .silent_functions()
        .map(|f| f.signature.as_str())
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn finds_the_silent_functions_and_not_those_that_emit_through_modifiers_or_internals() {
    let settings = facts(&foundry(), "Settings");
    // setFee and setSink change state in silence; forward's only event would
    // be the sink's. Everything else emits: through an internal function
    // (setLimit), a modifier (bump), assembly (rawLog), on one branch
    // (maybeEmit), an override of a base's virtual hook (poke), a base's
    // internal function (transferOwnership).
    assert_eq!(
        silent(&settings),
        ["forward(uint256)", "setFee(uint256)", "setSink(address)"]
    );
    let by_name: HashMap<&str, &FunctionFacts> = settings
        .functions
        .iter()
        .map(|f| (f.signature.as_str(), f))
        .collect();
    assert!(by_name["poke()"].emits);
    assert_eq!(by_name["poke()"].declared_in, "Guarded");
    assert!(!by_name["feeFor(uint256)"].state_changing);
    let limit = by_name["setLimit(uint256)"];
    assert_eq!(limit.events.len(), 1, "LimitChanged only");
    assert_eq!(
        limit.events[0],
        alloy_primitives::keccak256("LimitChanged(uint256,uint256)")
    );
    assert!(by_name["rawLog(bytes32)"].emits && by_name["rawLog(bytes32)"].events.is_empty());
    // The line is the declaration's in the source file.
    let set_fee = by_name["setFee(uint256)"];
    assert_eq!(set_fee.source, "src/Settings.sol");
    let line = set_fee.line.unwrap() as usize;
    let text = std::fs::read_to_string(argus_testkit::testdata("events-project/src/Settings.sol"))
        .unwrap();
    assert!(
        text.lines()
            .nth(line - 1)
            .unwrap()
            .contains("function setFee"),
        "line {line}"
    );
}

#[test]
fn privilege_comes_from_owner_and_role_guards_not_from_pause_guards() {
    let settings = facts(&foundry(), "Settings");
    let mut privileged: Vec<&str> = settings
        .functions
        .iter()
        .filter(|f| f.privileged)
        .map(|f| f.signature.as_str())
        .collect();
    privileged.sort_unstable();
    assert_eq!(
        privileged,
        [
            "setFee(uint256)",
            "setLimit(uint256)",
            "setSink(address)",
            "transferOwnership(address)"
        ]
    );

    let token = facts(&foundry(), "PausableToken");
    let guards: HashMap<&str, &Vec<String>> = token
        .functions
        .iter()
        .map(|f| (f.signature.as_str(), &f.guards))
        .collect();
    // The modifier, and the internal check it reaches.
    assert_eq!(
        guards["mint(address,uint256)"],
        &vec!["onlyRole".to_owned(), "_checkRole".to_owned()]
    );
    assert_eq!(
        guards["pause()"],
        &vec!["onlyOwner".to_owned(), "_checkOwner".to_owned()]
    );
    // OpenZeppelin's grantRole is guarded by onlyRole(getRoleAdmin(role)).
    assert!(guards["grantRole(bytes32,address)"].contains(&"onlyRole".to_owned()));
    // transfer has no guard (and whenNotPaused would not count).
    assert!(guards["transfer(address,uint256)"].is_empty());
}

#[test]
fn openzeppelin_functions_emit_through_their_internal_functions() {
    let token = facts(&foundry(), "PausableToken");
    // Only our own setCap is silent: transfer, approve, pause, grantRole,
    // renounceOwnership… all emit inside OpenZeppelin's internals.
    assert_eq!(silent(&token), ["setCap(uint256)"]);
    assert!(token.functions.len() > 15, "{}", token.functions.len());
}

#[test]
fn the_hardhat_build_info_gives_the_same_answer() {
    let dir = argus_testkit::testdata("events-project/artifacts/build-info");
    let file = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let info = read(&file);
    let mut compilation = Compilation::default();
    for source in info["output"]["sources"].as_object().unwrap().values() {
        compilation.units.push(source["ast"].clone());
    }
    let ids: HashMap<String, String> = serde_json::from_value(
        info["output"]["contracts"]["src/Settings.sol"]["Settings"]["evm"]["methodIdentifiers"]
            .clone(),
    )
    .unwrap();
    compilation
        .method_ids
        .insert(("src/Settings.sol".into(), "Settings".into()), ids);
    let settings = facts(&compilation, "Settings");
    assert_eq!(
        silent(&settings),
        ["forward(uint256)", "setFee(uint256)", "setSink(address)"]
    );
}

#[test]
fn junk_is_not_a_panic() {
    for junk in [
        Value::Null,
        serde_json::json!({"nodeType": "SourceUnit", "nodes": 3}),
        serde_json::json!({"nodeType": "SourceUnit", "absolutePath": "x", "nodes": [
            {"nodeType": "ContractDefinition", "id": 1, "contractKind": "contract",
             "linearizedBaseContracts": [1, 1], "nodes": [
                {"nodeType": "FunctionDefinition", "id": 2, "kind": "function",
                 "visibility": "external", "stateMutability": "nonpayable",
                 "functionSelector": "zz", "body": {"statements": [
                    {"nodeType": "ExpressionStatement", "expression":
                        {"nodeType": "Identifier", "referencedDeclaration": 2}}]},
                 "modifiers": [{"modifierName": {"name": "onlyOwner", "referencedDeclaration": 99}}],
                 "src": "bad"}]}]}),
    ] {
        let compilation = Compilation {
            units: vec![junk],
            ..Compilation::default()
        };
        let contracts = AstIndex::new(&compilation).contracts();
        for contract in contracts {
            // A self-recursive function with no emit is silent and ends.
            assert!(contract.functions.iter().all(|f| !f.emits));
        }
    }
}

#[test]
fn dependency_sources_are_recognised() {
    assert!(is_dependency_source(
        "lib/openzeppelin/token/ERC20/ERC20.sol"
    ));
    assert!(is_dependency_source("node_modules/@oz/x.sol"));
    assert!(is_dependency_source(
        "@openzeppelin/contracts/access/Ownable.sol"
    ));
    assert!(is_dependency_source("script/Deploy.s.sol"));
    assert!(!is_dependency_source("src/Settings.sol"));
    assert!(!is_dependency_source("contracts/library/Fees.sol"));
}

/// Any JSON, shaped like an AST or not: indexing and analysing it ends
/// without a panic.
fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..3000).prop_map(Value::from),
        prop::sample::select(vec![
            "SourceUnit",
            "ContractDefinition",
            "FunctionDefinition",
            "ModifierDefinition",
            "EmitStatement",
            "Identifier",
            "MemberAccess",
            "InlineAssembly",
            "YulFunctionCall",
            "log1",
            "contract",
            "function",
            "external",
            "public",
            "nonpayable",
            "view",
            "this",
            "super",
            "contract X",
            "0:10:0",
            "a9059cbb",
            "onlyOwner",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 200, 8, |inner| {
        let keys = prop::sample::select(vec![
            "nodeType",
            "id",
            "name",
            "nodes",
            "body",
            "statements",
            "expression",
            "referencedDeclaration",
            "linearizedBaseContracts",
            "contractKind",
            "kind",
            "visibility",
            "stateMutability",
            "functionSelector",
            "modifiers",
            "modifierName",
            "eventCall",
            "functionName",
            "AST",
            "src",
            "absolutePath",
            "parameters",
            "typeDescriptions",
            "typeString",
            "eventSelector",
            "abstract",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn any_json_is_analysed_without_a_panic(units in proptest::collection::vec(json_value(), 1..4)) {
        // Each value both as a unit and inside a contract of a unit, so the
        // contract and function paths are reached, not only the unit check.
        let mut wrapped = units.clone();
        for (i, value) in units.into_iter().enumerate() {
            wrapped.push(serde_json::json!({
                "nodeType": "SourceUnit", "absolutePath": format!("u{i}.sol"), "src": "0:1:0",
                "nodes": [value.clone(), {
                    "nodeType": "ContractDefinition", "id": 1, "contractKind": "contract",
                    "linearizedBaseContracts": [1, 2], "name": "C",
                    "nodes": [value.clone(), {
                        "nodeType": "FunctionDefinition", "id": 3, "kind": "function",
                        "visibility": "external", "stateMutability": "nonpayable",
                        "functionSelector": "a9059cbb", "body": value,
                        "modifiers": [{"modifierName": {"name": "onlyOwner", "referencedDeclaration": 3}}]
                    }]
                }]
            }));
        }
        let compilation = Compilation { units: wrapped, ..Compilation::default() };
        let _ = AstIndex::new(&compilation).contracts();
    }
}
