// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20Minimal} from "./Vault.sol";

/// @title VaultV2
/// @notice Upgradeable (UUPS-style) implementation of the vault, used behind ERC1967Proxy.
/// @dev Has its own `upgradeTo(address)`: the same selector as the proxy's admin
///      function, so calls to it through the proxy never reach this code.
contract VaultV2 {
    bytes32 internal constant IMPLEMENTATION_SLOT =
        0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    IERC20Minimal public asset;
    address public owner;
    bool public initialized;
    mapping(address => uint256) public balances;
    uint256 public totalDeposits;

    event Initialized(uint8 version);
    event Deposit(address indexed user, uint256 amount);
    event Withdrawal(address indexed user, uint256 amount);
    event Upgraded(address indexed implementation);

    error AlreadyInitialized();
    error Unauthorized(address caller);
    error ZeroAmount();
    error InsufficientDeposit(uint256 available, uint256 requested);
    error TransferFailed();

    function initialize(IERC20Minimal asset_, address owner_) external {
        if (initialized) revert AlreadyInitialized();
        initialized = true;
        asset = asset_;
        owner = owner_;
        emit Initialized(2);
    }

    function version() external pure returns (uint256) {
        return 2;
    }

    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        if (!asset.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
        balances[msg.sender] += amount;
        totalDeposits += amount;
        emit Deposit(msg.sender, amount);
    }

    function withdraw(uint256 amount) external {
        uint256 available = balances[msg.sender];
        if (amount > available) revert InsufficientDeposit(available, amount);
        balances[msg.sender] = available - amount;
        totalDeposits -= amount;
        if (!asset.transfer(msg.sender, amount)) revert TransferFailed();
        emit Withdrawal(msg.sender, amount);
    }

    function upgradeTo(address newImplementation) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        assembly {
            sstore(IMPLEMENTATION_SLOT, newImplementation)
        }
        emit Upgraded(newImplementation);
    }
}
