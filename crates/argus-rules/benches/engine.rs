//! Logs per second through the engine (decode + evaluate) with 10, 1,000 and
//! 10,000 rules, on the same synthetic stream: 10,000 registered ERC-20-like
//! contracts, blocks of 1,000 Transfer logs of which 10% come from a contract
//! some rule watches (a quarter of those pass the rule's condition), the
//! rest from registered contracts nobody watches or unknown addresses. The
//! cost per log should not grow with the number of rules: compare
//! `rules/10000` with `rules/10` (the README quotes the ratio).

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator of the `argus` binary, so the figure is the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use alloy_dyn_abi::DynSolValue;
use alloy_json_abi::JsonAbi;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use argus_core::{Block, BlockRef, ChainId, Log};
use argus_rules::{ContractDirectory, ContractEntry, Engine, RuleSet};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Registered contracts: the first 10,000 may be watched, the rest never are.
const CONTRACTS: usize = 20_000;
const WATCHABLE: usize = 10_000;
const LOGS_PER_BLOCK: usize = 1_000;

fn address(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0x10;
    bytes[12..20].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from(bytes)
}

fn directory() -> ContractDirectory {
    let abi = JsonAbi::parse([
        "event Transfer(address indexed from, address indexed to, uint256 value)",
        "event Approval(address indexed owner, address indexed spender, uint256 value)",
        "function transfer(address to, uint256 amount) returns (bool)",
    ])
    .expect("a valid ABI");
    ContractDirectory {
        entries: (0..CONTRACTS)
            .map(|i| ContractEntry {
                chain: ChainId::LOCAL,
                address: address(i),
                label: format!("Token{i}"),
                tags: vec![],
                abi: abi.clone(),
            })
            .collect(),
    }
}

fn rules(count: usize) -> RuleSet {
    let mut text = String::from("rules:\n");
    for i in 0..count {
        text.push_str(&format!(
            "  - id: large-{i}\n    match: {{ event: {{ contract: Token{i}, signature: \"Transfer(address,address,uint256)\" }} }}\n    condition: args.value > uint256(\"750000000000000000000\")\n    title: \"{{{{args.value}}}} from {{{{args.from}}}}\"\n"
        ));
    }
    RuleSet::from_yaml(&text, "bench.yaml").expect("valid rules")
}

/// A block where 10% of logs come from watched contracts (among the first
/// `watched`), the rest from unwatched registered contracts or unknown
/// addresses.
fn block(watched: usize, number: u64) -> Block {
    let topic = keccak256("Transfer(address,address,uint256)");
    let mut seed = number.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    let logs = (0..LOGS_PER_BLOCK)
        .map(|i| {
            let r = next();
            let emitter = if i % 10 == 0 {
                address(r % watched)
            } else if i % 2 == 0 {
                address(WATCHABLE + r % (CONTRACTS - WATCHABLE))
            } else {
                address(CONTRACTS + r % 100_000)
            };
            let value = U256::from(r % 1000) * U256::from(10u64).pow(U256::from(18));
            Log {
                address: emitter,
                topics: vec![topic, B256::with_last_byte(1), B256::with_last_byte(2)],
                data: Bytes::from(DynSolValue::Uint(value, 256).abi_encode()),
                log_index: i as u64,
                tx_index: 0,
                tx_hash: B256::with_last_byte(9),
            }
        })
        .collect();
    Block {
        chain: ChainId::LOCAL,
        header: BlockRef {
            number,
            hash: keccak256(number.to_be_bytes()),
            parent_hash: B256::ZERO,
            timestamp: number * 12,
        },
        base_fee_per_gas: None,
        gas_used: 0,
        gas_limit: 0,
        logs,
        transactions: vec![],
    }
}

fn engine_throughput(c: &mut Criterion) {
    let directory = directory();
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(LOGS_PER_BLOCK as u64));
    group.sample_size(20);
    for count in [10usize, 1_000, 10_000] {
        let mut engine = Engine::new(rules(count), &directory);
        let blocks: Vec<Block> = (1..=8).map(|n| block(count.min(WATCHABLE), n)).collect();
        // The same fraction of logs match whatever the rule count.
        let findings: usize = blocks
            .iter()
            .map(|b| engine.on_block(b).findings.len())
            .sum();
        assert!(findings > 0, "the stream must exercise the rules");
        let mut i = 0;
        group.bench_function(count.to_string(), |b| {
            b.iter(|| {
                i = (i + 1) % blocks.len();
                black_box(engine.on_block(&blocks[i]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine_throughput);
criterion_main!(benches);
