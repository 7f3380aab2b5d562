//! Reads the `incidents:` section of `argus.yaml` into an
//! [`IncidentsConfig`], reporting every problem with its line and column.
//!
//! The section's shape ([`RawIncidents`]) keeps where each severity, kind,
//! playbook step, bot and the evidence block start; each is then typed on
//! its own, so one bad step does not hide the next. Cross-checks come last:
//! a kind naming a playbook that does not exist, a step coming after a step
//! that is not before it (so playbooks cannot loop), a notifier, chain, bot
//! or rule that the rest of the config does not have.

use std::collections::{BTreeMap, BTreeSet};

use argus_core::{ChainId, Diagnostic};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::policy::{
    BotConfig, EvidenceConfig, IncidentSeverity, IncidentsConfig, KindConfig, Playbook,
    RetryConfig, SeverityPolicy, StepAction, StepConfig, Targets, glob_match,
};

/// The section as written: every item with where it starts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncidents {
    #[serde(default)]
    severities: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    kinds: Vec<Spanned<Value>>,
    #[serde(default)]
    playbooks: BTreeMap<String, Spanned<Vec<Spanned<Value>>>>,
    #[serde(default)]
    bots: BTreeMap<String, Spanned<Value>>,
    #[serde(default)]
    evidence: Option<Spanned<Value>>,
}

/// What the rest of the config offers the section's references.
#[derive(Debug, Clone, Default)]
pub struct References {
    /// Notifier names (`None`: the alerting section did not load, so
    /// notifier names are not checked).
    pub notifiers: Option<BTreeSet<String>>,
    pub chains: Vec<ChainId>,
    /// Rule ids of the loaded rule files (`None`: the rules did not load,
    /// so rule names are not checked).
    pub rules: Option<BTreeSet<String>>,
}

/// Types and checks the section; every problem is a diagnostic in `file`.
pub fn load(
    raw: &RawIncidents,
    file: &str,
    refs: &References,
) -> Result<IncidentsConfig, Vec<Diagnostic>> {
    let mut out = Out {
        file: file.to_owned(),
        diagnostics: Vec::new(),
    };
    let mut config = IncidentsConfig::default();

    for (name, spanned) in &raw.severities {
        let severity = match name.parse::<IncidentSeverity>() {
            Ok(s) => s,
            Err(message) => {
                out.at(spanned, format!("incidents.severities: {message}"));
                continue;
            }
        };
        let mut value = spanned.value.clone();
        // Allow a partial override: the defaults fill what is not written.
        if let Value::Object(map) = &mut value
            && !map.contains_key("respond_within")
        {
            map.insert(
                "respond_within".into(),
                Value::from(format!("{}ms", severity.default_response_ms())),
            );
        }
        if let Some(policy) =
            out.typed::<SeverityPolicy>(spanned, &format!("incidents.severities.{name}"), value)
        {
            if policy.respond_within_ms <= 0 {
                out.at(
                    spanned,
                    format!("incidents.severities.{name}.respond_within must be longer than zero"),
                );
            }
            for notifier in policy.escalation.iter().chain(&policy.notify) {
                out.notifier(
                    spanned,
                    refs,
                    &format!("incidents.severities.{name}"),
                    notifier,
                );
            }
            config.severities.insert(severity, policy);
        }
    }
    for severity in IncidentSeverity::ALL {
        config
            .severities
            .entry(severity)
            .or_insert_with(|| SeverityPolicy::default_for(severity));
    }

    for (name, spanned) in &raw.bots {
        if let Some(bot) = out.typed::<BotConfig>(
            spanned,
            &format!("incidents.bots.{name}"),
            spanned.value.clone(),
        ) {
            if bot.kill_switch_file.is_none()
                && bot.pid_file.is_none()
                && bot.command.is_none()
                && !bot.http_kill_switch
            {
                out.at(spanned, format!("incidents.bots.{name}: say how to stop it: `kill_switch_file`, `pid_file`, `command` or `http_kill_switch` (never by process name)"));
            }
            if let Some(signal) = &bot.signal
                && !SIGNALS.contains(&signal.trim_start_matches("SIG"))
            {
                out.at(spanned, format!("incidents.bots.{name}.signal: `{signal}` is not a signal Argus sends; use one of {}", SIGNALS.join(", ")));
            }
            if bot
                .command
                .as_ref()
                .is_some_and(|c| c.is_empty() || c[0].trim().is_empty())
            {
                out.at(spanned, format!("incidents.bots.{name}.command is empty; give the program and its arguments as a list"));
            }
            if bot.key_use.is_some() && (bot.wallets.is_empty() || bot.chain.is_none()) {
                out.at(spanned, format!("incidents.bots.{name}.key_use watches the bot's wallets: give `wallets` and their `chain`"));
            }
            if bot.key_use.as_ref().is_some_and(|k| k.grace_blocks > 64) {
                out.at(spanned, format!("incidents.bots.{name}.key_use.grace_blocks: at most 64 (0 or 1 keep \"within one block\")"));
            }
            if let Some(chain) = &bot.chain {
                out.chain(
                    spanned,
                    refs,
                    &format!("incidents.bots.{name}.chain"),
                    chain,
                );
            } else if !bot.wallets.is_empty() && refs.chains.len() > 1 {
                out.at(
                    spanned,
                    format!("incidents.bots.{name}: say which `chain` its wallets are on"),
                );
            }
            config.bots.insert(name.clone(), bot);
        }
    }

    if let Some(spanned) = &raw.evidence
        && let Some(evidence) =
            out.typed::<EvidenceConfig>(spanned, "incidents.evidence", spanned.value.clone())
    {
        config.evidence = evidence;
    }

    for (name, steps) in &raw.playbooks {
        let mut playbook = Playbook::default();
        let mut ids: Vec<String> = Vec::new();
        if steps.value.is_empty() {
            out.at(steps, format!("incidents.playbooks.{name} has no steps"));
        }
        for (index, spanned) in steps.value.iter().enumerate() {
            let what = format!("incidents.playbooks.{name}[{index}]");
            let Some(step) = step(&mut out, spanned, &what) else {
                continue;
            };
            if ids.contains(&step.id) {
                out.at(
                    spanned,
                    format!(
                        "{what}: step id `{}` is used twice in the playbook",
                        step.id
                    ),
                );
            }
            for after in step.after.iter().flatten() {
                if !ids.contains(after) {
                    out.at(spanned, format!("{what}.after: `{after}` is not a step before this one; a step comes after earlier steps only (so a playbook cannot loop)"));
                }
            }
            check_action(&mut out, spanned, &what, &step.action, refs, &config.bots);
            ids.push(step.id.clone());
            playbook.steps.push(step);
        }
        config.playbooks.insert(name.clone(), playbook);
    }

    let mut kind_names = BTreeSet::new();
    for (index, spanned) in raw.kinds.iter().enumerate() {
        let what = format!("incidents.kinds[{index}]");
        let Some(kind) = out.typed::<KindConfig>(spanned, &what, spanned.value.clone()) else {
            continue;
        };
        if kind.name.trim().is_empty() {
            out.at(spanned, format!("{what}.name is empty"));
        }
        if !kind_names.insert(kind.name.clone()) {
            out.at(
                spanned,
                format!("{what}: kind `{}` is defined twice", kind.name),
            );
        }
        if let Some(playbook) = &kind.playbook
            && !raw.playbooks.contains_key(playbook)
        {
            out.at(
                spanned,
                format!(
                    "{what}.playbook: there is no playbook `{playbook}` under incidents.playbooks"
                ),
            );
        }
        if let Some(rules) = &refs.rules {
            for pattern in &kind.rules {
                if !rules.iter().any(|r| glob_match(pattern, r)) {
                    out.at(
                        spanned,
                        format!("{what}.rules: `{pattern}` matches no rule of the rule files"),
                    );
                }
            }
        }
        config.kinds.push(kind);
    }

    if out.diagnostics.is_empty() {
        Ok(config)
    } else {
        Err(out.diagnostics)
    }
}

/// Signals a pid-file stop may send.
pub const SIGNALS: [&str; 5] = ["TERM", "INT", "KILL", "HUP", "QUIT"];

/// The keys every step may have besides its one action.
const STEP_KEYS: [&str; 5] = ["id", "after", "approvals", "retry", "min_severity"];

/// One step: the common keys, then exactly one key naming the action.
fn step(out: &mut Out, spanned: &Spanned<Value>, what: &str) -> Option<StepConfig> {
    let Value::Object(map) = &spanned.value else {
        out.at(
            spanned,
            format!("{what}: a step is a mapping: `{{ id: pause, pause: {{ … }} }}`"),
        );
        return None;
    };
    let actions: Vec<(&String, &Value)> = map
        .iter()
        .filter(|(k, _)| !STEP_KEYS.contains(&k.as_str()))
        .collect();
    let unknown: Vec<&str> = actions
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !StepAction::KINDS.contains(k))
        .collect();
    if !unknown.is_empty() {
        out.at(
            spanned,
            format!(
                "{what}: unknown key{} {}; a step has {} and one action of {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                STEP_KEYS.join(", "),
                StepAction::KINDS.join(", ")
            ),
        );
        return None;
    }
    let action = match actions.as_slice() {
        [(kind, body)] => {
            let mut one = Map::new();
            one.insert((*kind).clone(), (*body).clone());
            out.typed::<StepAction>(spanned, &format!("{what}.{kind}"), Value::Object(one))?
        }
        [] => {
            out.at(
                spanned,
                format!(
                    "{what}: the step names no action; add one of {}",
                    StepAction::KINDS.join(", ")
                ),
            );
            return None;
        }
        more => {
            out.at(
                spanned,
                format!(
                    "{what}: a step does one thing, but this one names {}; split it into steps",
                    more.iter()
                        .map(|(k, _)| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            );
            return None;
        }
    };
    let id = match map.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 64 => id.clone(),
        Some(_) => {
            out.at(
                spanned,
                format!("{what}.id must be a short non-empty name (at most 64 characters)"),
            );
            return None;
        }
        None => {
            out.at(
                spanned,
                format!("{what}: the step has no `id`; give it a name to approve and report it by"),
            );
            return None;
        }
    };
    let after = match map.get("after") {
        None | Some(Value::Null) => None,
        Some(value) => {
            Some(out.typed::<Vec<String>>(spanned, &format!("{what}.after"), value.clone())?)
        }
    };
    let approvals = match map.get("approvals") {
        None => 0,
        Some(value) => out.typed::<u32>(spanned, &format!("{what}.approvals"), value.clone())?,
    };
    if approvals > 10 {
        out.at(spanned, format!("{what}.approvals: {approvals} approvers is more than a team can give in an incident; use at most 10"));
    }
    let retry = match map.get("retry") {
        None => RetryConfig::default(),
        Some(value) => {
            out.typed::<RetryConfig>(spanned, &format!("{what}.retry"), value.clone())?
        }
    };
    if retry.attempts == 0 || retry.attempts > 100 {
        out.at(
            spanned,
            format!("{what}.retry.attempts must be between 1 and 100"),
        );
    }
    let min_severity = match map.get("min_severity") {
        None => None,
        Some(value) => Some(out.typed::<IncidentSeverity>(
            spanned,
            &format!("{what}.min_severity"),
            value.clone(),
        )?),
    };
    Some(StepConfig {
        id,
        action,
        after,
        approvals,
        retry,
        min_severity,
    })
}

fn check_action(
    out: &mut Out,
    at: &Spanned<Value>,
    what: &str,
    action: &StepAction,
    refs: &References,
    bots: &BTreeMap<String, BotConfig>,
) {
    let what = format!("{what}.{}", action.kind());
    match action {
        StepAction::Pause(call) | StepAction::Unpause(call) => {
            out.chain(at, refs, &format!("{what}.chain"), &call.chain);
            out.key(at, &format!("{what}.key"), &call.key);
            if let Targets::Listed(list) = &call.contracts
                && list.is_empty()
            {
                out.at(at, format!("{what}.contracts is empty; list registry labels or addresses, or write `affected`"));
            }
            if let Some(function) = &call.function
                && !is_no_argument_signature(function)
            {
                out.at(at, format!("{what}.function: `{function}` is not a function without arguments such as `pause()`"));
            }
        }
        StepAction::StopBot(stop) => {
            if !bots.contains_key(&stop.bot) {
                out.at(
                    at,
                    format!(
                        "{what}.bot: there is no bot `{}` under incidents.bots",
                        stop.bot
                    ),
                );
            }
        }
        StepAction::MoveFunds(step) => {
            out.chain(at, refs, &format!("{what}.chain"), &step.chain);
            out.key(at, &format!("{what}.key"), &step.key);
            if step.to.is_zero() {
                out.at(
                    at,
                    format!("{what}.to is the zero address; funds sent there are burnt"),
                );
            }
            if !step.native && step.tokens.is_empty() {
                out.at(
                    at,
                    format!("{what}: nothing to move (native is false and no tokens)"),
                );
            }
        }
        StepAction::RevokeAllowances(step) => {
            out.chain(at, refs, &format!("{what}.chain"), &step.chain);
            out.key(at, &format!("{what}.key"), &step.key);
            if step.tokens.is_empty() || step.spenders.is_empty() {
                out.at(at, format!("{what}: list the `tokens` and the `spenders` whose allowances are set to zero"));
            }
        }
        StepAction::RotateKeys(step) => {
            if step.keys.is_empty() && step.commands.is_empty() {
                out.at(
                    at,
                    format!("{what}: name vault `keys` or `commands` to rotate"),
                );
            }
            for command in &step.commands {
                out.command(at, &what, &command.command);
            }
        }
        StepAction::Run(command) => out.command(at, &what, &command.command),
        StepAction::Notify(notify) => {
            if notify.notifiers.is_empty() && notify.audience != crate::policy::Audience::Public {
                out.at(
                    at,
                    format!("{what}.notifiers is empty; name notifiers of alerting.notifiers"),
                );
            }
            for notifier in &notify.notifiers {
                out.notifier(at, refs, &what, notifier);
            }
        }
    }
}

/// `name()`: an identifier and empty parentheses.
fn is_no_argument_signature(text: &str) -> bool {
    text.strip_suffix("()").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    })
}

struct Out {
    file: String,
    diagnostics: Vec<Diagnostic>,
}

impl Out {
    fn at<T>(&mut self, spanned: &Spanned<T>, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(
            self.file.clone(),
            spanned.referenced.line(),
            spanned.referenced.column(),
            message,
        ));
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &mut self,
        at: &Spanned<impl Sized>,
        what: &str,
        value: Value,
    ) -> Option<T> {
        match serde_json::from_value(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.at(at, format!("{what}: {error}"));
                None
            }
        }
    }

    fn notifier<T>(&mut self, at: &Spanned<T>, refs: &References, what: &str, name: &str) {
        if refs.notifiers.as_ref().is_some_and(|n| !n.contains(name)) {
            self.at(
                at,
                format!("{what}: there is no notifier `{name}` under alerting.notifiers"),
            );
        }
    }

    fn chain<T>(&mut self, at: &Spanned<T>, refs: &References, what: &str, name: &str) {
        match ChainId::parse(name, false) {
            Ok(id) if refs.chains.contains(&id) => {}
            Ok(_) => self.at(
                at,
                format!("{what}: chain `{name}` is not one of the `chains:` followed"),
            ),
            Err(error) => self.at(at, format!("{what}: {error}")),
        }
    }

    fn key<T>(&mut self, at: &Spanned<T>, what: &str, label: &str) {
        if label.trim().is_empty() {
            self.at(
                at,
                format!("{what} is empty; name the vault key that signs"),
            );
        }
    }

    fn command<T>(&mut self, at: &Spanned<T>, what: &str, argv: &[String]) {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            self.at(
                at,
                format!("{what}.command is empty; give the program and its arguments as a list"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<IncidentsConfig, Vec<Diagnostic>> {
        #[derive(Deserialize)]
        struct Doc {
            incidents: RawIncidents,
        }
        let doc: Doc = serde_saphyr::from_str(text)
            .map_err(|e| vec![Diagnostic::in_file("t", e.to_string())])?;
        let refs = References {
            notifiers: Some(["ops".to_owned(), "lead".to_owned()].into()),
            chains: vec![ChainId(31337)],
            rules: Some(["drain".to_owned(), "owner-change".to_owned()].into()),
        };
        load(&doc.incidents, "argus.yaml", &refs)
    }

    #[test]
    fn a_full_policy_loads_with_defaults_filled() {
        let config = load_text(
            "incidents:
  severities:
    P0: { escalation: [ops, lead] }
  kinds:
    - { name: drain, rules: [drain], severity: P0, playbook: contain }
  playbooks:
    contain:
      - { id: pause, pause: { chain: anvil, contracts: affected, key: guardian } }
      - { id: stop, stop_bot: { bot: arb }, after: [] }
      - { id: tell, notify: { notifiers: [lead], audience: management }, after: [pause, stop] }
  bots:
    arb: { pid_file: /run/arb.pid }
",
        )
        .unwrap();
        assert_eq!(
            config.severity(IncidentSeverity::P0).respond_within_ms,
            300_000
        );
        assert_eq!(
            config.severity(IncidentSeverity::P0).escalation,
            ["ops", "lead"]
        );
        assert_eq!(
            config.severity(IncidentSeverity::P3).respond_within_ms,
            86_400_000
        );
        let steps = &config.playbooks["contain"].steps;
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].after, Some(vec![]));
        assert!(matches!(steps[0].action, StepAction::Pause(_)));
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let problems = load_text(
            "incidents:
  severities:
    P9: { respond_within: 5m }
  kinds:
    - { name: drain, rules: [nosuchrule], severity: P0, playbook: nosuch }
  playbooks:
    contain:
      - { id: a, pause: { chain: mainnet, contracts: [], key: g }, stop_bot: { bot: x } }
      - { id: b, stop_bot: { bot: ghost }, after: [c] }
      - { id: c, notify: { notifiers: [nobody] } }
      - { id: d, frobnicate: {} }
  bots:
    arb: { signal: USR9 }
",
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let joined = text.join("\n");
        for expected in [
            "argus.yaml:3:",
            "not an incident severity",
            "argus.yaml:5:",
            "matches no rule",
            "no playbook `nosuch`",
            "argus.yaml:8:",
            "a step does one thing",
            "argus.yaml:9:",
            "no bot `ghost`",
            "`c` is not a step before this one",
            "no notifier `nobody`",
            "unknown key `frobnicate`",
            "say how to stop it",
            "USR9",
        ] {
            assert!(
                joined.contains(expected),
                "missing {expected:?} in:\n{joined}"
            );
        }
    }

    #[test]
    fn an_unpause_always_needs_two_approvers() {
        let config = load_text(
            "incidents:
  playbooks:
    recover:
      - { id: unpause, unpause: { chain: anvil, contracts: [Token], key: guardian }, approvals: 1 }
",
        )
        .unwrap();
        assert_eq!(config.playbooks["recover"].steps[0].approvals_needed(), 2);
    }
}
