//! Each notifier's request against a real receiver: the body shapes the
//! services document, the script notifier with a real shell script, email
//! against a small SMTP server written here, and a canary secret that must
//! never show up in errors, `last_error`, Debug output or logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use argus_alerting::DeliveryStatus;
use argus_testkit::{Answer, Receiver};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn slack_gets_an_incoming_webhook_message() {
    let receiver = Receiver::start();
    let cfg = config("notifiers:\n  chat:\n    type: slack\n    webhook_url: { env: SLACK_URL }\n");
    let url = receiver.url("/services/T000/B000/XXXX");
    let (_db, deliveries) = deliver_one(&cfg, &[("SLACK_URL", &url)], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    let seen = receiver.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/services/T000/B000/XXXX");
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    let body = seen[0].json();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[HIGH] token.big_transfer fired")
    );
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"]["type"], "mrkdwn");
}

#[tokio::test]
async fn discord_gets_content_and_an_embed_without_mentions() {
    let receiver = Receiver::start();
    let cfg =
        config("notifiers:\n  chat:\n    type: discord\n    webhook_url: { env: DISCORD_URL }\n");
    let url = receiver.url("/api/webhooks/1/abc");
    let (_db, deliveries) = deliver_one(&cfg, &[("DISCORD_URL", &url)], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    let body = receiver.requests()[0].json();
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("token.big_transfer fired")
    );
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    let embed = &body["embeds"][0];
    assert!(embed["title"].as_str().unwrap().len() <= 256);
    assert!(
        embed["description"]
            .as_str()
            .unwrap()
            .contains("chain 31337, block 3")
    );
    assert!(embed["color"].is_u64());
    assert!(embed["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn telegram_calls_send_message_with_the_token_in_the_path() {
    let receiver = Receiver::start();
    let cfg = config(&format!(
        "notifiers:\n  tg:\n    type: telegram\n    bot_token: {{ env: TG_TOKEN }}\n    chat_id: \"-100123\"\n    api_base: \"{}\"\n",
        receiver.url("")
    ));
    let (_db, deliveries) = deliver_one(&cfg, &[("TG_TOKEN", "123:abc")], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    let seen = &receiver.requests()[0];
    assert_eq!(seen.path, "/bot123:abc/sendMessage");
    let body = seen.json();
    assert_eq!(body["chat_id"], "-100123");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[HIGH] token.big_transfer")
    );
    assert_eq!(body["link_preview_options"]["is_disabled"], true);
}

#[tokio::test]
async fn telegram_429_honours_the_retry_after_in_its_body() {
    let receiver = Receiver::start();
    receiver.then(Answer::status(429).body(
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 33","parameters":{"retry_after":33}}"#,
    ));
    let cfg = config(&format!(
        "notifiers:\n  tg:\n    type: telegram\n    bot_token: {{ env: TG_TOKEN }}\n    chat_id: \"1\"\n    api_base: \"{}\"\n",
        receiver.url("")
    ));
    let (_db, deliveries) = deliver_one(&cfg, &[("TG_TOKEN", "123:abc")], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
    // Sent after the default group wait, retried 33 s after that send.
    let sent_at = T0 + argus_alerting::grouping::DEFAULT_GROUP_WAIT.as_millis() as i64;
    assert_eq!(deliveries[0].next_attempt_at_ms, sent_at + 33_000);
}

#[tokio::test]
async fn pagerduty_triggers_on_fire_and_resolves_on_retract() {
    let receiver = Receiver::start();
    let cfg = config(&format!(
        "notifiers:\n  pd:\n    type: pagerduty\n    routing_key: {{ env: PD_KEY }}\n    endpoint: \"{}\"\n",
        receiver.url("/v2/enqueue")
    ));
    receiver.then(Answer::status(202).body(
        r#"{"status":"success","message":"Event processed","dedup_key":"big-transfer:0xaa"}"#,
    ));
    let (_db, deliveries) = deliver_one(&cfg, &[("PD_KEY", "R0UTINGKEY")], true).await;
    assert_eq!(deliveries.len(), 2);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
    );
    let seen = receiver.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.path == "/v2/enqueue"));
    let trigger = seen[0].json();
    assert_eq!(trigger["routing_key"], "R0UTINGKEY");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["dedup_key"], "big-transfer:0xaa");
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(trigger["payload"]["source"], "argus");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("token.big_transfer fired")
    );
    assert!(
        trigger["payload"]["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2027-")
    );
    let resolve = seen[1].json();
    assert_eq!(
        resolve,
        serde_json::json!({"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": "big-transfer:0xaa"})
    );
}

#[tokio::test]
async fn the_script_notifier_runs_a_real_script_with_the_alert_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.json");
    let env_out = dir.path().join("env.txt");
    let script = dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > '{}'\necho \"$ARGUS_DELIVERY_KIND $ARGUS_IDEMPOTENCY_KEY\" > '{}'\n",
            out.display(),
            env_out.display()
        ),
    )
    .unwrap();
    let cfg = config(&format!(
        "notifiers:\n  run:\n    type: script\n    command: [/bin/sh, \"{}\"]\n    timeout: 10s\n",
        script.display()
    ));
    let (_db, deliveries) = deliver_one(&cfg, &[], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Delivered);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(doc["kind"], "fire");
    assert_eq!(doc["alert"]["rule_id"], "token.big_transfer");
    let env = std::fs::read_to_string(&env_out).unwrap();
    assert_eq!(
        env.trim(),
        format!("fire {}", deliveries[0].idempotency_key)
    );
}

#[tokio::test]
async fn a_failing_or_hanging_script_is_retried_with_its_stderr_kept() {
    let cfg = config(
        "notifiers:\n  run:\n    type: script\n    command: [/bin/sh, -c, \"echo 'pager API said no' >&2; exit 3\"]\n",
    );
    let (_db, deliveries) = deliver_one(&cfg, &[], false).await;
    let d = &deliveries[0];
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(d.attempts, 1);
    let error = d.last_error.as_deref().unwrap();
    assert!(
        error.contains("exit status 3") && error.contains("pager API said no"),
        "{error}"
    );

    // The sink hangs: killed at the timeout (a real, short wait on a real process).
    let cfg = config(
        "notifiers:\n  run:\n    type: script\n    command: [/bin/sh, -c, \"exec sleep 30\"]\n    timeout: 300ms\n",
    );
    let started = std::time::Instant::now();
    let (_db, deliveries) = deliver_one(&cfg, &[], false).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        deliveries[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("killed")
    );

    // A program that does not exist fails for good.
    let cfg =
        config("notifiers:\n  run:\n    type: script\n    command: [/nonexistent/argus-notify]\n");
    let (_db, deliveries) = deliver_one(&cfg, &[], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
}

/// What the SMTP server received.
#[derive(Debug, Default, Clone)]
struct Mail {
    commands: Vec<String>,
    data: String,
}

/// A minimal SMTP server (RFC 5321 subset: EHLO, MAIL, RCPT, DATA, QUIT) on
/// 127.0.0.1, answering `rcpt_reply` to RCPT.
async fn smtp_server(rcpt_reply: &'static str) -> (std::net::SocketAddr, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                let mut mail = Mail::default();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    let command = line.trim_end().to_owned();
                    mail.commands.push(command.clone());
                    let upper = command.to_ascii_uppercase();
                    let reply: &str = if upper.starts_with("EHLO") {
                        "250-test\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL") {
                        "250 ok\r\n"
                    } else if upper.starts_with("RCPT") {
                        rcpt_reply
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        loop {
                            line.clear();
                            lines.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            mail.data.push_str(&line);
                        }
                        store.lock().unwrap().push(mail.clone());
                        "250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.unwrap();
                        break;
                    } else {
                        "250 ok\r\n"
                    };
                    write.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (addr, mails)
}

fn email_config(addr: std::net::SocketAddr) -> argus_alerting::AlertingConfig {
    config(&format!(
        "notifiers:\n  mail:\n    type: email\n    host: 127.0.0.1\n    port: {}\n    security: none\n    from: \"Argus <argus@example.org>\"\n    to: [oncall@example.org]\n",
        addr.port()
    ))
}

#[tokio::test]
async fn email_is_sent_over_smtp_with_the_key_as_message_id() {
    let (addr, mails) = smtp_server("250 ok\r\n").await;
    let (_db, deliveries) = deliver_one(&email_config(addr), &[], false).await;
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::Delivered,
        "{:?}",
        deliveries[0].last_error
    );
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(
        mail.commands
            .iter()
            .any(|c| c == "MAIL FROM:<argus@example.org>")
    );
    assert!(
        mail.commands
            .iter()
            .any(|c| c == "RCPT TO:<oncall@example.org>")
    );
    assert!(
        mail.data
            .contains("Subject: [argus] [HIGH] token.big_transfer fired")
    );
    assert!(mail.data.contains(&format!(
        "Message-ID: <{}@argus.invalid>",
        deliveries[0].idempotency_key
    )));
    assert!(mail.data.contains("chain 31337, block 3"));
}

#[tokio::test]
async fn an_smtp_5xx_fails_for_good_and_a_4xx_is_retried() {
    let (addr, _) = smtp_server("550 no such user\r\n").await;
    let (_db, deliveries) = deliver_one(&email_config(addr), &[], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Failed);
    assert!(
        deliveries[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("no such user")
    );
    let (addr, _) = smtp_server("451 try later\r\n").await;
    let (_db, deliveries) = deliver_one(&email_config(addr), &[], false).await;
    assert_eq!(deliveries[0].status, DeliveryStatus::Pending);
    assert_eq!(deliveries[0].attempts, 1);
}
