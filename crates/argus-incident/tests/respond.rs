//! Responders against real parts: OpenZeppelin's pausable token on anvil,
//! a SQLite store in a temporary directory, a real `sleep` process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use argus_chain::{EndpointConfig, PoolConfig, RpcPool};
use argus_core::{ChainId, Clock};
use argus_incident::db::{self, Incident};
use argus_incident::policy::{
    AffectedKeyword, BotConfig, ContractCallStep, MoveFundsStep, NotifyStep, RevokeStep,
    StepAction, Targets,
};
use argus_incident::{
    GuardianKey, IncidentSeverity, IncidentState, Responders, StepFailure, StepJob,
};
use argus_store::Store;
use argus_testkit::openzeppelin::{deploy_pausable_token, pauser_role};
use argus_testkit::{ALICE, Anvil, BOB, SoftHsm, cast, wait_for_async};
use argus_vault::{
    AccessPolicy, Action, ArgonCost, HsmToken, MasterKey, OutsideWindow, PinSource, TimeWindow,
    Vault, VaultSigner,
};
use serde_json::json;

/// Anvil's second default account (ALICE), unlocked on the node.
const ALICE_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

struct Setup {
    anvil: Anvil,
    store: Store,
    _dir: tempfile::TempDir,
    token: Address,
}

fn setup() -> Setup {
    let anvil = Anvil::start();
    let token = deploy_pausable_token(&anvil, "Guarded", "GRD");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    Setup {
        anvil,
        store,
        _dir: dir,
        token,
    }
}

fn pool(anvil: &Anvil) -> RpcPool {
    RpcPool::new(
        ChainId::LOCAL,
        vec![EndpointConfig::new("anvil", anvil.http_url())],
        PoolConfig::default(),
    )
    .unwrap()
}

/// A fresh key with 10 ETH on the node.
fn funded_key(anvil: &Anvil) -> PrivateKeySigner {
    let signer = PrivateKeySigner::random();
    anvil.rpc(
        "anvil_setBalance",
        json!([format!("{:#x}", signer.address()), "0x8ac7230489e80000"]),
    );
    signer
}

fn guardian(signer: PrivateKeySigner) -> GuardianKey {
    GuardianKey {
        signer: signer.into(),
        policy: AccessPolicy::default(),
    }
}

fn responders(setup: &Setup, clock: Clock, key: GuardianKey) -> Responders {
    Responders::new(setup.store.clone(), clock)
        .chain("local", ChainId::LOCAL, pool(&setup.anvil))
        .key("guardian", key)
}

fn incident() -> Incident {
    Incident {
        id: 7,
        kind: "funds-drained".into(),
        group_key: "chain:31337".into(),
        severity: IncidentSeverity::P0,
        state: IncidentState::Open,
        title: "drain".into(),
        playbook: Some("contain".into()),
        opened_ms: 0,
        first_event_ms: 0,
        first_alert_ms: 0,
        acknowledged_ms: None,
        contained_ms: None,
        resolved_ms: None,
        reopened: 0,
        assignee: None,
        escalation_level: 0,
        escalate_at_ms: None,
        evidence_root: None,
        public_status: None,
    }
}

fn job(step_id: &str, action: StepAction) -> StepJob {
    StepJob {
        incident: incident(),
        step_id: step_id.into(),
        action,
        affected: Vec::new(),
        attempt: 1,
    }
}

fn pause_step(targets: Targets, replace_after_ms: Option<i64>) -> StepAction {
    StepAction::Pause(ContractCallStep {
        chain: "local".into(),
        contracts: targets,
        function: None,
        key: "guardian".into(),
        max_fee_gwei: None,
        replace_after_ms,
    })
}

fn grant_pauser(anvil: &Anvil, token: Address, to: Address) {
    let data = cast::calldata(
        "grantRole(bytes32,address)",
        &[&pauser_role(), &format!("{to:#x}")],
    );
    let hash = anvil.send(json!({ "to": format!("{token:#x}"), "data": data }));
    assert_eq!(anvil.receipt(&hash)["status"], "0x1");
}

fn call_uint(anvil: &Anvil, to: Address, signature: &str, args: &[&str]) -> U256 {
    let data = cast::calldata(signature, args);
    let answer = anvil.rpc(
        "eth_call",
        json!([{ "to": format!("{to:#x}"), "data": data }, "latest"]),
    );
    U256::from_str(answer.as_str().unwrap()).unwrap()
}

fn is_paused(anvil: &Anvil, token: Address) -> bool {
    call_uint(anvil, token, "paused()", &[]) == U256::from(1)
}

fn eth_balance(anvil: &Anvil, address: Address) -> U256 {
    let answer = anvil.rpc("eth_getBalance", json!([format!("{address:#x}"), "latest"]));
    U256::from_str(answer.as_str().unwrap()).unwrap()
}

fn nonce(anvil: &Anvil, address: Address) -> u64 {
    argus_testkit::hex_u64(&anvil.rpc(
        "eth_getTransactionCount",
        json!([format!("{address:#x}"), "latest"]),
    ))
}

fn recorded(store: &Store, step: &str) -> Vec<db::SignedTransaction> {
    db::transactions_of_step(&store.connect().unwrap(), 7, step).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_with_the_pauser_role_pauses_once_and_a_second_run_sends_nothing() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    let address = signer.address();
    grant_pauser(&setup.anvil, setup.token, address);
    let responders = responders(&setup, Clock::system(), guardian(signer));
    let job = job(
        "pause",
        pause_step(Targets::Listed(vec![format!("{:#x}", setup.token)]), None),
    );

    let result = responders.execute(&job).await.unwrap();
    assert!(is_paused(&setup.anvil, setup.token), "{result}");
    let txs = recorded(&setup.store, "pause");
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!(txs[0].status, "confirmed");
    assert_eq!(result["targets"][0]["tx_hash"], json!(txs[0].tx_hash));
    assert_eq!(result["targets"][0]["block"], json!(txs[0].block));
    assert_eq!(nonce(&setup.anvil, address), 1);

    let again = responders.execute(&job).await.unwrap();
    assert_eq!(again["targets"][0]["outcome"], "already paused", "{again}");
    assert_eq!(recorded(&setup.store, "pause").len(), 1);
    assert_eq!(nonce(&setup.anvil, address), 1);

    // `affected` finds the same contract from the incident's alerts.
    let mut affected = self::job(
        "pause-affected",
        pause_step(Targets::Affected(AffectedKeyword::Affected), None),
    );
    affected.affected = vec![(ChainId::LOCAL, setup.token)];
    let result = responders.execute(&affected).await.unwrap();
    assert_eq!(
        result["targets"][0]["outcome"], "already paused",
        "{result}"
    );
}

/// The same pause step with the guardian key in a PKCS#11 token (Debian's
/// SoftHSM): the key is opened the way the daemon opens it
/// (`Vault::signer_held`), and the step signs, records and sends through
/// the same path as a key in a file. Runs in a child process whose
/// environment points SoftHSM at a token of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_key_in_a_pkcs11_token_pauses_through_the_same_step() {
    let Some(hsm) = SoftHsm::in_child(
        "a_guardian_key_in_a_pkcs11_token_pauses_through_the_same_step",
        "argus-respond",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::new("q7Vd0mJ3xR9sL2kP8wZ4tY6uB1nC5eA0fG3hI7jK9lM=".to_owned()).unwrap();
    let cheap = ArgonCost {
        m_cost: 1024,
        t_cost: 1,
        p_cost: 1,
    };
    let mut vault = Vault::init(&dir.path().join("keystore"), &master, cheap).unwrap();
    let token = HsmToken {
        module: hsm.module.clone(),
        token: hsm.token.clone(),
        pin: PinSource::Env("ARGUS_HSM_PIN".to_owned()),
    };
    let containment = AccessPolicy {
        actions: vec![Action::SignContainment],
        window: None,
        rotate_every_secs: None,
    };
    vault
        .create_in_hsm("guardian", containment, &token)
        .unwrap();
    let (signer, policy) = vault
        .signer_held("guardian", Action::SignContainment)
        .unwrap();
    assert!(matches!(signer, VaultSigner::Hsm(_)), "{signer:?}");
    drop(vault);

    let setup = setup();
    let address = signer.address();
    setup.anvil.rpc(
        "anvil_setBalance",
        json!([format!("{address:#x}"), "0x8ac7230489e80000"]),
    );
    grant_pauser(&setup.anvil, setup.token, address);
    let responders = responders(&setup, Clock::system(), GuardianKey { signer, policy });
    let job = job(
        "pause",
        pause_step(Targets::Listed(vec![format!("{:#x}", setup.token)]), None),
    );
    let result = responders.execute(&job).await.unwrap();
    assert!(is_paused(&setup.anvil, setup.token), "{result}");
    let txs = recorded(&setup.store, "pause");
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!(txs[0].status, "confirmed");
    assert_eq!(txs[0].sender, format!("{address:#x}"));
    assert_eq!(
        nonce(&setup.anvil, address),
        1,
        "sent from the token key's address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_without_the_role_fails_in_simulation_and_signs_nothing() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    let address = signer.address();
    let responders = responders(&setup, Clock::system(), guardian(signer));
    let job = job(
        "pause",
        pause_step(Targets::Listed(vec![format!("{:#x}", setup.token)]), None),
    );

    let failure: StepFailure = responders.execute(&job).await.unwrap_err();
    assert!(!failure.retryable, "{failure:?}");
    // The preset checks the role itself, with its own `require` message.
    assert!(
        failure.message.contains(
            "reverted with reason \"ERC20PresetMinterPauser: must have pauser role to pause\""
        ),
        "{}",
        failure.message
    );
    assert!(recorded(&setup.store, "pause").is_empty());
    assert_eq!(nonce(&setup.anvil, address), 0);
    assert!(!is_paused(&setup.anvil, setup.token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_a_higher_fee_after_replace_after() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    grant_pauser(&setup.anvil, setup.token, signer.address());
    setup.anvil.rpc("evm_setAutomine", json!([false]));
    let clock = Clock::manual_ms(1_800_000_000_000);
    let responders = responders(&setup, clock.clone(), guardian(signer));
    let job = job(
        "pause",
        pause_step(
            Targets::Listed(vec![format!("{:#x}", setup.token)]),
            Some(30_000),
        ),
    );
    let running = tokio::spawn({
        let responders = responders.clone();
        let job = job.clone();
        async move { responders.execute(&job).await }
    });

    let first = wait_for_async(
        "the first transaction sent",
        Duration::from_secs(20),
        || {
            recorded(&setup.store, "pause")
                .into_iter()
                .find(|tx| tx.status == "sent")
        },
    )
    .await;
    // Not mined, and not replaced before its time.
    assert_eq!(recorded(&setup.store, "pause").len(), 1);
    clock.advance_ms(30_001);
    let second = wait_for_async("the replacement", Duration::from_secs(20), || {
        recorded(&setup.store, "pause").into_iter().find(|tx| {
            tx.replaces.as_deref() == Some(first.tx_hash.as_str()) && tx.status == "sent"
        })
    })
    .await;
    assert_eq!(second.nonce, first.nonce);
    let fee = |hash: &str| {
        let tx = setup.anvil.rpc("eth_getTransactionByHash", json!([hash]));
        argus_testkit::hex_u64(&tx["maxFeePerGas"])
    };
    // The node holds the replacement, at its fee.
    let replacement_fee = fee(&second.tx_hash);

    setup.anvil.mine(1);
    let result = running.await.unwrap().unwrap();
    assert!(is_paused(&setup.anvil, setup.token));
    let txs = recorded(&setup.store, "pause");
    assert_eq!(txs.len(), 2, "{txs:?}");
    let status = |hash: &str| {
        txs.iter()
            .find(|tx| tx.tx_hash == hash)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status(&second.tx_hash), "confirmed");
    assert_eq!(status(&first.tx_hash), "replaced");
    assert_eq!(result["targets"][0]["tx_hash"], json!(second.tx_hash));
    // The fee rose by a quarter at least.
    let raw_fee = |raw: &str| {
        use alloy_eips::eip2718::Decodable2718;
        let bytes = alloy_primitives::hex::decode(raw).unwrap();
        match alloy_consensus::TxEnvelope::decode_2718(&mut bytes.as_slice()).unwrap() {
            alloy_consensus::TxEnvelope::Eip1559(signed) => signed.tx().max_fee_per_gas,
            other => panic!("{other:?}"),
        }
    };
    let (before, after) = (raw_fee(&first.raw), raw_fee(&second.raw));
    assert!(after * 4 >= before * 5, "{before} -> {after}");
    assert_eq!(u128::from(replacement_fee), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_policy_outside_its_hours_refuses_to_sign() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    let address = signer.address();
    grant_pauser(&setup.anvil, setup.token, address);
    let key = GuardianKey {
        signer: signer.into(),
        policy: AccessPolicy {
            actions: vec![Action::SignContainment],
            window: Some(TimeWindow {
                time_zone: "Europe/Paris".into(),
                days: Vec::new(),
                start_hour: 9,
                end_hour: 17,
                outside: OutsideWindow::Refuse,
            }),
            rotate_every_secs: None,
        },
    };
    // 03:00 in Paris.
    let clock = Clock::manual(
        "2026-11-23T03:00:00+01:00[Europe/Paris]"
            .parse::<jiff::ZonedDateTime>()
            .unwrap(),
    );
    let responders = responders(&setup, clock, key);
    let job = job(
        "pause",
        pause_step(Targets::Listed(vec![format!("{:#x}", setup.token)]), None),
    );

    let failure = responders.execute(&job).await.unwrap_err();
    assert!(!failure.retryable);
    assert!(
        failure.message.contains("outside the allowed window"),
        "{}",
        failure.message
    );
    assert!(recorded(&setup.store, "pause").is_empty());
    assert_eq!(nonce(&setup.anvil, address), 0);
    assert!(!is_paused(&setup.anvil, setup.token));
}

fn bot_responders(store: &Store, bots: BTreeMap<String, BotConfig>) -> Responders {
    Responders::new(store.clone(), Clock::manual_ms(1_800_000_000_000)).bots(bots)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_bot_kills_a_real_process_through_its_pid_file_and_writes_the_kill_switch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = child.id();
    // Reap it as soon as it exits, so it does not linger as a zombie.
    let (exited_tx, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited_tx.send(child.wait());
    });
    let pid_file = dir.path().join("arb.pid");
    std::fs::write(&pid_file, format!("{pid}\n")).unwrap();
    let switch = dir.path().join("STOP");
    let bots = BTreeMap::from([(
        "arb".to_owned(),
        BotConfig {
            kill_switch_file: Some(switch.clone()),
            pid_file: Some(pid_file),
            ..BotConfig::default()
        },
    )]);
    let responders = bot_responders(&store, bots);
    let job = job(
        "stop-bot",
        StepAction::StopBot(argus_incident::policy::StopBotStep { bot: "arb".into() }),
    );

    let result = responders.execute(&job).await.unwrap();
    let status = exited
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(status.signal(), Some(15), "{status:?}");
    }
    assert_eq!(
        result["mechanisms"][0]["mechanism"], "kill_switch",
        "{result}"
    );
    assert_eq!(result["mechanisms"][1]["pid"], json!(pid));
    assert_eq!(result["mechanisms"][1]["exited"], json!(true));
    let body: serde_json::Value = serde_json::from_slice(&std::fs::read(&switch).unwrap()).unwrap();
    assert_eq!(body["incident"], 7);
    assert!(body["reason"].as_str().unwrap().contains("stop-bot"));
    // No temporary file is left beside the switch.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("argus-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

fn refuse_pid_file(dir: &Path, store: &Store, content: &str) -> StepFailure {
    let pid_file = dir.join(format!("bot-{}.pid", content.len()));
    std::fs::write(&pid_file, content).unwrap();
    let bots = BTreeMap::from([(
        "arb".to_owned(),
        BotConfig {
            pid_file: Some(pid_file),
            ..BotConfig::default()
        },
    )]);
    let job = job(
        "stop-bot",
        StepAction::StopBot(argus_incident::policy::StopBotStep { bot: "arb".into() }),
    );
    let runtime = tokio::runtime::Handle::current();
    let responders = bot_responders(store, bots);
    tokio::task::block_in_place(|| runtime.block_on(responders.execute(&job))).unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_file_with_garbage_pid_1_or_our_own_pid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let garbage = refuse_pid_file(dir.path(), &store, "pkill -f arb");
    assert!(!garbage.retryable);
    assert!(
        garbage.message.contains("does not hold one process id"),
        "{}",
        garbage.message
    );
    let init = refuse_pid_file(dir.path(), &store, "1\n");
    assert!(!init.retryable);
    assert!(init.message.contains("init process"), "{}", init.message);
    let own = refuse_pid_file(dir.path(), &store, &format!("{}\n", std::process::id()));
    assert!(own.message.contains("Argus itself"), "{}", own.message);
    let negative = refuse_pid_file(dir.path(), &store, "-5");
    assert!(
        negative.message.contains("not a process id"),
        "{}",
        negative.message
    );

    // An unknown bot, and a notify step, are not for a responder.
    let responders = bot_responders(&store, BTreeMap::new());
    let unknown = responders
        .execute(&job(
            "stop-bot",
            StepAction::StopBot(argus_incident::policy::StopBotStep { bot: "nope".into() }),
        ))
        .await
        .unwrap_err();
    assert!(
        !unknown.retryable && unknown.message.contains("nope"),
        "{unknown:?}"
    );
    let notify = responders
        .execute(&job(
            "brief",
            StepAction::Notify(NotifyStep {
                notifiers: Vec::new(),
                audience: Default::default(),
                message: None,
            }),
        ))
        .await
        .unwrap_err();
    assert!(!notify.retryable, "{notify:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_funds_moves_tokens_and_ether_to_the_safe_address_once() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    let from = signer.address();
    let safe = PrivateKeySigner::random().address();
    let minted = "1000000000000000000000";
    let data = cast::calldata("mint(address,uint256)", &[&format!("{from:#x}"), minted]);
    let hash = setup
        .anvil
        .send(json!({ "to": format!("{:#x}", setup.token), "data": data }));
    assert_eq!(setup.anvil.receipt(&hash)["status"], "0x1");
    let responders = responders(&setup, Clock::system(), guardian(signer)).contracts({
        let token = setup.token;
        move |chain, label| (chain == ChainId::LOCAL && label == "GRD").then_some(token)
    });
    let job = job(
        "move",
        StepAction::MoveFunds(MoveFundsStep {
            chain: "local".into(),
            key: "guardian".into(),
            to: safe,
            native: true,
            tokens: vec!["GRD".into()],
        }),
    );

    let result = responders.execute(&job).await.unwrap();
    let balance_of = |who: Address| {
        call_uint(
            &setup.anvil,
            setup.token,
            "balanceOf(address)",
            &[&format!("{who:#x}")],
        )
    };
    assert_eq!(balance_of(from), U256::ZERO, "{result}");
    assert_eq!(balance_of(safe), U256::from_str(minted).unwrap());
    let ten_eth = U256::from(10_000_000_000_000_000_000_u128);
    let moved = eth_balance(&setup.anvil, safe);
    let left = eth_balance(&setup.anvil, from);
    assert!(
        moved > ten_eth * U256::from(99) / U256::from(100),
        "{moved}"
    );
    // What is left is less than the two fees.
    assert!(left < ten_eth / U256::from(1000), "{left}");
    assert_eq!(result["native"]["value_wei"], json!(moved.to_string()));
    assert_eq!(recorded(&setup.store, "move").len(), 2);

    // A second run finds both confirmed and signs nothing.
    let again = responders.execute(&job).await.unwrap();
    assert_eq!(again["tokens"][0]["resumed"], json!(true), "{again}");
    assert_eq!(again["native"]["resumed"], json!(true));
    assert_eq!(recorded(&setup.store, "move").len(), 2);
    assert_eq!(nonce(&setup.anvil, from), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_sets_a_real_allowance_to_zero() {
    let setup = setup();
    let owner: Address = ALICE.parse().unwrap();
    let spender: Address = BOB.parse().unwrap();
    let data = cast::calldata("approve(address,uint256)", &[BOB, "500"]);
    let hash = setup.anvil.send(json!({
        "from": ALICE,
        "to": format!("{:#x}", setup.token),
        "data": data,
    }));
    assert_eq!(setup.anvil.receipt(&hash)["status"], "0x1");
    let allowance = || {
        call_uint(
            &setup.anvil,
            setup.token,
            "allowance(address,address)",
            &[ALICE, BOB],
        )
    };
    assert_eq!(allowance(), U256::from(500));
    let signer = PrivateKeySigner::from_str(ALICE_KEY).unwrap();
    assert_eq!(signer.address(), owner);
    let responders = responders(&setup, Clock::system(), guardian(signer));
    let job = job(
        "revoke",
        StepAction::RevokeAllowances(RevokeStep {
            chain: "local".into(),
            key: "guardian".into(),
            tokens: vec![format!("{:#x}", setup.token)],
            spenders: vec![spender],
        }),
    );

    let result = responders.execute(&job).await.unwrap();
    assert_eq!(allowance(), U256::ZERO, "{result}");
    assert_eq!(result["allowances"][0]["previous_allowance"], "500");
    assert_eq!(recorded(&setup.store, "revoke").len(), 1);
    let again = responders.execute(&job).await.unwrap();
    assert_eq!(again["allowances"][0]["resumed"], json!(true), "{again}");
    assert_eq!(recorded(&setup.store, "revoke").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_after_signing_is_resumed_with_the_same_bytes_not_a_new_signature() {
    let setup = setup();
    let signer = funded_key(&setup.anvil);
    let address = signer.address();
    grant_pauser(&setup.anvil, setup.token, address);
    setup.anvil.rpc("evm_setAutomine", json!([false]));
    let responders = responders(&setup, Clock::system(), guardian(signer));
    let job = job(
        "pause",
        pause_step(Targets::Listed(vec![format!("{:#x}", setup.token)]), None),
    );
    let running = tokio::spawn({
        let responders = responders.clone();
        let job = job.clone();
        async move { responders.execute(&job).await }
    });
    let first = wait_for_async("the transaction sent", Duration::from_secs(20), || {
        recorded(&setup.store, "pause")
            .into_iter()
            .find(|tx| tx.status == "sent")
    })
    .await;
    // The run dies, and the node forgets the transaction.
    running.abort();
    let _ = running.await;
    setup
        .anvil
        .rpc("anvil_dropTransaction", json!([first.tx_hash]));
    setup.anvil.rpc("evm_setAutomine", json!([true]));

    let result = responders.execute(&job).await.unwrap();
    assert_eq!(
        result["targets"][0]["tx_hash"],
        json!(first.tx_hash),
        "{result}"
    );
    assert_eq!(result["targets"][0]["resumed"], json!(true));
    assert!(is_paused(&setup.anvil, setup.token));
    let txs = recorded(&setup.store, "pause");
    assert_eq!(txs.len(), 1, "{txs:?}");
    assert_eq!(txs[0].status, "confirmed");
    assert_eq!(nonce(&setup.anvil, address), 1);
}

#[tokio::test]
async fn rotation_runs_the_vault_rotator_and_never_quotes_a_failed_command_s_output() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let rotated = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = rotated.clone();
    let responders = bot_responders(&store, BTreeMap::new()).key_rotator(move |label| {
        seen.lock().unwrap().push(label.to_owned());
        Ok("0x00000000000000000000000000000000000000aa".to_owned())
    });
    let ok = job(
        "rotate",
        StepAction::RotateKeys(argus_incident::policy::RotateStep {
            keys: vec!["bot-hot".into()],
            commands: vec![argus_incident::policy::CommandStep {
                command: vec!["true".into()],
                timeout_ms: 5_000,
            }],
        }),
    );
    let result = responders.execute(&ok).await.unwrap();
    assert_eq!(*rotated.lock().unwrap(), ["bot-hot"]);
    assert_eq!(
        result["keys"][0]["new_address"],
        "0x00000000000000000000000000000000000000aa"
    );

    let leaky = job(
        "rotate-api",
        StepAction::RotateKeys(argus_incident::policy::RotateStep {
            keys: vec![],
            commands: vec![argus_incident::policy::CommandStep {
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo new-token=s3cr3t-value >&2; exit 4".into(),
                ],
                timeout_ms: 5_000,
            }],
        }),
    );
    let failure = responders.execute(&leaky).await.unwrap_err();
    assert!(!failure.message.contains("s3cr3t"), "{}", failure.message);
    assert!(
        failure.message.contains("not quoted"),
        "{}",
        failure.message
    );

    // A plain `run` step's error output is quoted: it helps the responder.
    let plain = job(
        "run",
        StepAction::Run(argus_incident::policy::CommandStep {
            command: vec![
                "sh".into(),
                "-c".into(),
                "echo disk full >&2; exit 1".into(),
            ],
            timeout_ms: 5_000,
        }),
    );
    let failure = responders.execute(&plain).await.unwrap_err();
    assert!(failure.message.contains("disk full"), "{}", failure.message);
    assert!(failure.retryable);
}
