// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Token} from "../src/Token.sol";
import {Vault, IERC20Minimal} from "../src/Vault.sol";
import {VaultV2} from "../src/VaultV2.sol";
import {ERC1967Proxy} from "../src/SimpleProxy.sol";
import {Collider} from "../src/Collider.sol";
import {OtherToken} from "../src/OtherToken.sol";

/// The two cheatcodes this script uses, declared by hand (no forge-std).
interface Vm {
    function startBroadcast() external;
    function stopBroadcast() external;
}

contract Deploy {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    function run() external {
        vm.startBroadcast();

        Token token = new Token("Argus Test Token", "ATT", 1_000_000 ether);
        Vault vault = new Vault(IERC20Minimal(address(token)));
        VaultV2 implementation = new VaultV2();
        ERC1967Proxy proxy = new ERC1967Proxy(
            address(implementation),
            abi.encodeCall(VaultV2.initialize, (IERC20Minimal(address(token)), msg.sender))
        );
        new Collider();
        new OtherToken(500_000 ether);

        // A little activity, so the run also holds calls with logs.
        token.approve(address(vault), 1_000 ether);
        vault.deposit(250 ether);
        token.approve(address(proxy), 1_000 ether);
        VaultV2(address(proxy)).deposit(100 ether);
        token.burn(1 ether);

        vm.stopBroadcast();
    }
}
