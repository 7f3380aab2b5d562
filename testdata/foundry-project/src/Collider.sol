// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Collider
/// @notice `collate_propagate_storage(bytes16)` has selector 0x42966c68, the same
///         as `burn(uint256)`: a known 4-byte collision, here on purpose.
contract Collider {
    bytes16 public lastKey;

    event Collated(address indexed caller, bytes16 key);

    function collate_propagate_storage(bytes16 key) external {
        lastKey = key;
        emit Collated(msg.sender, key);
    }
}
