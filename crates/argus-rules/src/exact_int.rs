//! Exact 256-bit integers inside CEL.
//!
//! Token amounts are `uint256`: 10^24 base units is an ordinary transfer, and
//! a double holds 53 bits. A rule comparing `args.value` with a limit must be
//! exact at 2^256 − 1, so token amounts never become CEL doubles: they are
//! [`ExactInt`] values (sign and `U256` magnitude, so `int256` fits too) and
//! compare exactly with each other and with CEL `int` and `uint`. Comparing
//! one with a `double` is an error, not a rounding.
//!
//! CEL asks the *left* operand of `==`, `<`, `+`... for the operation, so
//! `5 < args.value` would ask CEL's `int`, which knows nothing of this type
//! (and `==` would quietly say `false`). [`rewrite_operators`] therefore turns
//! every comparison and arithmetic operator of a compiled rule into a call of
//! our own overloads, which handle an exact integer on either side and hand
//! every other pair back to CEL's own operator, unchanged.

use std::any::Any;
use std::cmp::Ordering;

use alloy_primitives::{I256, U256};
use cel::common::ast::{EntryExpr, Expr, IdedExpr, operators};
use cel::common::traits::Comparer;
use cel::common::types::{self, CelInt, CelString, CelUInt, Type};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::{Env, ExecutionError};

/// The CEL type of exact integers.
pub(crate) static EXACT_INT_TYPE: Type = Type::new_unspecified_type("bigint");

/// An exact integer in −(2^256 − 1) ..= 2^256 − 1. Zero is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactInt {
    negative: bool,
    magnitude: U256,
}

impl ExactInt {
    pub fn from_u256(value: U256) -> Self {
        Self {
            negative: false,
            magnitude: value,
        }
    }

    pub fn from_i256(value: I256) -> Self {
        Self::signed(value.is_negative(), value.unsigned_abs())
    }

    pub fn from_i64(value: i64) -> Self {
        Self::signed(value < 0, U256::from(value.unsigned_abs()))
    }

    fn signed(negative: bool, magnitude: U256) -> Self {
        Self {
            negative: negative && !magnitude.is_zero(),
            magnitude,
        }
    }

    /// The value as a `U256` when it is not negative.
    pub fn to_u256(self) -> Option<U256> {
        (!self.negative).then_some(self.magnitude)
    }

    /// Parses decimal (optionally signed) or `0x` hex text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().replace('_', "");
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(&text)),
        };
        let parsed = match digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            Some(hex) if !hex.is_empty() => U256::from_str_radix(hex, 16),
            Some(_) => return Err("`0x` without digits".to_owned()),
            None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                U256::from_str_radix(digits, 10)
            }
            None => {
                return Err(format!(
                    "`{}` is not an integer: write decimal digits or 0x-prefixed hex",
                    shorten(&text)
                ));
            }
        };
        parsed
            .map(|magnitude| Self::signed(negative, magnitude))
            .map_err(|_| format!("`{}` does not fit in 256 bits", shorten(&text)))
    }

    /// Parses a decimal amount of a unit with `decimals` decimals, exactly
    /// (`ether("1.5")` is 1.5 × 10^18): more decimals than the unit has is an
    /// error, not a rounding.
    pub fn parse_units(text: &str, decimals: usize) -> Result<Self, String> {
        let text = text.trim().replace('_', "");
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        if fraction.len() > decimals {
            return Err(format!(
                "`{}` has more than {decimals} decimals",
                shorten(&text)
            ));
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err("an empty amount".to_owned());
        }
        if !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(format!("`{}` is not a decimal amount", shorten(&text)));
        }
        let digits = format!("{whole}{fraction}{}", "0".repeat(decimals - fraction.len()));
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Ok(Self::from_u256(U256::ZERO));
        }
        U256::from_str_radix(digits, 10)
            .map(Self::from_u256)
            .map_err(|_| format!("`{}` does not fit in 256 bits", shorten(&text)))
    }

    fn as_signed_parts(self) -> (bool, U256) {
        (self.negative, self.magnitude)
    }

    fn checked_add(self, other: Self) -> Option<Self> {
        let (an, am) = self.as_signed_parts();
        let (bn, bm) = other.as_signed_parts();
        if an == bn {
            return am.checked_add(bm).map(|m| Self::signed(an, m));
        }
        Some(if am >= bm {
            Self::signed(an, am - bm)
        } else {
            Self::signed(bn, bm - am)
        })
    }

    fn negate(self) -> Self {
        Self::signed(!self.negative, self.magnitude)
    }

    fn checked_mul(self, other: Self) -> Option<Self> {
        self.magnitude
            .checked_mul(other.magnitude)
            .map(|m| Self::signed(self.negative != other.negative, m))
    }

    fn checked_div(self, other: Self) -> Option<Self> {
        self.magnitude
            .checked_div(other.magnitude)
            .map(|m| Self::signed(self.negative != other.negative, m))
    }
}

impl Ord for ExactInt {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.magnitude.cmp(&other.magnitude),
            (true, true) => other.magnitude.cmp(&self.magnitude),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for ExactInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for ExactInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        write!(f, "{}", self.magnitude)
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The exact integer a CEL value stands for: an [`ExactInt`], an `int` or a
/// `uint`. `None` for anything else.
pub(crate) fn as_exact(value: &dyn Val) -> Option<ExactInt> {
    if let Some(exact) = value.downcast_ref::<ExactInt>() {
        Some(*exact)
    } else if let Some(int) = value.downcast_ref::<CelInt>() {
        Some(ExactInt::from_i64(*int.inner()))
    } else {
        value
            .downcast_ref::<CelUInt>()
            .map(|uint| ExactInt::from_u256(U256::from(*uint.inner())))
    }
}

fn not_comparable(operator: &str, lhs: &dyn Val, rhs: &dyn Val) -> ExecutionError {
    ExecutionError::no_such_overload(
        operator,
        vec![
            lhs.get_type().name().to_owned(),
            rhs.get_type().name().to_owned(),
        ],
    )
}

impl Val for ExactInt {
    fn get_type(&self) -> &Type {
        &EXACT_INT_TYPE
    }

    fn cel_type() -> &'static Type {
        &EXACT_INT_TYPE
    }

    fn as_comparer(&self) -> Option<&dyn Comparer> {
        Some(self)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        as_exact(other).is_some_and(|o| o == *self)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(*self)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for ExactInt {}

impl Comparer for ExactInt {
    fn compare(&self, rhs: &dyn Val) -> Result<Ordering, ExecutionError> {
        as_exact(rhs)
            .map(|other| self.cmp(&other))
            .ok_or_else(|| not_comparable(operators::LESS, self, rhs))
    }
}

/// Our names for the operators we take over.
const REWRITTEN: [(&str, &str); 10] = [
    (operators::EQUALS, "@argus_eq"),
    (operators::NOT_EQUALS, "@argus_ne"),
    (operators::LESS, "@argus_lt"),
    (operators::LESS_EQUALS, "@argus_le"),
    (operators::GREATER, "@argus_gt"),
    (operators::GREATER_EQUALS, "@argus_ge"),
    (operators::ADD, "@argus_add"),
    (operators::SUBSTRACT, "@argus_sub"),
    (operators::MULTIPLY, "@argus_mul"),
    (operators::DIVIDE, "@argus_div"),
];

/// The operator a rewritten call stands for, to name it in errors.
pub(crate) fn original_operator(name: &str) -> Option<&'static str> {
    REWRITTEN
        .iter()
        .find(|(_, ours)| *ours == name)
        .map(|(op, _)| *op)
}

/// Replaces every comparison and arithmetic operator of `expr` with our
/// overloads (see the module docs).
pub(crate) fn rewrite_operators(expr: &mut IdedExpr) {
    match &mut expr.expr {
        Expr::Call(call) => {
            if call.target.is_none()
                && call.args.len() == 2
                && let Some((_, ours)) = REWRITTEN.iter().find(|(op, _)| *op == call.func_name)
            {
                call.func_name = (*ours).to_owned();
            }
            if let Some(target) = call.target.as_deref_mut() {
                rewrite_operators(target);
            }
            call.args.iter_mut().for_each(rewrite_operators);
        }
        Expr::Comprehension(c) => {
            for e in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                rewrite_operators(e);
            }
        }
        Expr::List(list) => list.elements.iter_mut().for_each(rewrite_operators),
        Expr::Map(map) => map
            .entries
            .iter_mut()
            .for_each(|entry| rewrite_entry(&mut entry.expr)),
        Expr::Struct(s) => s
            .entries
            .iter_mut()
            .for_each(|entry| rewrite_entry(&mut entry.expr)),
        Expr::Select(select) => rewrite_operators(&mut select.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn rewrite_entry(entry: &mut EntryExpr) {
    match entry {
        EntryExpr::StructField(field) => rewrite_operators(&mut field.value),
        EntryExpr::MapEntry(entry) => {
            rewrite_operators(&mut entry.key);
            rewrite_operators(&mut entry.value);
        }
    }
}

type CelResult<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn bool_val<'b, 'v>(value: bool) -> CelResult<'b, 'v> {
    Ok(CowVal::owned(types::CelBool::from(value)))
}

fn two<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<[CowVal<'b, 'v>; 2], ExecutionError> {
    let count = args.len();
    args.try_into()
        .map_err(|_| ExecutionError::invalid_argument_count(2, count))
}

/// Equality: exact when either side is an exact integer (an error against a
/// non-integer, rather than a quiet `false`), CEL's own otherwise.
fn equality(operator: &str, args: &[CowVal<'_, '_>; 2]) -> Result<bool, ExecutionError> {
    let (lhs, rhs) = (args[0].as_ref(), args[1].as_ref());
    if lhs.downcast_ref::<ExactInt>().is_some() || rhs.downcast_ref::<ExactInt>().is_some() {
        return match (as_exact(lhs), as_exact(rhs)) {
            (Some(a), Some(b)) => Ok(a == b),
            _ => Err(not_comparable(operator, lhs, rhs)),
        };
    }
    Ok(lhs.equals(rhs))
}

fn ordering(operator: &str, args: &[CowVal<'_, '_>; 2]) -> Result<Ordering, ExecutionError> {
    let (lhs, rhs) = (args[0].as_ref(), args[1].as_ref());
    if lhs.downcast_ref::<ExactInt>().is_some() || rhs.downcast_ref::<ExactInt>().is_some() {
        return match (as_exact(lhs), as_exact(rhs)) {
            (Some(a), Some(b)) => Ok(a.cmp(&b)),
            _ => Err(not_comparable(operator, lhs, rhs)),
        };
    }
    lhs.as_comparer()
        .ok_or_else(|| not_comparable(operator, lhs, rhs))?
        .compare(rhs)
        .map_err(|_| not_comparable(operator, lhs, rhs))
}

fn arithmetic<'b, 'v>(
    operator: &'static str,
    args: Vec<CowVal<'b, 'v>>,
    exact: fn(ExactInt, ExactInt) -> Option<ExactInt>,
) -> CelResult<'b, 'v> {
    let [lhs, rhs] = two(args)?;
    let is_exact = |v: &dyn Val| v.downcast_ref::<ExactInt>().is_some();
    if is_exact(lhs.as_ref()) || is_exact(rhs.as_ref()) {
        let (Some(a), Some(b)) = (as_exact(lhs.as_ref()), as_exact(rhs.as_ref())) else {
            return Err(not_comparable(operator, lhs.as_ref(), rhs.as_ref()));
        };
        return exact(a, b)
            .map(CowVal::owned)
            .ok_or_else(|| ExecutionError::FunctionError {
                function: operator.to_owned(),
                message: format!(
                    "{a} {} {b} is out of the 256-bit range or divides by zero",
                    operator.trim_matches('_')
                ),
            });
    }
    let (l, r) = (lhs.as_ref(), rhs.as_ref());
    let result = match operator {
        operators::ADD => l.as_adder().map(|op| op.add(r)),
        operators::SUBSTRACT => l.as_subtractor().map(|op| op.sub(r)),
        operators::MULTIPLY => l.as_multiplier().map(|op| op.mul(r)),
        _ => l.as_divider().map(|op| op.div(r)),
    };
    match result {
        Some(Ok(value)) => Ok(CowVal::Owned(value.into_owned())),
        Some(Err(error)) => Err(error),
        None => Err(not_comparable(operator, l, r)),
    }
}

fn text_arg<'a>(args: &'a [CowVal<'_, '_>], function: &str) -> Result<&'a str, ExecutionError> {
    args.first()
        .and_then(|a| a.downcast_ref::<CelString<'_>>())
        .map(|s| s.inner())
        .ok_or_else(|| ExecutionError::function_error(function, "expects a string argument"))
}

fn exact_from_text<'b, 'v>(
    function: &str,
    args: &[CowVal<'b, 'v>],
    unsigned: bool,
) -> CelResult<'b, 'v> {
    let text = text_arg(args, function)?;
    let value = ExactInt::parse(text).map_err(|e| ExecutionError::function_error(function, e))?;
    if unsigned && value.negative {
        return Err(ExecutionError::function_error(
            function,
            "a uint256 cannot be negative",
        ));
    }
    Ok(CowVal::owned(value))
}

fn exact_from_number<'b, 'v>(
    function: &str,
    args: &[CowVal<'b, 'v>],
    unsigned: bool,
) -> CelResult<'b, 'v> {
    let value = args
        .first()
        .and_then(|a| as_exact(a.as_ref()))
        .ok_or_else(|| ExecutionError::function_error(function, "expects an integer"))?;
    if unsigned && value.negative {
        return Err(ExecutionError::function_error(
            function,
            "a uint256 cannot be negative",
        ));
    }
    Ok(CowVal::owned(value))
}

fn units<'b, 'v>(function: &str, args: &[CowVal<'b, 'v>], decimals: usize) -> CelResult<'b, 'v> {
    let text = text_arg(args, function)?;
    ExactInt::parse_units(text, decimals)
        .map(CowVal::owned)
        .map_err(|e| ExecutionError::function_error(function, e))
}

/// Registers the exact-integer type, its functions (`uint256`, `int256`,
/// `ether`, `gwei`, `string`, `address`) and our operator overloads.
pub(crate) fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    use types::{DYN_TYPE, INT_TYPE, STRING_TYPE, UINT_TYPE};
    env.add_type(EXACT_INT_TYPE.to_owned())?;
    env.add_overload("uint256", "uint256_string", vec![STRING_TYPE], |a| {
        exact_from_text("uint256", &a, true)
    })?;
    env.add_overload("uint256", "uint256_int", vec![INT_TYPE], |a| {
        exact_from_number("uint256", &a, true)
    })?;
    env.add_overload("uint256", "uint256_uint", vec![UINT_TYPE], |a| {
        exact_from_number("uint256", &a, true)
    })?;
    env.add_overload(
        "uint256",
        "uint256_bigint",
        vec![EXACT_INT_TYPE.to_owned()],
        |a| exact_from_number("uint256", &a, true),
    )?;
    env.add_overload("int256", "int256_string", vec![STRING_TYPE], |a| {
        exact_from_text("int256", &a, false)
    })?;
    env.add_overload("int256", "int256_int", vec![INT_TYPE], |a| {
        exact_from_number("int256", &a, false)
    })?;
    env.add_overload("ether", "ether_string", vec![STRING_TYPE], |a| {
        units("ether", &a, 18)
    })?;
    env.add_overload("gwei", "gwei_string", vec![STRING_TYPE], |a| {
        units("gwei", &a, 9)
    })?;
    env.add_overload(
        "string",
        "string_bigint",
        vec![EXACT_INT_TYPE.to_owned()],
        |a| {
            let value = a.first().and_then(|v| as_exact(v.as_ref()));
            let value = value
                .ok_or_else(|| ExecutionError::function_error("string", "expects a bigint"))?;
            Ok(CowVal::owned(CelString::from(value.to_string())))
        },
    )?;
    env.add_overload("address", "address_string", vec![STRING_TYPE], |a| {
        let text = text_arg(&a, "address")?;
        argus_core::parse_address(text)
            .map(|address| CowVal::owned(CelString::from(format!("{address:#x}"))))
            .map_err(|e| ExecutionError::function_error("address", e))
    })?;
    let dyn2 = || vec![DYN_TYPE, DYN_TYPE];
    env.add_overload("@argus_eq", "argus_eq", dyn2(), |a| {
        bool_val(equality(operators::EQUALS, &two(a)?)?)
    })?;
    env.add_overload("@argus_ne", "argus_ne", dyn2(), |a| {
        bool_val(!equality(operators::NOT_EQUALS, &two(a)?)?)
    })?;
    env.add_overload("@argus_lt", "argus_lt", dyn2(), |a| {
        bool_val(ordering(operators::LESS, &two(a)?)?.is_lt())
    })?;
    env.add_overload("@argus_le", "argus_le", dyn2(), |a| {
        bool_val(ordering(operators::LESS_EQUALS, &two(a)?)?.is_le())
    })?;
    env.add_overload("@argus_gt", "argus_gt", dyn2(), |a| {
        bool_val(ordering(operators::GREATER, &two(a)?)?.is_gt())
    })?;
    env.add_overload("@argus_ge", "argus_ge", dyn2(), |a| {
        bool_val(ordering(operators::GREATER_EQUALS, &two(a)?)?.is_ge())
    })?;
    env.add_overload("@argus_add", "argus_add", dyn2(), |a| {
        arithmetic(operators::ADD, a, ExactInt::checked_add)
    })?;
    env.add_overload("@argus_sub", "argus_sub", dyn2(), |a| {
        arithmetic(operators::SUBSTRACT, a, |x, y| x.checked_add(y.negate()))
    })?;
    env.add_overload("@argus_mul", "argus_mul", dyn2(), |a| {
        arithmetic(operators::MULTIPLY, a, ExactInt::checked_mul)
    })?;
    env.add_overload("@argus_div", "argus_div", dyn2(), |a| {
        arithmetic(operators::DIVIDE, a, ExactInt::checked_div)
    })?;
    Ok(())
}
