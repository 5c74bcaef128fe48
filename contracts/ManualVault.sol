// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ManualVault
/// @notice Devnet infrastructure: the one ERC-4626 view an oracle of the MorphoChainlinkOracleV2
///         shape reads, convertToAssets, at an exchange rate its owner sets (assets per share,
///         scaled by 1e18, rounded down like ERC-4626's conversion), so that the vault part of
///         the oracle's price is exercised on chain. Holds nothing.
contract ManualVault {
    error NotOwner();

    address public immutable owner;
    uint256 public assetsPerShareWad;

    constructor(uint256 assetsPerShareWad_) {
        owner = msg.sender;
        assetsPerShareWad = assetsPerShareWad_;
    }

    function setRate(uint256 assetsPerShareWad_) external {
        if (msg.sender != owner) revert NotOwner();
        assetsPerShareWad = assetsPerShareWad_;
    }

    function convertToAssets(uint256 shares) external view returns (uint256) {
        return shares * assetsPerShareWad / 1e18;
    }
}
