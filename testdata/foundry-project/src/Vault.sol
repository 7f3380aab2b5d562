// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20Minimal {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Vault
/// @notice Holds deposits of one ERC20 asset per user.
contract Vault {
    IERC20Minimal public immutable asset;
    mapping(address => uint256) public balances;
    uint256 public totalDeposits;

    event Deposit(address indexed user, uint256 amount);
    event Withdrawal(address indexed user, uint256 amount);

    error ZeroAmount();
    error InsufficientDeposit(uint256 available, uint256 requested);
    error TransferFailed();

    constructor(IERC20Minimal asset_) {
        asset = asset_;
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
}
