// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IAnswerFeed {
    function decimals() external view returns (uint8);
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80);
}

interface IShareVault {
    function convertToAssets(uint256 shares) external view returns (uint256);
}

/// @notice The external interface of Morpho's MorphoChainlinkOracleV2 (vaults and feeds as
///         addresses, which is how they are ABI-encoded): what the keeper reads to resolve the
///         feeds behind a market's oracle.
interface IMorphoChainlinkOracleV2 {
    function BASE_VAULT() external view returns (address);
    function BASE_VAULT_CONVERSION_SAMPLE() external view returns (uint256);
    function QUOTE_VAULT() external view returns (address);
    function QUOTE_VAULT_CONVERSION_SAMPLE() external view returns (uint256);
    function BASE_FEED_1() external view returns (address);
    function BASE_FEED_2() external view returns (address);
    function QUOTE_FEED_1() external view returns (address);
    function QUOTE_FEED_2() external view returns (address);
    function SCALE_FACTOR() external view returns (uint256);
    function price() external view returns (uint256);
}

/// @title DevnetChainlinkOracle
/// @notice Devnet infrastructure, not a production oracle: Morpho's MorphoChainlinkOracleV2
///         (morpho-org/morpho-blue-oracles) is not published on npm, the only registry the
///         devnet builds from, so this is our own contract with the same external interface
///         (BASE_VAULT, BASE_VAULT_CONVERSION_SAMPLE, QUOTE_VAULT, QUOTE_VAULT_CONVERSION_SAMPLE,
///         BASE_FEED_1, BASE_FEED_2, QUOTE_FEED_1, QUOTE_FEED_2, SCALE_FACTOR, price) and the
///         same arithmetic, so that the keeper's resolution of an oracle's feeds is exercised on
///         a real contract of that shape:
///           price = SCALE_FACTOR * (baseVaultAssets * baseFeed1 * baseFeed2)
///                                / (quoteVaultAssets * quoteFeed1 * quoteFeed2)
///         the division on the full 512-bit product rounding down; a zero-address feed or vault
///         counts as 1; a negative answer reverts ("negative answer"); the two products are
///         checked (an overflow reverts), as is a quotient that does not fit 256 bits.
///         SCALE_FACTOR = 10^(36 + quoteDecimals + fdQ1 + fdQ2 - baseDecimals - fdB1 - fdB2)
///                        * quoteSample / baseSample, with a zero feed's decimals taken as 0.
contract DevnetChainlinkOracle is IMorphoChainlinkOracleV2 {
    address public immutable BASE_VAULT;
    uint256 public immutable BASE_VAULT_CONVERSION_SAMPLE;
    address public immutable QUOTE_VAULT;
    uint256 public immutable QUOTE_VAULT_CONVERSION_SAMPLE;
    address public immutable BASE_FEED_1;
    address public immutable BASE_FEED_2;
    address public immutable QUOTE_FEED_1;
    address public immutable QUOTE_FEED_2;
    uint256 public immutable SCALE_FACTOR;

    constructor(
        address baseVault,
        uint256 baseVaultConversionSample,
        address baseFeed1,
        address baseFeed2,
        uint256 baseTokenDecimals,
        address quoteVault,
        uint256 quoteVaultConversionSample,
        address quoteFeed1,
        address quoteFeed2,
        uint256 quoteTokenDecimals
    ) {
        // Same guards as the original: a missing vault must use a sample of one, never zero.
        require(baseVault != address(0) || baseVaultConversionSample == 1, "vault conversion sample is not one");
        require(quoteVault != address(0) || quoteVaultConversionSample == 1, "vault conversion sample is not one");
        require(baseVaultConversionSample != 0, "vault conversion sample is zero");
        require(quoteVaultConversionSample != 0, "vault conversion sample is zero");
        BASE_VAULT = baseVault;
        BASE_VAULT_CONVERSION_SAMPLE = baseVaultConversionSample;
        QUOTE_VAULT = quoteVault;
        QUOTE_VAULT_CONVERSION_SAMPLE = quoteVaultConversionSample;
        BASE_FEED_1 = baseFeed1;
        BASE_FEED_2 = baseFeed2;
        QUOTE_FEED_1 = quoteFeed1;
        QUOTE_FEED_2 = quoteFeed2;
        uint256 exponent = 36 + quoteTokenDecimals + _decimals(quoteFeed1) + _decimals(quoteFeed2)
            - baseTokenDecimals - _decimals(baseFeed1) - _decimals(baseFeed2);
        SCALE_FACTOR = 10 ** exponent * quoteVaultConversionSample / baseVaultConversionSample;
    }

    /// @notice One collateral (base) unit in loan (quote) units, scaled by 1e36.
    function price() external view returns (uint256) {
        uint256 base = _assets(BASE_VAULT, BASE_VAULT_CONVERSION_SAMPLE) * _answer(BASE_FEED_1) * _answer(BASE_FEED_2);
        uint256 quote =
            _assets(QUOTE_VAULT, QUOTE_VAULT_CONVERSION_SAMPLE) * _answer(QUOTE_FEED_1) * _answer(QUOTE_FEED_2);
        return _mulDivDown(SCALE_FACTOR, base, quote);
    }

    function _decimals(address feed) private view returns (uint256) {
        return feed == address(0) ? 0 : IAnswerFeed(feed).decimals();
    }

    function _answer(address feed) private view returns (uint256) {
        if (feed == address(0)) return 1;
        (, int256 answer,,,) = IAnswerFeed(feed).latestRoundData();
        require(answer >= 0, "negative answer");
        return uint256(answer);
    }

    function _assets(address vault, uint256 shares) private view returns (uint256) {
        return vault == address(0) ? 1 : IShareVault(vault).convertToAssets(shares);
    }

    /// @dev floor(a * b / d) on the 512-bit product: the high word from mulmod, then a plain
    ///      binary long division (slow, but a view on a devnet). Reverts on d == 0 or a
    ///      quotient of more than 256 bits.
    function _mulDivDown(uint256 a, uint256 b, uint256 d) private pure returns (uint256 q) {
        require(d != 0, "division by zero");
        uint256 lo;
        uint256 hi;
        unchecked {
            lo = a * b;
            uint256 full = mulmod(a, b, type(uint256).max);
            hi = full - lo - (full < lo ? 1 : 0);
        }
        if (hi == 0) return lo / d;
        require(hi < d, "mulDiv overflow");
        uint256 r = hi;
        unchecked {
            for (uint256 i = 256; i > 0; --i) {
                uint256 carry = r >> 255;
                r = (r << 1) | ((lo >> (i - 1)) & 1);
                if (carry == 1 || r >= d) {
                    r -= d;
                    q |= uint256(1) << (i - 1);
                }
            }
        }
    }
}
