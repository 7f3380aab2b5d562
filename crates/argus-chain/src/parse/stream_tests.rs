//! The one-at-a-time path gives what the whole-value path gives, and leaves
//! everything else to it.

use alloy_primitives::B256;
use serde_json::{Value, json};

use super::super::{
    ParseError, full_block, full_block_whole, receipt_list_json, receipts, receipts_of,
};
use super::*;

const FROM: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const TO: &str = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).unwrap()
}

/// Block 9, its parent all ones, 42,000 gas used.
fn header() -> Header {
    crate::parse::tests::rpc_header(9, 1_700_000_000, B256::repeat_byte(1), 42_000)
}

fn tx(header: &Header, index: u64) -> Value {
    json!({
        "hash": format!("{:#x}", B256::repeat_byte(0x10 + index as u8)),
        "nonce": format!("{index:#x}"),
        "blockHash": format!("{:#x}", header.hash),
        "blockNumber": "0x9",
        "transactionIndex": format!("{index:#x}"),
        "from": FROM,
        "to": TO,
        "value": format!("{:#x}", 1000 + index),
        "gas": "0x5208",
        "gasPrice": "0x3b9aca07",
        "maxFeePerGas": "0x77359400",
        "maxPriorityFeePerGas": "0x3b9aca00",
        "input": "0xa9059cbb00",
        "r": "0x1",
        "s": "0x2",
        "v": "0x0",
        "yParity": "0x0",
        "chainId": "0x7a69",
        "accessList": [],
        "type": "0x2"
    })
}

fn block(header: &Header, transactions: Value) -> Value {
    let mut block = serde_json::to_value(header).unwrap();
    block["transactions"] = transactions;
    block["uncles"] = json!([]);
    block
}

fn receipt(header: &Header, index: u64, logs: usize) -> Value {
    let tx_hash = format!("{:#x}", B256::repeat_byte(0x10 + index as u8));
    let logs: Vec<Value> = (0..logs)
        .map(|at| {
            json!({
                "address": TO,
                "topics": [format!("{:#x}", B256::repeat_byte(0xdd))],
                "data": "0x01",
                "blockHash": format!("{:#x}", header.hash),
                "blockNumber": "0x9",
                "transactionHash": tx_hash,
                "transactionIndex": format!("{index:#x}"),
                "logIndex": format!("{:#x}", index * 10 + at as u64),
                "removed": false
            })
        })
        .collect();
    json!({
        "transactionHash": tx_hash,
        "transactionIndex": format!("{index:#x}"),
        "blockHash": format!("{:#x}", header.hash),
        "blockNumber": "0x9",
        "from": FROM,
        "to": TO,
        "cumulativeGasUsed": "0x5208",
        "gasUsed": "0x5208",
        "contractAddress": null,
        "logs": logs,
        "status": if index == 1 { "0x0" } else { "0x1" },
        "logsBloom": format!("0x{}", "0".repeat(512)),
        "type": "0x2",
        "effectiveGasPrice": "0x3b9aca07"
    })
}

#[test]
fn a_full_block_is_the_same_either_way() {
    let header = header();
    let text = raw(&block(
        &header,
        json!([tx(&header, 0), tx(&header, 1), tx(&header, 2)]),
    ));
    let streamed = super::full_block(&text, ChainId::LOCAL, true).expect("a plain block");
    let whole = full_block_whole(&text, ChainId::LOCAL, true).unwrap();
    assert_eq!(streamed, whole);
    assert_eq!(streamed.transactions.len(), 3);
    assert_eq!(streamed.transactions[2].index, 2);
    // And with no transactions at all.
    let empty = raw(&block(&header, json!([])));
    assert_eq!(
        super::full_block(&empty, ChainId::LOCAL, true),
        Some(full_block_whole(&empty, ChainId::LOCAL, true).unwrap())
    );
}

#[test]
fn what_the_stream_does_not_take_is_decided_as_before() {
    let header = header();
    let hashes = raw(&block(&header, json!([format!("{:#x}", header.hash)])));
    assert_eq!(super::full_block(&hashes, ChainId::LOCAL, true), None);
    assert!(matches!(
        full_block(&hashes, ChainId::LOCAL, true),
        Err(ParseError::Malformed { what: "block", .. })
    ));
    // A transaction out of place, a transaction of another block.
    let mut misplaced = tx(&header, 1);
    misplaced["transactionIndex"] = json!("0x5");
    let mut elsewhere = tx(&header, 1);
    elsewhere["blockHash"] = json!(format!("{:#x}", B256::repeat_byte(9)));
    for bad in [json!([misplaced]), json!([tx(&header, 0), elsewhere])] {
        let text = raw(&block(&header, bad));
        assert_eq!(super::full_block(&text, ChainId::LOCAL, true), None);
        assert_eq!(
            full_block(&text, ChainId::LOCAL, true).map_err(|e| e.to_string()),
            full_block_whole(&text, ChainId::LOCAL, true)
                .map(Some)
                .map_err(|e| e.to_string())
        );
        assert!(full_block(&text, ChainId::LOCAL, true).is_err());
    }
    // A member given twice.
    let twice = RawValue::from_string(format!(
        "{{\"transactions\":[],{}",
        &block(&header, json!([])).to_string()[1..]
    ))
    .unwrap();
    assert_eq!(super::full_block(&twice, ChainId::LOCAL, true), None);
}

#[test]
fn receipts_are_the_same_either_way() {
    let header = header();
    let at = BlockRef {
        number: 9,
        hash: header.hash,
        parent_hash: header.inner.parent_hash,
        timestamp: header.inner.timestamp,
    };
    let text = raw(&json!([
        receipt(&header, 0, 1),
        receipt(&header, 1, 0),
        receipt(&header, 2, 2)
    ]));
    let streamed = receipt_list(&text, &at).expect("a plain receipt list");
    let whole =
        super::super::receipt_list(&receipt_list_json(&text).unwrap().unwrap(), &at).unwrap();
    assert_eq!(streamed, whole);
    assert_eq!(streamed[2].logs.len(), 2);
    assert!(!streamed[1].receipt.success);
    assert_eq!(receipts(&text, &at).unwrap(), Some(whole.clone()));
    assert_eq!(receipts_of(&text, &at).unwrap(), Some(whole));
    // Another branch's receipts at this height: none, not an error.
    let mut other = receipt(&header, 1, 0);
    other["blockHash"] = json!(format!("{:#x}", B256::repeat_byte(9)));
    let text = raw(&json!([receipt(&header, 0, 1), other]));
    assert_eq!(receipt_list(&text, &at), None);
    assert_eq!(receipts_of(&text, &at).unwrap(), None);
    assert!(receipts(&text, &at).is_err());
    // `null`: the node has none.
    let null = RawValue::from_string("null".into()).unwrap();
    assert_eq!(receipt_list(&null, &at), None);
    assert_eq!(receipts(&null, &at).unwrap(), None);
}
