//! CEL expressions of rules: conditions, `value:`, `group_by:` and the
//! `{{ ... }}` parts of templates.
//!
//! Every expression is compiled and checked when the rules are loaded: it
//! must parse, every variable it names must be one the rule's match kind
//! provides (`args` for an event, `value` for a signal...), and it must
//! type-check (`typecheck`) against those variables' types (`cel_type`):
//! known fields (`tx.gas_price`, not `tx.gasprice`; `args.value` when the
//! signature names it), known functions, operators on types they take, a
//! bool for a condition, a number for `value:`. What cannot be known at load
//! (argument names only the registry's ABI has) is checked at run time: an
//! expression that cannot be evaluated there (a missing key, a string
//! compared with a number) is an error the engine reports, never a "no
//! match".
//!
//! The facts an expression sees are built once per log, transaction or
//! signal as [`Fact`]s, which become CEL values and the JSON `fields` of a
//! finding alike, so what a rule tested and what the alert shows agree.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use alloy_primitives::hex;
use argus_abi::AbiValue;
use cel::common::ast::{Expr, IdedExpr};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::{Context, Env, ExecutionError};

use crate::cel_type::{self, CelType};
use crate::exact_int::{self, ExactInt};
use crate::typecheck;

/// A fact about what a rule looks at, before it becomes a CEL value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fact {
    Null,
    Bool(bool),
    UInt(u64),
    Double(f64),
    Exact(ExactInt),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Fact>),
    Map(Vec<(String, Fact)>),
}

impl Fact {
    pub(crate) fn str(text: impl Into<String>) -> Fact {
        Fact::Str(text.into())
    }

    pub(crate) fn map(entries: Vec<(&str, Fact)>) -> Fact {
        Fact::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub(crate) fn from_abi(value: &AbiValue) -> Fact {
        match value {
            AbiValue::Bool(b) => Fact::Bool(*b),
            AbiValue::Uint(u) => Fact::Exact(ExactInt::from_u256(*u)),
            AbiValue::Int(i) => Fact::Exact(ExactInt::from_i256(*i)),
            AbiValue::Address(a) => Fact::Str(format!("{a:#x}")),
            AbiValue::FixedBytes(b) | AbiValue::Bytes(b) | AbiValue::Function(b) => {
                Fact::Bytes(b.clone())
            }
            AbiValue::String(s) => Fact::Str(s.clone()),
            AbiValue::Hashed(h) => Fact::Bytes(h.to_vec()),
            AbiValue::Array(items) => Fact::List(items.iter().map(Fact::from_abi).collect()),
            AbiValue::Tuple(items) => Fact::Map(
                items
                    .iter()
                    .enumerate()
                    .flat_map(|(i, (name, v))| {
                        let value = Fact::from_abi(v);
                        let positional = (format!("_{i}"), value.clone());
                        let named = (!name.is_empty()).then(|| (name.clone(), value));
                        named.into_iter().chain(std::iter::once(positional))
                    })
                    .collect(),
            ),
        }
    }

    pub(crate) fn to_val(&self) -> Box<dyn Val + 'static> {
        match self {
            Fact::Null => Box::new(CelNull),
            Fact::Bool(b) => Box::new(CelBool::from(*b)),
            Fact::UInt(u) => Box::new(CelUInt::from(*u)),
            Fact::Double(d) => Box::new(CelDouble::from(*d)),
            Fact::Exact(e) => Box::new(*e),
            Fact::Str(s) => Box::new(CelString::from(s.clone())),
            Fact::Bytes(b) => Box::new(CelBytes::from(b.clone())),
            Fact::List(items) => Box::new(CelList::from(
                items.iter().map(Fact::to_val).collect::<Vec<_>>(),
            )),
            Fact::Map(entries) => {
                let map: HashMap<CelMapKey<'static>, Box<dyn Val>> = entries
                    .iter()
                    .map(|(k, v)| (CelMapKey::from(k.clone()), v.to_val()))
                    .collect();
                Box::new(CelMap::from(map))
            }
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Fact::Null => J::Null,
            Fact::Bool(b) => J::Bool(*b),
            Fact::UInt(u) => J::from(*u),
            Fact::Double(d) => serde_json::Number::from_f64(*d)
                .map(J::Number)
                .unwrap_or(J::Null),
            // Exact integers as decimal strings: JSON readers round big numbers.
            Fact::Exact(e) => J::String(e.to_string()),
            Fact::Str(s) => J::String(s.clone()),
            Fact::Bytes(b) => J::String(hex::encode_prefixed(b)),
            Fact::List(items) => J::Array(items.iter().map(Fact::to_json).collect()),
            Fact::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The variables one evaluation sees.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    pub(crate) vars: Vec<(&'static str, Fact)>,
}

impl Scope {
    pub(crate) fn set(&mut self, name: &'static str, fact: Fact) {
        match self.vars.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = fact,
            None => self.vars.push((name, fact)),
        }
    }

    /// A CEL context holding every variable of the scope.
    pub(crate) fn context(&self) -> Context<'static, 'static> {
        let mut context = Context::with_env(env());
        self.fill(&mut context);
        context
    }

    /// A CEL context holding only the variables `needed` names. Turning a
    /// fact into a CEL value allocates, and most logs that reach a rule do
    /// not make it fire: the rest is added by [`Scope::fill`] when one does.
    pub(crate) fn context_with(&self, needed: &[&str]) -> Context<'static, 'static> {
        let mut context = Context::with_env(env());
        for (name, fact) in self.vars.iter().filter(|(n, _)| needed.contains(n)) {
            context.add_variable_as_val(*name, fact.to_val());
        }
        context
    }

    /// Puts every variable of the scope in `context`.
    pub(crate) fn fill(&self, context: &mut Context<'static, 'static>) {
        for (name, fact) in &self.vars {
            context.add_variable_as_val(*name, fact.to_val());
        }
    }

    /// The scope as the `fields` of a finding (`rule` left out).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.vars
                .iter()
                .filter(|(name, _)| *name != "rule")
                .map(|(name, fact)| ((*name).to_owned(), fact.to_json()))
                .collect(),
        )
    }
}

/// The one CEL environment of every rule: the standard library, exact
/// integers and our operators.
pub(crate) fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Registration only fails on a name clash, which a test catches; an
        // environment without our overloads then reports them as undeclared.
        let _ = exact_int::register(&mut env);
        Arc::new(env)
    })
    .clone()
}

/// Which variables a match kind gives, and their types (`cel_type`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vocabulary {
    names: &'static [&'static str],
}

/// The variables an expression may read, with their types.
pub(crate) type Variables = Vec<(&'static str, CelType)>;

impl Vocabulary {
    pub(crate) const EVENT: Vocabulary = Vocabulary {
        names: &["rule", "event", "args", "tx", "block", "contract"],
    };
    pub(crate) const CALL: Vocabulary = Vocabulary {
        names: &["rule", "call", "args", "tx", "block", "contract"],
    };
    pub(crate) const TRANSACTION: Vocabulary = Vocabulary {
        names: &["rule", "tx", "block"],
    };
    pub(crate) const SIGNAL: Vocabulary = Vocabulary {
        names: &["rule", "value", "labels", "name"],
    };
    /// State rules: `reads` typed from the rule's reads.
    pub(crate) const STATE: Vocabulary = Vocabulary {
        names: &["rule", "reads", "block"],
    };

    /// The variables with their types; `args` is the type the rule's
    /// signature gives its arguments.
    pub(crate) fn variables(self, args: &CelType) -> Variables {
        self.names
            .iter()
            .map(|name| {
                let ty = match *name {
                    "rule" | "name" => CelType::String,
                    "event" => cel_type::event_type(),
                    "call" => cel_type::call_type(),
                    "args" | "reads" => args.clone(),
                    "tx" => cel_type::tx_type(),
                    "block" => cel_type::block_type(),
                    "contract" => cel_type::contract_type(),
                    "value" => CelType::Double,
                    "labels" => CelType::Map(Box::new(CelType::String)),
                    _ => CelType::Dyn,
                };
                (*name, ty)
            })
            .collect()
    }

    /// The variables of a rule whose arguments (if any) are not known.
    pub(crate) fn untyped_args(self) -> Variables {
        self.variables(&cel_type::unknown_args())
    }
}

/// `variables` plus `window`, for templates of windowed rules.
pub(crate) fn with_window(variables: &[(&'static str, CelType)]) -> Variables {
    let mut vars = variables.to_vec();
    vars.push(("window", cel_type::window_type()));
    vars
}

/// What an expression must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A condition: a bool.
    Bool,
    /// `value:`: a number.
    Number,
    /// Templates and `group_by:`: anything shows as text.
    Any,
}

/// A compiled, checked expression.
#[derive(Debug, Clone)]
pub(crate) struct Expression {
    pub(crate) source: String,
    ast: IdedExpr,
    /// The free variables it reads (`args`, `tx`…): the engine puts only
    /// these in the context before a rule fires.
    pub(crate) variables: Vec<String>,
}

impl Expression {
    /// Compiles `source` and checks it against the variables allowed and
    /// their types: the first problem is the error, with its column.
    pub(crate) fn compile(
        source: &str,
        allowed: &[(&'static str, CelType)],
        expect: Expect,
    ) -> Result<Self, String> {
        let env = env();
        let (mut ast, info) = env
            .parser()
            .parse_with_source_info(source)
            .map_err(|errors| {
                let first = errors.errors.first();
                match first {
                    Some(e) => format!(
                        "the expression does not parse (column {}): {}",
                        e.pos.1 + 1,
                        e.msg
                    ),
                    None => "the expression does not parse".to_owned(),
                }
            })?;
        let mut problems = Vec::new();
        let mut variables = Vec::new();
        {
            let references = ast.references();
            let bound = comprehension_variables(&ast);
            for variable in references.variables() {
                if bound.iter().any(|b| b == variable) {
                    continue;
                }
                variables.push(variable.to_owned());
                if !allowed.iter().any(|(name, _)| *name == variable) {
                    let known: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                    problems.push(format!(
                        "`{variable}` is not a variable here; this rule can use {}",
                        known.join(", ")
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let ty = typecheck::check(&ast, &info, allowed)
            .map_err(|e| format!("{}{}", at(source, e.offset), e.message))?;
        let fits = match expect {
            Expect::Any => true,
            Expect::Bool => matches!(ty, CelType::Bool | CelType::Dyn),
            Expect::Number => ty.is_number() || ty == CelType::Dyn,
        };
        if !fits {
            let wanted = match expect {
                Expect::Bool => "a condition must give a bool (true or false)",
                _ => "`value:` must give a number",
            };
            return Err(format!(
                "{wanted}, and this one gives {} {ty}: compare it, e.g. `args.value > 0`",
                if ty.to_string().starts_with(['a', 'e', 'i', 'o']) {
                    "an"
                } else {
                    "a"
                }
            ));
        }
        exact_int::rewrite_operators(&mut ast);
        Ok(Expression {
            source: source.to_owned(),
            ast,
            variables,
        })
    }

    /// Evaluates in `context`.
    pub(crate) fn evaluate<'e>(
        &'e self,
        context: &'e Context<'static, 'static>,
    ) -> Result<CowVal<'e, 'static>, String> {
        cel::Value::resolve_val(&self.ast, context).map_err(|e| describe_error(&e))
    }

    /// Evaluates to a boolean; anything else is an error.
    pub(crate) fn evaluate_bool(
        &self,
        context: &Context<'static, 'static>,
    ) -> Result<bool, String> {
        let value = self.evaluate(context)?;
        value
            .downcast_ref::<CelBool>()
            .map(|b| *b.inner())
            .ok_or_else(|| {
                format!(
                    "the condition gave a {}, not a bool",
                    value.get_type().name()
                )
            })
    }

    /// Evaluates to a number for windows: an exact integer or a double.
    pub(crate) fn evaluate_number(
        &self,
        context: &Context<'static, 'static>,
    ) -> Result<Number, String> {
        let value = self.evaluate(context)?;
        if let Some(exact) = exact_int::as_exact(value.as_ref()) {
            return Ok(Number::Exact(exact));
        }
        value
            .downcast_ref::<CelDouble>()
            .map(|d| Number::Double(*d.inner()))
            .ok_or_else(|| format!("`value:` gave a {}, not a number", value.get_type().name()))
    }

    /// Evaluates to text (templates, group keys).
    pub(crate) fn evaluate_text(
        &self,
        context: &Context<'static, 'static>,
    ) -> Result<String, String> {
        let value = self.evaluate(context)?;
        Ok(display(value.as_ref()))
    }
}

/// A number a window aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Exact(ExactInt),
    Double(f64),
}

/// Text for a value: strings bare, exact integers in decimal, the rest as CEL
/// would print them.
pub(crate) fn display(value: &dyn Val) -> String {
    if let Some(s) = value.downcast_ref::<CelString<'_>>() {
        return s.inner().to_owned();
    }
    if let Some(e) = value.downcast_ref::<ExactInt>() {
        return e.to_string();
    }
    if let Some(i) = value.downcast_ref::<CelInt>() {
        return i.inner().to_string();
    }
    if let Some(u) = value.downcast_ref::<CelUInt>() {
        return u.inner().to_string();
    }
    if let Some(d) = value.downcast_ref::<CelDouble>() {
        return d.inner().to_string();
    }
    if let Some(b) = value.downcast_ref::<CelBool>() {
        return b.inner().to_string();
    }
    if let Some(b) = value.downcast_ref::<CelBytes<'_>>() {
        return hex::encode_prefixed(b.inner());
    }
    match cel::Value::try_from(value) {
        Ok(v) => format!("{v:?}"),
        Err(_) => format!("<{}>", value.get_type().name()),
    }
}

fn describe_error(error: &ExecutionError) -> String {
    match error {
        ExecutionError::NoSuchOverload(overload) => {
            let op =
                exact_int::original_operator(overload.function()).unwrap_or(overload.function());
            format!(
                "`{}` cannot be applied to {}; convert one side (uint256(...), string(...), double(...))",
                op.trim_matches('_'),
                overload.argument_types().join(" and ")
            )
        }
        ExecutionError::NoSuchKey(key) => {
            format!(
                "no key `{key}` here (a misspelt argument name, or a field this event does not carry)"
            )
        }
        other => other.to_string(),
    }
}

/// The variables comprehensions bind (`x` in `list.exists(x, ...)`).
fn comprehension_variables(expr: &IdedExpr) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        match &e.expr {
            Expr::Comprehension(c) => {
                names.push(c.iter_var.clone());
                names.extend(c.iter_var2.clone());
                names.push(c.accu_var.clone());
                stack.extend([
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ]);
            }
            Expr::Call(call) => {
                stack.extend(call.target.as_deref());
                stack.extend(call.args.iter());
            }
            Expr::Select(select) => stack.push(&select.operand),
            Expr::List(list) => stack.extend(list.elements.iter()),
            _ => {}
        }
    }
    names
}

/// Where in an expression a problem is, as the start of a message.
fn at(source: &str, offset: Option<u32>) -> String {
    let Some(offset) = offset else {
        return String::new();
    };
    let before: Vec<char> = source.chars().take(offset as usize).collect();
    let line = before.iter().filter(|c| **c == '\n').count() + 1;
    let column = before.iter().rev().take_while(|c| **c != '\n').count() + 1;
    if line == 1 {
        format!("column {column}: ")
    } else {
        format!("line {line}, column {column} of the expression: ")
    }
}

/// A template: text with `{{ expression }}` parts.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone)]
enum TemplatePart {
    Text(String),
    Expr(Expression),
}

impl Template {
    pub(crate) fn compile(
        source: &str,
        allowed: &[(&'static str, CelType)],
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(TemplatePart::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "a `{{` without its `}}`".to_owned())?;
            let inner = after[..end].trim();
            if inner.is_empty() {
                return Err("an empty `{{ }}`".to_owned());
            }
            let expr = Expression::compile(inner, allowed, Expect::Any)
                .map_err(|e| format!("in `{{{{{inner}}}}}`: {e}"))?;
            parts.push(TemplatePart::Expr(expr));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub(crate) fn render(&self, context: &Context<'static, 'static>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(text) => out.push_str(text),
                TemplatePart::Expr(expr) => out.push_str(
                    &expr
                        .evaluate_text(context)
                        .map_err(|e| format!("in `{{{{{}}}}}`: {e}", expr.source))?,
                ),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn scope_with(value: U256) -> Scope {
        let mut scope = Scope::default();
        scope.set(
            "args",
            Fact::map(vec![("value", Fact::Exact(ExactInt::from_u256(value)))]),
        );
        scope.set("value", Fact::Double(91.0));
        scope
    }

    fn vars() -> Variables {
        vec![
            ("args", cel_type::unknown_args()),
            ("value", CelType::Double),
            ("tx", cel_type::tx_type()),
        ]
    }

    /// Compiled as `value:` (any number) rather than as a condition, so the
    /// run-time checks are reached.
    fn eval(source: &str, value: U256) -> Result<bool, String> {
        Expression::compile(source, &vars(), Expect::Any)?
            .evaluate_bool(&scope_with(value).context())
    }

    #[test]
    fn uint256_is_exact_at_the_boundary() {
        let max = U256::MAX;
        let below = U256::MAX - U256::from(1);
        let max_text = max.to_string();
        let below_text = below.to_string();
        assert_eq!(
            eval(&format!("args.value > uint256(\"{below_text}\")"), max),
            Ok(true)
        );
        assert_eq!(
            eval(&format!("args.value > uint256(\"{max_text}\")"), max),
            Ok(false)
        );
        assert_eq!(
            eval(&format!("args.value == uint256(\"{max_text}\")"), max),
            Ok(true)
        );
        assert_eq!(
            eval(&format!("args.value == uint256(\"{below_text}\")"), max),
            Ok(false)
        );
        assert_eq!(
            eval(&format!("uint256(\"{below_text}\") < args.value"), max),
            Ok(true)
        );
        assert_eq!(
            eval(&format!("args.value >= uint256(\"{max_text}\")"), below),
            Ok(false)
        );
        assert_eq!(
            eval(
                "args.value > uint256(\"0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\")",
                below
            ),
            Ok(false)
        );
        // Beyond 256 bits is an error, not a wrap.
        assert!(eval("args.value > uint256(\"115792089237316195423570985008687907853269984665640564039457584007913129639936\")", max).is_err());
    }

    #[test]
    fn uint256_against_int_and_uint_either_side() {
        let v = U256::from(1000);
        assert_eq!(eval("args.value > 999", v), Ok(true));
        assert_eq!(eval("999 < args.value", v), Ok(true));
        assert_eq!(eval("1000u == args.value", v), Ok(true));
        assert_eq!(eval("args.value != 1000", v), Ok(false));
        assert_eq!(eval("-1 < args.value", v), Ok(true));
        assert_eq!(eval("args.value + 1 == 1001", v), Ok(true));
        assert_eq!(eval("2 * args.value == uint256(\"2000\")", v), Ok(true));
        assert_eq!(eval("args.value >= gwei(\"0.000001\")", v), Ok(true));
        assert_eq!(
            eval("ether(\"1.5\") == uint256(\"1500000000000000000\")", v),
            Ok(true)
        );
        assert_eq!(eval("1 + 2 == 3 && 'a' < 'b'", v), Ok(true));
        assert_eq!(eval("string(args.value) == '1000'", v), Ok(true));
    }

    #[test]
    fn type_confusion_is_an_error_not_false() {
        let v = U256::from(5);
        assert!(eval("args.value == 5.0", v).is_err());
        assert!(eval("5.0 == args.value", v).is_err());
        assert!(eval("args.value > 'a'", v).is_err());
        assert!(
            eval("args.value - 6 > 0", v).is_ok(),
            "exact subtraction goes negative"
        );
        let missing = eval("args.valu > 1", v).unwrap_err();
        assert!(missing.contains("valu"), "{missing}");
        assert!(eval("uint256(\"-1\") > 0", v).is_err());
        assert!(eval("value > 90.0", v).unwrap());
        assert!(eval("'x'", v).is_err(), "a non-bool condition is an error");
    }

    #[test]
    fn load_time_checks() {
        let unknown = Expression::compile("foo > 1", &vars(), Expect::Bool).unwrap_err();
        assert!(unknown.contains("`foo` is not a variable"), "{unknown}");
        let field = Expression::compile("tx.gasprice > 1", &vars(), Expect::Bool).unwrap_err();
        assert!(field.contains("no field `gasprice`"), "{field}");
        assert!(Expression::compile("args.value >", &vars(), Expect::Bool).is_err());
        assert!(Expression::compile("[1,2].exists(x, x > 1)", &vars(), Expect::Bool).is_ok());
    }

    #[test]
    fn templates_render() {
        let template = Template::compile("big: {{args.value}} at {{ value }}%", &vars()).unwrap();
        assert_eq!(
            template.render(&scope_with(U256::MAX).context()).unwrap(),
            format!("big: {} at 91%", U256::MAX)
        );
        assert!(Template::compile("{{ nope }}", &vars()).is_err());
        assert!(Template::compile("{{ args.value", &vars()).is_err());
    }
}
