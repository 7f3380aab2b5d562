//! Plain-text lists of signatures, as signature databases publish them.
//!
//! One signature a line: `burn(uint256)`. A line may start with a keyword
//! (`function`, `event`, `error`) and may carry the selector or topic before
//! the signature (`0x42966c68 burn(uint256)`, `0x42966c68,burn(uint256)`), in
//! which case the stated hash is checked against the computed one. `#` and
//! `//` start comments; blank lines are skipped. Parameter names are allowed
//! and dropped (`transfer(address to, uint256 amount)`).
//!
//! Every line is parsed by alloy and every type checked to be a real Solidity
//! type, so `transfer(address,uint257)` is refused instead of silently
//! producing the selector of a signature that cannot exist.
//!
//! The ABI specification's fixed-point types count as real: `fixed<M>x<N>`
//! and `ufixed<M>x<N>` (M a multiple of 8 from 8 to 256, N from 0 to 80), and
//! `fixed`/`ufixed`, aliases of `fixed128x18`/`ufixed128x18`. alloy's parser
//! reads them as identifiers but its check of basic types does not know
//! them, and it does not expand the aliases, so both are done here: the
//! selector is the hash of the canonical form, as the specification says
//! (`f(fixed)` has the selector of `f(fixed128x18)`). Real signature
//! databases hold such lines, and refusing them made a whole dump unusable.

use alloy_json_abi::{Error, Event, Function, Param};
use alloy_primitives::keccak256;
use alloy_sol_type_parser::{TypeSpecifier, TypeStem};

use crate::interface::{ItemKind, ListedSignature};

/// A line of a signature list that is not a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SignatureListError {
    /// The 1-based line number.
    pub line: u32,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a signature list; `default_kind` is the kind of lines without a
/// keyword. Returns the signatures and, separately, every bad line.
pub fn parse_signature_list(
    text: &str,
    default_kind: ItemKind,
) -> (Vec<ListedSignature>, Vec<SignatureListError>) {
    let mut signatures = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        match parse_line(content, default_kind) {
            Ok((kind, signature)) => signatures.push(ListedSignature {
                kind,
                signature,
                line,
            }),
            Err(reason) => errors.push(SignatureListError { line, reason }),
        }
    }
    (signatures, errors)
}

fn strip_comment(line: &str) -> &str {
    let cut = [line.find('#'), line.find("//")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(line.len());
    &line[..cut]
}

/// Parses one non-empty line into its kind and canonical signature.
pub(crate) fn parse_line(
    content: &str,
    default_kind: ItemKind,
) -> Result<(ItemKind, String), String> {
    let (stated, rest) = split_stated_hash(content)?;
    let (kind, body) = split_keyword(rest, default_kind);
    let body = body.trim();
    if body.len() > 4096 {
        return Err("signature longer than 4096 characters".to_owned());
    }
    let signature = match kind {
        ItemKind::Function => {
            let f = Function::parse(body).map_err(|e| parse_reason(&e))?;
            check_params(&f.inputs)?;
            f.signature()
        }
        ItemKind::Error => {
            let e = Error::parse(body).map_err(|e| parse_reason(&e))?;
            check_params(&e.inputs)?;
            e.signature()
        }
        ItemKind::Event => {
            let e = Event::parse(body).map_err(|e| parse_reason(&e))?;
            for input in &e.inputs {
                check_type(&input.selector_type())?;
            }
            e.signature()
        }
    };
    let signature = canonical_signature(&signature);
    if let Some(stated) = stated {
        let hash = keccak256(signature.as_bytes());
        let computed = match kind {
            ItemKind::Event => &hash[..],
            ItemKind::Function | ItemKind::Error => &hash[..4],
        };
        if stated != computed {
            return Err(format!(
                "the stated hash 0x{} is not the hash of {signature} (0x{})",
                alloy_primitives::hex::encode(&stated),
                alloy_primitives::hex::encode(computed)
            ));
        }
    }
    Ok((kind, signature))
}

fn parse_reason(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let detail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "parser error:")
        .collect();
    if detail.is_empty() {
        "not a signature".to_owned()
    } else {
        format!("not a signature: {}", short(&detail.join(" ")))
    }
}

/// Splits a leading `0x…` selector or topic followed by a space, tab or comma.
fn split_stated_hash(content: &str) -> Result<(Option<Vec<u8>>, &str), String> {
    let Some(hex) = content.strip_prefix("0x") else {
        return Ok((None, content));
    };
    let end = hex
        .find(|c: char| c.is_whitespace() || c == ',')
        .unwrap_or(hex.len());
    let digits = &hex[..end];
    let rest = hex[end..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    if rest.is_empty() {
        return Err("a hash with no signature after it".to_owned());
    }
    match alloy_primitives::hex::decode(digits) {
        Ok(bytes) if bytes.len() == 4 || bytes.len() == 32 => Ok((Some(bytes), rest)),
        _ => Err(format!(
            "`0x{}` is not a 4-byte selector nor a 32-byte topic",
            short(digits)
        )),
    }
}

fn split_keyword(content: &str, default_kind: ItemKind) -> (ItemKind, &str) {
    for (keyword, kind) in [
        ("function", ItemKind::Function),
        ("event", ItemKind::Event),
        ("error", ItemKind::Error),
    ] {
        if let Some(rest) = content.strip_prefix(keyword)
            && rest.starts_with(char::is_whitespace)
        {
            return (kind, rest);
        }
    }
    (default_kind, content)
}

fn check_params(params: &[Param]) -> Result<(), String> {
    params
        .iter()
        .try_for_each(|p| check_type(&p.selector_type()))
}

/// Checks that a selector type names only real Solidity types.
pub(crate) fn check_type(ty: &str) -> Result<(), String> {
    let real = TypeSpecifier::parse(ty).is_ok_and(|spec| is_real_type(&spec));
    if real {
        Ok(())
    } else {
        Err(format!("`{}` is not a Solidity type", short(ty)))
    }
}

/// Whether every type inside `spec` is a basic Solidity type (alloy's check)
/// or a fixed-point one (see [`is_fixed_point`]).
fn is_real_type(spec: &TypeSpecifier<'_>) -> bool {
    match &spec.stem {
        TypeStem::Root(root) => root.try_basic_solidity().is_ok() || is_fixed_point(root.span()),
        TypeStem::Tuple(tuple) => tuple.types.iter().all(is_real_type),
    }
}

/// `fixed<M>x<N>` or `ufixed<M>x<N>` with M a multiple of 8 in 8..=256 and N
/// in 0..=80 (numbers without leading zeros), or the aliases `fixed` and
/// `ufixed`: the ABI specification's fixed-point types.
pub(crate) fn is_fixed_point(name: &str) -> bool {
    let unsigned = name.strip_prefix('u').unwrap_or(name);
    let Some(sizes) = unsigned.strip_prefix("fixed") else {
        return false;
    };
    if sizes.is_empty() {
        return true;
    }
    let number = |digits: &str| -> Option<u32> {
        let canonical = !digits.is_empty()
            && digits.len() <= 3
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        canonical.then(|| digits.parse().ok()).flatten()
    };
    let Some((m, n)) = sizes.split_once('x') else {
        return false;
    };
    matches!(
        (number(m), number(n)),
        (Some(m), Some(n)) if (8..=256).contains(&m) && m % 8 == 0 && n <= 80
    )
}

/// Replaces the aliases `uint`/`int` by `uint256`/`int256` and
/// `fixed`/`ufixed` by `fixed128x18`/`ufixed128x18`, as the compiler does
/// before hashing.
pub(crate) fn canonical_signature(signature: &str) -> String {
    let mut out = String::with_capacity(signature.len() + 8);
    canonical_signature_into(signature, &mut out);
    out
}

/// [`canonical_signature`], appending to `out` without allocating when `out`
/// has room.
pub(crate) fn canonical_signature_into(signature: &str, out: &mut String) {
    let Some(open) = signature.find('(') else {
        out.push_str(signature);
        return;
    };
    let (name, params) = signature.split_at(open);
    out.push_str(name);
    let bytes = params.as_bytes();
    let mut token_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii() {
            continue;
        }
        push_token(&params[token_start..i], out);
        out.push(b as char);
        token_start = i + 1;
    }
    push_token(&params[token_start..], out);
}

fn push_token(token: &str, out: &mut String) {
    match token {
        "uint" => out.push_str("uint256"),
        "int" => out.push_str("int256"),
        "fixed" => out.push_str("fixed128x18"),
        "ufixed" => out.push_str("ufixed128x18"),
        other => out.push_str(other),
    }
}

fn short(text: &str) -> String {
    text.chars().take(70).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_keyword_hash_and_named_forms() {
        let text = "\
# a comment
burn(uint256)
function transfer(address to, uint256 amount)   // names are dropped
event Transfer(address indexed from, address indexed to, uint256 value)
error Unauthorized(address)
0x42966c68 collate_propagate_storage(bytes16)
0x42966c68,burn(uint)

";
        let (list, errors) = parse_signature_list(text, ItemKind::Function);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<_> = list
            .iter()
            .map(|s| (s.kind, s.signature.as_str(), s.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (ItemKind::Function, "burn(uint256)", 2),
                (ItemKind::Function, "transfer(address,uint256)", 3),
                (ItemKind::Event, "Transfer(address,address,uint256)", 4),
                (ItemKind::Error, "Unauthorized(address)", 5),
                (ItemKind::Function, "collate_propagate_storage(bytes16)", 6),
                (ItemKind::Function, "burn(uint256)", 7),
            ]
        );
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let text = "ok()\ntransfer(address,uint257)\nfoo(\n)(\n0xdeadbeef burn(uint256)\n0x12 x()\nf(Foo)\n";
        let (list, errors) = parse_signature_list(text, ItemKind::Function);
        assert_eq!(list.len(), 1);
        let lines: Vec<u32> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert!(errors[0].reason.contains("uint257"), "{}", errors[0]);
        assert!(errors[3].reason.contains("not the hash"), "{}", errors[3]);
    }

    #[test]
    fn canonicalises_integer_aliases_only_as_whole_words() {
        assert_eq!(
            canonical_signature("f(uint,int[],(uint,uint8))"),
            "f(uint256,int256[],(uint256,uint8))"
        );
        assert_eq!(canonical_signature("uint(uint)"), "uint(uint256)");
    }

    #[test]
    fn fixed_point_types_of_the_abi_specification_are_accepted() {
        for ty in [
            "fixed128x18",
            "ufixed80x80",
            "fixed8x0",
            "ufixed256x80",
            "fixed",
            "ufixed",
            "fixed128x18[]",
            "(ufixed64x10,address)[2]",
        ] {
            assert_eq!(check_type(ty), Ok(()), "{ty}");
        }
        for ty in [
            "fixed7x18",
            "fixed264x18",
            "fixed0x0",
            "ufixed128x81",
            "fixed128",
            "fixed128x",
            "fixedx18",
            "fixed0128x18",
            "ufixed128x018",
            "fixed128y18",
            "uufixed128x18",
            "(fixed12x1)",
        ] {
            assert!(check_type(ty).is_err(), "{ty} accepted");
        }
    }

    #[test]
    fn the_fixed_aliases_hash_as_their_canonical_form() {
        let (list, errors) = parse_signature_list(
            "setRate(fixed,ufixed[],(fixed,uint))\nfixed(ufixed80x80)\n",
            ItemKind::Function,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            list[0].signature,
            "setRate(fixed128x18,ufixed128x18[],(fixed128x18,uint256))"
        );
        // A name that happens to be `fixed` is not a type.
        assert_eq!(list[1].signature, "fixed(ufixed80x80)");
        // A stated selector is checked against the canonical form's hash.
        let selector = alloy_primitives::hex::encode(&keccak256("price(fixed128x18)")[..4]);
        let (list, errors) =
            parse_signature_list(&format!("0x{selector} price(fixed)\n"), ItemKind::Function);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(list[0].signature, "price(fixed128x18)");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse_signature_list(&text, ItemKind::Function);
        }
    }
}
