// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title SvrForwarder
/// @notice A devnet stand-in for Chainlink's AuthorizedForwarder, through which an SVR node
///         sends its reports: the node's account calls forward(aggregator,
///         transmitSecondary(...)) on its forwarder, and the aggregator sees the forwarder as
///         the transmitter. Only the owner may forward; a revert of the call is passed up
///         unchanged. DEVNET ONLY: no authorized-senders list, no ownership handover protocol.
contract SvrForwarder {
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error ZeroAddress();
    error NotAContract();

    address public owner;

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Call `to` with `data` (no value); a revert there reverts here with the same data.
    function forward(address to, bytes calldata data) external onlyOwner {
        if (to.code.length == 0) revert NotAContract();
        (bool ok, bytes memory result) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }
}
