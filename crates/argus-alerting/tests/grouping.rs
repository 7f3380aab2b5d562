//! Grouping, digests, rate limits and cooldowns against real HTTP
//! receivers and SQLite files: a burst reaches a chat sink as one digest, a
//! backlog over a rate limit is folded, a `Retry-After` pauses the notifier,
//! a group survives a restart and is sent once, a retraction never precedes
//! its fire, and a rule's cooldown suppresses like the dedup window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use argus_alerting::{
    Clock, DeliveryKind, DeliveryStatus, Routing, Suppression, digest, grouping, outbox,
};
use argus_testkit::{Answer, Receiver};
use common::*;

const WAIT_MS: i64 = grouping::DEFAULT_GROUP_WAIT.as_millis() as i64;

/// A Slack-type notifier (its URL from env `SLACK_URL`) and a webhook to
/// `hook_url`, with `routes` (YAML lines under `routes:`).
fn slack_and_hook(hook_url: &str, routes: &str) -> argus_alerting::AlertingConfig {
    config(&format!(
        "dedup_window: 0s\nretry: {{ max_in_flight: 64 }}\nnotifiers:\n  slack:\n    type: slack\n    webhook_url: {{ env: SLACK_URL }}\n  hook:\n    type: webhook\n    url: \"{hook_url}\"\n    secret: \"s\"\n{routes}"
    ))
}

/// A Slack receiver and a webhook receiver, a dispatcher for them on a
/// manual clock at `T0` (Slack at `slack_path`), and its store.
struct SlackAndHook {
    slack: Receiver,
    hook: Receiver,
    clock: Clock,
    dispatcher: argus_alerting::Dispatcher,
    routing: Routing,
    store: argus_store::Connection,
    _db: Db,
}

impl SlackAndHook {
    fn start(slack_path: &str, routes: &str) -> Self {
        let slack = Receiver::start();
        let hook = Receiver::start();
        let cfg = slack_and_hook(&hook.url("/hook"), routes);
        let slack_url = slack.url(slack_path);
        let db = Db::new();
        let clock = Clock::manual_ms(T0);
        let dispatcher = dispatcher(&db, &cfg, &[("SLACK_URL", slack_url.as_str())], &clock);
        Self {
            slack,
            hook,
            clock,
            dispatcher,
            routing: Routing::from_config(&cfg).unwrap(),
            store: db.open(),
            _db: db,
        }
    }

    fn record(&mut self, findings: &[argus_core::Finding]) {
        record_all(&mut self.store, findings, &self.routing, T0);
    }
}

/// `n` distinct findings of one rule, one per log of block 7.
fn burst(rule: &str, n: u64) -> Vec<argus_core::Finding> {
    (0..n).map(|i| finding(rule, 7, i)).collect()
}

/// Runs passes until one attempts nothing.
async fn drain(dispatcher: &argus_alerting::Dispatcher) {
    for _ in 0..100 {
        if dispatcher.run_once().await.unwrap().attempted() == 0 {
            return;
        }
    }
    panic!("the outbox did not drain");
}

#[tokio::test]
async fn a_burst_reaches_a_slack_receiver_as_one_digest_and_the_webhook_gets_every_alert() {
    let mut rig = SlackAndHook::start("/services/T/B/x", "");
    rig.record(&burst("token.big_transfer", 200));
    let SlackAndHook {
        slack,
        hook,
        clock,
        dispatcher,
        store,
        ..
    } = &rig;

    drain(dispatcher).await;
    assert_eq!(hook.accepted().len(), 200, "the webhook is not grouped");
    assert!(slack.requests().is_empty(), "the group waits");

    clock.advance_ms(WAIT_MS);
    drain(dispatcher).await;
    let seen = slack.requests();
    assert_eq!(seen.len(), 1, "one digest, not 200 messages");
    let text = seen[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("[HIGH] 200 alerts (rule=token.big_transfer)"),
        "{text}"
    );
    assert!(text.contains("… and 190 more"), "{text}");

    let all = outbox::list_deliveries(store, None).unwrap();
    let digests: Vec<_> = all
        .iter()
        .filter(|d| d.kind == DeliveryKind::Digest)
        .collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].status, DeliveryStatus::Delivered);
    let folded = all
        .iter()
        .filter(|d| d.notifier == "slack" && d.kind == DeliveryKind::Fire)
        .collect::<Vec<_>>();
    assert_eq!(folded.len(), 200);
    assert!(folded.iter().all(|d| d.status == DeliveryStatus::Digested
        && d.digest_id == Some(digests[0].id)
        && d.delivered_at_ms == Some(T0 + WAIT_MS)));
    // The digest's key: its notifier, group and first alert.
    assert_eq!(
        seen[0].header("idempotency-key"),
        Some(digest::digest_key("slack", "rule=token.big_transfer", &folded[0].alert_id).as_str())
    );
}

#[tokio::test]
async fn a_webhook_grouped_by_config_gets_a_json_digest() {
    let hook = Receiver::start();
    let cfg = config(&format!(
        "notifiers:\n  hook:\n    type: webhook\n    url: \"{}\"\n    secret: \"s\"\nroutes:\n  - {{ notifiers: [hook], group_by: [rule, chain], group_wait: 2s }}\n",
        hook.url("/hook")
    ));
    let db = Db::new();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[], &clock);
    let mut store = db.open();
    let mut findings = burst("a", 3);
    findings.extend(burst("b", 2));
    record_all(
        &mut store,
        &findings,
        &Routing::from_config(&cfg).unwrap(),
        T0,
    );
    clock.advance_ms(2_000);
    drain(&dispatcher).await;
    let mut docs: Vec<_> = hook.accepted().iter().map(|r| r.json()).collect();
    docs.sort_by_key(|d| d["group"].as_str().unwrap().to_owned());
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "digest");
    assert_eq!(docs[0]["group"], "rule=a,chain=31337");
    assert_eq!(docs[0]["count"], 3);
    assert_eq!(docs[0]["alerts"].as_array().unwrap().len(), 3);
    assert_eq!(docs[1]["group"], "rule=b,chain=31337");
    assert_eq!(docs[1]["count"], 2);
}

#[tokio::test]
async fn a_backlog_over_the_rate_limit_is_folded_into_one_digest() {
    // Grouping off: only the rate limit (Slack: 1/s, so 61 a minute) acts.
    let mut rig = SlackAndHook::start(
        "/s",
        "routes:\n  - { notifiers: [slack, hook], group_by: [] }\n",
    );
    rig.record(&burst("r", 150));
    let SlackAndHook {
        slack,
        hook,
        dispatcher,
        ..
    } = &rig;
    drain(dispatcher).await;
    let seen = slack.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("[HIGH] 150 alerts (backlog)")
    );
    assert_eq!(hook.accepted().len(), 150);
}

#[tokio::test]
async fn fires_held_for_their_group_are_no_backlog() {
    // Rule `big` is grouped (Slack's default); rule `few` is not.
    let mut rig = SlackAndHook::start(
        "/s",
        "routes:\n  - { rules: [few], notifiers: [slack], group_by: [] }\n  - { rules: [big], notifiers: [slack] }\n",
    );
    // 150 held fires, far over Slack's 61 a minute, and 3 single ones.
    rig.record(&burst("big", 150));
    rig.record(&(0..3).map(|i| finding("few", 8, i)).collect::<Vec<_>>());
    let SlackAndHook {
        slack,
        clock,
        dispatcher,
        ..
    } = &rig;
    // The held group is not a queue to fold: the single fires go out as
    // themselves, one a second (Slack's rate).
    drain(dispatcher).await;
    clock.advance_ms(1_000);
    drain(dispatcher).await;
    clock.advance_ms(1_000);
    drain(dispatcher).await;
    let texts: Vec<String> = slack
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts.iter().all(|t| !t.contains("alerts (")), "{texts:?}");
    // The group, at its flush, is its one digest.
    clock.advance_ms(WAIT_MS - 2_000);
    drain(dispatcher).await;
    let seen = slack.requests();
    assert_eq!(seen.len(), 4);
    let text = seen[3].json()["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("[HIGH] 150 alerts (rule=big)"), "{text}");
}

#[tokio::test]
async fn slack_sends_no_faster_than_its_limit_and_a_retry_after_pauses_it() {
    let slack = Receiver::start();
    slack.then(Answer::status(429).header("Retry-After", "30"));
    let cfg = config(
        "dedup_window: 0s\nnotifiers:\n  slack:\n    type: slack\n    webhook_url: { env: SLACK_URL }\n",
    );
    let slack_url = slack.url("/s");
    let db = Db::new();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("SLACK_URL", slack_url.as_str())], &clock);
    let slack_only = Routing::from_config(&cfg).unwrap();
    let mut store = db.open();
    // Rule a: sent after the group wait, answered 429 Retry-After 30.
    record_all(&mut store, &[finding("a", 1, 0)], &slack_only, T0);
    clock.advance_ms(WAIT_MS);
    dispatcher.run_once().await.unwrap();
    assert_eq!(slack.requests().len(), 1);
    // Rule b, due 5 s later: the notifier is paused by the Retry-After.
    record_all(&mut store, &[finding("b", 2, 0)], &slack_only, T0 + WAIT_MS);
    clock.advance_ms(WAIT_MS);
    dispatcher.run_once().await.unwrap();
    assert_eq!(slack.requests().len(), 1, "paused until the Retry-After");
    // At the Retry-After: one of the two (the limit is 1/s, burst 1) ...
    clock.set_ms(T0 + WAIT_MS + 30_000);
    dispatcher.run_once().await.unwrap();
    assert_eq!(slack.requests().len(), 2);
    dispatcher.run_once().await.unwrap();
    assert_eq!(slack.requests().len(), 2, "one a second");
    // ... and the other a second later.
    clock.advance_ms(1_000);
    dispatcher.run_once().await.unwrap();
    assert_eq!(slack.requests().len(), 3);
    let all = outbox::list_deliveries(&store, None).unwrap();
    assert!(
        all.iter()
            .filter(|d| d.notifier == "slack")
            .all(|d| d.status == DeliveryStatus::Delivered),
        "{all:#?}"
    );
}

#[tokio::test]
async fn a_group_across_a_restart_is_sent_once_with_a_stable_key() {
    let slack = Receiver::start();
    let cfg = config(
        "dedup_window: 0s\nnotifiers:\n  slack:\n    type: slack\n    webhook_url: { env: SLACK_URL }\n",
    );
    let slack_url = slack.url("/s");
    let env = [("SLACK_URL", slack_url.as_str())];
    let db = Db::new();
    {
        let mut store = db.open();
        record_all(
            &mut store,
            &burst("r", 5),
            &Routing::from_config(&cfg).unwrap(),
            T0,
        );
    }
    // A dispatcher folds and claims the group, and dies before sending.
    {
        let mut store = db.open();
        let tx = store.transaction().unwrap();
        let plan = digest::FoldPlan::from_config(&cfg);
        assert_eq!(digest::fold_due(&tx, T0 + WAIT_MS, &plan, None).unwrap(), 1);
        let claimed = outbox::claim_due(&tx, T0 + WAIT_MS, 10, 15_000).unwrap();
        tx.commit().unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].0.digest.as_ref().unwrap().count, 5);
    }
    // Restart on the reopened file: nothing during the lease, then once.
    let clock = Clock::manual_ms(T0 + WAIT_MS);
    let first = dispatcher(&db, &cfg, &env, &clock);
    assert_eq!(first.run_once().await.unwrap().attempted(), 0);
    clock.advance_ms(15_000);
    assert_eq!(first.run_once().await.unwrap().delivered, 1);
    drop(first);
    let again = dispatcher(&db, &cfg, &env, &clock);
    clock.advance_ms(60_000);
    assert_eq!(again.run_once().await.unwrap().attempted(), 0);
    let seen = slack.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("[HIGH] 5 alerts")
    );
}

#[tokio::test]
async fn a_grouped_alert_retracted_is_dropped_before_and_retracted_after_its_digest() {
    let slack = Receiver::start();
    let cfg = config(
        "dedup_window: 0s\nnotifiers:\n  slack:\n    type: slack\n    webhook_url: { env: SLACK_URL }\n",
    );
    let slack_url = slack.url("/s");
    let db = Db::new();
    let clock = Clock::manual_ms(T0);
    let dispatcher = dispatcher(&db, &cfg, &[("SLACK_URL", slack_url.as_str())], &clock);
    let routing = Routing::from_config(&cfg).unwrap();
    let mut store = db.open();
    // Three alerts of one group: two in block 1, one in block 2.
    let findings = [finding("r", 1, 0), finding("r", 1, 1), finding("r", 2, 0)];
    record_all(&mut store, &findings, &routing, T0);
    // Block 2 is reorged out before the group's flush: its fire never goes.
    let tx = store.transaction().unwrap();
    let gone = outbox::retract_block(
        &tx,
        argus_core::ChainId::LOCAL,
        alloy_primitives::B256::repeat_byte(2),
        T0,
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!((gone.cancelled, gone.retractions_queued), (1, 0));
    clock.advance_ms(WAIT_MS);
    drain(&dispatcher).await;
    assert_eq!(slack.requests().len(), 1);
    assert!(
        slack.requests()[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("[HIGH] 2 alerts")
    );
    // Block 1 is reorged out after the digest went: each alert gets a
    // retraction, after the digest that carried it.
    let tx = store.transaction().unwrap();
    let gone = outbox::retract_block(
        &tx,
        argus_core::ChainId::LOCAL,
        alloy_primitives::B256::repeat_byte(1),
        T0 + WAIT_MS,
    )
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(gone.retractions_queued, 2);
    clock.advance_ms(10_000);
    drain(&dispatcher).await;
    // Slack's limit: one a second.
    clock.advance_ms(1_000);
    drain(&dispatcher).await;
    let seen = slack.requests();
    assert_eq!(seen.len(), 3);
    for request in &seen[1..] {
        assert!(
            request.json()["text"]
                .as_str()
                .unwrap()
                .starts_with("RETRACTED")
        );
    }
}

#[test]
fn a_rule_cooldown_suppresses_repeats_as_duplicates() {
    let cfg = config(
        "dedup_window: 0s\nnotifiers:\n  hook:\n    type: webhook\n    url: \"http://127.0.0.1:9/h\"\n    secret: \"s\"\n",
    );
    let routing = Routing::from_config(&cfg)
        .unwrap()
        .with_cooldowns([("r".to_owned(), 3_600_000)]);
    let db = Db::new();
    let mut store = db.open();
    let mut first = finding("r", 1, 0);
    first.dedup_key = "pool:0xaa".to_owned();
    let mut soon = finding("r", 2, 0);
    soon.dedup_key = first.dedup_key.clone();
    soon.at_ms = T0 + 30 * 60_000;
    let mut later = finding("r", 3, 0);
    later.dedup_key = first.dedup_key.clone();
    later.at_ms = T0 + 2 * 3_600_000;
    let mut other_rule = finding("s", 4, 0);
    other_rule.dedup_key = first.dedup_key.clone();
    other_rule.at_ms = T0 + 60_000;
    let out = record_all(&mut store, &[first, soon, later, other_rule], &routing, T0);
    assert_eq!(out[0].suppressed_by, None);
    let head = outbox::list_alerts(&store, &argus_alerting::AlertFilter::default())
        .unwrap()
        .into_iter()
        .find(|a| a.state == argus_alerting::AlertState::Firing && a.at_ms == T0)
        .unwrap();
    assert_eq!(
        out[1].suppressed_by,
        Some(Suppression::Duplicate {
            of: head.id.clone()
        })
    );
    assert_eq!(out[2].suppressed_by, None, "after the cooldown");
    // A rule without a cooldown keeps the (zero) dedup window: the key is
    // the same, yet it fires.
    assert_eq!(out[3].suppressed_by, None);
    let head = outbox::get_alert(&store, &head.id).unwrap().unwrap();
    assert_eq!(head.duplicates, 1);
    let suppressed = outbox::list_alerts(&store, &argus_alerting::AlertFilter::default())
        .unwrap()
        .into_iter()
        .find(|a| a.state == argus_alerting::AlertState::Suppressed)
        .unwrap();
    assert_eq!(
        suppressed.reason.as_deref(),
        Some("duplicate within the rule's cooldown")
    );
}

/// A chain event's findings are recorded together (`outbox::Recording`,
/// which reads a group's flush time once): every fire of a group waits for
/// the group's one flush, in the batch that opened it and in later ones,
/// and two rules make two groups even within one batch.
#[test]
fn the_fires_of_a_group_wait_for_one_flush_across_batches() {
    let cfg = slack_and_hook("http://127.0.0.1:9/hook", "");
    let routing = Routing::from_config(&cfg).unwrap();
    let db = Db::new();
    let mut store = db.open();
    let mut first = burst("r", 3);
    first.extend(burst("s", 2));
    record_all(&mut store, &first, &routing, T0);
    let later: Vec<_> = (3..6).map(|i| finding("r", 8, i)).collect();
    record_all(&mut store, &later, &routing, T0 + 1_000);
    let held = |group: &str| -> Vec<i64> {
        outbox::list_deliveries(&store, None)
            .unwrap()
            .into_iter()
            .filter(|d| d.notifier == "slack" && d.group_key.as_deref() == Some(group))
            .map(|d| d.next_attempt_at_ms)
            .collect()
    };
    assert_eq!(held("rule=r"), vec![T0 + WAIT_MS; 6]);
    assert_eq!(held("rule=s"), vec![T0 + WAIT_MS; 2]);
}
