// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/access/Ownable.sol";
import {Pausable} from "@openzeppelin/security/Pausable.sol";
import {AccessControl} from "@openzeppelin/access/AccessControl.sol";

/// OpenZeppelin 4.9.6 building blocks: every event is emitted inside
/// OpenZeppelin's internal functions (`_transfer`, `_approve`, `_pause`,
/// `_grantRole`, `_transferOwnership`).
contract PausableToken is ERC20, Ownable, Pausable, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    uint256 public cap;

    constructor() ERC20("Pausable Token", "PTK") {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) whenNotPaused {
        _mint(to, amount);
    }

    function pause() external onlyOwner {
        _pause();
    }

    function unpause() external onlyOwner {
        _unpause();
    }

    /// NO EVENT: a privileged setter.
    function setCap(uint256 newCap) external onlyOwner {
        cap = newCap;
    }
}
