// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A base with an owner guard and a hook its heirs override.
abstract contract Guarded {
    address public owner;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Poked(address indexed by);

    error Unauthorized(address caller);

    modifier onlyOwner() {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        _;
    }

    /// Emits from a modifier: every function it guards emits.
    modifier logged() {
        _;
        emit Poked(msg.sender);
    }

    constructor() {
        owner = msg.sender;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        _transferOwnership(newOwner);
    }

    function _transferOwnership(address newOwner) internal {
        address previous = owner;
        owner = newOwner;
        emit OwnershipTransferred(previous, newOwner);
    }

    /// Emits only through the heir's override of `_hook`.
    function poke() external {
        _hook();
    }

    function _hook() internal virtual;
}

interface ISink {
    function take(uint256 amount) external;
}

/// The contract under test: each function says whether it emits.
contract Settings is Guarded {
    uint256 public fee;
    uint256 public limit;
    uint256 public counter;
    ISink public sink;

    event LimitChanged(uint256 previous, uint256 current);
    event Hooked(uint256 counter);

    /// NO EVENT: a privileged setter that changes state in silence.
    function setFee(uint256 newFee) external onlyOwner {
        fee = newFee;
    }

    /// Emits through an internal function.
    function setLimit(uint256 newLimit) external onlyOwner {
        _setLimit(newLimit);
    }

    function _setLimit(uint256 newLimit) private {
        emit LimitChanged(limit, newLimit);
        limit = newLimit;
    }

    /// Emits through a modifier.
    function bump() external logged {
        counter += 1;
    }

    /// Emits with inline assembly (log1).
    function rawLog(bytes32 topic) external {
        assembly {
            log1(0, 0, topic)
        }
    }

    /// NO EVENT of its own: the event, if any, is the sink's (an external call).
    function forward(uint256 amount) external {
        sink.take(amount);
    }

    /// NO EVENT: public, state-changing, silent.
    function setSink(ISink newSink) public onlyOwner {
        sink = newSink;
    }

    /// Emits only on one branch: still counts as emitting ("on any path").
    function maybeEmit(bool yes) external {
        counter += 1;
        if (yes) emit Hooked(counter);
    }

    /// Read-only: never reported.
    function feeFor(uint256 amount) external view returns (uint256) {
        return amount * fee / 10_000;
    }

    function _hook() internal override {
        counter += 1;
        emit Hooked(counter);
    }
}
