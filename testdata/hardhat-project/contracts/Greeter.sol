// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Greeter
/// @notice The classic Hardhat sample contract, with an event on change.
contract Greeter {
    string private greeting;

    event GreetingChanged(address indexed by, string previous, string current);

    constructor(string memory initialGreeting) {
        greeting = initialGreeting;
    }

    function greet() external view returns (string memory) {
        return greeting;
    }

    function setGreeting(string calldata newGreeting) external {
        emit GreetingChanged(msg.sender, greeting, newGreeting);
        greeting = newGreeting;
    }
}
