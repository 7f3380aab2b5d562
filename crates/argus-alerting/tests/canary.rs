//! A canary secret must never show up in errors, `last_error`, the database,
//! Debug output or logs. Its own test binary, so the log capture is the
//! process's global subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use argus_alerting::DeliveryStatus;
use argus_testkit::{Answer, Receiver, free_port, hmac_sha256};
use common::*;

/// A log writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_canary_secret_never_leaks() {
    const CANARY: &str = "CANARY-7f3a9c-do-not-leak";
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    // A Telegram sink that echoes the request path (with the token) in its
    // error, a Slack URL that is refused, a webhook signed with the canary.
    let echo = Receiver::start();
    echo.echo_path();
    echo.then(Answer::status(400));
    let refused = free_port();
    let hook = Receiver::start();
    let cfg = config(&format!(
        "notifiers:\n  tg:\n    type: telegram\n    bot_token: {{ env: TG }}\n    chat_id: \"1\"\n    api_base: \"{}\"\n  slack:\n    type: slack\n    webhook_url: {{ env: SLACK }}\n  hook:\n    type: webhook\n    url: \"{}\"\n    secret: \"{CANARY}\"\n",
        echo.url(""),
        hook.url("/h"),
    ));
    let slack_url = format!("http://127.0.0.1:{refused}/services/{CANARY}");
    let env = [("TG", CANARY), ("SLACK", slack_url.as_str())];
    let (db, deliveries) = deliver_one(&cfg, &env, false).await;
    assert_eq!(deliveries.len(), 3);
    let tg = deliveries.iter().find(|d| d.notifier == "tg").unwrap();
    assert_eq!(tg.status, DeliveryStatus::Failed);
    assert!(
        tg.last_error.as_deref().unwrap().contains("[redacted]"),
        "{:?}",
        tg.last_error
    );
    let slack = deliveries.iter().find(|d| d.notifier == "slack").unwrap();
    assert_eq!(slack.status, DeliveryStatus::Pending);
    for d in &deliveries {
        assert!(
            !d.last_error.clone().unwrap_or_default().contains(CANARY),
            "{:?}",
            d.last_error
        );
    }
    // Nothing in the database file holds it (on PostgreSQL: no stored
    // alert; the deliveries were checked above).
    if db.is_sqlite() {
        let raw = std::fs::read(db.path()).unwrap();
        let wal = std::fs::read(db.dir.path().join("argus.db-wal")).unwrap_or_default();
        for bytes in [raw, wal] {
            assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()));
        }
    } else {
        let alerts = argus_alerting::outbox::list_alerts(&db.open(), &Default::default()).unwrap();
        assert!(!serde_json::to_string(&alerts).unwrap().contains(CANARY));
    }
    // Nor the logs, nor Debug output of the config and the built notifiers.
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("will retry"),
        "the test captured the dispatcher's logs"
    );
    assert!(!logs.contains(CANARY));
    assert!(!format!("{cfg:?}").contains(CANARY));
    assert!(!serde_json::to_string(&cfg).unwrap().contains(CANARY));
    let map: std::collections::BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let built = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &|n| map.get(n).cloned(),
            vault: None,
        },
    )
    .unwrap();
    assert!(!format!("{built:?}").contains(CANARY));
    // A missing secret names the variable, not a value.
    let error = argus_alerting::build_notifiers_with(
        &cfg,
        &argus_alerting::Secrets {
            env: &|_| None,
            vault: None,
        },
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("TG") && text.contains("SLACK") && !text.contains(CANARY),
        "{text}"
    );
    // The webhook was signed with the canary, which the receiver can check.
    let seen = hook.requests();
    let mut signed = seen[0]
        .header("x-argus-timestamp")
        .unwrap()
        .as_bytes()
        .to_vec();
    signed.push(b'.');
    signed.extend_from_slice(&seen[0].body);
    assert_eq!(
        seen[0].header("x-argus-signature"),
        Some(
            format!(
                "sha256={}",
                hex::encode(hmac_sha256(CANARY.as_bytes(), &signed))
            )
            .as_str()
        )
    );
}
