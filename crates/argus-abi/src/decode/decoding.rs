//! Decoding with an [`AbiIndex`]: a log ([`AbiIndex::decode_log`], with the
//! emitting address's events, its anonymous events, or the by-topic table),
//! calldata ([`AbiIndex::decode_call`]) and revert data
//! ([`AbiIndex::decode_revert`]: `Error(string)`, `Panic(uint256)`, custom
//! errors), and the conversion of alloy's values into [`AbiValue`]. The input
//! is untrusted: every failure is a [`DecodeError`], never a panic (the
//! property test below feeds arbitrary bytes).

use alloy_dyn_abi::{DynSolError, DynSolValue};
use alloy_json_abi::Param;
use alloy_primitives::{Address, B256, Selector};

use super::index::{CallableEntry, ContractAbi, EventEntry};
use super::{
    AbiIndex, AbiValue, DecodeError, DecodedArg, DecodedCall, DecodedLog, DecodedRevert,
    panic_meaning,
};

impl AbiIndex {
    /// Decodes a log with the ABI of its address, or, when the address has
    /// none, with any event of the index that has the log's topic0.
    pub fn decode_log(
        &self,
        address: Address,
        topics: &[B256],
        data: &[u8],
    ) -> Result<DecodedLog, DecodeError> {
        let contract = self.contracts.get(&address);
        let Some(topic0) = topics.first() else {
            return decode_anonymous(contract, topics, data)
                .unwrap_or(Err(DecodeError::NoTopics { address }));
        };
        let (candidates, by_topic_only) = match contract.and_then(|c| c.events.get(topic0)) {
            Some(entries) => (entries.as_slice(), false),
            None => match self.by_topic.get(topic0) {
                Some(entries) if contract.is_none() => (entries.as_slice(), true),
                _ => {
                    // An anonymous event may put anything in the first topic.
                    return decode_anonymous(contract, topics, data).unwrap_or(Err(
                        DecodeError::UnknownEvent {
                            address,
                            topic: *topic0,
                        },
                    ));
                }
            },
        };
        let mut last_error = None;
        for entry in candidates {
            match decode_with_event(entry, topics, data) {
                Ok(mut log) => {
                    log.by_topic_only = by_topic_only;
                    return Ok(log);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or(DecodeError::UnknownEvent {
            address,
            topic: *topic0,
        }))
    }

    /// Decodes calldata sent to `address`.
    pub fn decode_call(&self, address: Address, input: &[u8]) -> Result<DecodedCall, DecodeError> {
        let (selector, body) = split_selector(input, "the calldata")?;
        let entry = self
            .contracts
            .get(&address)
            .and_then(|c| c.functions.get(&selector))
            .ok_or(DecodeError::UnknownFunction { address, selector })?;
        let args = decode_callable(entry, body)?;
        Ok(DecodedCall {
            name: entry.name.clone(),
            signature: entry.signature.clone(),
            selector,
            args,
        })
    }

    /// Decodes the revert data of a call to `address`: `Error(string)`,
    /// `Panic(uint256)`, or a custom error of the address's ABI.
    pub fn decode_revert(
        &self,
        address: Address,
        data: &[u8],
    ) -> Result<DecodedRevert, DecodeError> {
        if data.is_empty() {
            return Ok(DecodedRevert::Empty);
        }
        let (selector, _) = split_selector(data, "the revert data")?;
        if selector == DynSolError::revert().selector() {
            let decoded =
                DynSolError::revert()
                    .decode_error(data)
                    .map_err(|e| DecodeError::Malformed {
                        signature: "Error(string)".to_owned(),
                        reason: e.to_string(),
                    })?;
            return match decoded.body.into_iter().next() {
                Some(DynSolValue::String(reason)) => Ok(DecodedRevert::Reason(reason)),
                _ => Err(DecodeError::Malformed {
                    signature: "Error(string)".to_owned(),
                    reason: "no string in the body".to_owned(),
                }),
            };
        }
        if selector == DynSolError::panic().selector() {
            let decoded =
                DynSolError::panic()
                    .decode_error(data)
                    .map_err(|e| DecodeError::Malformed {
                        signature: "Panic(uint256)".to_owned(),
                        reason: e.to_string(),
                    })?;
            return match decoded.body.into_iter().next() {
                Some(DynSolValue::Uint(code, _)) => Ok(DecodedRevert::Panic {
                    code,
                    meaning: panic_meaning(code),
                }),
                _ => Err(DecodeError::Malformed {
                    signature: "Panic(uint256)".to_owned(),
                    reason: "no uint256 in the body".to_owned(),
                }),
            };
        }
        let body = &data[4..];
        let entry = self
            .contracts
            .get(&address)
            .and_then(|c| c.errors.get(&selector))
            .ok_or(DecodeError::UnknownError { address, selector })?;
        let args = decode_callable(entry, body)?;
        Ok(DecodedRevert::Custom {
            name: entry.name.clone(),
            signature: entry.signature.clone(),
            args,
        })
    }
}
fn decode_anonymous(
    contract: Option<&ContractAbi>,
    topics: &[B256],
    data: &[u8],
) -> Option<Result<DecodedLog, DecodeError>> {
    let contract = contract?;
    let mut last_error = None;
    for entry in contract
        .anonymous
        .iter()
        .filter(|e| e.resolved.indexed().len() == topics.len())
    {
        match decode_with_event(entry, topics, data) {
            Ok(log) => return Some(Ok(log)),
            Err(error) => last_error = Some(error),
        }
    }
    last_error.map(Err)
}

fn split_selector<'a>(
    data: &'a [u8],
    what: &'static str,
) -> Result<(Selector, &'a [u8]), DecodeError> {
    match data.split_first_chunk::<4>() {
        Some((selector, body)) => Ok((Selector::from(*selector), body)),
        None => Err(DecodeError::TooShort {
            what,
            len: data.len(),
        }),
    }
}
fn decode_with_event(
    entry: &EventEntry,
    topics: &[B256],
    data: &[u8],
) -> Result<DecodedLog, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        signature: entry.signature.clone(),
        reason,
    };
    let decoded = entry
        .resolved
        .decode_log_parts(topics.iter().copied(), data)
        .map_err(|e| malformed(e.to_string()))?;
    let mut indexed = decoded.indexed.into_iter();
    let mut body = decoded.body.into_iter();
    let mut args = Vec::with_capacity(entry.inputs.len());
    for param in &entry.inputs {
        let raw = if param.indexed {
            indexed.next()
        } else {
            body.next()
        };
        let raw = raw.ok_or_else(|| malformed("fewer values than parameters".to_owned()))?;
        let value = if param.indexed && !is_word_type(&param.ty) {
            match raw {
                DynSolValue::FixedBytes(word, _) => AbiValue::Hashed(word),
                other => convert(other, &param.components),
            }
        } else {
            convert(raw, &param.components)
        };
        args.push(DecodedArg {
            name: param.name.clone(),
            ty: param.selector_type().into_owned(),
            indexed: param.indexed,
            value,
        });
    }
    Ok(DecodedLog {
        name: entry.name.clone(),
        signature: entry.signature.clone(),
        anonymous: entry.anonymous,
        args,
        by_topic_only: false,
    })
}

/// Whether an indexed parameter of this type is stored as its value (rather
/// than as the hash of its encoding).
fn is_word_type(ty: &str) -> bool {
    !(ty == "string"
        || ty == "bytes"
        || ty.ends_with(']')
        || ty.starts_with("tuple")
        || ty.starts_with('('))
}

fn decode_callable(entry: &CallableEntry, body: &[u8]) -> Result<Vec<DecodedArg>, DecodeError> {
    let malformed = |reason: String| DecodeError::Malformed {
        signature: entry.signature.clone(),
        reason,
    };
    let decoded = entry
        .body
        .abi_decode_sequence(body)
        .map_err(|e| malformed(e.to_string()))?;
    let DynSolValue::Tuple(values) = decoded else {
        return Err(malformed(
            "the arguments did not decode as a tuple".to_owned(),
        ));
    };
    if values.len() != entry.inputs.len() {
        return Err(malformed("fewer values than parameters".to_owned()));
    }
    Ok(entry
        .inputs
        .iter()
        .zip(values)
        .map(|(param, value)| DecodedArg {
            name: param.name.clone(),
            ty: param.selector_type().into_owned(),
            indexed: false,
            value: convert(value, &param.components),
        })
        .collect())
}

/// Converts alloy's dynamic value to ours, naming tuple components from the
/// ABI parameter's components.
fn convert(value: DynSolValue, components: &[Param]) -> AbiValue {
    match value {
        DynSolValue::Bool(b) => AbiValue::Bool(b),
        DynSolValue::Int(i, _) => AbiValue::Int(i),
        DynSolValue::Uint(u, _) => AbiValue::Uint(u),
        DynSolValue::FixedBytes(word, size) => AbiValue::FixedBytes(word[..size.min(32)].to_vec()),
        DynSolValue::Address(a) => AbiValue::Address(a),
        DynSolValue::Function(f) => AbiValue::Function(f.0.to_vec()),
        DynSolValue::Bytes(b) => AbiValue::Bytes(b),
        DynSolValue::String(s) => AbiValue::String(s),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) => {
            AbiValue::Array(items.into_iter().map(|v| convert(v, components)).collect())
        }
        DynSolValue::Tuple(items) => AbiValue::Tuple(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let component = components.get(i);
                    let name = component.map(|c| c.name.clone()).unwrap_or_default();
                    let inner = component.map(|c| c.components.as_slice()).unwrap_or(&[]);
                    (name, convert(v, inner))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_dyn_abi::{DynSolValue, JsonAbiExt};
    use alloy_json_abi::{Function, JsonAbi};
    use alloy_primitives::{U256, address, keccak256};

    fn erc20() -> JsonAbi {
        let mut abi = JsonAbi::parse([
            "event Transfer(address indexed from, address indexed to, uint256 value)",
            "event Note(string indexed tag, uint256 value)",
            "event Raw(uint256 a, bool b) anonymous",
            "function transfer(address to, uint256 amount) returns (bool)",
            "error Insufficient(uint256 available, uint256 required)",
        ])
        .unwrap();
        let submit: Function = serde_json::from_str(
            r#"{"type":"function","name":"submit","stateMutability":"nonpayable","outputs":[],
                "inputs":[{"name":"order","type":"tuple","components":[
                    {"name":"owner","type":"address"},{"name":"amounts","type":"uint256[]"}]}]}"#,
        )
        .unwrap();
        abi.functions.insert("submit".into(), vec![submit]);
        abi
    }

    fn word(address: Address) -> B256 {
        B256::left_padding_from(address.as_slice())
    }

    const TOKEN: Address = address!("0x1000000000000000000000000000000000000001");
    const ALICE: Address = address!("0x2000000000000000000000000000000000000002");
    const BOB: Address = address!("0x3000000000000000000000000000000000000003");

    #[test]
    fn decodes_a_transfer_exactly_at_the_uint256_boundary() {
        let mut index = AbiIndex::new();
        assert!(index.insert(TOKEN, &erc20()).is_empty());
        let topic = keccak256("Transfer(address,address,uint256)");
        let data = DynSolValue::Uint(U256::MAX, 256).abi_encode();
        let log = index
            .decode_log(TOKEN, &[topic, word(ALICE), word(BOB)], &data)
            .unwrap();
        assert_eq!(log.name, "Transfer");
        assert_eq!(log.signature, "Transfer(address,address,uint256)");
        assert_eq!(log.args[0].value, AbiValue::Address(ALICE));
        assert!(log.args[0].indexed);
        assert_eq!(log.args[1].value, AbiValue::Address(BOB));
        assert_eq!(log.args[2].name, "value");
        assert_eq!(log.args[2].value, AbiValue::Uint(U256::MAX));
        assert!(!log.by_topic_only);
    }

    #[test]
    fn unknown_address_falls_back_to_the_topic_table() {
        let mut index = AbiIndex::new();
        index.insert(TOKEN, &erc20());
        let topic = keccak256("Transfer(address,address,uint256)");
        let data = DynSolValue::Uint(U256::from(7), 256).abi_encode();
        let log = index
            .decode_log(ALICE, &[topic, word(ALICE), word(BOB)], &data)
            .unwrap();
        assert!(log.by_topic_only);
        assert_eq!(log.args[2].value, AbiValue::Uint(U256::from(7)));
    }

    #[test]
    fn indexed_dynamic_values_are_hashes() {
        let mut index = AbiIndex::new();
        index.insert(TOKEN, &erc20());
        let topic = keccak256("Note(string,uint256)");
        let hash = keccak256("hello");
        let data = DynSolValue::Uint(U256::from(1), 256).abi_encode();
        let log = index.decode_log(TOKEN, &[topic, hash], &data).unwrap();
        assert_eq!(log.args[0].value, AbiValue::Hashed(hash));
    }

    #[test]
    fn anonymous_events_decode_when_declared() {
        let mut index = AbiIndex::new();
        index.insert(TOKEN, &erc20());
        let data = DynSolValue::Tuple(vec![
            DynSolValue::Uint(U256::from(5), 256),
            DynSolValue::Bool(true),
        ])
        .abi_encode_params();
        let log = index.decode_log(TOKEN, &[], &data).unwrap();
        assert_eq!(log.name, "Raw");
        assert!(log.anonymous);
        assert_eq!(log.args[1].value, AbiValue::Bool(true));
    }

    #[test]
    fn malformed_logs_are_errors() {
        let mut index = AbiIndex::new();
        index.insert(TOKEN, &erc20());
        let topic = keccak256("Transfer(address,address,uint256)");
        // Too few topics (an ERC-721-shaped log against ERC-20) and short data.
        let error = index
            .decode_log(TOKEN, &[topic, word(ALICE)], &[1, 2, 3])
            .unwrap_err();
        assert!(matches!(error, DecodeError::Malformed { .. }), "{error:?}");
        let error = index
            .decode_log(TOKEN, &[B256::repeat_byte(9)], &[])
            .unwrap_err();
        assert!(
            matches!(error, DecodeError::UnknownEvent { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn decodes_calldata_with_named_tuple_components() {
        let mut index = AbiIndex::new();
        let abi = erc20();
        index.insert(TOKEN, &abi);
        let submit = &abi.function("submit").unwrap()[0];
        let order = DynSolValue::Tuple(vec![
            DynSolValue::Address(ALICE),
            DynSolValue::Array(vec![
                DynSolValue::Uint(U256::from(1), 256),
                DynSolValue::Uint(U256::MAX, 256),
            ]),
        ]);
        let input = submit.abi_encode_input(&[order]).unwrap();
        let call = index.decode_call(TOKEN, &input).unwrap();
        assert_eq!(call.signature, "submit((address,uint256[]))");
        let AbiValue::Tuple(fields) = &call.args[0].value else {
            panic!("not a tuple")
        };
        assert_eq!(fields[0], ("owner".to_owned(), AbiValue::Address(ALICE)));
        assert_eq!(
            fields[1].1,
            AbiValue::Array(vec![
                AbiValue::Uint(U256::from(1)),
                AbiValue::Uint(U256::MAX)
            ])
        );
        assert!(matches!(
            index.decode_call(TOKEN, &[1, 2]),
            Err(DecodeError::TooShort { .. })
        ));
        assert!(matches!(
            index.decode_call(TOKEN, &[1, 2, 3, 4]),
            Err(DecodeError::UnknownFunction { .. })
        ));
        let truncated = &input[..input.len() - 1];
        assert!(matches!(
            index.decode_call(TOKEN, truncated),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn decodes_reverts() {
        let mut index = AbiIndex::new();
        index.insert(TOKEN, &erc20());
        let reason = [
            &DynSolError::revert().selector()[..],
            &DynSolValue::String("nope".into()).abi_encode(),
        ]
        .concat();
        assert_eq!(
            index.decode_revert(TOKEN, &reason).unwrap(),
            DecodedRevert::Reason("nope".into())
        );
        let panic = [
            &DynSolError::panic().selector()[..],
            &DynSolValue::Uint(U256::from(0x11), 256).abi_encode(),
        ]
        .concat();
        assert_eq!(
            index.decode_revert(TOKEN, &panic).unwrap(),
            DecodedRevert::Panic {
                code: U256::from(0x11),
                meaning: "arithmetic overflow or underflow"
            }
        );
        let custom_selector = &keccak256("Insufficient(uint256,uint256)")[..4];
        let body = DynSolValue::Tuple(vec![
            DynSolValue::Uint(U256::from(1), 256),
            DynSolValue::Uint(U256::from(2), 256),
        ])
        .abi_encode_params();
        let custom = [custom_selector, &body[..]].concat();
        let DecodedRevert::Custom { name, args, .. } = index.decode_revert(TOKEN, &custom).unwrap()
        else {
            panic!("not custom")
        };
        assert_eq!(name, "Insufficient");
        assert_eq!(args[1].value, AbiValue::Uint(U256::from(2)));
        assert_eq!(
            index.decode_revert(TOKEN, &[]).unwrap(),
            DecodedRevert::Empty
        );
        assert!(index.decode_revert(TOKEN, &reason[..10]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_logs_and_calldata_never_panic(
            topics in proptest::collection::vec(proptest::array::uniform32(0u8..), 0..5),
            data in proptest::collection::vec(0u8.., 0..300),
            pick in 0usize..4,
        ) {
            let mut index = AbiIndex::new();
            index.insert(TOKEN, &erc20());
            let mut topics: Vec<B256> = topics.into_iter().map(B256::from).collect();
            let known = [
                keccak256("Transfer(address,address,uint256)"),
                keccak256("Note(string,uint256)"),
            ];
            if pick < 2 && !topics.is_empty() {
                topics[0] = known[pick];
            }
            let _ = index.decode_log(TOKEN, &topics, &data);
            let _ = index.decode_log(ALICE, &topics, &data);
            let mut input = keccak256("submit((address,uint256[]))")[..4].to_vec();
            input.extend_from_slice(&data);
            let _ = index.decode_call(TOKEN, &input);
            let _ = index.decode_call(TOKEN, &data);
            let _ = index.decode_revert(TOKEN, &data);
        }
    }
}

/// Decodes what a call of `function` returned (`eth_call`'s data) with the
/// function's `outputs`: the values by name and position, as for calldata.
/// The data is untrusted: a short or malformed answer is a
/// [`DecodeError::Malformed`], never a panic.
pub fn decode_returns(
    function: &alloy_json_abi::Function,
    data: &[u8],
) -> Result<Vec<DecodedArg>, DecodeError> {
    let signature = function.signature();
    let entry =
        super::index::resolve_outputs(function).map_err(|reason| DecodeError::Malformed {
            signature: signature.clone(),
            reason,
        })?;
    decode_callable(&entry, data)
}

#[cfg(test)]
mod returns_tests {
    use alloy_dyn_abi::DynSolValue;
    use alloy_primitives::U256;

    use super::*;

    #[test]
    fn returns_decode_by_name_and_refuse_short_data() {
        let function =
            alloy_json_abi::Function::parse("function info() returns (uint256 supply, bool open)")
                .unwrap();
        let data = DynSolValue::Tuple(vec![
            DynSolValue::Uint(U256::from(7u64), 256),
            DynSolValue::Bool(true),
        ])
        .abi_encode_params();
        let decoded = decode_returns(&function, &data).unwrap();
        assert_eq!(decoded[0].name, "supply");
        assert_eq!(decoded[0].value, AbiValue::Uint(U256::from(7u64)));
        assert_eq!(decoded[1].value, AbiValue::Bool(true));
        assert!(matches!(
            decode_returns(&function, &data[..40]),
            Err(DecodeError::Malformed { .. })
        ));
    }

    proptest::proptest! {
        /// A node's answer is untrusted: any bytes decode or fail, never panic.
        #[test]
        fn any_return_data_decodes_or_fails(data in proptest::collection::vec(0u8.., 0..300)) {
            let function = alloy_json_abi::Function::parse(
                "function f() returns (uint256 a, string b, address[] c, (bool,bytes) d)",
            )
            .unwrap();
            let _ = decode_returns(&function, &data);
        }
    }
}
