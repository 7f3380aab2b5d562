//! Privilege and events judged by name, for contracts whose build output
//! has no AST.

/// Names that are privileged wherever they appear.
const EXACT: &[&str] = &[
    "pause",
    "unpause",
    "transferOwnership",
    "renounceOwnership",
    "acceptOwnership",
    "grantRole",
    "revokeRole",
    "mint",
    "changeAdmin",
    "upgradeTo",
    "upgradeToAndCall",
    "setImplementation",
    "kill",
    "destroy",
];

/// Prefixes that make a name privileged (`set` only before a capital or an
/// underscore, so `settle` is not).
const PREFIXES: &[&str] = &["upgradeTo", "withdraw", "rescue", "sweep", "emergency"];

/// Whether a function named so is taken for a privileged one when there is
/// no AST to tell: `pause`, `unpause`, `upgradeTo*`, `transferOwnership`,
/// `renounceOwnership`, `acceptOwnership`, `grantRole`, `revokeRole`,
/// `mint`, `changeAdmin`, `setImplementation`, `kill`, `destroy`, `set*`
/// (`setFee`, `set_fee`), `withdraw*`, `rescue*`, `sweep*`, `emergency*`.
pub fn privileged_by_name(name: &str) -> bool {
    if EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)) {
        return true;
    }
    name.strip_prefix("set")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
}

/// The events the standard implementations (OpenZeppelin, EIP-1967, EIP-173)
/// emit from a function of this name: how a function is watched through an
/// event when there is no AST to say what it emits.
pub fn standard_events(name: &str) -> &'static [&'static str] {
    match name {
        "transferOwnership" | "renounceOwnership" | "acceptOwnership" => &["OwnershipTransferred"],
        "pause" => &["Paused"],
        "unpause" => &["Unpaused"],
        "grantRole" => &["RoleGranted"],
        "revokeRole" | "renounceRole" => &["RoleRevoked"],
        "upgradeTo" | "upgradeToAndCall" => &["Upgraded"],
        "changeAdmin" => &["AdminChanged"],
        "transfer" | "transferFrom" | "mint" | "burn" | "burnFrom" => &["Transfer"],
        "approve" => &["Approval"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for yes in [
            "pause",
            "upgradeToAndCall",
            "setFee",
            "set_fee",
            "withdrawAll",
            "grantRole",
            "mint",
        ] {
            assert!(privileged_by_name(yes), "{yes}");
        }
        for no in ["settle", "transfer", "deposit", "approve", "set", "burn"] {
            assert!(!privileged_by_name(no), "{no}");
        }
        assert_eq!(standard_events("pause"), ["Paused"]);
        assert!(standard_events("deposit").is_empty());
    }
}
