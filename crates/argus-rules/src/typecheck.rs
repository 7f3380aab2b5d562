//! A small type checker for rule expressions, run when a rule loads.
//!
//! CEL reports a string compared with a number, an unknown function or a
//! literal `uint256("abc")` only when the expression runs, which for a rule
//! is when the event it watches finally happens: the worst moment to learn
//! that the rule never worked. So every expression is checked against the
//! types of what it reads (`cel_type`: `args` from the rule's signature,
//! `tx`, `block`...) and the functions the engine's environment declares,
//! and the first problem of each expression is reported with its column.
//!
//! The checker mirrors what the engine does at run time, not CEL's full
//! type system: exact integers compare with `int` and `uint` on either side
//! (`exact_int`), numbers compare across kinds, equality of two different
//! kinds is always false (so it is reported), and anything typed
//! [`CelType::Dyn`] is let through. It only refuses what would certainly
//! fail (or never hold) at run time; the rest stays a run-time error, which
//! the engine reports as before.
//!
//! It walks the parsed AST before `exact_int::rewrite_operators`, so it sees
//! the operators as written. The parser bounds the depth of the AST, and so
//! the recursion here.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, SourceInfo, operators};

use crate::cel_type::{CelType, Record};
use crate::exact_int::ExactInt;

mod functions;

use functions::{FUNCTIONS, Kind, Overload, function_names};

/// The first problem of an expression: what, and where in it (a character
/// offset) when the parser recorded one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeError {
    pub(crate) offset: Option<u32>,
    pub(crate) message: String,
}

/// Checks `expr` against the variables' types; the type it has, or its
/// first problem.
pub(crate) fn check(
    expr: &IdedExpr,
    info: &SourceInfo,
    variables: &[(&'static str, CelType)],
) -> Result<CelType, TypeError> {
    Checker {
        info,
        variables,
        bound: Vec::new(),
    }
    .check(expr, None)
}

struct Checker<'a> {
    info: &'a SourceInfo,
    variables: &'a [(&'static str, CelType)],
    /// Comprehension variables in scope, innermost last.
    bound: Vec<(String, CelType)>,
}

fn fail<T>(offset: Option<u32>, message: impl Into<String>) -> Result<T, TypeError> {
    Err(TypeError {
        offset,
        message: message.into(),
    })
}

/// The dotted path an expression spells (`args.value`), for messages.
fn path(expr: &IdedExpr) -> Option<String> {
    match &expr.expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => {
            path(&select.operand).map(|p| format!("{p}.{}", select.field))
        }
        _ => None,
    }
}

fn named(expr: &IdedExpr, ty: &CelType) -> String {
    let text = ty.to_string();
    let article = if text.starts_with(['a', 'e', 'i', 'o']) {
        "an"
    } else {
        "a"
    };
    match path(expr) {
        Some(p) => format!("`{p}` ({article} {text})"),
        None => format!("{article} {text}"),
    }
}

impl Checker<'_> {
    fn check(&mut self, e: &IdedExpr, parent: Option<u32>) -> Result<CelType, TypeError> {
        let here = self
            .info
            .offset_for(e.id)
            .map(|(start, _)| start)
            .or(parent);
        match &e.expr {
            Expr::Unspecified | Expr::Struct(_) => Ok(CelType::Dyn),
            Expr::Literal(literal) => Ok(match literal {
                LiteralValue::Boolean(_) => CelType::Bool,
                LiteralValue::Bytes(_) => CelType::Bytes,
                LiteralValue::Double(_) => CelType::Double,
                LiteralValue::Int(_) => CelType::Int,
                LiteralValue::Null => CelType::Null,
                LiteralValue::String(_) => CelType::String,
                LiteralValue::UInt(_) => CelType::UInt,
            }),
            Expr::Ident(name) => Ok(self.ident(name)),
            Expr::List(list) => {
                let mut element: Option<CelType> = None;
                for item in &list.elements {
                    let ty = self.check(item, here)?;
                    element = Some(match element {
                        Some(previous) if previous != ty => CelType::Dyn,
                        _ => ty,
                    });
                }
                Ok(CelType::List(Box::new(element.unwrap_or(CelType::Dyn))))
            }
            Expr::Map(map) => {
                let mut value: Option<CelType> = None;
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        self.check(&m.key, here)?;
                        let ty = self.check(&m.value, here)?;
                        value = Some(match value {
                            Some(previous) if previous != ty => CelType::Dyn,
                            _ => ty,
                        });
                    }
                }
                Ok(CelType::Map(Box::new(value.unwrap_or(CelType::Dyn))))
            }
            Expr::Select(select) => {
                let operand = self.check(&select.operand, here)?;
                let ty = self.field(&select.operand, &operand, &select.field, here)?;
                Ok(if select.test { CelType::Bool } else { ty })
            }
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range, here)?;
                let (first, second) = match (range.non_null(), &c.iter_var2) {
                    (CelType::List(element), Some(_)) => (CelType::Int, (**element).clone()),
                    (CelType::Map(value), Some(_)) => (CelType::String, (**value).clone()),
                    (CelType::Record(_), Some(_)) | (CelType::Dyn, Some(_)) => {
                        (CelType::Dyn, CelType::Dyn)
                    }
                    (other, _) => match other.element() {
                        Some(element) => (element, CelType::Dyn),
                        None => {
                            return fail(
                                here,
                                format!(
                                    "{} cannot be iterated: a list or a map can",
                                    named(&c.iter_range, &range)
                                ),
                            );
                        }
                    },
                };
                let accumulator = self.check(&c.accu_init, here)?;
                let depth = self.bound.len();
                self.bound.push((c.accu_var.clone(), accumulator));
                self.bound.push((c.iter_var.clone(), first));
                if let Some(second_var) = &c.iter_var2 {
                    self.bound.push((second_var.clone(), second));
                }
                let body = self
                    .check(&c.loop_cond, here)
                    .and_then(|_| self.check(&c.loop_step, here));
                self.bound.truncate(depth + 1);
                let result = body.and_then(|_| self.check(&c.result, here));
                self.bound.truncate(depth);
                result
            }
            Expr::Call(call) => {
                // `optional.of(x)`: a function of a namespace, not a method.
                if let Some(target) = &call.target
                    && let Expr::Ident(namespace) = &target.expr
                    && self.is_free(namespace)
                {
                    let qualified = format!("{namespace}.{}", call.func_name);
                    if FUNCTIONS.iter().any(|o| o.name == qualified) {
                        let args = self.check_all(&call.args, here)?;
                        return self.overload(&qualified, false, &args, here);
                    }
                }
                let mut args = Vec::with_capacity(call.args.len() + 1);
                if let Some(target) = &call.target {
                    args.push(self.check(target, here)?);
                }
                args.extend(self.check_all(&call.args, here)?);
                if call.target.is_none()
                    && let Some(ty) = self.operator(&call.func_name, &call.args, &args, here)?
                {
                    return Ok(ty);
                }
                let ty = self.overload(&call.func_name, call.target.is_some(), &args, here)?;
                if call.target.is_none() {
                    literal_argument(&call.func_name, &call.args, here)?;
                }
                Ok(ty)
            }
        }
    }

    fn check_all(
        &mut self,
        exprs: &[IdedExpr],
        here: Option<u32>,
    ) -> Result<Vec<CelType>, TypeError> {
        exprs.iter().map(|e| self.check(e, here)).collect()
    }

    fn is_free(&self, name: &str) -> bool {
        !self.bound.iter().any(|(n, _)| n == name)
            && !self.variables.iter().any(|(n, _)| *n == name)
    }

    fn ident(&self, name: &str) -> CelType {
        if let Some((_, ty)) = self.bound.iter().rev().find(|(n, _)| n == name) {
            return ty.clone();
        }
        self.variables
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ty)| ty.clone())
            // An unknown variable is reported by the variable check.
            .unwrap_or(CelType::Dyn)
    }

    fn field(
        &self,
        operand_expr: &IdedExpr,
        operand: &CelType,
        field: &str,
        here: Option<u32>,
    ) -> Result<CelType, TypeError> {
        match operand.non_null() {
            CelType::Dyn => Ok(CelType::Dyn),
            CelType::Map(value) => Ok((**value).clone()),
            CelType::Record(record) => record
                .field(field)
                .or_else(|known| missing_field(operand_expr, record, field, &known, here)),
            other => fail(
                here,
                format!(
                    "{} has no fields, so `.{field}` cannot be read",
                    named(operand_expr, other)
                ),
            ),
        }
    }

    /// The operators; `None` for anything else.
    fn operator(
        &self,
        name: &str,
        exprs: &[IdedExpr],
        args: &[CelType],
        here: Option<u32>,
    ) -> Result<Option<CelType>, TypeError> {
        let symbol = name.trim_matches('_').trim_start_matches('@');
        let ty = match (name, args) {
            (operators::LOGICAL_AND | operators::LOGICAL_OR, [l, r]) => {
                for (expr, ty) in exprs.iter().zip([l, r]) {
                    if !Kind::Bool.accepts(ty) {
                        return fail(
                            here,
                            format!("`{symbol}` takes bools, not {}", named(expr, ty)),
                        );
                    }
                }
                CelType::Bool
            }
            (operators::LOGICAL_NOT, [operand]) => {
                if !Kind::Bool.accepts(operand) {
                    return fail(
                        here,
                        format!("`!` takes a bool, not {}", named(&exprs[0], operand)),
                    );
                }
                CelType::Bool
            }
            (operators::NOT_STRICTLY_FALSE, [_]) => CelType::Bool,
            (operators::NEGATE, [operand]) => match operand.non_null() {
                CelType::Int => CelType::Int,
                CelType::Double => CelType::Double,
                CelType::Dyn => CelType::Dyn,
                other => {
                    return fail(
                        here,
                        format!(
                            "`-` negates an int or a double, not {}; subtract from 0 instead",
                            named(&exprs[0], other)
                        ),
                    );
                }
            },
            (operators::CONDITIONAL, [condition, yes, no]) => {
                if !Kind::Bool.accepts(condition) {
                    return fail(
                        here,
                        format!(
                            "`? :` needs a bool condition, not {}",
                            named(&exprs[0], condition)
                        ),
                    );
                }
                if yes == no { yes.clone() } else { CelType::Dyn }
            }
            (operators::EQUALS | operators::NOT_EQUALS, [l, r]) => {
                equality(symbol, exprs, l, r, here)?;
                CelType::Bool
            }
            (
                operators::LESS
                | operators::LESS_EQUALS
                | operators::GREATER
                | operators::GREATER_EQUALS,
                [l, r],
            ) => {
                ordering(symbol, exprs, l, r, here)?;
                CelType::Bool
            }
            (
                operators::ADD | operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE,
                [l, r],
            ) => arithmetic(symbol, exprs, l, r, here)?,
            (operators::MODULO, [l, r]) => match (l.non_null(), r.non_null()) {
                (CelType::Int, CelType::Int) => CelType::Int,
                (CelType::UInt, CelType::UInt) => CelType::UInt,
                (CelType::Dyn, _) | (_, CelType::Dyn) => CelType::Dyn,
                (l, r) => {
                    return fail(
                        here,
                        format!(
                            "`%` takes two ints or two uints, not {} and {}",
                            named(&exprs[0], l),
                            named(&exprs[1], r)
                        ),
                    );
                }
            },
            (operators::INDEX, [container, key]) => index(exprs, container, key, here)?,
            (operators::IN, [_, container]) => {
                if container.element().is_none() {
                    return fail(
                        here,
                        format!(
                            "`in` looks into a list or a map, not {}",
                            named(&exprs[1], container)
                        ),
                    );
                }
                CelType::Bool
            }
            (operators::OPT_INDEX | operators::OPT_SELECT, _) => CelType::Dyn,
            _ => return Ok(None),
        };
        Ok(Some(ty))
    }

    fn overload(
        &self,
        name: &str,
        is_member: bool,
        args: &[CelType],
        here: Option<u32>,
    ) -> Result<CelType, TypeError> {
        let candidates: Vec<&Overload> = FUNCTIONS
            .iter()
            .filter(|o| o.name == name && o.member == is_member)
            .collect();
        if candidates.is_empty() {
            let (call, list) = if is_member {
                (format!("`.{name}()`"), function_names(true))
            } else {
                (format!("`{name}()`"), function_names(false))
            };
            let other_form = FUNCTIONS.iter().any(|o| o.name == name);
            let hint = if other_form {
                if is_member {
                    format!(" (write `{name}(x)`, not `x.{name}()`)")
                } else {
                    format!(" (write `x.{name}()`, not `{name}(x)`)")
                }
            } else {
                String::new()
            };
            let what = if is_member { "method" } else { "function" };
            return fail(
                here,
                format!("{call} is not a known {what}{hint}; the {what}s are {list}"),
            );
        }
        let fitting: Vec<&&Overload> = candidates
            .iter()
            .filter(|o| o.params.len() == args.len())
            .filter(|o| o.params.iter().zip(args).all(|(k, ty)| k.accepts(ty)))
            .collect();
        match fitting.as_slice() {
            [] => {
                let given: Vec<String> = args.iter().map(ToString::to_string).collect();
                let takes: Vec<String> = candidates
                    .iter()
                    .map(|o| {
                        let params: Vec<&str> = o.params.iter().map(|k| k.name()).collect();
                        format!("({})", params.join(", "))
                    })
                    .collect();
                let shown = if is_member {
                    format!("`.{name}()` (on the value before the dot)")
                } else {
                    format!("`{name}()`")
                };
                fail(
                    here,
                    format!(
                        "{shown} cannot take ({}); it takes {}",
                        given.join(", "),
                        takes.join(" or ")
                    ),
                )
            }
            [one] => Ok(one.result.result()),
            several => {
                let first = several[0].result;
                Ok(if several.iter().all(|o| o.result == first) {
                    first.result()
                } else {
                    CelType::Dyn
                })
            }
        }
    }
}

fn missing_field<T>(
    operand_expr: &IdedExpr,
    record: &Record,
    field: &str,
    known: &[&str],
    here: Option<u32>,
) -> Result<T, TypeError> {
    let root = path(operand_expr).unwrap_or_else(|| "the value".to_owned());
    let named: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| !k.starts_with('_'))
        .collect();
    let positional = known.len() - named.len();
    let listed = match (named.is_empty(), positional) {
        (true, 0) => "no fields".to_owned(),
        (true, n) => format!("only _0.._{}", n - 1),
        (false, 0) => named.join(", "),
        (false, n) => format!("{} (or _0.._{})", named.join(", "), n - 1),
    };
    let source = record
        .what
        .as_ref()
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    fail(
        here,
        format!("`{root}` has no field `{field}`{source}; it has {listed}"),
    )
}

const CONVERT: &str = "convert one side (uint256(...), string(...), address(...))";

fn equality(
    symbol: &str,
    exprs: &[IdedExpr],
    l: &CelType,
    r: &CelType,
    here: Option<u32>,
) -> Result<(), TypeError> {
    let comparable = match (l, r) {
        (CelType::Dyn, _) | (_, CelType::Dyn) => true,
        (CelType::Null, _) | (_, CelType::Null) => {
            // `null` against what may be null; an exact integer is never
            // compared with `null` without an error.
            !matches!((l, r), (CelType::Exact, _) | (_, CelType::Exact))
        }
        _ => match (l.non_null(), r.non_null()) {
            (CelType::Exact, other) | (other, CelType::Exact) => {
                other.is_integer() || *other == CelType::Dyn
            }
            (a, b) if a.is_number() && b.is_number() => true,
            (CelType::List(_), CelType::List(_)) => true,
            (CelType::Map(_) | CelType::Record(_), CelType::Map(_) | CelType::Record(_)) => true,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        },
    };
    if comparable {
        return Ok(());
    }
    fail(
        here,
        format!(
            "`{symbol}` compares {} with {}, which are never equal; {CONVERT}",
            named(&exprs[0], l),
            named(&exprs[1], r)
        ),
    )
}

fn ordering(
    symbol: &str,
    exprs: &[IdedExpr],
    l: &CelType,
    r: &CelType,
    here: Option<u32>,
) -> Result<(), TypeError> {
    let comparable = match (l.non_null(), r.non_null()) {
        (CelType::Dyn, _) | (_, CelType::Dyn) => true,
        (CelType::Exact, other) | (other, CelType::Exact) => other.is_integer(),
        (a, b) if a.is_number() && b.is_number() => true,
        (CelType::String, CelType::String)
        | (CelType::Bytes, CelType::Bytes)
        | (CelType::Bool, CelType::Bool) => true,
        _ => false,
    };
    if comparable {
        return Ok(());
    }
    fail(
        here,
        format!(
            "`{symbol}` cannot compare {} with {}; {CONVERT}",
            named(&exprs[0], l),
            named(&exprs[1], r)
        ),
    )
}

fn arithmetic(
    symbol: &str,
    exprs: &[IdedExpr],
    l: &CelType,
    r: &CelType,
    here: Option<u32>,
) -> Result<CelType, TypeError> {
    let joins = symbol == "+";
    let ty = match (l.non_null(), r.non_null()) {
        (CelType::Dyn, _) | (_, CelType::Dyn) => Some(CelType::Dyn),
        (CelType::Exact, other) | (other, CelType::Exact) => {
            other.is_integer().then_some(CelType::Exact)
        }
        (CelType::Int, CelType::Int) => Some(CelType::Int),
        (CelType::UInt, CelType::UInt) => Some(CelType::UInt),
        (CelType::Double, CelType::Double) => Some(CelType::Double),
        (CelType::String, CelType::String) if joins => Some(CelType::String),
        (CelType::Bytes, CelType::Bytes) if joins => Some(CelType::Bytes),
        (CelType::List(a), CelType::List(b)) if joins => Some(CelType::List(Box::new(if a == b {
            (**a).clone()
        } else {
            CelType::Dyn
        }))),
        _ => None,
    };
    ty.map_or_else(
        || {
            fail(
                here,
                format!(
                    "`{symbol}` cannot be applied to {} and {}; {CONVERT}",
                    named(&exprs[0], l),
                    named(&exprs[1], r)
                ),
            )
        },
        Ok,
    )
}

fn index(
    exprs: &[IdedExpr],
    container: &CelType,
    key: &CelType,
    here: Option<u32>,
) -> Result<CelType, TypeError> {
    match container.non_null() {
        CelType::Dyn => Ok(CelType::Dyn),
        CelType::List(element) => {
            if matches!(key.non_null(), CelType::Int | CelType::UInt | CelType::Dyn) {
                Ok((**element).clone())
            } else {
                fail(
                    here,
                    format!("a list is indexed by an int, not {}", named(&exprs[1], key)),
                )
            }
        }
        CelType::Map(value) => Ok((**value).clone()),
        CelType::Record(record) => match &exprs[1].expr {
            Expr::Literal(LiteralValue::String(field)) => record
                .field(field.inner())
                .or_else(|known| missing_field(&exprs[0], record, field.inner(), &known, here)),
            _ => Ok(CelType::Dyn),
        },
        other => fail(
            here,
            format!("{} cannot be indexed with `[...]`", named(&exprs[0], other)),
        ),
    }
}

/// A literal argument our conversions cannot convert: `uint256("abc")`,
/// `ether("1.2.3")`, `address("0x12")`, `uint256(-1)`.
fn literal_argument(function: &str, args: &[IdedExpr], here: Option<u32>) -> Result<(), TypeError> {
    let [argument] = args else { return Ok(()) };
    let Expr::Literal(literal) = &argument.expr else {
        return Ok(());
    };
    let problem = match (function, literal) {
        ("uint256", LiteralValue::String(text)) => match ExactInt::parse(text.inner()) {
            Ok(value) if value.to_u256().is_none() => {
                Some("a uint256 cannot be negative".to_owned())
            }
            Ok(_) => None,
            Err(e) => Some(e),
        },
        ("uint256", LiteralValue::Int(value)) if *value.inner() < 0 => {
            Some("a uint256 cannot be negative".to_owned())
        }
        ("int256", LiteralValue::String(text)) => ExactInt::parse(text.inner()).err(),
        ("ether", LiteralValue::String(text)) => ExactInt::parse_units(text.inner(), 18).err(),
        ("gwei", LiteralValue::String(text)) => ExactInt::parse_units(text.inner(), 9).err(),
        ("address", LiteralValue::String(text)) => argus_core::parse_address(text.inner())
            .err()
            .map(|e| e.to_string()),
        _ => None,
    };
    match problem {
        Some(problem) => fail(
            here,
            format!("`{function}(...)` cannot convert its argument: {problem}"),
        ),
        None => Ok(()),
    }
}
