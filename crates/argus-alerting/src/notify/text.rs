//! How an alert reads in a chat message, a page or a mail.
//!
//! Shared by the chat services, PagerDuty and email. Titles and fields can
//! hold text an attacker chose (a token's name, a revert string): each
//! service escapes them for its own markup (see `chat`).

use crate::notify::Outgoing;
use crate::outbox::DeliveryKind;

/// One line: `[HIGH] title (rule)`, or `RETRACTED (reorg) …` for a
/// retraction; for a digest `[HIGH] 2000 alerts (rule=x): first title`.
pub(crate) fn summary(out: &Outgoing<'_>) -> String {
    let alert = out.alert;
    let lead = match out.kind() {
        DeliveryKind::Fire => format!("[{}]", alert.severity.as_str().to_ascii_uppercase()),
        DeliveryKind::Retract => "RETRACTED".to_owned(),
        DeliveryKind::Digest => match out.digest() {
            Some(digest) if digest.count > 1 => {
                return format!(
                    "[{}] {} alerts ({}): {}",
                    digest.severity.as_str().to_ascii_uppercase(),
                    digest.count,
                    digest.group,
                    alert.title
                );
            }
            _ => format!("[{}]", alert.severity.as_str().to_ascii_uppercase()),
        },
    };
    format!("{lead} {} ({})", alert.title, alert.rule_id)
}

/// A few lines of detail: where the event happened and why it was
/// retracted; for a digest, one line per alert shown and how many more.
pub(crate) fn details(out: &Outgoing<'_>) -> String {
    if let Some(digest) = out.digest().filter(|d| d.count > 1) {
        let mut lines: Vec<String> = digest
            .alerts
            .iter()
            .map(|a| {
                let place = match (a.chain_id, a.block_number) {
                    (Some(chain), Some(block)) => format!(" — chain {chain}, block {block}"),
                    _ => String::new(),
                };
                format!(
                    "• [{}] {}{place}",
                    a.severity.as_str().to_ascii_uppercase(),
                    a.title
                )
            })
            .collect();
        let more = digest.count.saturating_sub(digest.alerts.len() as u64);
        if more > 0 {
            lines.push(format!("… and {more} more (argus alerts list)"));
        }
        return lines.join("\n");
    }
    let alert = out.alert;
    let mut lines = Vec::new();
    if let (Some(chain), Some(block)) = (alert.chain_id, alert.block_number) {
        lines.push(format!("chain {chain}, block {block}"));
    }
    if let Some(tx) = &alert.tx_hash {
        lines.push(format!("tx {tx}"));
    }
    if out.kind() == DeliveryKind::Retract
        && let Some(reason) = &alert.reason
    {
        lines.push(format!("retracted: {reason}"));
    }
    if alert.duplicates > 0 {
        lines.push(format!(
            "{} more suppressed as duplicates",
            alert.duplicates
        ));
    }
    lines.push(format!("alert {}", alert.id));
    lines.join("\n")
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An RFC 3339 timestamp for milliseconds since the epoch.
pub(crate) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}
