// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title ERC1967Proxy
/// @notice A minimal ERC1967 proxy with an admin-only `upgradeTo(address)`.
/// @dev `upgradeTo(address)` lives on the proxy itself, so it shadows any
///      implementation function with the same selector (0x3659cfe6).
contract ERC1967Proxy {
    /// bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
    bytes32 internal constant IMPLEMENTATION_SLOT =
        0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;
    /// bytes32(uint256(keccak256("eip1967.proxy.admin")) - 1)
    bytes32 internal constant ADMIN_SLOT =
        0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103;

    event Upgraded(address indexed implementation);
    event AdminChanged(address previousAdmin, address newAdmin);

    error NotAdmin(address caller);
    error NotAContract(address implementation);
    error InitializationFailed(bytes reason);

    constructor(address implementation, bytes memory data) payable {
        _setAdmin(msg.sender);
        _setImplementation(implementation);
        if (data.length > 0) {
            (bool ok, bytes memory reason) = implementation.delegatecall(data);
            if (!ok) revert InitializationFailed(reason);
        }
    }

    function upgradeTo(address newImplementation) external {
        if (msg.sender != _admin()) revert NotAdmin(msg.sender);
        _setImplementation(newImplementation);
    }

    function changeAdmin(address newAdmin) external {
        if (msg.sender != _admin()) revert NotAdmin(msg.sender);
        _setAdmin(newAdmin);
    }

    function _admin() internal view returns (address a) {
        bytes32 slot = ADMIN_SLOT;
        assembly {
            a := sload(slot)
        }
    }

    function _setAdmin(address newAdmin) internal {
        emit AdminChanged(_admin(), newAdmin);
        bytes32 slot = ADMIN_SLOT;
        assembly {
            sstore(slot, newAdmin)
        }
    }

    function _setImplementation(address newImplementation) internal {
        if (newImplementation.code.length == 0) revert NotAContract(newImplementation);
        bytes32 slot = IMPLEMENTATION_SLOT;
        assembly {
            sstore(slot, newImplementation)
        }
        emit Upgraded(newImplementation);
    }

    fallback() external payable {
        bytes32 slot = IMPLEMENTATION_SLOT;
        assembly {
            let impl := sload(slot)
            calldatacopy(0, 0, calldatasize())
            let result := delegatecall(gas(), impl, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch result
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }

    receive() external payable {}
}
