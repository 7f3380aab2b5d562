//! The kit itself: the receiver over a raw socket, anvil's helpers on a real
//! node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use argus_testkit::{
    ALICE, Answer, Anvil, DEPLOYER, Receiver, Request, TOKEN, cast, free_port, hmac_sha256,
    wait_for,
};
use serde_json::json;

/// Sends raw bytes, returns everything the receiver answered until it closed.
fn exchange(port: u16, raw: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_receiver_records_and_answers_from_its_script_then_its_status() {
    let receiver = Receiver::start();
    let port = receiver.addr().port();
    receiver.then(
        Answer::status(429)
            .header("Retry-After", "120")
            .body("slow down"),
    );
    // Two requests on one kept-alive connection, the second one chunked.
    let answer = exchange(
        port,
        "POST /hook?x=1 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: v\r\nContent-Length: 7\r\n\r\n{\"a\":1}\
         POST /two HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert!(
        answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Retry-After: 120\r\n"), "{answer}");
    assert!(answer.contains("slow down"), "{answer}");
    assert!(answer.contains("HTTP/1.1 200 OK\r\n"), "{answer}");

    receiver.set_status(503);
    exchange(port, "GET /down HTTP/1.1\r\nConnection: close\r\n\r\n");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/hook");
    assert_eq!(requests[0].header("x-mixed-case"), Some("v"));
    assert_eq!(requests[0].json(), json!({"a": 1}));
    assert_eq!(requests[0].status, 429);
    assert_eq!(requests[1].text(), "abcde");
    assert_eq!(requests[2].status, 503);
    assert_eq!(receiver.refused(), 2);
    let accepted: Vec<String> = receiver.accepted().into_iter().map(|r| r.path).collect();
    assert_eq!(accepted, ["/two"]);
}

#[test]
fn the_receiver_echoes_the_path_when_asked_and_can_start_on_a_refused_port() {
    let port = free_port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let receiver = Receiver::start_on(port);
    receiver.echo_path();
    receiver.then(Answer::status(400).body("no"));
    let answer = exchange(port, "GET /bot123/x HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(answer.ends_with("no you asked for /bot123/x"), "{answer}");
    drop(receiver);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped on drop"
    );
}

#[test]
fn a_signature_is_checked_as_a_webhook_receiver_checks_it() {
    // RFC 4231, test case 2.
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let body = br#"{"kind":"fire"}"#.to_vec();
    let mut signed = b"1700000000.".to_vec();
    signed.extend_from_slice(&body);
    let signature = format!("sha256={}", hex::encode(hmac_sha256(b"s3cret", &signed)));
    let request = Request {
        method: "POST".into(),
        path: "/hook".into(),
        headers: vec![
            ("X-Argus-Timestamp".into(), "1700000000".into()),
            ("X-Argus-Signature".into(), signature),
        ],
        body,
        status: 200,
        at: std::time::Instant::now(),
    };
    assert!(request.signed_with("s3cret"));
    assert!(!request.signed_with("other"));
}

#[tokio::test]
async fn waiting_for_requests_yields_to_the_runtime() {
    let receiver = Receiver::start();
    let port = receiver.addr().port();
    let client = tokio::task::spawn_blocking(move || {
        exchange(port, "POST /a HTTP/1.1\r\nConnection: close\r\n\r\n")
    });
    let requests = receiver.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(requests.len(), 1);
    client.await.unwrap();
}

#[test]
fn anvil_mines_reorgs_snapshots_and_deploys() {
    let anvil = Anvil::start_with(&["--no-mining"]);
    assert_eq!(anvil.block_number(), 0);
    anvil.mine(3);
    assert_eq!(anvil.block_number(), 3);
    let before = anvil.block_hash(3);
    anvil.reorg(
        2,
        json!([[{ "from": DEPLOYER, "to": ALICE, "value": "0x1" }, 0]]),
    );
    assert_eq!(anvil.block_number(), 3);
    assert_ne!(anvil.block_hash(3), before);

    let snapshot = anvil.snapshot();
    anvil.mine(5);
    assert!(anvil.revert_to(&snapshot));
    assert_eq!(anvil.block_number(), 3);

    // With --no-mining a deployment gets a block mined for it.
    let emitter = anvil.deploy("0x60bb60006000a16008601360003960086000f360aa60006000a100");
    assert_eq!(anvil.block_number(), 4);
    let code = anvil.rpc("eth_getCode", json!([format!("{emitter}"), "latest"]));
    assert_ne!(code, "0x");
    assert!(anvil.try_rpc("no_such_method", json!([])).is_err());
}

#[test]
fn anvil_deploys_the_sample_project_where_it_was_recorded() {
    let anvil = Anvil::start();
    anvil.deploy_sample_project();
    let code = anvil.rpc("eth_getCode", json!([TOKEN, "latest"]));
    assert_ne!(code, "0x");
    let data = cast::calldata("balanceOf(address)", &[ALICE]);
    let balance = anvil.rpc("eth_call", json!([{ "to": TOKEN, "data": data }, "latest"]));
    assert!(balance.as_str().unwrap().starts_with("0x"));
    assert!(anvil.http_url().ends_with(&anvil.port().to_string()));
    let ws = wait_for("a ws url", Duration::from_secs(1), || Some(anvil.ws_url()));
    assert!(ws.starts_with("ws://127.0.0.1:"));
}
