//! The prepared data directory every test reads, and how to call the
//! router.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256};
use argus_alerting::{NewSilence, Routing, SilenceMatcher, outbox};
use argus_audit::{AuditLog, NewEntry, RetentionClass};
use argus_chain::ChainEvent;
use argus_core::{Block, BlockRef, ChainId, ChainOrigin, Clock, Finding, Severity, finding_id};
use argus_incident::intake::take_alert;
use argus_incident::policy::{CommandStep, RetryConfig, StepAction, StepConfig};
use argus_incident::policy::{
    GroupBy, IncidentSeverity, IncidentsConfig, KindConfig, SeverityPolicy,
};
use argus_incident::state::{self, Act};
use argus_node::config::{PublicConfig, PublicContract, PublicSystem};
use argus_registry::{ImportHints, ImportOptions, Registry, Scope};
use argus_rules::RuleSet;
use argus_server::auth::tokens::{self, NewToken};
use argus_server::{AppState, AuthConfig, Role};
use argus_store::Store;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The notifier every alert is routed to: a name the public must not see.
pub(crate) const NOTIFIER: &str = "ops-pager";
/// The rule of the incident's alerts.
pub(crate) const DRAIN_RULE: &str = "drain-token";
/// A rule whose alert opens no incident.
pub(crate) const TRANSFER_RULE: &str = "large-transfer";
/// The public line of the incident (with markup, to see it escaped).
pub(crate) const PUBLIC_LINE: &str = "Token transfers are paused while we investigate <b>now</b>";
/// An address the alerts name that is not marked public.
pub(crate) const HIDDEN: Address = Address::repeat_byte(0x77);
/// The RPC URL of the config (the public must not see it).
pub(crate) const RPC_URL: &str = "http://127.0.0.1:8545";

pub(crate) const RULES: &str = r#"
rules:
  - id: drain-token
    description: Tokens leave the vault
    severity: critical
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
    condition: args.value > uint256("1000")
  - id: large-transfer
    severity: low
    match:
      event:
        contract: Token
        signature: Transfer(address,address,uint256)
"#;

pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: Store,
    /// Token's address on anvil (marked public).
    pub(crate) token: Address,
    /// Vault's address on anvil (registered, not marked public).
    pub(crate) vault: Address,
    /// Alert ids, oldest first.
    pub(crate) alerts: Vec<String>,
    pub(crate) incident: i64,
    pub(crate) policy: IncidentsConfig,
    pub(crate) state: AppState,
    pub(crate) tokens: Tokens,
}

/// The fixture's tokens (the viewer's is [`viewer_token`], in every store).
pub(crate) struct Tokens {
    pub(crate) responder: String,
    /// Admins, TOTP enrolled, with their TOTP secrets.
    pub(crate) admin: String,
    pub(crate) admin_totp: Vec<u8>,
    pub(crate) admin2: String,
    pub(crate) admin2_totp: Vec<u8>,
    /// A responder with TOTP enrolled.
    pub(crate) responder_totp: String,
}

/// The key TOTP secrets are sealed under in the fixture.
pub(crate) const TOTP_KEY: [u8; 32] = [9; 32];
/// The incident step that needs two approvals.
pub(crate) const GATED_STEP: &str = "rotate-creds";

/// The viewer token every request of [`get`] sends: one text, inserted into
/// each store by [`grant_viewer`] (made once: Argon2 is not free).
pub(crate) fn viewer_token() -> &'static (String, String, String) {
    static TOKEN: std::sync::OnceLock<(String, String, String)> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        let store = argus_store::testing::store().unwrap();
        let conn = store.connect().unwrap();
        let made = tokens::create(
            &conn,
            NewToken {
                name: "victor",
                role: Role::Viewer,
                created_by: "test",
                expires_at_ms: None,
                totp_key: None,
            },
            now_ms(),
        )
        .unwrap();
        let hash: String = conn
            .query_row(
                "SELECT secret_hash FROM api_tokens WHERE id = ?1",
                [&made.info.id],
                |r| r.get(0),
            )
            .unwrap();
        (made.token.to_string(), made.info.id.clone(), hash)
    })
}

/// Lets [`viewer_token`] read `store`.
pub(crate) fn grant_viewer(store: &Store) {
    let (_, id, hash) = viewer_token();
    store
        .connect()
        .unwrap()
        .execute(
            "INSERT OR IGNORE INTO api_tokens (id, name, role, secret_hash, created_at_ms, \
             created_by) VALUES (?1, 'victor', 'viewer', ?2, 0, 'test')",
            [id, hash],
        )
        .unwrap();
}

/// Makes a token in `store`; the text and the TOTP secret.
pub(crate) fn make_token(store: &Store, name: &str, role: Role, totp: bool) -> (String, Vec<u8>) {
    let conn = store.connect().unwrap();
    let made = tokens::create(
        &conn,
        NewToken {
            name,
            role,
            created_by: "test",
            expires_at_ms: None,
            totp_key: totp.then_some(&TOTP_KEY),
        },
        now_ms(),
    )
    .unwrap();
    let secret = made
        .totp_secret
        .as_ref()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    (made.token.to_string(), secret)
}

pub(crate) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(crate) fn policy() -> IncidentsConfig {
    let mut severities = BTreeMap::new();
    severities.insert(
        IncidentSeverity::P0,
        SeverityPolicy {
            respond_within_ms: 3_600_000,
            escalation: vec![],
            notify: vec![],
        },
    );
    IncidentsConfig {
        severities,
        kinds: vec![KindConfig {
            name: "drain".into(),
            rules: vec!["drain-*".into()],
            min_severity: Some(Severity::High),
            labels: BTreeMap::new(),
            severity: IncidentSeverity::P0,
            group_by: GroupBy::Chain,
            playbook: None,
            title: None,
        }],
        ..IncidentsConfig::default()
    }
}

pub(crate) fn finding(rule: &str, severity: Severity, n: u8, at_ms: i64) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId::LOCAL,
        block: BlockRef {
            number: u64::from(n),
            hash: B256::repeat_byte(n),
            parent_hash: B256::ZERO,
            timestamp: 0,
        },
        tx_hash: Some(B256::repeat_byte(n.wrapping_add(100))),
        log_index: Some(0),
    };
    Finding {
        id: finding_id(rule, Some(&origin), &[n]),
        rule_id: rule.into(),
        severity,
        title: format!("{rule} #{n} from {HIDDEN:#x}"),
        dedup_key: format!("{rule}-{n}"),
        origin: Some(origin),
        at_ms,
        fields: json!({ "contract": { "address": format!("{HIDDEN:#x}") } }).into(),
    }
}

/// Records a finding as the node's record step does (outbox, then intake,
/// one transaction); returns the alert id and the incident it joined.
pub(crate) fn record(
    store: &Store,
    policy: &IncidentsConfig,
    f: &Finding,
) -> (String, Option<i64>) {
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    outbox::record(&tx, f, &Routing::to_all(&[NOTIFIER], 0), f.at_ms).unwrap();
    let taken = take_alert(&tx, policy, f, f.at_ms).unwrap();
    tx.commit().unwrap();
    (outbox::alert_id(&f.id), taken.map(|t| t.incident_id))
}

pub(crate) fn prepare() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();

    let contracts = argus_registry::load_paths(
        [argus_testkit::testdata("foundry-project").as_path()],
        &ImportHints::default(),
    )
    .unwrap();
    let mut registry = Registry::open(&store).unwrap();
    registry
        .import(&contracts, ImportOptions::default())
        .unwrap();
    let address = |label: &str| {
        registry
            .find(label, Scope::Chain(ChainId::LOCAL))
            .unwrap()
            .address
            .unwrap()
    };
    let (token, vault) = (address("Token"), address("Vault"));

    let policy = policy();
    let now = now_ms();
    let mut alerts = Vec::new();
    let (first, incident) = record(
        &store,
        &policy,
        &finding(DRAIN_RULE, Severity::Critical, 1, now - 60_000),
    );
    alerts.push(first);
    let (second, joined) = record(
        &store,
        &policy,
        &finding(DRAIN_RULE, Severity::Critical, 2, now - 30_000),
    );
    alerts.push(second);
    assert_eq!(joined, incident);
    let (third, none) = record(
        &store,
        &policy,
        &finding(TRANSFER_RULE, Severity::Low, 3, now - 10_000),
    );
    assert_eq!(none, None);
    alerts.push(third);
    let incident = incident.expect("the drain alert opens an incident");

    let conn = store.connect().unwrap();
    state::set_public_status(
        &conn,
        incident,
        PUBLIC_LINE,
        Act {
            actor: "alice",
            reason: None,
            now_ms: now,
        },
    )
    .unwrap();
    argus_alerting::add_silence(
        &conn,
        &NewSilence {
            matcher: SilenceMatcher {
                rule_id: Some(TRANSFER_RULE.into()),
                ..SilenceMatcher::default()
            },
            starts_at_ms: now - 1_000,
            ends_at_ms: now + 3_600_000,
            created_by: "alice".into(),
            reason: "noisy while we test".into(),
        },
        now,
    )
    .unwrap();
    drop(conn);

    // The chain followed up to block 5, stamped now.
    let mut conn = store.connect().unwrap();
    let tx = conn.transaction().unwrap();
    let block = Block {
        chain: ChainId::LOCAL,
        header: BlockRef {
            number: 5,
            hash: B256::repeat_byte(5),
            parent_hash: B256::repeat_byte(4),
            timestamp: u64::try_from(now / 1000).unwrap(),
        },
        base_fee_per_gas: None,
        gas_used: 0,
        gas_limit: 30_000_000,
        logs: vec![],
        transactions: vec![],
    };
    argus_chain::db::apply(&tx, ChainId::LOCAL, &ChainEvent::Committed(vec![block]), 64).unwrap();
    tx.commit().unwrap();

    let mut log = AuditLog::open(dir.path(), Clock::system()).unwrap();
    log.append(&NewEntry::new(
        RetentionClass::Audit,
        "alice",
        "incident.public_status",
    ))
    .unwrap();
    log.append(&NewEntry::new(RetentionClass::Security, "bob", "key.sign"))
        .unwrap();
    drop(log);

    // A step that needs two approvals (a command nobody runs: the test
    // has no incident runner).
    let conn = store.connect().unwrap();
    state::add_step(
        &conn,
        incident,
        &StepConfig {
            id: GATED_STEP.into(),
            action: StepAction::Run(CommandStep {
                command: vec!["true".into()],
                timeout_ms: 1_000,
            }),
            after: Some(vec![]),
            approvals: 2,
            retry: RetryConfig::default(),
            min_severity: None,
        },
        Act {
            actor: "alice",
            reason: None,
            now_ms: now,
        },
    )
    .unwrap();
    drop(conn);
    grant_viewer(&store);
    let (responder, _) = make_token(&store, "rita", Role::Responder, false);
    let (responder_totp, _) = make_token(&store, "ruth", Role::Responder, true);
    let (admin, admin_totp) = make_token(&store, "ada", Role::Admin, true);
    let (admin2, admin2_totp) = make_token(&store, "alan", Role::Admin, true);
    let tokens = Tokens {
        responder,
        admin,
        admin_totp,
        admin2,
        admin2_totp,
        responder_totp,
    };

    let rules = RuleSet::from_yaml(RULES, "rules.yaml").unwrap();
    let public = PublicConfig {
        title: "Acme status".into(),
        systems: vec![PublicSystem {
            name: "Acme token".into(),
            chains: vec![ChainId::LOCAL],
            contracts: vec![PublicContract {
                chain: ChainId::LOCAL,
                address: token,
                label: Some("ACME".into()),
            }],
        }],
    };
    let state = AppState::new(store.clone(), dir.path())
        .with_rules(&rules)
        .with_bots([(
            "arb".to_owned(),
            vec![alloy_primitives::address!(
                "70997970C51812dc3A010C7d01b50e0d17dc79C8"
            )],
        )])
        .with_public(public)
        .with_auth(AuthConfig {
            totp_key: Some(std::sync::Arc::new(zeroize::Zeroizing::new(TOTP_KEY))),
            ..AuthConfig::default()
        });
    Fixture {
        dir,
        store,
        token,
        vault,
        alerts,
        incident,
        policy,
        state,
        tokens,
    }
}

/// A response: status, content type and body (JSON when it parses).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) text: String,
    pub(crate) json: Value,
}

/// A GET with the viewer's token.
pub(crate) async fn get(app: &Router, uri: &str) -> Answer {
    send(
        app,
        authorized(Request::get(uri)).body(Body::empty()).unwrap(),
    )
    .await
}

/// `request` with the viewer's token.
pub(crate) fn authorized(request: axum::http::request::Builder) -> axum::http::request::Builder {
    request.header(
        header::AUTHORIZATION,
        format!("Bearer {}", viewer_token().0),
    )
}

/// A POST of `body` (JSON) with `token` and, when given, a TOTP code.
pub(crate) async fn post(
    app: &Router,
    uri: &str,
    token: Option<&str>,
    totp: Option<&str>,
    body: Value,
) -> Answer {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(code) = totp {
        request = request.header("x-argus-totp", code);
    }
    send(app, request.body(Body::from(body.to_string())).unwrap()).await
}

/// Sends a request through the router.
pub(crate) async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        text,
        json,
    }
}

/// A 200 with a JSON body.
pub(crate) async fn ok(app: &Router, uri: &str) -> Value {
    let answer = get(app, uri).await;
    assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.text);
    assert!(answer.content_type.starts_with("application/json"), "{uri}");
    answer.json
}
