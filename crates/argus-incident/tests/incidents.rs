//! Incidents over a real SQLite store: alerts open and join incidents,
//! steps queue and release in order, approvals, escalation timers, retries
//! and failures, containment. The clock is the test's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256};
use argus_alerting::{Routing, outbox};
use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, Severity, finding_id};
use argus_incident::db;
use argus_incident::intake::take_alert;
use argus_incident::policy::{
    ContractCallStep, GroupBy, IncidentSeverity, IncidentsConfig, KindConfig, NotifyStep, Playbook,
    RetryConfig, SeverityPolicy, StepAction, StepConfig, StopBotStep, Targets,
};
use argus_incident::state::{self, Act, AttemptOutcome};
use argus_incident::{IncidentState, StepState};
use argus_store::{Connection, Store};

const T0: i64 = 1_780_000_000_000;

fn policy() -> IncidentsConfig {
    let step = |id: &str, action: StepAction, after: Option<Vec<String>>| StepConfig {
        id: id.into(),
        action,
        after,
        approvals: 0,
        retry: RetryConfig {
            attempts: 3,
            backoff_ms: 1_000,
            max_backoff_ms: 10_000,
        },
        min_severity: None,
    };
    let pause = StepAction::Pause(ContractCallStep {
        chain: "anvil".into(),
        contracts: Targets::Listed(vec!["Token".into()]),
        function: None,
        key: "guardian".into(),
        max_fee_gwei: None,
        replace_after_ms: None,
    });
    let playbook = Playbook {
        steps: vec![
            step("pause", pause, None),
            step(
                "stop",
                StepAction::StopBot(StopBotStep { bot: "arb".into() }),
                Some(vec![]),
            ),
            step(
                "brief",
                StepAction::Notify(NotifyStep {
                    notifiers: vec!["mgmt".into()],
                    audience: argus_incident::policy::Audience::Management,
                    message: None,
                }),
                Some(vec!["pause".into(), "stop".into()]),
            ),
        ],
    };
    let mut severities = BTreeMap::new();
    severities.insert(
        IncidentSeverity::P0,
        SeverityPolicy {
            respond_within_ms: 5 * 60_000,
            escalation: vec!["oncall".into(), "lead".into()],
            notify: vec!["ops".into()],
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
            playbook: Some("contain".into()),
            title: None,
        }],
        playbooks: [("contain".to_owned(), playbook)].into(),
        ..IncidentsConfig::default()
    }
}

fn finding(rule: &str, n: u8, chain: u64, at_ms: i64) -> Finding {
    let origin = ChainOrigin {
        chain: ChainId(chain),
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
        id: finding_id(rule, Some(&origin), &[]),
        rule_id: rule.into(),
        severity: Severity::Critical,
        title: format!("{rule} #{n}"),
        dedup_key: format!("{rule}-{n}"),
        origin: Some(origin),
        at_ms,
        fields: serde_json::json!({ "contract": { "address": format!("{:#x}", Address::repeat_byte(7)) } }).into(),
    }
}

/// Records the alert (as the node's record step does) and takes it.
fn record(conn: &mut Connection, policy: &IncidentsConfig, f: &Finding, now: i64) -> Option<i64> {
    let tx = conn.transaction().unwrap();
    let routing = Routing::to_all(&["ops"], 0);
    outbox::record(&tx, f, &routing, now).unwrap();
    let taken = take_alert(&tx, policy, f, now).unwrap();
    tx.commit().unwrap();
    taken.map(|t| t.incident_id)
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    (dir, store)
}

fn step_state(conn: &Connection, id: i64, step: &str) -> StepState {
    state::step(conn, id, step).unwrap().state
}

fn act(actor: &str, now_ms: i64) -> Act<'_> {
    Act {
        actor,
        reason: Some("test"),
        now_ms,
    }
}

#[test]
fn alerts_of_one_cause_group_into_one_open_incident() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let first = record(
        &mut conn,
        &policy,
        &finding("drain-vault", 1, 1, T0 - 12_000),
        T0,
    )
    .unwrap();
    let second = record(
        &mut conn,
        &policy,
        &finding("drain-pool", 2, 1, T0 - 20_000),
        T0 + 1_000,
    )
    .unwrap();
    let other_chain = record(
        &mut conn,
        &policy,
        &finding("drain-vault", 3, 10, T0),
        T0 + 2_000,
    )
    .unwrap();
    assert_eq!(first, second, "same kind, same chain: one incident");
    assert_ne!(first, other_chain, "grouped by chain");
    assert_eq!(
        record(&mut conn, &policy, &finding("unrelated", 4, 1, T0), T0),
        None
    );

    let incident = db::incident(&conn, first).unwrap();
    assert_eq!(incident.state, IncidentState::Open);
    assert_eq!(incident.severity, IncidentSeverity::P0);
    assert_eq!(
        incident.first_event_ms,
        T0 - 20_000,
        "the earliest event of its alerts"
    );
    assert_eq!(incident.first_alert_ms, T0);
    assert_eq!(incident.escalate_at_ms, Some(T0 + 5 * 60_000));
    assert_eq!(db::alerts_of(&conn, first).unwrap().len(), 2);

    // The evidence step first, then the playbook: pause and stop at once
    // (stop has `after: []`), the brief after both.
    let steps = db::steps_of(&conn, first).unwrap();
    let states: Vec<(&str, StepState)> = steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.state))
        .collect();
    assert_eq!(
        states,
        [
            ("evidence", StepState::Pending),
            ("pause", StepState::Pending),
            ("stop", StepState::Pending),
            ("brief", StepState::Waiting),
        ]
    );

    // The open notice went to the severity's `notify` list once.
    let alerts = outbox::list_alerts(
        &conn,
        &outbox::AlertFilter {
            limit: Some(100),
            ..Default::default()
        },
    )
    .unwrap();
    let opens: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule_id == "argus.incident.open")
        .collect();
    assert_eq!(opens.len(), 2, "one notice per incident opened");
}

#[test]
fn steps_release_in_order_and_containment_follows_the_containment_steps() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();

    let claimed = state::claim_due_steps(&conn, T0, 60_000, 16).unwrap();
    let names: Vec<&str> = claimed.iter().map(|s| s.step_id.as_str()).collect();
    assert_eq!(
        names,
        ["evidence", "pause", "stop"],
        "what is due, in playbook order"
    );
    assert!(
        claimed
            .iter()
            .all(|s| s.attempts == 1 && s.state == StepState::Running)
    );
    assert!(
        state::claim_due_steps(&conn, T0 + 1, 60_000, 16)
            .unwrap()
            .is_empty(),
        "claimed steps are not claimed twice while their lease runs"
    );

    let done = serde_json::json!({ "ok": true });
    state::step_succeeded(&conn, id, "pause", &done, T0 + 100).unwrap();
    assert_eq!(
        step_state(&conn, id, "brief"),
        StepState::Waiting,
        "brief waits for stop too"
    );
    assert_eq!(db::incident(&conn, id).unwrap().state, IncidentState::Open);
    state::step_succeeded(&conn, id, "stop", &done, T0 + 200).unwrap();
    assert_eq!(step_state(&conn, id, "brief"), StepState::Pending);

    let incident = db::incident(&conn, id).unwrap();
    assert_eq!(
        incident.state,
        IncidentState::Contained,
        "pause and stop are the containment"
    );
    assert_eq!(incident.contained_ms, Some(T0 + 200));
    assert_eq!(
        incident.escalate_at_ms, None,
        "a contained incident does not escalate"
    );
    let actions: Vec<String> = db::events_of(&conn, id)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"incident.contain".to_owned()),
        "{actions:?}"
    );

    // A runner killed mid-step: its lease runs out and the step is taken
    // again (evidence is still within its minute-long lease).
    let brief = state::claim_due_steps(&conn, T0 + 300, 1_000, 16).unwrap();
    assert_eq!(
        brief.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(),
        ["brief"]
    );
    assert!(
        state::claim_due_steps(&conn, T0 + 1_299, 1_000, 16)
            .unwrap()
            .is_empty()
    );
    let again = state::claim_due_steps(&conn, T0 + 1_300, 1_000, 16).unwrap();
    assert_eq!(
        again.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(),
        ["brief"]
    );
    assert_eq!(again[0].attempts, 2);
    assert_eq!(
        state::recover_running(&conn, T0 + 1_400).unwrap(),
        2,
        "evidence and brief"
    );
    let recovered = state::claim_due_steps(&conn, T0 + 1_400, 1_000, 16).unwrap();
    assert_eq!(recovered.len(), 2);
}

#[test]
fn a_failing_step_is_retried_with_backoff_then_fails_and_escalates() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    let mut now = T0;
    let mut outcomes = Vec::new();
    loop {
        let claimed = state::claim_due_steps(&conn, now, 60_000, 16).unwrap();
        let Some(pause) = claimed.into_iter().find(|s| s.step_id == "pause") else {
            now += 500;
            assert!(now < T0 + 60_000, "the pause step was never due again");
            continue;
        };
        let outcome =
            state::step_attempt_failed(&conn, &policy, &pause, "node unreachable", true, now)
                .unwrap();
        outcomes.push(match outcome {
            AttemptOutcome::Retry { at_ms } => AttemptOutcome::Retry { at_ms: at_ms - now },
            failed => failed,
        });
        if outcome == AttemptOutcome::Failed {
            break;
        }
        now += 100;
    }
    assert_eq!(
        outcomes,
        [
            AttemptOutcome::Retry { at_ms: 1_000 },
            AttemptOutcome::Retry { at_ms: 2_000 },
            AttemptOutcome::Failed,
        ],
        "three attempts, the wait after each failure doubling"
    );
    assert_eq!(step_state(&conn, id, "pause"), StepState::Failed);
    assert_eq!(
        step_state(&conn, id, "brief"),
        StepState::Skipped,
        "it came after the failed step"
    );
    let incident = db::incident(&conn, id).unwrap();
    assert_eq!(
        incident.escalation_level, 1,
        "a step that failed for good escalates"
    );
    let notices = outbox::list_alerts(
        &conn,
        &outbox::AlertFilter {
            limit: Some(100),
            ..Default::default()
        },
    )
    .unwrap();
    let escalation = notices
        .iter()
        .find(|a| a.rule_id == "argus.incident.escalation")
        .unwrap();
    assert!(
        escalation
            .title
            .contains("step pause failed after 3 attempt(s): node unreachable"),
        "{}",
        escalation.title
    );
    let deliveries = outbox::deliveries_of(&conn, &escalation.id).unwrap();
    assert_eq!(
        deliveries
            .iter()
            .map(|d| d.notifier.as_str())
            .collect::<Vec<_>>(),
        ["oncall"]
    );

    // A failure that cannot pass is not retried.
    let id2 = record(&mut conn, &policy, &finding("drain-vault", 2, 10, T0), T0).unwrap();
    let stop = state::claim_due_steps(&conn, T0, 60_000, 16)
        .unwrap()
        .into_iter()
        .find(|s| s.incident_id == id2 && s.step_id == "stop")
        .unwrap();
    assert_eq!(
        state::step_attempt_failed(&conn, &policy, &stop, "no such bot", false, T0).unwrap(),
        AttemptOutcome::Failed
    );
}

#[test]
fn an_unacknowledged_incident_escalates_level_by_level_until_acknowledged() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    assert!(
        state::escalations_due(&conn, T0 + 299_999)
            .unwrap()
            .is_empty()
    );
    assert_eq!(state::escalations_due(&conn, T0 + 300_000).unwrap(), [id]);
    assert_eq!(
        state::escalate(&conn, &policy, id, "late", T0 + 300_000).unwrap(),
        1
    );
    assert_eq!(
        db::incident(&conn, id).unwrap().escalate_at_ms,
        Some(T0 + 600_000),
        "level 2 one response time later"
    );
    assert_eq!(
        state::escalate(&conn, &policy, id, "late", T0 + 600_000).unwrap(),
        2
    );
    assert_eq!(
        db::incident(&conn, id).unwrap().escalate_at_ms,
        None,
        "no level after the last"
    );
    let notices = outbox::list_alerts(
        &conn,
        &outbox::AlertFilter {
            limit: Some(100),
            ..Default::default()
        },
    )
    .unwrap();
    let mut told: Vec<String> = notices
        .iter()
        .filter(|a| a.rule_id == "argus.incident.escalation")
        .flat_map(|a| outbox::deliveries_of(&conn, &a.id).unwrap())
        .map(|d| d.notifier)
        .collect();
    told.sort();
    assert_eq!(told, ["lead", "oncall"], "each level told once");

    let id2 = record(&mut conn, &policy, &finding("drain-vault", 2, 10, T0), T0).unwrap();
    state::acknowledge(&conn, id2, act("alice", T0 + 60_000)).unwrap();
    let incident = db::incident(&conn, id2).unwrap();
    assert_eq!(incident.state, IncidentState::Acknowledged);
    assert_eq!(incident.escalate_at_ms, None);
    assert!(
        state::escalations_due(&conn, T0 + 10_000_000)
            .unwrap()
            .iter()
            .all(|i| *i != id2)
    );
    let err = state::acknowledge(&conn, id2, act("bob", T0 + 70_000)).unwrap_err();
    assert!(err.to_string().contains("acknowledged already"), "{err}");
}

#[test]
fn an_unpause_needs_two_distinct_approvers() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    let unpause = StepConfig {
        id: "unpause".into(),
        action: StepAction::Unpause(ContractCallStep {
            chain: "anvil".into(),
            contracts: Targets::Listed(vec!["Token".into()]),
            function: None,
            key: "guardian".into(),
            max_fee_gwei: None,
            replace_after_ms: None,
        }),
        after: Some(vec![]),
        approvals: 1, // raised to two: an unpause is never one person's call
        retry: RetryConfig::default(),
        min_severity: None,
    };
    state::add_step(&conn, id, &unpause, act("alice", T0)).unwrap();
    assert_eq!(step_state(&conn, id, "unpause"), StepState::NeedsApproval);
    let first = state::approve(&conn, id, "unpause", act("alice", T0 + 1)).unwrap();
    assert_eq!(
        (first.approvals, first.needed, first.released),
        (1, 2, false)
    );
    assert!(
        state::claim_due_steps(&conn, T0 + 2, 60_000, 16)
            .unwrap()
            .iter()
            .all(|s| s.step_id != "unpause")
    );
    let again = state::approve(&conn, id, "unpause", act("alice", T0 + 3)).unwrap_err();
    assert!(
        again.to_string().contains("another operator must approve"),
        "{again}"
    );
    assert_eq!(step_state(&conn, id, "unpause"), StepState::NeedsApproval);
    let second = state::approve(&conn, id, "unpause", act("bob", T0 + 4)).unwrap();
    assert!(second.released);
    assert_eq!(step_state(&conn, id, "unpause"), StepState::Pending);
    let approvers: Vec<String> = db::approvals_of(&conn, id)
        .unwrap()
        .into_iter()
        .map(|a| a.approver)
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
}

#[test]
fn resolve_cancels_what_has_not_run_and_reopen_restarts_the_timer() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    state::resolve(&conn, id, act("alice", T0 + 1_000)).unwrap();
    assert!(
        db::steps_of(&conn, id)
            .unwrap()
            .iter()
            .all(|s| s.state == StepState::Skipped)
    );
    // A new alert of the same cause opens a new incident.
    let next = record(
        &mut conn,
        &policy,
        &finding("drain-vault", 2, 1, T0 + 2_000),
        T0 + 2_000,
    )
    .unwrap();
    assert_ne!(next, id);
    let refused = state::reopen(&conn, &policy, id, act("alice", T0 + 3_000)).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("another incident of the same cause is open"),
        "{refused}"
    );
    state::resolve(&conn, next, act("alice", T0 + 4_000)).unwrap();
    let reopened = state::reopen(&conn, &policy, id, act("alice", T0 + 5_000)).unwrap();
    assert_eq!(reopened.state, IncidentState::Open);
    assert_eq!(reopened.reopened, 1);
    assert_eq!(reopened.escalate_at_ms, Some(T0 + 5_000 + 300_000));
}

#[test]
fn every_act_is_in_the_timeline_once_for_the_audit_copy() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    state::acknowledge(&conn, id, act("alice", T0 + 1)).unwrap();
    state::note(&conn, id, "looking at the vault", act("alice", T0 + 2)).unwrap();
    state::assign(&conn, id, "bob", act("alice", T0 + 3)).unwrap();
    let pending = db::unaudited_events(&conn, 100).unwrap();
    let actions: Vec<&str> = pending.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "incident.open",
            "incident.alert",
            "incident.acknowledge",
            "incident.note",
            "incident.assign"
        ]
    );
    assert_eq!(pending[2].actor, "alice");
    assert_eq!(pending[2].reason.as_deref(), Some("test"));
    db::mark_audited(&conn, &pending.iter().map(|e| e.id).collect::<Vec<_>>()).unwrap();
    assert!(db::unaudited_events(&conn, 100).unwrap().is_empty());
}

#[test]
fn a_stopped_bot_stays_ordered_to_stop_until_its_incident_is_resolved() {
    let (_dir, store) = store();
    let mut conn = store.connect().unwrap();
    let policy = policy();
    let id = record(&mut conn, &policy, &finding("drain-vault", 1, 1, T0), T0).unwrap();
    assert!(
        db::kill_switch_orders(&conn).unwrap().is_empty(),
        "nothing stopped yet"
    );
    state::claim_due_steps(&conn, T0, 60_000, 16).unwrap();
    state::step_succeeded(&conn, id, "stop", &serde_json::json!({}), T0 + 50).unwrap();
    let orders = db::kill_switch_orders(&conn).unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (
            orders[0].bot.as_str(),
            orders[0].incident_id,
            orders[0].since_ms
        ),
        ("arb", id, T0 + 50)
    );
    state::resolve(&conn, id, act("alice", T0 + 1_000)).unwrap();
    assert!(
        db::kill_switch_orders(&conn).unwrap().is_empty(),
        "resolved: the bot may run again"
    );
}
