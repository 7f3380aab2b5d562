//! The incident policy: the `incidents:` section of `argus.yaml`.
//!
//! ```yaml
//! incidents:
//!   severities:                    # the procedure's defaults, overridable
//!     P0: { respond_within: 5m, escalation: [oncall, security-lead, cto] }
//!   kinds:                         # which alerts make which incident
//!     - name: funds-drained
//!       rules: [large-outflow, "drain-*"]
//!       min_severity: high
//!       severity: P0
//!       group_by: chain
//!       playbook: contain
//!   playbooks:                     # the decision trees, as steps
//!     contain:
//!       - id: pause
//!         pause: { chain: mainnet, contracts: affected, key: guardian }
//!       - id: stop-bot
//!         stop_bot: { bot: arb }
//!         after: []                # in parallel with the pause
//!       - id: brief
//!         notify: { notifiers: [management], audience: management }
//!         after: [pause, stop-bot]
//!   bots:
//!     arb: { pid_file: /run/arb.pid, kill_switch_file: /run/arb/STOP }
//! ```
//!
//! The types here are what a checked section holds; the loader
//! (`argus_node::config`) reads each item on its own and reports every
//! problem with its file and line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use alloy_primitives::Address;
use argus_core::Severity;
use serde::{Deserialize, Serialize};

/// How urgent an incident is: the procedure's P0–P3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IncidentSeverity {
    P0,
    P1,
    P2,
    P3,
}

impl IncidentSeverity {
    pub const ALL: [IncidentSeverity; 4] = [Self::P0, Self::P1, Self::P2, Self::P3];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::P0 => "P0",
            Self::P1 => "P1",
            Self::P2 => "P2",
            Self::P3 => "P3",
        }
    }

    /// The procedure's response time: 5 minutes, 30 minutes, 4 hours, 24 hours.
    pub fn default_response_ms(self) -> i64 {
        const MINUTE: i64 = 60_000;
        match self {
            Self::P0 => 5 * MINUTE,
            Self::P1 => 30 * MINUTE,
            Self::P2 => 4 * 60 * MINUTE,
            Self::P3 => 24 * 60 * MINUTE,
        }
    }
}

impl fmt::Display for IncidentSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentSeverity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "P0" | "p0" => Ok(Self::P0),
            "P1" | "p1" => Ok(Self::P1),
            "P2" | "p2" => Ok(Self::P2),
            "P3" | "p3" => Ok(Self::P3),
            other => Err(format!(
                "`{other}` is not an incident severity; use P0, P1, P2 or P3"
            )),
        }
    }
}

/// The checked `incidents:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentsConfig {
    /// Every severity, with the procedure's defaults where the file is silent.
    pub severities: BTreeMap<IncidentSeverity, SeverityPolicy>,
    pub kinds: Vec<KindConfig>,
    pub playbooks: BTreeMap<String, Playbook>,
    pub bots: BTreeMap<String, BotConfig>,
    pub evidence: EvidenceConfig,
}

impl IncidentsConfig {
    /// No kinds: no incident is ever opened.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The policy of `severity` (the default when none was configured).
    pub fn severity(&self, severity: IncidentSeverity) -> SeverityPolicy {
        self.severities
            .get(&severity)
            .cloned()
            .unwrap_or_else(|| SeverityPolicy::default_for(severity))
    }

    /// The vault keys the playbooks sign with, each once.
    pub fn key_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self
            .playbooks
            .values()
            .flat_map(|p| p.steps.iter())
            .filter_map(|s| match &s.action {
                StepAction::Pause(c) | StepAction::Unpause(c) => Some(c.key.clone()),
                StepAction::MoveFunds(m) => Some(m.key.clone()),
                StepAction::RevokeAllowances(r) => Some(r.key.clone()),
                _ => None,
            })
            .collect();
        labels.sort();
        labels.dedup();
        labels
    }

    /// The first kind whose match takes this alert, if any.
    pub fn kind_for(
        &self,
        rule_id: &str,
        severity: Severity,
        fields: &serde_json::Value,
    ) -> Option<&KindConfig> {
        self.kinds
            .iter()
            .find(|k| k.matches(rule_id, severity, fields))
    }
}

/// Response time and escalation chain of one severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityPolicy {
    /// How long an incident may stay unacknowledged before it escalates to
    /// the next level (and again after each level).
    #[serde(with = "ms", rename = "respond_within")]
    pub respond_within_ms: i64,
    /// Notifier names, one per level: level 1 is told when the response
    /// time passes, level 2 one response time later, and so on.
    #[serde(default)]
    pub escalation: Vec<String>,
    /// Notifiers told when an incident of this severity opens.
    #[serde(default)]
    pub notify: Vec<String>,
}

impl SeverityPolicy {
    pub fn default_for(severity: IncidentSeverity) -> Self {
        Self {
            respond_within_ms: severity.default_response_ms(),
            escalation: Vec::new(),
            notify: Vec::new(),
        }
    }
}

/// Which alerts make an incident of one kind, and how they group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    pub name: String,
    /// Rule ids; `*` matches any run of characters (`drain-*`). Empty: any rule.
    #[serde(default)]
    pub rules: Vec<String>,
    /// The mildest alert severity taken (default: any).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Fields the alert must carry with these values (a signal's labels,
    /// an event's arguments): `labels: { bot: arb }`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub severity: IncidentSeverity,
    #[serde(default)]
    pub group_by: GroupBy,
    #[serde(default)]
    pub playbook: Option<String>,
    /// The incident's title; default: the first alert's title.
    #[serde(default)]
    pub title: Option<String>,
}

impl KindConfig {
    pub fn matches(&self, rule_id: &str, severity: Severity, fields: &serde_json::Value) -> bool {
        if !self.rules.is_empty() && !self.rules.iter().any(|p| glob_match(p, rule_id)) {
            return false;
        }
        // Severity orders worst first: Critical < High < ... < Info.
        if self.min_severity.is_some_and(|min| severity > min) {
            return false;
        }
        self.labels.iter().all(|(key, want)| {
            let found = fields
                .get("labels")
                .and_then(|l| l.get(key))
                .or_else(|| fields.get(key));
            match found {
                Some(serde_json::Value::String(s)) => s == want,
                // A number or a boolean compares by its JSON text.
                Some(other) => {
                    let text = other.to_string();
                    text == *want
                }
                None => false,
            }
        })
    }
}

/// `*` matches any run of characters, everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, rest) = (parts[0], &parts[1..]);
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let last = rest.last().copied().unwrap_or("");
    for middle in &rest[..rest.len() - 1] {
        match remaining.find(middle) {
            Some(at) => remaining = &remaining[at + middle.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

/// Which alerts of a kind belong to the same open incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One open incident of the kind at a time.
    #[default]
    Kind,
    /// One per chain.
    Chain,
    /// One per contract (the alert's emitting or called address).
    Contract,
    /// One per rule.
    Rule,
}

/// A playbook: steps run in order unless `after` says otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    pub steps: Vec<StepConfig>,
}

/// One step of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepConfig {
    /// Unique within the playbook; named in approvals and reports.
    pub id: String,
    pub action: StepAction,
    /// Steps that must succeed first. `None`: the step before (the first
    /// step waits for nothing); `[]`: none, so it starts at once, in
    /// parallel with the others.
    pub after: Option<Vec<String>>,
    /// Distinct operators who must approve before it runs (0: automatic).
    /// An unpause always needs at least two.
    pub approvals: u32,
    pub retry: RetryConfig,
    /// Run only for incidents at least this severe.
    pub min_severity: Option<IncidentSeverity>,
}

impl StepConfig {
    /// The approvals the step needs: an unpause never runs on fewer than two.
    pub fn approvals_needed(&self) -> u32 {
        match self.action {
            StepAction::Unpause(_) => self.approvals.max(2),
            _ => self.approvals,
        }
    }
}

/// How a failed step is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Tries in all, the first included.
    #[serde(default = "RetryConfig::default_attempts")]
    pub attempts: u32,
    /// The wait before the second try; doubled each time.
    #[serde(
        default = "RetryConfig::default_backoff",
        with = "ms",
        rename = "backoff"
    )]
    pub backoff_ms: i64,
    /// The longest wait between tries.
    #[serde(
        default = "RetryConfig::default_max_backoff",
        with = "ms",
        rename = "max_backoff"
    )]
    pub max_backoff_ms: i64,
}

impl RetryConfig {
    fn default_attempts() -> u32 {
        5
    }
    fn default_backoff() -> i64 {
        2_000
    }
    fn default_max_backoff() -> i64 {
        60_000
    }

    /// The wait after the `attempt`-th failure (1-based).
    pub fn delay_after(&self, attempt: u32) -> i64 {
        let shift = attempt.saturating_sub(1).min(30);
        self.backoff_ms
            .saturating_mul(1_i64 << shift)
            .min(self.max_backoff_ms)
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: Self::default_attempts(),
            backoff_ms: Self::default_backoff(),
            max_backoff_ms: Self::default_max_backoff(),
        }
    }
}

/// What a step does. Written in a step as one key naming the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Call the pause function of contracts, signed with a guardian key.
    Pause(ContractCallStep),
    /// Call the unpause function: never automatic, two approvers at least.
    Unpause(ContractCallStep),
    /// Stop a bot of the `bots:` section.
    StopBot(StopBotStep),
    /// Move native funds and tokens from a key's address to a safe address.
    MoveFunds(MoveFundsStep),
    /// Set the allowances of listed spenders to zero.
    RevokeAllowances(RevokeStep),
    /// Rotate vault keys and run the commands that rotate other credentials.
    RotateKeys(RotateStep),
    /// Run a command.
    Run(CommandStep),
    /// Tell people, per the communication plan.
    Notify(NotifyStep),
}

impl StepAction {
    /// The action's name as written in a playbook.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pause(_) => "pause",
            Self::Unpause(_) => "unpause",
            Self::StopBot(_) => "stop_bot",
            Self::MoveFunds(_) => "move_funds",
            Self::RevokeAllowances(_) => "revoke_allowances",
            Self::RotateKeys(_) => "rotate_keys",
            Self::Run(_) => "run",
            Self::Notify(_) => "notify",
        }
    }

    pub const KINDS: [&'static str; 8] = [
        "pause",
        "unpause",
        "stop_bot",
        "move_funds",
        "revoke_allowances",
        "rotate_keys",
        "run",
        "notify",
    ];
}

/// Which contracts a contract step acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Targets {
    /// `affected`: the registry contracts the incident's alerts came from.
    Affected(AffectedKeyword),
    /// Registry labels or addresses.
    Listed(Vec<String>),
}

/// The word `affected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AffectedKeyword {
    Affected,
}

/// A call to a guardian function on contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractCallStep {
    /// The chain's name in the `chains:` section.
    pub chain: String,
    pub contracts: Targets,
    /// The function's signature, without arguments (default `pause()`, or
    /// `unpause()` for an unpause).
    #[serde(default)]
    pub function: Option<String>,
    /// The vault key that signs (its policy must allow `sign-containment`).
    pub key: String,
    /// The highest fee per gas paid, replacements included (default 500 gwei).
    #[serde(default)]
    pub max_fee_gwei: Option<u64>,
    /// How long a sent transaction may wait before it is replaced with a
    /// higher fee (default 30 s).
    #[serde(default, with = "ms_opt")]
    pub replace_after_ms: Option<i64>,
}

impl ContractCallStep {
    pub fn function_or(&self, default: &str) -> String {
        self.function.clone().unwrap_or_else(|| default.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopBotStep {
    /// A bot of the `bots:` section.
    pub bot: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveFundsStep {
    pub chain: String,
    /// The vault key whose address holds the funds.
    pub key: String,
    /// The safe address, configured in advance.
    pub to: Address,
    /// Move the native balance too (less the fee). Default true.
    #[serde(default = "default_true")]
    pub native: bool,
    /// ERC-20 tokens to move: registry labels or addresses.
    #[serde(default)]
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeStep {
    pub chain: String,
    /// The vault key that owns the allowances.
    pub key: String,
    /// ERC-20 tokens: registry labels or addresses.
    pub tokens: Vec<String>,
    pub spenders: Vec<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateStep {
    /// Vault keys to rotate (`argus keys rotate`).
    #[serde(default)]
    pub keys: Vec<String>,
    /// Commands that rotate other credentials.
    #[serde(default)]
    pub commands: Vec<CommandStep>,
}

/// A command, run without a shell; it gets the incident in `ARGUS_INCIDENT_*`
/// variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// The program and its arguments.
    pub command: Vec<String>,
    #[serde(default = "default_command_timeout", with = "ms", rename = "timeout")]
    pub timeout_ms: i64,
}

fn default_command_timeout() -> i64 {
    30_000
}

fn default_true() -> bool {
    true
}

/// Who a notification is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The responders' channel.
    #[default]
    Responders,
    /// Management: the briefing with the impact assessment.
    Management,
    /// The public status line (also shown on the public view).
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyStep {
    /// Notifier names of `alerting.notifiers` (none for `public` only).
    #[serde(default)]
    pub notifiers: Vec<String>,
    #[serde(default)]
    pub audience: Audience,
    /// The message; default: the incident's summary for the audience.
    #[serde(default)]
    pub message: Option<String>,
}

/// How to stop a bot, and what to read of it as evidence. Never by process
/// name: a pid file, a command, a unit, or a kill switch the bot polls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// A file the bot polls; created (with the incident's number) to stop it.
    #[serde(default)]
    pub kill_switch_file: Option<PathBuf>,
    /// A file holding the bot's pid; the pid is sent `signal`.
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
    /// The signal for the pid file (default TERM).
    #[serde(default)]
    pub signal: Option<String>,
    /// A command that stops the bot (e.g. `[systemctl, stop, arb.service]`).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// The bot polls Argus's `/killswitch/NAME` (served by `argus run` with
    /// a `server:` section, or `argus serve`) and stops when it says so.
    #[serde(default)]
    pub http_kill_switch: bool,
    /// The systemd unit: its journal of the last hour is evidence.
    #[serde(default)]
    pub unit: Option<String>,
    /// The bot's wallet addresses, whose balances and recent transactions
    /// are evidence.
    #[serde(default)]
    pub wallets: Vec<Address>,
    /// The chain of those wallets.
    #[serde(default)]
    pub chain: Option<String>,
    /// Watch the wallets for transactions the bot did not submit (and
    /// Argus did not sign): critical within the block (`argus-node`'s
    /// `keyuse`). Needs `wallets` and `chain`.
    #[serde(default)]
    pub key_use: Option<KeyUseConfig>,
}

/// `key_use:` of a bot: where its reports of what it sent come from, and
/// how long a report may lag its block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUseConfig {
    /// The JSON-lines file the bot appends one report to per transaction
    /// (`{"tx_hash": "0x…", "from": "0x…", "nonce": N, "chain": "…"}`).
    /// Without it, reports come only over the HTTP API.
    #[serde(default)]
    pub submissions_file: Option<PathBuf>,
    /// Blocks a report may arrive after the block holding its transaction:
    /// the check of block N runs when block N + `grace_blocks` is
    /// committed. 0 (the default) or 1 keep "within one block".
    #[serde(default)]
    pub grace_blocks: u64,
}

/// What is captured at detection besides the chain's own records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceConfig {
    /// Read the process list and open sockets from `/proc` (default true).
    #[serde(default = "default_true")]
    pub system_state: bool,
    /// Log files of which the last hour (by modification, the tail) is kept.
    #[serde(default)]
    pub log_files: Vec<PathBuf>,
    /// How many of each bot wallet's latest blocks are searched for its
    /// transactions (default 50).
    #[serde(default = "default_recent_blocks")]
    pub recent_blocks: u64,
}

fn default_recent_blocks() -> u64 {
    50
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        Self {
            system_state: true,
            log_files: Vec::new(),
            recent_blocks: default_recent_blocks(),
        }
    }
}

/// Durations as milliseconds inside, written in the duration grammar
/// (`5m`, `30s`, `PT10M`, seconds as a number), stored back as `NNNms`.
mod ms {
    use serde::{Deserializer, Serializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let duration = argus_core::duration::deserialize(d)?;
        i64::try_from(duration.as_millis())
            .map_err(|_| serde::de::Error::custom("the duration is too long"))
    }

    pub(super) fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{ms}ms"))
    }
}

mod ms_opt {
    use serde::{Deserializer, Serializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match argus_core::duration::deserialize_option(d)? {
            None => Ok(None),
            Some(duration) => i64::try_from(duration.as_millis())
                .map(Some)
                .map_err(|_| serde::de::Error::custom("the duration is too long")),
        }
    }

    pub(super) fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&format!("{ms}ms")),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob_match("drain-*", "drain-vault"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c*e", "abcd"));
        assert!(!glob_match("drain", "drain-vault"));
        assert!(glob_match("*-vault", "drain-vault"));
    }

    #[test]
    fn retry_doubles_up_to_its_cap() {
        let retry = RetryConfig {
            attempts: 5,
            backoff_ms: 1_000,
            max_backoff_ms: 5_000,
        };
        assert_eq!(retry.delay_after(1), 1_000);
        assert_eq!(retry.delay_after(2), 2_000);
        assert_eq!(retry.delay_after(3), 4_000);
        assert_eq!(retry.delay_after(4), 5_000);
        assert_eq!(retry.delay_after(40), 5_000);
    }

    #[test]
    fn a_kind_matches_rule_severity_and_labels() {
        let kind = KindConfig {
            name: "k".into(),
            rules: vec!["drain-*".into()],
            min_severity: Some(Severity::High),
            labels: [("bot".to_owned(), "arb".to_owned())].into(),
            severity: IncidentSeverity::P0,
            group_by: GroupBy::Kind,
            playbook: None,
            title: None,
        };
        let fields = serde_json::json!({ "labels": { "bot": "arb" } });
        assert!(kind.matches("drain-x", Severity::Critical, &fields));
        assert!(kind.matches("drain-x", Severity::High, &fields));
        assert!(!kind.matches("drain-x", Severity::Medium, &fields));
        assert!(!kind.matches("other", Severity::Critical, &fields));
        assert!(!kind.matches("drain-x", Severity::Critical, &serde_json::json!({})));
    }
}
