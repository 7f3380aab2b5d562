//! The engine through its public API: binding, errors as values, determinism.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_dyn_abi::DynSolValue;
use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use argus_core::{Block, BlockRef, ChainId, Log, Signal};
use argus_rules::{ContractDirectory, ContractEntry, Engine, RuleSet};

const VAULT: Address = address!("0x2000000000000000000000000000000000000002");
const ALICE: Address = address!("0x3000000000000000000000000000000000000003");

fn abi() -> JsonAbi {
    JsonAbi::parse(["event Deposit(address indexed owner, uint256 amount)"]).unwrap()
}

fn directory(with_vault: bool) -> ContractDirectory {
    let mut d = ContractDirectory::new();
    if with_vault {
        d = d.with(ContractEntry {
            chain: ChainId::LOCAL,
            address: VAULT,
            label: "Vault".into(),
            tags: vec!["vault".into()],
            abi: abi(),
        });
    }
    d
}

fn deposit_block(number: u64, amount: U256, data_override: Option<Vec<u8>>) -> Block {
    let header = BlockRef {
        number,
        hash: keccak256(number.to_be_bytes()),
        parent_hash: keccak256((number - 1).to_be_bytes()),
        timestamp: 1_000 + number * 12,
    };
    let data = data_override.unwrap_or_else(|| DynSolValue::Uint(amount, 256).abi_encode());
    let log = Log {
        address: VAULT,
        topics: vec![
            keccak256("Deposit(address,uint256)"),
            B256::left_padding_from(ALICE.as_slice()),
        ],
        data: Bytes::from(data),
        log_index: 0,
        tx_index: 0,
        tx_hash: B256::repeat_byte(7),
    };
    Block {
        chain: ChainId::LOCAL,
        header,
        base_fee_per_gas: None,
        gas_used: 0,
        gas_limit: 0,
        logs: vec![log],
        transactions: vec![],
    }
}

fn rules(condition: &str) -> RuleSet {
    let text = format!(
        "rules:\n  - id: big-deposit\n    match: {{ event: {{ contract: \"tag:vault\", signature: Deposit }} }}\n    condition: '{condition}'\n    title: 'deposit of {{{{args.amount}}}} by {{{{args.owner}}}}'\n"
    );
    RuleSet::from_yaml(&text, "r.yaml").unwrap()
}

#[test]
fn a_new_deployment_is_watched_at_once() {
    let mut engine = Engine::new(rules("args.amount > 10"), &directory(false));
    assert_eq!(
        engine.binding_problems().len(),
        1,
        "the tag names no contract yet"
    );
    assert!(
        engine
            .on_block(&deposit_block(1, U256::from(11), None))
            .findings
            .is_empty()
    );
    engine.set_directory(&directory(true));
    assert!(engine.binding_problems().is_empty());
    let outcome = engine.on_block(&deposit_block(2, U256::from(11), None));
    assert_eq!(outcome.findings.len(), 1, "{outcome:?}");
    assert_eq!(
        outcome.findings[0].title,
        format!("deposit of 11 by {ALICE:#x}")
    );
    assert_eq!(
        outcome.findings[0].fields.to_value()["args"]["amount"],
        "11"
    );
    assert!(
        engine
            .on_block(&deposit_block(3, U256::from(10), None))
            .findings
            .is_empty()
    );
}

#[test]
fn a_rule_that_cannot_evaluate_is_an_error_not_a_miss() {
    let mut engine = Engine::new(rules("args.amuont > 10"), &directory(true));
    let outcome = engine.on_block(&deposit_block(1, U256::from(11), None));
    assert!(outcome.findings.is_empty());
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].message.contains("amuont"),
        "{}",
        outcome.errors[0].message
    );
    assert_eq!(outcome.errors[0].origin.unwrap().block.number, 1);

    let mut engine = Engine::new(rules("args.amount > \"10\""), &directory(true));
    let outcome = engine.on_block(&deposit_block(1, U256::from(11), None));
    assert_eq!(
        outcome.errors.len(),
        1,
        "a uint256 against a string is an error"
    );
}

#[test]
fn malformed_log_data_is_an_error_for_a_named_contract() {
    let mut engine = Engine::new(rules("true"), &directory(true));
    let outcome = engine.on_block(&deposit_block(1, U256::ZERO, Some(vec![1, 2, 3])));
    assert!(outcome.findings.is_empty());
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].message.contains("does not decode"),
        "{}",
        outcome.errors[0].message
    );
}

#[test]
fn reprocessing_gives_the_same_finding_ids() {
    let block = deposit_block(5, U256::MAX, None);
    let first = Engine::new(rules("args.amount == uint256(\"115792089237316195423570985008687907853269984665640564039457584007913129639935\")"), &directory(true)).on_block(&block);
    let second = Engine::new(rules("args.amount == uint256(\"115792089237316195423570985008687907853269984665640564039457584007913129639935\")"), &directory(true)).on_block(&block);
    assert_eq!(first.findings.len(), 1);
    assert_eq!(first.findings[0].id, second.findings[0].id);
    assert_eq!(
        first.findings[0].dedup_key,
        first.findings[0].id.to_string()
    );
    assert_eq!(first.findings[0].at_ms, 1_060_000);
}

#[test]
fn signals_are_level_triggered_per_label_set() {
    let set = RuleSet::from_yaml(
        "rules:\n  - id: hot\n    match: { signal: cpu }\n    condition: value > 80.0\n",
        "s.yaml",
    )
    .unwrap();
    let mut engine = Engine::new(set, &ContractDirectory::default());
    let signal = |value: f64, bot: &str, at_ms: i64| Signal {
        name: "cpu".into(),
        value,
        labels: [("bot".to_owned(), bot.to_owned())].into(),
        at_ms,
    };
    assert_eq!(engine.on_signal(&signal(90.0, "a", 0)).findings.len(), 1);
    assert_eq!(
        engine.on_signal(&signal(95.0, "a", 1)).findings.len(),
        0,
        "still hot: no repeat"
    );
    assert_eq!(
        engine.on_signal(&signal(95.0, "b", 1)).findings.len(),
        1,
        "another bot"
    );
    assert_eq!(engine.on_signal(&signal(50.0, "a", 2)).findings.len(), 0);
    let again = engine.on_signal(&signal(85.0, "a", 3));
    assert_eq!(again.findings.len(), 1, "re-armed");
    assert_eq!(again.findings[0].origin, None);
    let other = engine.on_signal(&Signal {
        name: "disk".into(),
        value: 99.0,
        labels: Default::default(),
        at_ms: 4,
    });
    assert!(other.findings.is_empty() && other.errors.is_empty());
}

#[test]
fn a_count_window_forgets_a_reverted_block() {
    let set = RuleSet::from_yaml(
        "rules:\n  - id: deposits\n    match: { event: { contract: Vault, signature: Deposit } }\n    threshold: '> 1 in 1h'\n",
        "w.yaml",
    )
    .unwrap();
    let mut engine = Engine::new(set, &directory(true));
    assert!(
        engine
            .on_block(&deposit_block(1, U256::from(1), None))
            .findings
            .is_empty()
    );
    let reverted = deposit_block(2, U256::from(1), None);
    assert_eq!(engine.on_block(&reverted).findings.len(), 1);
    engine.on_revert(&reverted.header);
    let mut replacement = deposit_block(2, U256::from(1), None);
    replacement.header.hash = B256::repeat_byte(0xaa);
    replacement.logs.clear();
    assert!(engine.on_block(&replacement).findings.is_empty());
    let third = engine.on_block(&deposit_block(3, U256::from(1), None));
    assert_eq!(
        third.findings.len(),
        1,
        "block 1 and 3 in the window, re-armed by the revert"
    );
    assert_eq!(third.findings[0].fields.to_value()["window"]["count"], 2.0);
}

#[test]
fn a_title_and_fields_see_every_variable_even_those_the_condition_does_not_read() {
    let text = "rules:\n  - id: any-deposit\n    match: { event: { contract: \"tag:vault\", signature: Deposit } }\n    condition: 'block.number > 0'\n    title: '{{contract.label}} got {{args.amount}} in {{tx.hash}}'\n    dedup: '{{event.name}}:{{args.owner}}'\n";
    let mut engine = Engine::new(
        RuleSet::from_yaml(text, "r.yaml").unwrap(),
        &directory(true),
    );
    let outcome = engine.on_block(&deposit_block(2, U256::from(7), None));
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.findings.len(), 1);
    let finding = &outcome.findings[0];
    assert!(finding.title.contains(" got 7 in 0x"), "{}", finding.title);
    assert_eq!(finding.dedup_key, format!("Deposit:{ALICE:#x}"));
    for field in ["event", "args", "tx", "block", "contract"] {
        assert!(
            finding.fields.get(field).is_some(),
            "fields lack {field}: {}",
            finding.fields
        );
    }
}

/// A rule on `contract: any` whose signature names its parameters (none
/// indexed) decodes the event of a contract the registry does not know.
#[test]
fn a_named_signature_without_indexed_decodes_an_unknown_contract() {
    let rules = RuleSet::from_yaml(
        "rules:\n  - id: note\n    match: { event: { contract: any, signature: \"Note(string message)\" } }\n    title: \"note: {{args.message}}\"\n",
        "r.yaml",
    )
    .unwrap();
    let mut engine = Engine::new(rules, &directory(false));
    let data = DynSolValue::Tuple(vec![DynSolValue::String("hi".into())]).abi_encode_params();
    let mut block = deposit_block(5, U256::from(1), Some(data));
    block.logs[0].topics = vec![keccak256("Note(string)")];
    let outcome = engine.on_block(&block);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let titles: Vec<&str> = outcome.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["note: hi"]);
}
