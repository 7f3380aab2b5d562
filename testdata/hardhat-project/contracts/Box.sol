// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Box
/// @notice Stores one value; deployed behind hardhat-deploy's EIP173Proxy.
contract Box {
    uint256 private _value;
    address public keeper;
    bool private _initialized;

    event ValueChanged(uint256 value);
    event KeeperChanged(address indexed previousKeeper, address indexed newKeeper);

    error AlreadyInitialized();
    error NotKeeper(address caller);

    function initialize(uint256 initialValue) external {
        if (_initialized) revert AlreadyInitialized();
        _initialized = true;
        keeper = msg.sender;
        _value = initialValue;
        emit KeeperChanged(address(0), msg.sender);
        emit ValueChanged(initialValue);
    }

    function store(uint256 value) external {
        if (msg.sender != keeper) revert NotKeeper(msg.sender);
        _value = value;
        emit ValueChanged(value);
    }

    function retrieve() external view returns (uint256) {
        return _value;
    }

    function setKeeper(address newKeeper) external {
        if (msg.sender != keeper) revert NotKeeper(msg.sender);
        emit KeeperChanged(keeper, newKeeper);
        keeper = newKeeper;
    }
}
