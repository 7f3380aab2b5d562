//! A scenario's arguments as ABI values.
//!
//! A scenario writes arguments the way a person would: an account or a
//! deployed contract by its name (`attacker`, `Token`), amounts with an
//! exponent (`"1000000e18"`) or a unit (`"1.5 ether"`), booleans and numbers
//! as YAML has them. Each argument is coerced to the type the function's
//! signature gives it, through alloy-dyn-abi (`DynSolType::coerce_str`);
//! names are looked up first, so a name is never read as something else.
//! The same code checks a scenario at load time (every name resolving to a
//! placeholder address) and builds the calldata when it is played.

use alloy_dyn_abi::{DynSolType, DynSolValue};
use alloy_primitives::{Address, U256};

/// Turns `value` into a value of type `ty`; `names` resolves an account or
/// label to its address. The error says what was expected.
pub fn coerce(
    ty: &DynSolType,
    value: &serde_json::Value,
    names: &dyn Fn(&str) -> Option<Address>,
) -> Result<DynSolValue, String> {
    use serde_json::Value;
    match (ty, value) {
        (DynSolType::Array(inner), Value::Array(items)) => items
            .iter()
            .map(|item| coerce(inner, item, names))
            .collect::<Result<Vec<_>, _>>()
            .map(DynSolValue::Array),
        (DynSolType::FixedArray(inner, len), Value::Array(items)) => {
            if items.len() != *len {
                return Err(format!("{ty} takes {len} items, {} given", items.len()));
            }
            items
                .iter()
                .map(|item| coerce(inner, item, names))
                .collect::<Result<Vec<_>, _>>()
                .map(DynSolValue::FixedArray)
        }
        (DynSolType::Tuple(types), Value::Array(items)) => {
            if items.len() != types.len() {
                return Err(format!(
                    "{ty} takes {} items, {} given",
                    types.len(),
                    items.len()
                ));
            }
            types
                .iter()
                .zip(items)
                .map(|(t, item)| coerce(t, item, names))
                .collect::<Result<Vec<_>, _>>()
                .map(DynSolValue::Tuple)
        }
        (DynSolType::Address, Value::String(text)) => match names(text) {
            Some(address) => Ok(DynSolValue::Address(address)),
            None => ty.coerce_str(text).map_err(|_| {
                format!("`{text}` is neither an account or contract of the scenario nor an address")
            }),
        },
        (DynSolType::Uint(bits), Value::String(text)) => match scaled(text)? {
            Some(amount) => Ok(DynSolValue::Uint(amount, *bits)),
            None => coerce_text(ty, text),
        },
        (_, Value::String(text)) => coerce_text(ty, text),
        (_, Value::Number(n)) => coerce_text(ty, &n.to_string()),
        (_, Value::Bool(b)) => coerce_text(ty, if *b { "true" } else { "false" }),
        (_, other) => Err(format!("{other} is not a {ty}")),
    }
}

fn coerce_text(ty: &DynSolType, text: &str) -> Result<DynSolValue, String> {
    ty.coerce_str(text)
        .map_err(|error| format!("`{text}` is not a {ty}: {error}"))
}

/// `"<digits>e<digits>"` (or `"1.5e18"`) as an exact integer; `None` when
/// the text has no exponent.
pub fn scaled(text: &str) -> Result<Option<U256>, String> {
    let Some((mantissa, exponent)) = text.trim().split_once(['e', 'E']) else {
        return Ok(None);
    };
    let (Ok(exponent), false) = (exponent.parse::<usize>(), mantissa.is_empty()) else {
        return Ok(None);
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let fraction = fraction.trim_end_matches('0');
    if !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || whole.is_empty()
    {
        return Ok(None);
    }
    if fraction.len() > exponent {
        return Err(format!("`{text}` is not a whole number"));
    }
    let digits = format!("{whole}{fraction}{}", "0".repeat(exponent - fraction.len()));
    U256::from_str_radix(&digits, 10)
        .map(Some)
        .map_err(|_| format!("`{text}` does not fit in 256 bits"))
}

/// An amount of wei: a number, `"1e18"`, or `"1.5 ether"` / `"30 gwei"`.
pub fn wei(value: &serde_json::Value) -> Result<U256, String> {
    match coerce(&DynSolType::Uint(256), value, &|_| None)? {
        DynSolValue::Uint(amount, _) => Ok(amount),
        other => Err(format!("{other:?} is not an amount")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_names_and_types_coerce() {
        let attacker = Address::repeat_byte(0xaa);
        let names = move |name: &str| (name == "attacker").then_some(attacker);
        let uint = DynSolType::Uint(256);
        assert_eq!(
            coerce(&uint, &json!("1000000e18"), &names).unwrap(),
            DynSolValue::Uint(U256::from(10u64).pow(U256::from(24u64)), 256)
        );
        assert_eq!(
            coerce(&uint, &json!("1.5e3"), &names).unwrap(),
            DynSolValue::Uint(U256::from(1500u64), 256)
        );
        assert!(coerce(&uint, &json!("1.25e1"), &names).is_err());
        assert_eq!(
            coerce(&uint, &json!(7), &names).unwrap(),
            DynSolValue::Uint(U256::from(7u64), 256)
        );
        assert_eq!(
            coerce(&DynSolType::Address, &json!("attacker"), &names).unwrap(),
            DynSolValue::Address(attacker)
        );
        let error = coerce(&DynSolType::Address, &json!("nobody"), &names).unwrap_err();
        assert!(error.contains("`nobody` is neither"), "{error}");
        assert_eq!(
            coerce(&DynSolType::Bool, &json!(true), &names).unwrap(),
            DynSolValue::Bool(true)
        );
        assert_eq!(
            wei(&json!("1 ether")).unwrap(),
            U256::from(10u64).pow(U256::from(18u64))
        );
    }
}
