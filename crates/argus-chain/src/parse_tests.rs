use alloy_primitives::{Address, Bytes, LogData};
use proptest::prelude::*;

use super::*;

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

pub(super) fn rpc_header(number: u64, timestamp: u64, parent: B256, gas_used: u64) -> Header {
    let inner = alloy_consensus::Header {
        number,
        timestamp,
        parent_hash: parent,
        gas_used,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(7),
        ..Default::default()
    };
    Header {
        hash: inner.hash_slow(),
        inner,
        total_difficulty: None,
        size: None,
    }
}

#[test]
fn envelope_checks_the_id_and_surfaces_errors() {
    let ok = response(br#"{"jsonrpc":"2.0","id":7,"result":"0x10"}"#, 7).unwrap();
    let Answer::Result(value) = ok else { panic!() };
    assert_eq!(quantity(&value).unwrap(), 16);
    assert!(matches!(
        response(br#"{"jsonrpc":"2.0","id":8,"result":"0x10"}"#, 7),
        Err(ParseError::WrongId { .. })
    ));
    let error = response(
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"bad","data":"range 9 is bigger than range limit 2"}}"#,
        7,
    )
    .unwrap();
    let Answer::Error { code, message, .. } = error else {
        panic!()
    };
    assert_eq!(code, -32602);
    assert!(message.contains("bigger than range limit"));
    assert!(matches!(
        response(b"<html>", 1),
        Err(ParseError::Envelope { .. })
    ));
}

#[test]
fn batch_answers_come_back_in_request_order() {
    let answers = batch_response(
        br#"[{"jsonrpc":"2.0","id":11,"result":"0x2"},{"jsonrpc":"2.0","id":10,"result":"0x1"}]"#,
        10,
        2,
    )
    .unwrap();
    let values: Vec<u64> = answers
        .iter()
        .map(|a| match a {
            Answer::Result(r) => quantity(r).unwrap(),
            Answer::Error { .. } => panic!(),
        })
        .collect();
    assert_eq!(values, vec![1, 2]);
    assert!(batch_response(br#"[{"jsonrpc":"2.0","id":10,"result":"0x1"}]"#, 10, 2).is_err());
    assert!(
        batch_response(
            br#"[{"jsonrpc":"2.0","id":10,"result":"0x1"},{"jsonrpc":"2.0","id":10,"result":"0x1"}]"#,
            10,
            2
        )
        .is_err()
    );
}

#[test]
fn header_hash_is_verified() {
    let header = rpc_header(5, 1_700_000_000, B256::repeat_byte(1), 21_000);
    let mut json = serde_json::to_value(&header).unwrap();
    let parsed = super::header(&raw(&json.to_string()), ChainId::LOCAL, true)
        .unwrap()
        .unwrap();
    assert_eq!(parsed.header.hash, header.hash);
    assert_eq!(parsed.base_fee_per_gas, Some(7));
    json["timestamp"] = serde_json::json!("0x1");
    let forged = super::header(&raw(&json.to_string()), ChainId::LOCAL, true);
    assert!(matches!(
        forged,
        Err(ParseError::Inconsistent { what: "header", .. })
    ));
    // Without verification (chains hashing headers differently) it passes.
    assert!(super::header(&raw(&json.to_string()), ChainId::LOCAL, false).is_ok());
    assert_eq!(
        super::header(&raw("null"), ChainId::LOCAL, true).unwrap(),
        None
    );
    let mut missing = serde_json::to_value(&header).unwrap();
    missing.as_object_mut().unwrap().remove("parentHash");
    assert!(matches!(
        super::header(&raw(&missing.to_string()), ChainId::LOCAL, true),
        Err(ParseError::Malformed { .. })
    ));
}

fn rpc_log(block: (u64, B256), log: &Log) -> alloy_rpc_types_eth::Log {
    alloy_rpc_types_eth::Log {
        inner: alloy_primitives::Log {
            address: log.address,
            data: LogData::new_unchecked(log.topics.clone(), log.data.clone()),
        },
        block_hash: Some(block.1),
        block_number: Some(block.0),
        block_timestamp: None,
        transaction_hash: Some(log.tx_hash),
        transaction_index: Some(log.tx_index),
        log_index: Some(log.log_index),
        removed: false,
    }
}

#[test]
fn logs_must_name_the_block_and_come_in_order() {
    let log = Log {
        address: Address::repeat_byte(2),
        topics: vec![B256::repeat_byte(3)],
        data: Bytes::from_static(b"\x01"),
        log_index: 4,
        tx_index: 0,
        tx_hash: B256::repeat_byte(5),
    };
    let block = BlockRef {
        number: 9,
        hash: B256::repeat_byte(9),
        parent_hash: B256::ZERO,
        timestamp: 0,
    };
    let good = serde_json::to_string(&vec![rpc_log((9, block.hash), &log)]).unwrap();
    assert_eq!(logs(&raw(&good), Some(&block)).unwrap()[0].log, log);
    let other = serde_json::to_string(&vec![rpc_log((9, B256::repeat_byte(8)), &log)]).unwrap();
    assert!(matches!(
        logs(&raw(&other), Some(&block)),
        Err(ParseError::Inconsistent { .. })
    ));
    let twice = serde_json::to_string(&vec![
        rpc_log((9, block.hash), &log),
        rpc_log((9, block.hash), &log),
    ])
    .unwrap();
    assert!(logs(&raw(&twice), None).is_err());
    let short_hash = good.replace(&format!("{}", block.hash), "0x1234");
    assert!(matches!(
        logs(&raw(&short_hash), None),
        Err(ParseError::Malformed { .. })
    ));
}

#[test]
fn head_notifications_are_recognised() {
    let message = br#"{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xab","result":{"number":"0x2a","hash":"0x0000000000000000000000000000000000000000000000000000000000000001"}}}"#;
    let (subscription, number, hash) = head_notification(message).unwrap().unwrap();
    assert_eq!((subscription.as_str(), number), ("0xab", 42));
    assert_eq!(hash, B256::with_last_byte(1));
    assert_eq!(
        head_notification(br#"{"jsonrpc":"2.0","id":3,"result":"0x1"}"#).unwrap(),
        None
    );
    assert_eq!(
        message_id(br#"{"jsonrpc":"2.0","id":3,"result":"0x1"}"#),
        Some(3)
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "(0x)?[0-9a-fA-F]{0,70}".prop_map(serde_json::Value::from),
        "[a-zA-Z]{0,12}".prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("hash".to_owned()),
        Just("number".to_owned()),
        Just("parentHash".to_owned()),
        Just("logIndex".to_owned()),
        Just("blockHash".to_owned()),
        Just("transactions".to_owned()),
        Just("result".to_owned()),
        Just("id".to_owned()),
        "[a-zA-Z]{1,10}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_json(value in json_value()) {
        let text = value.to_string();
        let block = BlockRef { number: 1, hash: B256::ZERO, parent_hash: B256::ZERO, timestamp: 0 };
        let r = raw(&text);
        let _ = response(text.as_bytes(), 1);
        let _ = batch_response(text.as_bytes(), 1, 3);
        let _ = quantity(&r);
        let _ = header(&r, ChainId::LOCAL, true);
        let _ = full_block(&r, ChainId::LOCAL, true);
        let _ = logs(&r, Some(&block));
        let _ = receipts(&r, &block);
        let _ = receipt(&r, &block);
        let _ = head_notification(text.as_bytes());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = response(&bytes, 1);
        let _ = batch_response(&bytes, 1, 2);
        let _ = head_notification(&bytes);
    }

    #[test]
    fn headers_round_trip(number in any::<u64>(), timestamp in any::<u64>(), parent in any::<[u8; 32]>(), gas in any::<u64>()) {
        let header = rpc_header(number, timestamp, B256::from(parent), gas);
        let text = serde_json::to_string(&header).unwrap();
        let block = super::header(&raw(&text), ChainId::LOCAL, true).unwrap().unwrap();
        prop_assert_eq!(block.header, BlockRef { number, hash: header.hash, parent_hash: B256::from(parent), timestamp });
        prop_assert_eq!(block.gas_used, gas);
    }

    #[test]
    fn logs_round_trip(entries in prop::collection::vec((any::<[u8; 20]>(), prop::collection::vec(any::<[u8; 32]>(), 0..5), prop::collection::vec(any::<u8>(), 0..40), 0u64..50, any::<[u8; 32]>()), 0..8)) {
        let block = (3u64, B256::repeat_byte(3));
        let expected: Vec<Log> = entries.iter().enumerate().map(|(i, (address, topics, data, tx_index, tx_hash))| Log {
            address: Address::from(*address),
            topics: topics.iter().copied().map(B256::from).collect(),
            data: Bytes::from(data.clone()),
            log_index: i as u64,
            tx_index: *tx_index,
            tx_hash: B256::from(*tx_hash),
        }).collect();
        let text = serde_json::to_string(&expected.iter().map(|l| rpc_log(block, l)).collect::<Vec<_>>()).unwrap();
        let parsed = logs(&raw(&text), None);
        if expected.iter().any(|l| l.topics.len() > 4) {
            prop_assert!(parsed.is_err());
        } else {
            let parsed: Vec<Log> = parsed.unwrap().into_iter().map(|l| l.log).collect();
            prop_assert_eq!(parsed, expected);
        }
    }
}
