//! The `alerting:` config: every notifier type parses from YAML, defaults
//! apply, and validation reports every problem with its key path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use argus_alerting::config::{NotifierConfig, SmtpSecurity};
use argus_alerting::{AlertError, Routing, SecretSource};
use argus_core::Severity;
use common::config;

const FULL: &str = r#"
dedup_window: 5m
retry: { initial: 2s, max: 10m, max_in_flight: 4, request_timeout: 3s }
notifiers:
  hook:  { type: webhook, url: "https://ops.example/argus", secret: { env: HOOK_SECRET } }
  slack: { type: slack, webhook_url: { env: SLACK_URL } }
  disc:  { type: discord, webhook_url: "https://discord.example/api/webhooks/1/x" }
  tg:    { type: telegram, bot_token: { env: TG_TOKEN }, chat_id: "@ops" }
  pager: { type: pagerduty, routing_key: { env: PD_KEY } }
  mail:  { type: email, host: smtp.example.org, username: argus, password: { env: SMTP_PASS },
           from: "argus@example.org", to: [oncall@example.org] }
  run:   { type: script, command: [/usr/local/bin/page, --team, ops] }
routes:
  - { name: pages, min_severity: high, notifiers: [pager], continue: true }
  - { rule_prefix: "bot.", notifiers: [run] }
default_notifiers: [slack, hook]
"#;

#[test]
fn every_notifier_type_parses_with_its_defaults() {
    let cfg = config(FULL);
    assert!(
        cfg.validate("alerting").is_empty(),
        "{:?}",
        cfg.validate("alerting")
    );
    assert_eq!(cfg.dedup_window.as_ms(), 300_000);
    assert_eq!(cfg.retry.max_in_flight, 4);
    assert_eq!(cfg.notifiers.len(), 7);
    match &cfg.notifiers["tg"] {
        NotifierConfig::Telegram(t) => assert_eq!(t.api_base, "https://api.telegram.org"),
        other => panic!("{other:?}"),
    }
    match &cfg.notifiers["pager"] {
        NotifierConfig::Pagerduty(p) => {
            assert_eq!(p.endpoint, "https://events.pagerduty.com/v2/enqueue");
            assert_eq!(p.source, "argus");
        }
        other => panic!("{other:?}"),
    }
    match &cfg.notifiers["mail"] {
        NotifierConfig::Email(m) => {
            assert_eq!((m.port, m.security), (587, SmtpSecurity::Starttls));
            assert!(matches!(m.password, Some(SecretSource::Env { .. })));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cfg.notifiers["disc"].literal_secrets(), ["webhook_url"]);
    assert!(cfg.notifiers["slack"].literal_secrets().is_empty());

    let routing = Routing::from_config(&cfg).unwrap();
    assert_eq!(
        routing.notifiers_for("bot.mem", Severity::Critical),
        ["pager", "run"]
    );
    assert_eq!(
        routing.notifiers_for("token.x", Severity::Low),
        ["slack", "hook"]
    );
}

#[test]
fn an_empty_section_routes_everything_everywhere_with_a_ten_minute_window() {
    let cfg = config("{}");
    assert_eq!(cfg.dedup_window.as_ms(), 600_000);
    assert_eq!(cfg.retry.max.as_ms(), 300_000);
    let cfg = config(
        "notifiers:\n  a: { type: slack, webhook_url: { env: A } }\n  b: { type: slack, webhook_url: { env: B } }\n",
    );
    let routing = Routing::from_config(&cfg).unwrap();
    assert_eq!(routing.notifiers_for("any", Severity::Info), ["a", "b"]);
}

#[test]
fn validation_lists_every_problem_with_its_path() {
    let cfg = config(
        r#"
retry: { initial: 0s, max_in_flight: 0 }
notifiers:
  Bad_Name: { type: slack, webhook_url: { env: X } }
  hook: { type: webhook, url: "http://ops.example/argus", secret: { env: S } }
  mail: { type: email, host: smtp.example.org, security: none, from: "not an address", to: [] }
  run:  { type: script, command: [] }
  tg:   { type: telegram, bot_token: { env: T }, chat_id: " " }
routes:
  - { notifiers: [pagr] }
  - { rule_prefix: "", notifiers: [] }
default_notifiers: [nobody]
"#,
    );
    let problems = cfg.validate("alerting");
    let paths: Vec<&str> = problems.iter().filter_map(|p| p.path.as_deref()).collect();
    for expected in [
        "alerting.notifiers.Bad_Name",
        "alerting.notifiers.hook.url",
        "alerting.notifiers.mail.security",
        "alerting.notifiers.mail.from",
        "alerting.notifiers.mail.to",
        "alerting.notifiers.run.command",
        "alerting.notifiers.tg.chat_id",
        "alerting.routes[0].notifiers[0]",
        "alerting.routes[1].notifiers",
        "alerting.routes[1].rule_prefix",
        "alerting.default_notifiers[0]",
        "alerting.retry.initial",
        "alerting.retry.max_in_flight",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
    }
    let route = problems
        .iter()
        .find(|p| p.path.as_deref() == Some("alerting.routes[0].notifiers[0]"))
        .unwrap();
    assert!(route.message.contains("`pagr`") && route.message.contains("hook"));
    let error = Routing::from_config(&cfg).unwrap_err();
    assert!(matches!(error, AlertError::Config { ref problems } if problems.len() == paths.len()));
}

#[test]
fn unknown_keys_and_bad_durations_are_refused_by_the_parser() {
    assert!(serde_saphyr::from_str::<argus_alerting::AlertingConfig>("dedup_windw: 5m").is_err());
    assert!(
        serde_saphyr::from_str::<argus_alerting::AlertingConfig>("dedup_window: soon").is_err()
    );
    assert!(
        serde_saphyr::from_str::<argus_alerting::AlertingConfig>(
            "notifiers:\n  x: { type: webhook, url: \"https://a\", secret: { env: S }, extra: 1 }\n"
        )
        .is_err()
    );
    assert!(
        serde_saphyr::from_str::<argus_alerting::AlertingConfig>(
            "notifiers:\n  x: { type: fax }\n"
        )
        .is_err()
    );
}

#[test]
fn missing_secrets_are_all_reported_by_name() {
    let cfg = config(FULL);
    let error = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &|_| None,
            vault: None,
        },
    )
    .unwrap_err();
    let AlertError::Config { problems } = &error else {
        panic!("{error}");
    };
    let text = error.to_string();
    for name in [
        "HOOK_SECRET",
        "SLACK_URL",
        "TG_TOKEN",
        "PD_KEY",
        "SMTP_PASS",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    assert_eq!(
        problems.len(),
        5,
        "the literal Discord URL and the script need nothing"
    );
}

#[test]
fn vault_secrets_wait_for_the_vault_and_are_named_when_missing() {
    let cfg = config(
        "notifiers:\n  hook: { type: webhook, url: \"http://127.0.0.1:9/x\", secret: { vault: hook-key } }\n  \
         chat: { type: slack, webhook_url: { vault: slack-url } }\n  \
         page: { type: pagerduty, routing_key: { env: PD_KEY } }\n",
    );
    assert_eq!(cfg.vault_secret_names(), ["hook-key", "slack-url"]);
    let env = |name: &str| (name == "PD_KEY").then(|| "pd".to_owned());
    // Without the vault: the others are built, the vault's wait.
    let built = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &env,
            vault: None,
        },
    )
    .unwrap();
    assert_eq!(built.keys().collect::<Vec<_>>(), ["page"]);
    // An open vault without one of them: named, with the fix.
    let only_hook =
        |name: &str| (name == "hook-key").then(|| argus_alerting::Secret::new("sealed".to_owned()));
    let error = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &env,
            vault: Some(&only_hook),
        },
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("vault secret slack-url") && text.contains("argus keys secret set slack-url"),
        "{text}"
    );
    assert!(!text.contains("hook-key"), "{text}");
    // All there: all built.
    let all = |name: &str| match name {
        "hook-key" => Some(argus_alerting::Secret::new("sealed".to_owned())),
        "slack-url" => Some(argus_alerting::Secret::new(
            "https://hooks.slack.com/services/T/B/X".to_owned(),
        )),
        _ => None,
    };
    let built = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &env,
            vault: Some(&all),
        },
    )
    .unwrap();
    assert_eq!(built.len(), 3);
}

#[test]
fn max_in_flight_is_per_notifier_with_a_default_per_kind() {
    let cfg = config(
        r#"
notifiers:
  hook: { type: webhook, url: "http://127.0.0.1:9/", secret: { env: S } }
  fast: { type: webhook, url: "http://127.0.0.1:9/", secret: { env: S }, max_in_flight: 200 }
  chat: { type: slack, webhook_url: { env: X } }
  none: { type: slack, webhook_url: { env: X }, max_in_flight: 0 }
  huge: { type: script, command: [/bin/true], max_in_flight: 100000 }
"#,
    );
    assert_eq!(cfg.retry.max_in_flight, 256, "the total across notifiers");
    assert_eq!(cfg.notifiers["hook"].max_in_flight(), 64);
    assert_eq!(cfg.notifiers["fast"].max_in_flight(), 200);
    assert_eq!(cfg.notifiers["chat"].max_in_flight(), 4);
    let problems = cfg.validate("alerting");
    let paths: Vec<&str> = problems.iter().filter_map(|p| p.path.as_deref()).collect();
    assert_eq!(
        paths,
        [
            "alerting.notifiers.huge.max_in_flight",
            "alerting.notifiers.none.max_in_flight"
        ]
    );
    assert!(problems[0].message.contains("from 1 to 1024"));
}

#[test]
fn grouping_and_rate_limits_are_checked_at_their_key_paths() {
    let cfg = config(
        r#"
notifiers:
  slack: { type: slack, webhook_url: { env: SLACK_URL }, rate_limit: { per_second: 1, per_minute: 20 } }
  tg:    { type: telegram, bot_token: { env: TG }, chat_id: "1", rate_limit: { per_minute: 0, burst: 0 } }
  hook:  { type: webhook, url: "https://ops.example/a", secret: "s", rate_limit: {} }
routes:
  - { notifiers: [slack], group_by: [rule, labels., pool], group_wait: 2h, group_interval: 0s }
"#,
    );
    let problems = cfg.validate("alerting");
    let found: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.path.as_deref().unwrap_or(""), p.message.as_str()))
        .collect();
    for (path, words) in [
        ("alerting.notifiers.slack.rate_limit", "not both"),
        ("alerting.notifiers.tg.rate_limit.per_minute", "1 to 60000"),
        ("alerting.notifiers.tg.rate_limit.burst", "at least 1"),
        (
            "alerting.notifiers.hook.rate_limit",
            "per_second or per_minute",
        ),
        ("alerting.routes[0].group_by[1]", "labels.NAME"),
        ("alerting.routes[0].group_by[2]", "labels.NAME"),
        ("alerting.routes[0].group_wait", "at most 1h"),
        ("alerting.routes[0].group_interval", "at least 1s"),
    ] {
        assert!(
            found.iter().any(|(p, m)| *p == path && m.contains(words)),
            "missing {path} ({words}) in {found:#?}"
        );
    }
    assert_eq!(found.len(), 8, "{found:#?}");
}

#[test]
fn chat_and_pager_sinks_group_and_are_limited_by_default_webhooks_do_not() {
    use argus_alerting::limits::{RateLimit, effective};
    let cfg = config(FULL);
    assert_eq!(
        effective(&cfg.notifiers["slack"]),
        Some(RateLimit {
            interval_ms: 1_000,
            burst: 1
        })
    );
    assert_eq!(
        effective(&cfg.notifiers["tg"]).map(|l| l.interval_ms),
        Some(3_000)
    );
    assert!(effective(&cfg.notifiers["pager"]).is_some());
    assert!(effective(&cfg.notifiers["mail"]).is_some());
    assert_eq!(effective(&cfg.notifiers["hook"]), None);
    assert_eq!(effective(&cfg.notifiers["run"]), None);
    let routing = Routing::from_config(&cfg).unwrap();
    // An unmatched alert goes to the defaults: slack grouped by rule, the
    // webhook on its own.
    let to = routing.deliveries_for("token.x", Severity::Low);
    let slack = to.iter().find(|(n, _)| n == "slack").unwrap();
    let policy = slack.1.unwrap();
    assert_eq!((policy.wait_ms, policy.interval_ms), (5_000, 60_000));
    assert!(to.iter().find(|(n, _)| n == "hook").unwrap().1.is_none());
    // A route with its own settings groups even a script.
    let grouped = config(
        "notifiers:\n  run: { type: script, command: [/bin/true] }\nroutes:\n  - { notifiers: [run], group_wait: 30s }\n",
    );
    let routing = Routing::from_config(&grouped).unwrap();
    let to = routing.deliveries_for("r", Severity::Low);
    assert_eq!(to[0].1.map(|p| p.wait_ms), Some(30_000));
}
