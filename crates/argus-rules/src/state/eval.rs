//! Planning the reads due at a block and evaluating the answers.

use hashbrown::HashMap;

use argus_core::{BlockRef, ChainId, ChainOrigin, Finding, finding_id};

use super::bind::ReadDecode;
use super::{PlannedEvaluation, StateAnswer, StateAt, StatePlan, StateQuery};
use crate::engine::{Engine, Outcome, RuleError};
use crate::exact_int::ExactInt;
use crate::expression::{Fact, Scope};
use crate::schema::Matcher;

impl Engine {
    /// The single-chain state rules due at block `number` of `chain` (those
    /// whose `every` divides it) and their reads, deduplicated. Empty when
    /// no state rule is due: the caller then asks the node nothing.
    pub fn state_plan(&self, chain: ChainId, number: u64) -> StatePlan {
        self.plan(
            |binding, every| {
                !binding.cross
                    && binding.chain.is_none_or(|c| c == chain)
                    && number.is_multiple_of(every.max(1))
            },
            Some(chain),
        )
    }

    /// Every cross-chain state rule and its reads, each on its own chain.
    pub fn cross_chain_plan(&self) -> StatePlan {
        self.plan(|binding, _| binding.cross, None)
    }

    /// The chains the cross-chain rules read: the node evaluates them when
    /// one of these chains' committed height moves.
    pub fn cross_chains(&self) -> Vec<ChainId> {
        self.cross_chain_plan().chains()
    }

    fn plan(
        &self,
        wanted: impl Fn(&super::bind::StateBinding, u64) -> bool,
        chain: Option<ChainId>,
    ) -> StatePlan {
        let mut plan = StatePlan::default();
        let mut seen: HashMap<(ChainId, StateQuery), usize> = HashMap::new();
        for (index, binding) in self.bindings.state.bindings.iter().enumerate() {
            let Some(Matcher::State(spec)) = self.rules.get(binding.rule).map(|r| &r.matcher)
            else {
                continue;
            };
            if !wanted(binding, spec.every) {
                continue;
            }
            let mut queries = Vec::with_capacity(binding.reads.len());
            for read in &binding.reads {
                let Some(on) = read.chain.or(chain) else {
                    continue;
                };
                let key = (on, read.query.clone());
                let at = *seen.entry(key.clone()).or_insert_with(|| {
                    plan.queries.push(key);
                    plan.queries.len() - 1
                });
                queries.push(at);
            }
            if queries.len() == binding.reads.len() {
                plan.evaluations.push(PlannedEvaluation {
                    binding: index,
                    queries,
                });
            }
        }
        plan
    }

    /// Each read of `plan`: its query's index, its name and how its answer
    /// decodes (for rule tests as data, which answer reads by name).
    pub(crate) fn planned_reads(&self, plan: &StatePlan) -> Vec<(usize, String, ReadDecode)> {
        let mut out = Vec::new();
        for evaluation in &plan.evaluations {
            let Some(binding) = self.bindings.state.bindings.get(evaluation.binding) else {
                continue;
            };
            let Some(Matcher::State(spec)) = self.rules.get(binding.rule).map(|r| &r.matcher)
            else {
                continue;
            };
            for ((read, spec_read), query) in binding
                .reads
                .iter()
                .zip(&spec.reads)
                .zip(&evaluation.queries)
            {
                out.push((*query, spec_read.name.clone(), read.decode.clone()));
            }
        }
        out
    }

    /// Evaluates the rules of `plan` with the node's `answers` (one per
    /// query, in order; `Err` is why the node could not answer). A rule
    /// whose read failed or did not decode gives a [`RuleError`] at the
    /// block, never a pass.
    pub fn on_state(
        &mut self,
        plan: &StatePlan,
        answers: &[Result<StateAnswer, String>],
        at: &StateAt,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let Some((origin_chain, origin_block)) = at.blocks.first().copied() else {
            return outcome;
        };
        let origin = ChainOrigin {
            chain: origin_chain,
            block: origin_block,
            tx_hash: None,
            log_index: None,
        };
        let at_ms = i64::try_from(origin_block.timestamp)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        // The other chains' blocks make a cross-chain finding's id.
        let mut extra = Vec::new();
        for (chain, block) in at.blocks.iter().skip(1) {
            extra.extend_from_slice(&chain.0.to_be_bytes());
            extra.extend_from_slice(block.hash.as_slice());
        }
        for evaluation in &plan.evaluations {
            let Some(binding) = self.bindings.state.bindings.get(evaluation.binding) else {
                continue;
            };
            let Some(rule) = self.rules.get(binding.rule) else {
                continue;
            };
            let Matcher::State(spec) = &rule.matcher else {
                continue;
            };
            let error = |message: String| RuleError {
                rule_id: rule.id.clone(),
                message,
                origin: Some(origin),
                at_ms,
            };
            let mut reads = Vec::with_capacity(binding.reads.len());
            let mut failures = Vec::new();
            for ((read, spec_read), query) in binding
                .reads
                .iter()
                .zip(&spec.reads)
                .zip(&evaluation.queries)
            {
                let block_of = |chain: Option<ChainId>| {
                    let chain = chain.unwrap_or(origin_chain);
                    at.blocks
                        .iter()
                        .find(|(c, _)| *c == chain)
                        .map_or(origin_block.number, |(_, b)| b.number)
                };
                let fact = match answers.get(*query) {
                    None => Err("the node gave no answer".to_owned()),
                    Some(Err(message)) => Err(message.clone()),
                    Some(Ok(answer)) => decode(&read.decode, answer),
                };
                match fact {
                    Ok(fact) => reads.push((spec_read.name.clone(), fact)),
                    Err(message) => failures.push(format!(
                        "read `{}` ({}) at block {}: {message}",
                        spec_read.name,
                        read.what,
                        block_of(read.chain)
                    )),
                }
            }
            if !failures.is_empty() {
                outcome.errors.push(error(failures.join("; ")));
                continue;
            }
            let mut scope = Scope::default();
            scope.set("rule", Fact::str(rule.id.clone()));
            scope.set("reads", Fact::Map(reads));
            scope.set("block", block_fact(origin_chain, &origin_block));
            let mut context = scope.context();
            let holds = match &rule.condition {
                Some(condition) => match condition.evaluate_bool(&context) {
                    Ok(holds) => holds,
                    Err(message) => {
                        let key = if spec.invariant {
                            "invariant"
                        } else {
                            "condition"
                        };
                        outcome
                            .errors
                            .push(error(format!("{key} `{}`: {message}", condition.source)));
                        continue;
                    }
                },
                None => true,
            };
            let fires = if spec.invariant { !holds } else { holds };
            if !fires {
                continue;
            }
            let id = finding_id(&rule.id, Some(&origin), &extra);
            let default_title = rule.description.clone().unwrap_or_else(|| {
                match (&rule.condition, spec.invariant) {
                    (Some(c), true) => format!("{}: invariant `{}` broken", rule.id, c.source),
                    (Some(c), false) => format!("{}: `{}`", rule.id, c.source),
                    (None, _) => rule.id.clone(),
                }
            });
            context.add_variable_as_val("rule", Fact::str(rule.id.clone()).to_val());
            let title = match &rule.title {
                Some(t) => t.render(&context).unwrap_or_else(|message| {
                    outcome.errors.push(error(format!("title: {message}")));
                    default_title.clone()
                }),
                None => default_title,
            };
            let default_dedup = if binding.cross {
                format!("state:{}", rule.id)
            } else {
                format!("state:{}:{}", rule.id, origin_chain.0)
            };
            let dedup_key = match &rule.dedup {
                Some(t) => t.render(&context).unwrap_or_else(|message| {
                    outcome.errors.push(error(format!("dedup: {message}")));
                    default_dedup.clone()
                }),
                None => default_dedup,
            };
            let mut fields = scope.to_json();
            if at.blocks.len() > 1
                && let serde_json::Value::Object(map) = &mut fields
            {
                let blocks: serde_json::Map<String, serde_json::Value> = at
                    .blocks
                    .iter()
                    .map(|(chain, block)| {
                        (
                            chain.0.to_string(),
                            serde_json::json!({ "number": block.number, "hash": block.hash.to_string() }),
                        )
                    })
                    .collect();
                map.insert("blocks".to_owned(), serde_json::Value::Object(blocks));
            }
            outcome.findings.push(Finding {
                id,
                rule_id: rule.id.clone(),
                severity: rule.severity,
                title,
                dedup_key,
                origin: Some(origin),
                at_ms,
                fields: fields.into(),
            });
        }
        outcome
    }
}

/// An answer as the fact `reads.<name>` holds.
fn decode(how: &ReadDecode, answer: &StateAnswer) -> Result<Fact, String> {
    match (how, answer) {
        (ReadDecode::Word, StateAnswer::Word(word)) => Ok(Fact::Exact(ExactInt::from_u256(*word))),
        (ReadDecode::Returns(function), StateAnswer::Returned(data)) => {
            if data.is_empty() {
                return Err(
                    "the call returned no data (no contract at that address at this block?)"
                        .to_owned(),
                );
            }
            let decoded =
                argus_abi::decode::decode_returns(function, data).map_err(|e| e.to_string())?;
            Ok(match decoded.as_slice() {
                [one] => Fact::from_abi(&one.value),
                many => crate::engine::args_fact(many),
            })
        }
        (ReadDecode::Word, StateAnswer::Returned(_))
        | (ReadDecode::Returns(_), StateAnswer::Word(_)) => {
            Err("the node's answer is not of the kind asked".to_owned())
        }
    }
}

fn block_fact(chain: ChainId, block: &BlockRef) -> Fact {
    Fact::map(vec![
        ("number", Fact::UInt(block.number)),
        ("hash", Fact::str(block.hash.to_string())),
        ("timestamp", Fact::UInt(block.timestamp)),
        ("base_fee", Fact::Null),
        ("chain", Fact::UInt(chain.0)),
    ])
}

/// A test's answer written as text, encoded as the node would answer: a
/// call's single output ABI-encoded, a balance or slot as a word.
pub(crate) fn encode_answer(how: &ReadDecode, text: &str) -> Result<StateAnswer, String> {
    use alloy_dyn_abi::Specifier as _;
    match how {
        ReadDecode::Word => text
            .trim()
            .parse::<alloy_primitives::U256>()
            .map(StateAnswer::Word)
            .map_err(|_| format!("`{text}` is not a number for a balance or a slot")),
        ReadDecode::Returns(function) => {
            let [output] = function.outputs.as_slice() else {
                return Err(format!(
                    "`{}` returns several values; a test gives one",
                    function.signature()
                ));
            };
            let ty = output.resolve().map_err(|e| e.to_string())?;
            let value = ty
                .coerce_str(text.trim())
                .map_err(|e| format!("`{text}` is not a `{}`: {e}", output.ty))?;
            Ok(StateAnswer::Returned(value.abi_encode_params().into()))
        }
    }
}
