//! Node answers are untrusted bytes: the JSON-RPC envelope and every
//! conversion into Argus blocks, logs and receipts must reject, never panic.
#![no_main]

use alloy_primitives::B256;
use argus_chain::parse::{self, Answer};
use argus_core::{BlockRef, ChainId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let block = BlockRef {
        number: 1,
        hash: B256::ZERO,
        parent_hash: B256::ZERO,
        timestamp: 0,
    };
    let _ = parse::batch_response(data, 1, 4);
    let _ = parse::head_notification(data);
    let _ = parse::message_id(data);
    if let Ok(Answer::Result(raw)) = parse::response(data, 1) {
        let _ = parse::quantity(&raw);
        let _ = parse::header(&raw, ChainId::LOCAL, true);
        if let Ok(Some(mut full)) = parse::full_block(&raw, ChainId::LOCAL, false) {
            if let Ok(Some(receipts)) = parse::receipts(&raw, &full.header) {
                let _ = parse::attach_receipts(&mut full, receipts);
            }
        }
        let _ = parse::logs(&raw, Some(&block));
        let _ = parse::logs(&raw, None);
        let _ = parse::receipts(&raw, &block);
        let _ = parse::receipt(&raw, &block);
        if let Ok(trace) = serde_json::from_str::<serde_json::Value>(raw.get()) {
            let _ = parse::revert_output(&trace);
        }
    }
});
