// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title OtherToken
/// @notice A toy token whose `Transfer` event has no indexed arguments: the same
///         topic0 as ERC20's Transfer, but a different log layout (all in data).
contract OtherToken {
    mapping(address => uint256) public balanceOf;

    event Transfer(address from, address to, uint256 value);

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
