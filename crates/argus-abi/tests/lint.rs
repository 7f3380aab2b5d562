//! The linter's rules, each shown firing and each shown staying quiet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_json_abi::JsonAbi;
use argus_abi::lint::{AllowList, Level, LintOptions, Rule};
use argus_abi::{InterfaceSet, ItemKind, Origin, Role, lint, parse_signature_list};

fn abi(items: &[&str]) -> JsonAbi {
    JsonAbi::parse(items.iter().copied()).expect("human-readable ABI")
}

fn rules(report: &argus_abi::LintReport) -> Vec<(Rule, Level, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule, f.level, f.key.clone()))
        .collect()
}

fn lint_default(set: &InterfaceSet) -> argus_abi::LintReport {
    lint(set, &LintOptions::default())
}

#[test]
fn the_known_burn_collision_is_found_across_contracts() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("Token"),
        abi(&["function burn(uint256 amount)"]),
    );
    set.add_contract(
        Origin::labelled("Collider"),
        abi(&["function collate_propagate_storage(bytes16 x)"]),
    );
    let report = lint_default(&set);
    assert_eq!(
        rules(&report),
        vec![(
            Rule::SelectorCollision,
            Level::Error,
            "0x42966c68".to_owned()
        )]
    );
    let finding = &report.findings[0];
    assert!(finding.message.contains("burn(uint256)"));
    assert!(
        finding
            .message
            .contains("collate_propagate_storage(bytes16)")
    );
    let labels: Vec<&str> = finding
        .groups
        .iter()
        .flat_map(|g| &g.locations)
        .map(|l| report.origins[l.origin].label.as_str())
        .collect();
    assert_eq!(labels, vec!["Token", "Collider"]);
    assert!(report.has_errors());
}

#[test]
fn a_clean_infrastructure_has_no_findings() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("Token"),
        abi(&[
            "function transfer(address to, uint256 amount) returns (bool)",
            "function balanceOf(address account) view returns (uint256)",
            "event Transfer(address indexed from, address indexed to, uint256 value)",
        ]),
    );
    set.add_contract(
        Origin::labelled("Token2"),
        abi(&[
            "function transfer(address to, uint256 amount) returns (bool)",
            "event Transfer(address indexed from, address indexed to, uint256 value)",
        ]),
    );
    let report = lint_default(&set);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(!report.has_errors());
    assert_eq!(report.stats.distinct_signatures, 3);
    assert_eq!(report.stats.occurrences, 5);
}

#[test]
fn a_proxy_sharing_a_selector_with_its_implementation_is_an_error() {
    let mut set = InterfaceSet::new();
    let proxy = set.add_contract(
        Origin::labelled("VaultProxy"),
        abi(&[
            "function upgradeTo(address newImplementation)",
            "function admin() view returns (address)",
        ]),
    );
    let implementation = set.add_contract(
        Origin::labelled("VaultV2"),
        abi(&[
            "function upgradeTo(address newImplementation)",
            "function deposit(uint256 amount)",
        ]),
    );
    let report = lint_default(&set);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.rule != Rule::ProxySelectorClash)
    );

    set.link_proxy(proxy, implementation);
    let report = lint_default(&set);
    let clash: Vec<_> = rules(&report)
        .into_iter()
        .filter(|(rule, _, _)| *rule == Rule::ProxySelectorClash)
        .collect();
    assert_eq!(
        clash,
        vec![(
            Rule::ProxySelectorClash,
            Level::Error,
            "VaultProxy>VaultV2:0x3659cfe6".to_owned()
        )]
    );
}

#[test]
fn a_selector_of_a_standard_with_another_signature_is_an_error() {
    let mut set = InterfaceSet::new();
    // 0x23b872dd is ERC-20 transferFrom(address,address,uint256).
    set.add_contract(
        Origin::labelled("Odd"),
        abi(&["function gasprice_bit_ether(int128 x)"]),
    );
    let report = lint_default(&set);
    assert_eq!(
        rules(&report),
        vec![(
            Rule::StandardSelectorCollision,
            Level::Error,
            "0x23b872dd".to_owned()
        )]
    );
    assert!(
        report.findings[0]
            .message
            .contains("ERC-20 transferFrom(address,address,uint256)")
    );

    let options = LintOptions {
        standard_interfaces: false,
        ..LintOptions::default()
    };
    assert!(lint(&set, &options).findings.is_empty());
}

#[test]
fn an_event_with_other_indexing_is_an_error_and_names_both_sides() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("Vault"),
        abi(&["event Deposit(address indexed user, uint256 amount)"]),
    );
    set.add_contract(
        Origin::labelled("Router"),
        abi(&["event Deposit(address user, uint256 amount)"]),
    );
    let report = lint_default(&set);
    assert_eq!(
        rules(&report),
        vec![(
            Rule::EventLayoutMismatch,
            Level::Error,
            "Deposit(address,uint256)".to_owned()
        )]
    );
    let titles: Vec<&str> = report.findings[0]
        .groups
        .iter()
        .map(|g| g.title.as_str())
        .collect();
    assert_eq!(
        titles,
        vec![
            "event Deposit(address indexed user, uint256 amount)",
            "event Deposit(address user, uint256 amount)"
        ]
    );
}

#[test]
fn anonymous_differs_too() {
    let mut set = InterfaceSet::new();
    set.add_contract(Origin::labelled("A"), abi(&["event Ping(uint256 n)"]));
    set.add_contract(
        Origin::labelled("B"),
        abi(&["event Ping(uint256 n) anonymous"]),
    );
    assert_eq!(rules(&lint_default(&set))[0].0, Rule::EventLayoutMismatch);
}

#[test]
fn erc20_and_erc721_transfer_are_a_warning_and_a_non_standard_one_an_error() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("Token"),
        abi(&["event Transfer(address indexed from, address indexed to, uint256 value)"]),
    );
    set.add_contract(
        Origin::labelled("Nft"),
        abi(&["event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"]),
    );
    let report = lint_default(&set);
    let layout: Vec<_> = rules(&report)
        .into_iter()
        .filter(|(r, _, _)| *r == Rule::EventLayoutMismatch)
        .collect();
    assert_eq!(layout.len(), 1);
    assert_eq!(layout[0].1, Level::Warning);

    set.add_contract(
        Origin::labelled("Odd"),
        abi(&["event Transfer(address from, address to, uint256 value)"]),
    );
    let report = lint_default(&set);
    let got = rules(&report);
    assert!(
        got.contains(&(
            Rule::EventLayoutMismatch,
            Level::Error,
            "Transfer(address,address,uint256)".into()
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            Rule::StandardEventLayout,
            Level::Warning,
            "Transfer(address,address,uint256)".into()
        )),
        "{got:?}"
    );
}

#[test]
fn one_event_name_with_different_types_is_an_error_unless_overloaded_in_one_contract() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("A"),
        abi(&["event Swap(address indexed who, uint256 amount)"]),
    );
    set.add_contract(
        Origin::labelled("B"),
        abi(&["event Swap(address indexed who, uint128 amount)"]),
    );
    assert_eq!(
        rules(&lint_default(&set)),
        vec![(
            Rule::EventSignatureMismatch,
            Level::Error,
            "Swap".to_owned()
        )]
    );

    let mut overloaded = InterfaceSet::new();
    overloaded.add_contract(
        Origin::labelled("A"),
        abi(&[
            "event Swap(address indexed who, uint256 amount)",
            "event Swap(address indexed who, uint128 amount)",
        ]),
    );
    assert!(lint_default(&overloaded).findings.is_empty());
}

#[test]
fn different_parameter_names_are_a_warning() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("A"),
        abi(&["function setFee(uint256 fee)"]),
    );
    set.add_contract(
        Origin::labelled("B"),
        abi(&["function setFee(uint256 newFee)"]),
    );
    set.add_contract(Origin::labelled("C"), abi(&["function setFee(uint256)"]));
    let report = lint_default(&set);
    assert_eq!(
        rules(&report),
        vec![(
            Rule::ParamNameMismatch,
            Level::Warning,
            "setFee(uint256)".to_owned()
        )]
    );
    // Unnamed parameters are not a different set of names.
    assert_eq!(report.findings[0].groups.len(), 2);
}

#[test]
fn different_return_types_are_an_error() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("A"),
        abi(&["function price() view returns (uint256)"]),
    );
    set.add_contract(
        Origin::labelled("B"),
        abi(&["function price() view returns (int256)"]),
    );
    assert_eq!(
        rules(&lint_default(&set)),
        vec![(Rule::ReturnTypeMismatch, Level::Error, "price()".to_owned())]
    );
}

#[test]
fn a_name_reused_for_different_signatures_is_a_warning_but_overloads_are_not() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("A"),
        abi(&["function liquidate(address user)"]),
    );
    set.add_contract(
        Origin::labelled("B"),
        abi(&["function liquidate(address user, uint256 amount)"]),
    );
    assert_eq!(
        rules(&lint_default(&set)),
        vec![(Rule::NameReuse, Level::Warning, "liquidate".to_owned())]
    );

    let mut overloads = InterfaceSet::new();
    overloads.add_contract(
        Origin::labelled("Nft"),
        abi(&[
            "function safeMint(address to)",
            "function safeMint(address to, bytes data)",
        ]),
    );
    overloads.add_contract(
        Origin::labelled("Nft2"),
        abi(&["function safeMint(address to)"]),
    );
    assert!(lint_default(&overloads).findings.is_empty());

    // ERC-20 balanceOf(address) and ERC-1155 balanceOf(address,uint256): both standard.
    let mut standards = InterfaceSet::new();
    standards.add_contract(
        Origin::labelled("T"),
        abi(&["function balanceOf(address a) view returns (uint256)"]),
    );
    standards.add_contract(
        Origin::labelled("M"),
        abi(&["function balanceOf(address account, uint256 id) view returns (uint256)"]),
    );
    assert!(lint_default(&standards).findings.is_empty());
}

#[test]
fn reference_lists_report_only_collisions_that_touch_the_infrastructure() {
    let (reference, errors) = parse_signature_list(
        "collate_propagate_storage(bytes16)\n# two junk entries that collide with each other\nburn(uint256)\n",
        ItemKind::Function,
    );
    assert!(errors.is_empty());
    let mut set = InterfaceSet::new();
    set.add_signature_list(
        Origin::file("4byte.txt"),
        reference.clone(),
        Role::Reference,
    );
    assert!(
        lint_default(&set).findings.is_empty(),
        "collisions inside a reference are not ours"
    );

    set.add_contract(
        Origin::labelled("Token"),
        abi(&["function burn(uint256 amount)"]),
    );
    let report = lint_default(&set);
    assert_eq!(
        rules(&report),
        vec![(
            Rule::ReferenceSelectorCollision,
            Level::Error,
            "0x42966c68".to_owned()
        )]
    );
    let lines: Vec<Option<u32>> = report.findings[0]
        .groups
        .iter()
        .flat_map(|g| &g.locations)
        .map(|l| l.line)
        .collect();
    assert!(lines.contains(&Some(1)), "{lines:?}");

    // The same list as part of the infrastructure: a plain collision.
    let mut own = InterfaceSet::new();
    own.add_signature_list(Origin::file("ours.txt"), reference, Role::SignatureList);
    assert_eq!(rules(&lint_default(&own))[0].0, Rule::SelectorCollision);
}

#[test]
fn the_allow_list_accepts_findings_and_reports_stale_entries() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("Token"),
        abi(&["function burn(uint256 amount)"]),
    );
    set.add_contract(
        Origin::labelled("C"),
        abi(&["function collate_propagate_storage(bytes16)"]),
    );
    let allow = AllowList::parse(
        "allow:
  - rule: selector-collision
    key: '0x42966C68'
    reason: known decoy
  - rule: name-reuse
    key: nothing
    reason: stale
",
    )
    .unwrap();
    let report = lint(
        &set,
        &LintOptions {
            allow,
            ..LintOptions::default()
        },
    );
    assert!(report.findings.is_empty());
    assert_eq!(report.allowed.len(), 1);
    assert!(!report.has_errors());
    assert_eq!(report.unused_allow_entries.len(), 1);
    assert_eq!(report.unused_allow_entries[0].key, "nothing");
}

#[test]
fn the_threshold_hides_milder_findings_but_counts_them() {
    let mut set = InterfaceSet::new();
    set.add_contract(
        Origin::labelled("A"),
        abi(&["function setFee(uint256 fee)"]),
    );
    set.add_contract(
        Origin::labelled("B"),
        abi(&["function setFee(uint256 newFee)"]),
    );
    let report = lint(
        &set,
        &LintOptions {
            min_level: Level::Error,
            ..LintOptions::default()
        },
    );
    assert!(report.findings.is_empty());
    assert_eq!(report.below_threshold, 1);
}

#[test]
fn locations_are_capped_but_counted() {
    let mut set = InterfaceSet::new();
    for i in 0..10 {
        set.add_contract(
            Origin::labelled(format!("T{i}")),
            abi(&["function burn(uint256 amount)"]),
        );
    }
    set.add_contract(
        Origin::labelled("C"),
        abi(&["function collate_propagate_storage(bytes16)"]),
    );
    let report = lint(
        &set,
        &LintOptions {
            max_locations: 3,
            ..LintOptions::default()
        },
    );
    let burn = &report.findings[0].groups[0];
    assert_eq!(burn.locations.len(), 3);
    assert_eq!(burn.omitted, 7);
}
