//! `end_silence` on a real SQLite file: an active silence ends now, an ended
//! one is left alone, a pending one gets an empty window, an unknown id says
//! so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_alerting::silence::end_silence;
use argus_alerting::{NewSilence, Silence, SilenceMatcher, add_silence, list_silences};
use argus_core::Severity;
use argus_store::Connection;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;

fn silence(starts_at_ms: i64, ends_at_ms: i64) -> NewSilence {
    NewSilence {
        matcher: SilenceMatcher {
            rule_id: Some("bot.*".to_owned()),
            max_severity: Some(Severity::Medium),
            ..SilenceMatcher::default()
        },
        starts_at_ms,
        ends_at_ms,
        created_by: "alice".to_owned(),
        reason: "maintenance".to_owned(),
    }
}

fn stored(store: &Connection, id: i64) -> Silence {
    list_silences(store, None)
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap()
}

#[test]
fn ending_moves_the_end_back_to_now_and_never_forward() {
    let store = argus_store::testing::store().unwrap().connect().unwrap();
    let conn = &store;
    let active = add_silence(conn, &silence(T0, T0 + 2 * HOUR), T0).unwrap();
    let pending = add_silence(conn, &silence(T0 + HOUR, T0 + 2 * HOUR), T0).unwrap();
    let ended = add_silence(conn, &silence(T0 - 2 * HOUR, T0 - HOUR), T0).unwrap();

    let now = T0 + 10 * 60_000;
    assert!(end_silence(conn, active, now).unwrap());
    let after = stored(&store, active);
    assert_eq!(after.ends_at_ms, now);
    assert!(!after.is_active(now));
    assert_eq!(after.starts_at_ms, T0, "the start is kept");

    // Not started yet: an empty window at its start, so it never mutes.
    assert!(end_silence(conn, pending, now).unwrap());
    let after = stored(&store, pending);
    assert_eq!(after.ends_at_ms, after.starts_at_ms);
    assert_eq!(after.starts_at_ms, T0 + HOUR);
    assert!(!after.is_active(T0 + HOUR));

    // Already over: it exists, and nothing changes.
    assert!(end_silence(conn, ended, now).unwrap());
    assert_eq!(stored(&store, ended).ends_at_ms, T0 - HOUR);

    // Ending twice is harmless, and the end stays where it first moved.
    assert!(end_silence(conn, active, now + HOUR).unwrap());
    assert_eq!(stored(&store, active).ends_at_ms, now);

    assert!(!end_silence(conn, 9_999, now).unwrap());
    assert!(list_silences(conn, Some(now)).unwrap().is_empty());
}

#[test]
fn an_ended_silence_no_longer_silences() {
    let mut store = argus_store::testing::store().unwrap().connect().unwrap();
    let routing = argus_alerting::Routing::to_all(&["hook"], 0);
    let id = add_silence(&store, &silence(T0, T0 + HOUR), T0).unwrap();
    let finding = |n: u8| argus_core::Finding {
        id: alloy_primitives::B256::repeat_byte(n),
        rule_id: "bot.memory".to_owned(),
        severity: Severity::Low,
        title: "memory".to_owned(),
        dedup_key: format!("memory-{n}"),
        origin: None,
        at_ms: T0,
        fields: serde_json::json!({}).into(),
    };
    let tx = store.transaction().unwrap();
    let before = argus_alerting::record(&tx, &finding(1), &routing, T0 + 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(before.deliveries, 0);

    assert!(end_silence(&store, id, T0 + 2).unwrap());
    let tx = store.transaction().unwrap();
    let after = argus_alerting::record(&tx, &finding(2), &routing, T0 + 3).unwrap();
    tx.commit().unwrap();
    assert_eq!(after.suppressed_by, None);
    assert_eq!(after.deliveries, 1);
}

#[test]
fn a_silence_that_would_mute_everything_is_refused_by_the_library() {
    use argus_alerting::silence::SilenceMatcher;
    use argus_core::Severity;
    let everything = [
        SilenceMatcher::default(),
        SilenceMatcher {
            rule_id: Some("*".into()),
            ..SilenceMatcher::default()
        },
        SilenceMatcher {
            rule_id: Some("*".into()),
            max_severity: Some(Severity::Critical),
            ..SilenceMatcher::default()
        },
    ];
    for matcher in everything {
        assert!(matcher.matches_everything(), "{matcher:?}");
    }
    let narrow = SilenceMatcher {
        max_severity: Some(Severity::High),
        ..SilenceMatcher::default()
    };
    assert!(!narrow.matches_everything());
}

/// No silence matches the audit log's heads sent to witnesses: muting them
/// would hide a rollback of the log. Every other rule id is matched as usual.
#[test]
fn no_silence_matches_the_audit_heads() {
    let finding = |rule_id: &str| argus_core::Finding {
        id: argus_core::finding_id(rule_id, None, b"x"),
        rule_id: rule_id.to_owned(),
        severity: Severity::Info,
        title: "t".to_owned(),
        dedup_key: "k".to_owned(),
        origin: None,
        at_ms: T0,
        fields: serde_json::json!({}).into(),
    };
    let by_rule = |pattern: &str| SilenceMatcher {
        rule_id: Some(pattern.to_owned()),
        ..SilenceMatcher::default()
    };
    let everything = SilenceMatcher::default();
    for matcher in [
        &everything,
        &by_rule("argus.*"),
        &by_rule("argus.audit.head"),
    ] {
        assert!(
            !matcher.matches(&finding("argus.audit.head")),
            "{matcher:?}"
        );
        assert!(
            matcher.matches(&finding("argus.incident.opened"))
                || matcher.rule_id.as_deref() == Some("argus.audit.head"),
            "{matcher:?}"
        );
    }
    assert!(argus_alerting::silence::NEVER_SILENCED.starts_with("argus."));
}
