//! A real local Ethereum node: the workspace's pinned anvil on a free
//! loopback port, killed on drop.
//!
//! Anvil plays what a mock could not: reorgs of any depth (`anvil_reorg`),
//! snapshots, on-demand mining, impersonation. Its JSON-RPC is reached with
//! the kit's own few lines of HTTP, never with `argus-chain`'s client, so a
//! test's setup does not depend on the code it checks.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use serde_json::{Value, json};

use crate::{free_port, http, npm_bin, testdata, wait_for};

/// Anvil's first default account (unlocked, 10,000 ETH): the sender of
/// [`Anvil::send`] when a transaction names none, and the deployer of the
/// sample project.
pub const DEPLOYER: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// Anvil's second default account.
pub const ALICE: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// Anvil's third default account.
pub const BOB: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
/// Where the sample project's `Token` lands on a fresh anvil
/// ([`Anvil::deploy_sample_project`]).
pub const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

/// How long a node may take to answer its first call.
const STARTUP: Duration = Duration::from_secs(20);

/// A running anvil, killed (and reaped) on drop.
///
/// Every call panics with the method and the node's error when it fails:
/// this is test setup, where a failure is the test's failure. Use
/// [`Anvil::try_rpc`] to look at an error.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
    /// Started with `--no-mining`: transactions wait in the mempool until
    /// [`Anvil::mine`].
    on_demand: bool,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Starts anvil with its defaults (chain 31337, a block per transaction)
    /// and waits until it answers.
    ///
    /// # Panics
    /// When anvil is not installed (`npm ci`) or does not come up.
    pub fn start() -> Anvil {
        Self::start_with(&[])
    }

    /// Starts anvil with extra arguments, e.g. `["--no-mining"]` to mine only
    /// when the test says so, or `["--chain-id", "10"]`.
    ///
    /// # Panics
    /// When anvil is not installed (`npm ci`) or does not come up.
    pub fn start_with(args: &[&str]) -> Anvil {
        let bin = npm_bin("anvil");
        let on_demand = args.contains(&"--no-mining");
        // Another process may take the free port before anvil binds it: then
        // anvil exits, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
                .arg("--silent")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", bin.display()));
            let mut node = Anvil {
                child,
                port,
                on_demand,
            };
            let deadline = Instant::now() + STARTUP;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = node.child.try_wait() {
                    break;
                }
                if node.try_rpc("eth_chainId", json!([])).is_ok() {
                    return node;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("anvil did not start (tried 5 ports)");
    }

    /// The loopback port it serves on (HTTP and WebSocket alike).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ws://127.0.0.1:<port>`
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// One JSON-RPC call: the `result`, or the error (transport, HTTP status
    /// or JSON-RPC) as text.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, body) = http::post(self.port, "/", request.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let response: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        match response.get("error") {
            Some(error) => Err(error.to_string()),
            None => Ok(response.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// One JSON-RPC call that must succeed.
    ///
    /// # Panics
    /// When it fails, with the method and the error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }

    /// The `chains:` entry of a monitor that follows this node from the
    /// next block on, over HTTP, with 0 confirmations, full blocks and a
    /// 200 ms poll: what the end-to-end tests run `argus run` with.
    pub fn follow_config(&self) -> Value {
        serde_json::json!({
            "chain": "anvil",
            "rpc": [self.http_url()],
            "confirmations": 0,
            "fetch": "full",
            "start": self.block_number() + 1,
            "poll_interval": "200ms",
        })
    }

    /// The number of the latest block.
    pub fn block_number(&self) -> u64 {
        hex_u64(&self.rpc("eth_blockNumber", json!([])))
    }

    /// The canonical hash of block `number`.
    pub fn block_hash(&self, number: u64) -> B256 {
        let block = self.rpc(
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), false]),
        );
        let hash = block["hash"].as_str().unwrap_or_default();
        hash.parse()
            .unwrap_or_else(|_| panic!("no hash for block {number}: {block}"))
    }

    /// Mines `blocks` blocks now (`anvil_mine`), with whatever waits in the
    /// mempool in the first.
    pub fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")]));
    }

    /// Sends a transaction from an unlocked account (`from` defaults to
    /// [`DEPLOYER`]) and returns its hash. With `--no-mining` it waits in the
    /// mempool until [`Anvil::mine`].
    pub fn send(&self, tx: Value) -> String {
        let mut tx = tx;
        if tx.get("from").is_none() {
            tx["from"] = json!(DEPLOYER);
        }
        let hash = self.rpc("eth_sendTransaction", json!([tx]));
        hash.as_str()
            .unwrap_or_else(|| panic!("eth_sendTransaction answered {hash}"))
            .to_owned()
    }

    /// The receipt of `hash`, once the node has one (waits up to 20 s).
    pub fn receipt(&self, hash: &str) -> Value {
        wait_for("a receipt", Duration::from_secs(20), || {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash]));
            (!receipt.is_null()).then_some(receipt)
        })
    }

    /// Deploys `init_code` (creation bytecode, `0x…`) from [`DEPLOYER`] and
    /// returns the contract's address. The deployment gets a block of its
    /// own: with `--no-mining`, one is mined for it.
    ///
    /// # Panics
    /// When the deployment reverts.
    pub fn deploy(&self, init_code: &str) -> Address {
        let hash = self.send(json!({ "data": init_code, "gas": "0x1000000" }));
        self.mine_if_on_demand();
        let receipt = self.receipt(&hash);
        receipt["contractAddress"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no contract address in {receipt}"))
    }

    /// Deploys the sample Foundry project (`testdata/foundry-project`) by
    /// replaying its broadcast transaction by transaction, so its contracts
    /// land at the recorded addresses ([`TOKEN`] first).
    ///
    /// # Panics
    /// When a transaction of the replay fails.
    pub fn deploy_sample_project(&self) {
        let path = testdata("foundry-project/broadcast/Deploy.s.sol/31337/run-latest.json");
        let broadcast: Value = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let transactions = broadcast["transactions"].as_array().cloned();
        for entry in transactions.unwrap_or_default() {
            let tx = &entry["transaction"];
            let mut send = json!({"from": tx["from"], "data": tx["input"], "gas": "0x1c9c380"});
            if let Some(to) = tx.get("to").filter(|to| !to.is_null()) {
                send["to"] = to.clone();
            }
            let hash = self.send(send);
            self.mine_if_on_demand();
            let receipt = self.receipt(&hash);
            assert_eq!(receipt["status"], "0x1", "replaying {entry}");
        }
    }

    /// Mines the block a transaction just sent waits for, when the node mines
    /// only when told.
    fn mine_if_on_demand(&self) {
        if self.on_demand {
            self.mine(1);
        }
    }

    /// Replaces the last `depth` blocks (`anvil_reorg`). `txs` go into the new
    /// branch: `[[tx, offset], …]`, `offset` counting blocks from the fork.
    pub fn reorg(&self, depth: u64, txs: Value) {
        self.rpc("anvil_reorg", json!([depth, txs]));
    }

    /// Takes a snapshot of the chain's state (`evm_snapshot`); its id.
    pub fn snapshot(&self) -> String {
        let id = self.rpc("evm_snapshot", json!([]));
        id.as_str()
            .unwrap_or_else(|| panic!("evm_snapshot answered {id}"))
            .to_owned()
    }

    /// Returns to a snapshot (`evm_revert`), dropping what came after it;
    /// whether the snapshot existed. A snapshot is used up by reverting to it.
    pub fn revert_to(&self, snapshot: &str) -> bool {
        self.rpc("evm_revert", json!([snapshot])) == json!(true)
    }
}

/// A JSON-RPC quantity (`"0x1a"`) as a number.
///
/// # Panics
/// When `value` is not one.
pub fn hex_u64(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|text| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("not a hex quantity: {value}"))
}
