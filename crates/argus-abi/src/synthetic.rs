//! Synthetic infrastructures for benchmarks: many ABIs of plausible shape,
//! generated deterministically so two runs lint the same thing.
//!
//! Each ABI has mostly its own functions, events and errors, plus a share of
//! signatures every token has (ERC-20's), so the index sees both many distinct
//! signatures and long occurrence runs.

use alloy_json_abi::{Error, Event, EventParam, Function, JsonAbi, Param, StateMutability};

use crate::interface::{InterfaceSet, Origin};

const TYPES: [&str; 12] = [
    "uint256",
    "address",
    "bool",
    "bytes32",
    "uint8",
    "int128",
    "bytes",
    "string",
    "uint256[]",
    "address[]",
    "uint64",
    "bytes4",
];

/// Builds `abis` ABIs holding `signatures` items in all.
pub fn infrastructure(abis: usize, signatures: usize) -> InterfaceSet {
    let abis = abis.max(1);
    let per_abi = signatures / abis;
    let mut set = InterfaceSet::new();
    let shared = shared_items();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for a in 0..abis {
        let mut abi = JsonAbi::new();
        let mut count = 0;
        if a % 2 == 0 {
            for f in &shared {
                abi.functions
                    .entry(f.name.clone())
                    .or_default()
                    .push(f.clone());
                count += 1;
            }
        }
        let mut i = 0;
        while count < per_abi {
            seed = next(seed);
            let arity = (seed % 4) as usize;
            let params: Vec<Param> = (0..arity)
                .map(|p| {
                    param(
                        TYPES[((seed >> (8 * p + 8)) % TYPES.len() as u64) as usize],
                        p,
                    )
                })
                .collect();
            match i % 20 {
                0 => {
                    let name = format!("Happened{a}x{i}");
                    let inputs = params
                        .into_iter()
                        .enumerate()
                        .map(|(k, p)| EventParam {
                            ty: p.ty,
                            name: p.name,
                            indexed: k == 0,
                            components: Vec::new(),
                            internal_type: None,
                        })
                        .collect();
                    abi.events.entry(name.clone()).or_default().push(Event {
                        name,
                        inputs,
                        anonymous: false,
                    });
                }
                1 => {
                    let name = format!("Failed{a}x{i}");
                    abi.errors.entry(name.clone()).or_default().push(Error {
                        name,
                        inputs: params,
                    });
                }
                _ => {
                    let name = format!("op{a}x{i}");
                    abi.functions
                        .entry(name.clone())
                        .or_default()
                        .push(Function {
                            name,
                            inputs: params,
                            outputs: vec![param("uint256", 9)],
                            state_mutability: StateMutability::NonPayable,
                        });
                }
            }
            i += 1;
            count += 1;
        }
        set.add_contract(Origin::labelled(format!("Contract{a}")), abi);
    }
    set
}

/// A signature list of `lines` lines, as a signature database publishes it.
pub fn signature_list(lines: usize) -> String {
    let mut text = String::with_capacity(lines * 32);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..lines {
        seed = next(seed);
        let arity = (seed % 4) as usize;
        let types: Vec<&str> = (0..arity)
            .map(|p| TYPES[((seed >> (8 * p + 8)) % TYPES.len() as u64) as usize])
            .collect();
        text.push_str(&format!("fn_{i:x}({})\n", types.join(",")));
    }
    text
}

fn shared_items() -> Vec<Function> {
    [
        "function transfer(address to, uint256 amount) returns (bool)",
        "function transferFrom(address from, address to, uint256 amount) returns (bool)",
        "function approve(address spender, uint256 amount) returns (bool)",
        "function balanceOf(address account) view returns (uint256)",
        "function allowance(address owner, address spender) view returns (uint256)",
        "function totalSupply() view returns (uint256)",
    ]
    .into_iter()
    .filter_map(|s| Function::parse(s).ok())
    .collect()
}

fn param(ty: &str, index: usize) -> Param {
    Param {
        ty: ty.to_owned(),
        name: format!("arg{index}"),
        components: Vec::new(),
        internal_type: None,
    }
}

/// xorshift64: deterministic, no dependency.
fn next(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
