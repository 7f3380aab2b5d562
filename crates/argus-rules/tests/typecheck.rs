//! Rules that would fail at run time are refused at load, each with its
//! file, line and column: expressions are type-checked against the types
//! the engine gives `args` (from the rule's signature), `tx`, `block`...

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argus_rules::RuleSet;

const TRANSFER: &str = "Transfer(address indexed from, address indexed to, uint256 value)";

/// One rule on a declared ERC-20 `Transfer` of any contract, with `extra`
/// keys; its diagnostics.
fn problems(extra: &str) -> Vec<String> {
    let text = format!(
        "rules:\n  - id: r\n    match: {{ event: {{ contract: any, signature: \"{TRANSFER}\" }} }}\n{extra}"
    );
    match RuleSet::from_yaml(&text, "t.yaml") {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.iter().map(ToString::to_string).collect(),
    }
}

#[track_caller]
fn refused(extra: &str, wanted: &str) {
    let shown = problems(extra);
    assert_eq!(shown.len(), 1, "{extra}: {shown:#?}");
    assert!(
        shown[0].starts_with("t.yaml:4:") || shown[0].starts_with("t.yaml:5:"),
        "{extra}: `{}` should be at line 4 or 5 (the key's value)",
        shown[0]
    );
    assert!(
        shown[0].contains(wanted),
        "{extra}: `{}` should say `{wanted}`",
        shown[0]
    );
}

#[test]
fn an_unknown_function_is_refused() {
    refused(
        "    condition: nosuchfunc(args.value)\n",
        "`nosuchfunc()` is not a known function",
    );
    refused(
        "    condition: args.value.nosuchmethod() > 1\n",
        "`.nosuchmethod()` is not a known method",
    );
    refused(
        "    condition: max(args.value, 1) > 1\n",
        "`max()` is not a known function",
    );
}

#[test]
fn a_condition_that_is_not_a_bool_is_refused() {
    refused("    condition: \"'yes'\"\n", "a condition must give a bool");
    refused(
        "    condition: args.value\n",
        "a condition must give a bool",
    );
    refused("    condition: args.from\n", "gives a string");
    refused(
        "    condition: args.value + 1\n",
        "a condition must give a bool",
    );
}

#[test]
fn a_literal_that_cannot_convert_is_refused() {
    refused(
        "    condition: args.value > uint256(\"not a number\")\n",
        "`uint256(...)` cannot convert its argument: `not a number` is not an integer",
    );
    refused(
        "    condition: args.value > ether(\"abc\")\n",
        "`ether(...)` cannot convert its argument",
    );
    refused(
        "    condition: args.value > gwei(\"1.0000000001\")\n",
        "more than 9 decimals",
    );
    refused(
        "    condition: args.value > uint256(\"-1\")\n",
        "cannot be negative",
    );
    refused(
        "    condition: args.value > uint256(-1)\n",
        "cannot be negative",
    );
    refused(
        "    condition: args.from == address(\"0x12\")\n",
        "`address(...)` cannot convert its argument",
    );
    refused(
        "    condition: args.value > uint256(\"115792089237316195423570985008687907853269984665640564039457584007913129639936\")\n",
        "does not fit in 256 bits",
    );
    // A conversion given the wrong kind of value.
    refused(
        "    condition: args.value > uint256(b\"12\")\n",
        "`uint256()` cannot take (bytes)",
    );
    refused(
        "    condition: size(args.value) > 1\n",
        "`size()` cannot take",
    );
}

#[test]
fn operators_on_the_wrong_types_are_refused() {
    refused(
        "    condition: args.value + \"abc\" == args.value\n",
        "`+` cannot be applied to `args.value` (an exact integer (uint256)) and a string",
    );
    refused(
        "    condition: args.from > 3\n",
        "`>` cannot compare `args.from` (a string) with an int",
    );
    refused(
        "    condition: args.value == 1.5\n",
        "`==` compares `args.value` (an exact integer (uint256)) with a double",
    );
    refused("    condition: args.from == 3\n", "never equal");
    refused("    condition: args.value % 2 == 0\n", "`%` takes two ints");
    refused(
        "    condition: -args.value < 0\n",
        "`-` negates an int or a double",
    );
    refused(
        "    condition: args.value > 1 && args.from\n",
        "`&&` takes bools",
    );
    refused("    condition: tx.value > 1.5\n", "`tx.value`");
    refused(
        "    condition: block.number > \"5\"\n",
        "`block.number` (a uint)",
    );
    refused(
        "    condition: args.value in 5\n",
        "`in` looks into a list or a map",
    );
    refused(
        "    condition: args.value.exists(x, x > 1)\n",
        "cannot be iterated",
    );
}

#[test]
fn a_field_the_event_does_not_have_is_refused() {
    refused(
        "    condition: args.nosuchfield > 1\n",
        "`args` has no field `nosuchfield` (the event `Transfer(address,address,uint256)`); it has from, to, value (or _0.._2)",
    );
    refused("    condition: args._3 > 1\n", "no field `_3`");
    refused("    condition: args[\"valu\"] > 1\n", "no field `valu`");
    refused(
        "    condition: args.value.amount > 1\n",
        "`args.value` (an exact integer (uint256)) has no fields",
    );
    refused(
        "    condition: tx.revert.reson == \"x\"\n",
        "`tx.revert` has no field `reson`",
    );
    refused(
        "    title: \"moved {{args.nosuch}}\"\n",
        "`title`: in `{{args.nosuch}}`",
    );
    refused("    dedup: \"{{args.nosuch}}\"\n", "no field `nosuch`");
    refused(
        "    threshold: \"> 2 in 5m\"\n    group_by: args.sender\n",
        "no field `sender`",
    );
    refused(
        "    threshold: \"> 2 in 5m\"\n    title: \"{{window.cuont}}\"\n",
        "`window` has no field `cuont`",
    );
}

#[test]
fn a_value_that_is_not_a_number_is_refused() {
    refused(
        "    value: args.from\n    threshold: \"> 200% of 1h median\"\n",
        "`value:` must give a number",
    );
}

#[test]
fn a_signature_with_a_type_the_abi_lacks_is_refused() {
    for (signature, wanted) in [
        (
            "Transfer(address,address,uint257)",
            "`uint257` is not an ABI type",
        ),
        (
            "Big(uint257 indexed value)",
            "`uint257` (parameter `value`) is not an ABI type",
        ),
        ("Odd(int7)", "`int7`"),
        ("Wide(bytes33)", "`bytes33`"),
        ("Named(MyStruct s)", "`MyStruct`"),
    ] {
        let text = format!(
            "rules:\n  - id: r\n    match: {{ event: {{ contract: any, signature: \"{signature}\" }} }}\n"
        );
        let errors = RuleSet::from_yaml(&text, "t.yaml").unwrap_err();
        assert_eq!(errors.len(), 1, "{signature}: {errors:#?}");
        assert_eq!((errors[0].line, errors[0].column), (3, 49), "{signature}");
        assert!(
            errors[0].message.contains(wanted),
            "{signature}: {}",
            errors[0]
        );
    }
    let call = "rules:\n  - id: r\n    match: { call: { contract: Vault, function: \"withdraw(uint257 amount)\" } }\n";
    let errors = RuleSet::from_yaml(call, "t.yaml").unwrap_err();
    assert!(errors[0].message.contains("`uint257`"), "{}", errors[0]);
}

/// Rules on `contract: any`, on a label the registry may not hold, and on
/// calls are checked with the types their signature gives.
#[test]
fn what_the_signature_says_is_checked_whatever_the_contract() {
    let text = r#"rules:
  - id: any-bare
    match: { event: { contract: any, signature: "Transfer(address,address,uint256)" } }
    condition: args._0 > 3
  - id: unknown-label
    match: { event: { contract: NotInTheRegistry, signature: "Approval(address indexed owner, address indexed spender, uint256 value)" } }
    condition: args.amount > 1
  - id: by-address
    match: { event: { contract: "0x00000000000000000000000000000000000000aa", signature: "Paused(address account)" } }
    condition: args.account > 1
  - id: call
    match: { call: { contract: Vault, function: "withdraw(uint256 amount)" } }
    condition: args.amount == "all"
  - id: call-bare
    match: { call: { contract: any, function: "withdraw(uint256)" } }
    condition: args._0.size() > 1
"#;
    let errors = RuleSet::from_yaml(text, "c.yaml").unwrap_err();
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let expect = [
        ("c.yaml:4:16:", "`args._0` (a string)"),
        ("c.yaml:7:16:", "no field `amount`"),
        ("c.yaml:10:16:", "`args.account` (a string)"),
        ("c.yaml:13:16:", "never equal"),
        (
            "c.yaml:16:16:",
            "`.size()` (on the value before the dot) cannot take (exact",
        ),
    ];
    assert_eq!(shown.len(), expect.len(), "{shown:#?}");
    for ((position, text), shown) in expect.iter().zip(&shown) {
        assert!(
            shown.starts_with(position) && shown.contains(text),
            "{shown} should be {position} … {text}"
        );
    }
}

#[test]
fn the_column_inside_the_expression_is_given() {
    let shown = problems("    condition: args.value > 1 && args.from > 3\n");
    assert!(
        shown[0].starts_with("t.yaml:4:16: `condition`: column 29: `>` cannot compare"),
        "{shown:#?}"
    );
    let shown = problems("    condition: |\n      args.value > 1 &&\n      args.from > 3\n");
    assert!(
        shown[0].contains("line 2, column 11 of the expression:"),
        "{shown:#?}"
    );
}

/// Every problem of a file at once: one per expression.
#[test]
fn every_expression_reports_its_own_problem() {
    let shown = problems(
        "    condition: args.from > 3\n    title: \"{{args.nosuch}}\"\n    dedup: \"{{nosuchfunc(1)}}\"\n",
    );
    assert_eq!(shown.len(), 3, "{shown:#?}");
}

/// What the engine accepts at run time still loads: no false alarms.
#[test]
fn valid_expressions_still_load() {
    for condition in [
        "args.value > uint256(\"1\")",
        "args.value >= ether(\"1.5\") || args.value < gwei(\"30\")",
        "1000 < args.value && args.value != 0u",
        "args.from == address(\"0x00000000000000000000000000000000000000aa\")",
        "args.from in [address(\"0x00000000000000000000000000000000000000aa\"), \"0x00\"]",
        "args.value - 6 > 0 && 2 * args.value == uint256(\"2000\") && args.value / 2 > 1",
        "string(args.value) == \"1000\" && uint256(args.value) > 1",
        "args[\"value\"] > 1 && args._2 > 1",
        "tx.to == null || tx.to == args.to",
        "block.base_fee == null || block.base_fee > gwei(\"30\")",
        "has(tx.revert) && tx.revert.kind == \"reason\" && tx.revert.code > 0",
        "contract.tags.exists(t, t == \"treasury\") && \"ops\" in contract.tags",
        "size(contract.tags) > 0 && contract.tags.size() > 0 && contract.label.startsWith(\"T\")",
        "event.log_index > 0u && event.log_index > 0 && block.number > 5",
        "tx.gas_price > 2 * uint256(\"1\") && tx.gas > 21000 && tx.success",
        "[1, 2].map(x, x * 2).size() == 2 && [1, 2].all(x, x > 0)",
        "(args.value > 1 ? \"big\" : \"small\") == \"big\"",
        "int256(\"-5\") < args.value && args.value > -1",
        "tx.input.size() > 4 && tx.input != b\"\"",
        "dyn(args.from) == 3 || args.from.matches(\"^0x\")",
        "{\"a\": 1}.a == 1",
    ] {
        let shown = problems(&format!(
            "    condition: '{}'\n",
            condition.replace('\'', "''")
        ));
        assert!(shown.is_empty(), "{condition}: {shown:#?}");
    }
    assert!(
        problems("    title: \"{{args.value}} from {{args.from}} in {{tx.hash}} ({{rule}})\"\n")
            .is_empty()
    );
    assert!(problems("    threshold: \"> 5 in 5m\"\n    value: args.value\n    group_by: args.from\n    title: \"{{window.count}} in {{window.within}} s\"\n").is_empty());
}

/// Names only the registry knows stay unchecked: a rule naming its event
/// without parameter names, or only by name, types what it can.
#[test]
fn what_only_the_registry_knows_is_left_to_run_time() {
    let text = r#"rules:
  - id: bare
    match: { event: { contract: Token, signature: "Transfer(address,address,uint256)" } }
    condition: args.value > uint256("1") && args.anything == 3 && args._2 > 1
  - id: by-name
    match: { event: { contract: Token, signature: Transfer } }
    condition: args.value > 1 && args.whatever.size() > 0
  - id: indexed-string
    match: { event: { contract: any, signature: "Tagged(string indexed tag, string note)" } }
    condition: args.tag != b"" && args.note.size() > 0
  - id: signal
    match: { signal: memory_usage }
    condition: value > 90 && labels.host == "a"
"#;
    let loaded = RuleSet::from_yaml(text, "ok.yaml");
    assert!(loaded.is_ok(), "{:#?}", loaded.err());
}
