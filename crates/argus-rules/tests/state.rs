//! State rules through the engine's public API: loading with located
//! problems, binding to the registry's ABIs, the plan of reads due at a
//! block, and evaluating the answers (a failed read is a rule error).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_dyn_abi::DynSolValue;
use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, Bytes, U256, address, keccak256};
use argus_core::{BlockRef, ChainId};
use argus_rules::{
    ContractDirectory, ContractEntry, Engine, RuleSet, StateAnswer, StateAt, StateQuery,
};

const TOKEN: Address = address!("0x1000000000000000000000000000000000000001");
const TREASURY: Address = address!("0x3000000000000000000000000000000000000003");

fn directory() -> ContractDirectory {
    let abi = JsonAbi::parse([
        "function totalSupply() view returns (uint256)",
        "function balanceOf(address) view returns (uint256)",
        "function owner() view returns (address)",
    ])
    .unwrap();
    ContractDirectory::new()
        .with(ContractEntry {
            chain: ChainId::LOCAL,
            address: TOKEN,
            label: "Token".into(),
            tags: vec![],
            abi,
        })
        .with(ContractEntry {
            chain: ChainId::LOCAL,
            address: TREASURY,
            label: "Treasury".into(),
            tags: vec![],
            abi: JsonAbi::default(),
        })
}

const RULES: &str = r#"
rules:
  - id: supply-cap
    severity: critical
    match:
      state:
        every: 2
        reads:
          supply: { contract: Token, call: totalSupply() }
          held: { contract: Token, call: "balanceOf(address)", args: [Treasury] }
          eth: { balance: Treasury }
          slot: { contract: Token, storage: 3 }
    invariant: reads.supply <= uint256("1000") && reads.held >= 10
    title: "supply {{reads.supply}} over the cap at {{block.number}}"
"#;

fn block(number: u64) -> BlockRef {
    BlockRef {
        number,
        hash: keccak256(number.to_be_bytes()),
        parent_hash: keccak256((number - 1).to_be_bytes()),
        timestamp: 1_000 + number,
    }
}

fn word(n: u64) -> Bytes {
    DynSolValue::Uint(U256::from(n), 256).abi_encode().into()
}

#[test]
fn reads_are_planned_every_n_blocks_and_a_broken_invariant_fires() {
    let rules = RuleSet::from_yaml(RULES, "state.yaml").unwrap();
    let mut engine = Engine::new(rules, &directory());
    assert!(
        engine.type_problems().is_empty(),
        "{:?}",
        engine.type_problems()
    );
    assert!(engine.state_plan(ChainId::LOCAL, 3).is_empty(), "every: 2");
    let plan = engine.state_plan(ChainId::LOCAL, 4);
    assert_eq!(plan.queries.len(), 4);
    let data = [0x70, 0xa0, 0x82, 0x31]
        .into_iter()
        .chain(B256::left_padding_from(TREASURY.as_slice()).0)
        .collect::<Vec<u8>>();
    assert!(plan.queries.contains(&(
        ChainId::LOCAL,
        StateQuery::Call {
            to: TOKEN,
            data: data.into()
        }
    )));
    let answer = |supply: u64| -> Vec<Result<StateAnswer, String>> {
        plan.queries
            .iter()
            .map(|(_, q)| {
                Ok(match q {
                    StateQuery::Call { data, .. } if data.len() == 4 => {
                        StateAnswer::Returned(word(supply))
                    }
                    StateQuery::Call { .. } => StateAnswer::Returned(word(50)),
                    _ => StateAnswer::Word(U256::from(1u64)),
                })
            })
            .collect()
    };
    let at = StateAt {
        blocks: vec![(ChainId::LOCAL, block(4))],
    };
    let holds = engine.on_state(&plan, &answer(1000), &at);
    assert!(holds.findings.is_empty() && holds.errors.is_empty());
    let broken = engine.on_state(&plan, &answer(1001), &at);
    assert_eq!(broken.findings.len(), 1);
    let finding = &broken.findings[0];
    assert_eq!(finding.title, "supply 1001 over the cap at 4");
    assert_eq!(finding.origin.unwrap().block, block(4));
    assert_eq!(finding.fields.to_value()["reads"]["supply"], "1001");
    let again = engine.on_state(&plan, &answer(1001), &at);
    assert_eq!(again.findings[0].id, finding.id, "deterministic ids");
}

#[test]
fn a_failed_or_undecodable_read_is_a_rule_error_not_a_pass() {
    let rules = RuleSet::from_yaml(RULES, "state.yaml").unwrap();
    let mut engine = Engine::new(rules, &directory());
    let plan = engine.state_plan(ChainId::LOCAL, 2);
    let at = StateAt {
        blocks: vec![(ChainId::LOCAL, block(2))],
    };
    let mut answers: Vec<Result<StateAnswer, String>> = plan
        .queries
        .iter()
        .map(|_| Ok(StateAnswer::Word(U256::ZERO)))
        .collect();
    answers[0] = Err("execution reverted".into());
    let outcome = engine.on_state(&plan, &answers, &at);
    assert!(outcome.findings.is_empty());
    assert_eq!(outcome.errors.len(), 1);
    assert!(
        outcome.errors[0].message.contains("execution reverted"),
        "{}",
        outcome.errors[0].message
    );
    assert!(outcome.errors[0].message.contains("at block 2"));
    let short: Vec<Result<StateAnswer, String>> = plan
        .queries
        .iter()
        .map(|(_, q)| match q {
            StateQuery::Call { .. } => Ok(StateAnswer::Returned(Bytes::from(vec![1, 2, 3]))),
            _ => Ok(StateAnswer::Word(U256::ZERO)),
        })
        .collect();
    let outcome = engine.on_state(&plan, &short, &at);
    assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
    assert!(outcome.findings.is_empty());
}

#[test]
fn problems_are_located_at_load_and_at_binding() {
    let bad = r#"
rules:
  - id: s
    match:
      state:
        reads:
          a: { contract: Token, call: "balanceOf(address)", args: [0x12] }
          b: { contract: Token, call: "totalSupply(" }
          c: { balance: Treasury, storage: 1 }
    invariant: reads.nosuch > 1
"#;
    let errors = RuleSet::from_yaml(bad, "bad.yaml").unwrap_err();
    let text: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yaml:7:") && t.contains("quote")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yaml:8:") && t.contains("not a function signature")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.starts_with("bad.yaml:9:") && t.contains("exactly one")),
        "{text:?}"
    );

    let undeclared = r#"
rules:
  - id: s
    match:
      state:
        reads:
          supply: { contract: Token, call: "totalSupply() returns (uint256)" }
    invariant: reads.cap > reads.supply
"#;
    let errors = RuleSet::from_yaml(undeclared, "u.yaml").unwrap_err();
    assert!(errors[0].to_string().contains("cap"), "{errors:?}");

    // Only the registry knows what `owner()` returns and that `paused()` is missing.
    let at_binding = r#"
rules:
  - id: owner-kept
    match: { state: { reads: { owner: { contract: Token, call: owner() } } } }
    invariant: reads.owner > 3
  - id: paused
    match: { state: { reads: { p: { contract: Token, call: paused() } } } }
    invariant: reads.p
"#;
    let engine = Engine::new(
        RuleSet::from_yaml(at_binding, "b.yaml").unwrap(),
        &directory(),
    );
    let problems: Vec<String> = engine
        .type_problems()
        .iter()
        .map(|p| format!("{}: {}", p.rule_id, p.message))
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("owner-kept") && problems[0].contains("string"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("paused") && problems[1].contains("has no function `paused()`"),
        "{problems:?}"
    );
}

#[test]
fn cross_chain_rules_read_each_chain_and_are_not_per_block() {
    let rules = r#"
rules:
  - id: bridge
    match:
      state:
        reads:
          locked: { chain: 1, contract: "0x1000000000000000000000000000000000000001", call: "totalSupply() returns (uint256)" }
          minted: { chain: 10, contract: "0x1000000000000000000000000000000000000001", call: "totalSupply() returns (uint256)" }
    invariant: reads.locked >= reads.minted
"#;
    let mut engine = Engine::new(RuleSet::from_yaml(rules, "x.yaml").unwrap(), &directory());
    assert!(engine.state_plan(ChainId(1), 5).is_empty());
    let plan = engine.cross_chain_plan();
    assert_eq!(plan.chains(), vec![ChainId(1), ChainId(10)]);
    assert_eq!(engine.cross_chains(), vec![ChainId(1), ChainId(10)]);
    let answers: Vec<Result<StateAnswer, String>> = plan
        .queries
        .iter()
        .map(|(chain, _)| {
            Ok(StateAnswer::Returned(word(if chain.0 == 1 {
                5
            } else {
                6
            })))
        })
        .collect();
    let at = StateAt {
        blocks: vec![(ChainId(10), block(7)), (ChainId(1), block(3))],
    };
    let outcome = engine.on_state(&plan, &answers, &at);
    assert_eq!(outcome.findings.len(), 1, "{:?}", outcome.errors);
    assert_eq!(outcome.findings[0].origin.unwrap().chain, ChainId(10));
    assert_eq!(
        outcome.findings[0].fields.to_value()["blocks"]["1"]["number"],
        3
    );
}

/// For coverage, a state rule is a rule on each contract it reads (and on
/// an address whose balance it reads), on no particular item.
#[test]
fn a_state_rule_watches_the_contracts_it_reads() {
    let rules = RuleSet::from_yaml(RULES, "state.yaml").unwrap();
    let engine = Engine::new(rules, &directory());
    let watches = engine.watches();
    let [watch] = watches.as_slice() else {
        panic!("one rule: {watches:?}")
    };
    assert_eq!(watch.rule_id, "supply-cap");
    assert_eq!(
        watch.watched,
        vec![
            argus_rules::Watched::State {
                chain: Some(ChainId::LOCAL),
                address: TOKEN
            },
            argus_rules::Watched::State {
                chain: Some(ChainId::LOCAL),
                address: TREASURY
            },
        ]
    );
}
