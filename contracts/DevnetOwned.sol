// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title DevnetOwned
/// @notice One owner who may hand the contract over: what the devnet's settable contracts
///         (ManualAggregator, SvrForwarder) share. DEVNET ONLY: a one-step handover, no
///         acceptance by the new owner.
abstract contract DevnetOwned {
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error ZeroAddress();

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
}
