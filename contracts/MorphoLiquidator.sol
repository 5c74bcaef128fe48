// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20Min, ISwapRouterV3} from "./FlashLiquidator.sol";
import {OwnedLiquidator} from "./OwnedLiquidator.sol";

/// @dev Morpho Blue's `MarketParams`, field for field (its id is keccak256 of the ABI encoding).
struct MorphoMarketParams {
    address loanToken;
    address collateralToken;
    address oracle;
    address irm;
    uint256 lltv;
}

interface IMorphoBlue {
    function liquidate(
        MorphoMarketParams memory marketParams,
        address borrower,
        uint256 seizedAssets,
        uint256 repaidShares,
        bytes memory data
    ) external returns (uint256, uint256);
}

/// @title MorphoLiquidator
/// @notice Liquidates a Morpho Blue position with zero capital. Morpho sends the seized
///         collateral first, then calls `onMorphoLiquidate` on its caller, then pulls the
///         repayment: the callback sells the collateral on Uniswap V3 (with a minimum output) and
///         approves exactly the repayment. What is left is the profit, sent to the owner; the
///         transaction reverts unless it reaches the caller's minimum plus the bid's worth.
///         It can pay a bid to `block.coinbase` (a bundle's bid), all-or-nothing with the
///         liquidation, from this contract's ether (the call's value included): the bid is
///         paid only when the liquidation and its profit floor hold, and the whole call
///         reverts when the ether is short. Leaves no allowance behind.
contract MorphoLiquidator is OwnedLiquidator {
    /// @dev What the callback needs, passed through Morpho in `data`.
    struct Swap {
        address loanToken;
        address collateralToken;
        uint24 fee;
        uint256 minOut;
        uint256 loanBefore;
        uint256 collateralBefore;
    }

    event Liquidated(
        bytes32 indexed marketId, address indexed borrower, uint256 seizedAssets, uint256 repaidAssets, uint256 profit
    );

    error NotMorpho();
    error SwapShort(uint256 received, uint256 owed);
    error InsufficientProfit(uint256 available, uint256 minProfit);

    IMorphoBlue public immutable morpho;
    ISwapRouterV3 public immutable router;

    constructor(IMorphoBlue morpho_, ISwapRouterV3 router_) {
        morpho = morpho_;
        router = router_;
    }

    /// @notice Liquidate `borrower` in `market`: exactly one of `seizedAssets` / `repaidShares`
    ///         is non-zero, as Morpho requires. `minProfit` and `bidCost` (the worth of `bid`,
    ///         the wei paid to `block.coinbase`) are in loan-token units: the profit must reach
    ///         their sum.
    function liquidate(
        MorphoMarketParams calldata market,
        address borrower,
        uint256 seizedAssets,
        uint256 repaidShares,
        uint24 swapFee,
        uint256 minSwapOut,
        uint256 minProfit,
        uint256 bid,
        uint256 bidCost
    ) external payable onlyOwner {
        uint256 loanBefore = IERC20Min(market.loanToken).balanceOf(address(this));
        bytes memory data = abi.encode(
            Swap(
                market.loanToken,
                market.collateralToken,
                swapFee,
                minSwapOut,
                loanBefore,
                IERC20Min(market.collateralToken).balanceOf(address(this))
            )
        );
        (uint256 seized, uint256 repaid) = morpho.liquidate(market, borrower, seizedAssets, repaidShares, data);
        uint256 profit = _payOut(market.loanToken, loanBefore, minProfit + bidCost);
        emit Liquidated(keccak256(abi.encode(market)), borrower, seized, repaid, profit);
        _payBid(bid);
    }

    /// @notice Morpho's liquidation callback: the collateral is here, the repayment not yet
    ///         pulled. Morpho calls back only the caller of `liquidate`, and only this contract's
    ///         owner-only `liquidate` makes it one, so checking the sender is enough.
    function onMorphoLiquidate(uint256 repaidAssets, bytes calldata data) external {
        if (msg.sender != address(morpho)) revert NotMorpho();
        Swap memory s = abi.decode(data, (Swap));
        if (s.collateralToken != s.loanToken) {
            uint256 seized = IERC20Min(s.collateralToken).balanceOf(address(this)) - s.collateralBefore;
            _approve(s.collateralToken, address(router), seized);
            router.exactInputSingle(
                ISwapRouterV3.ExactInputSingleParams({
                    tokenIn: s.collateralToken,
                    tokenOut: s.loanToken,
                    fee: s.fee,
                    recipient: address(this),
                    deadline: block.timestamp,
                    amountIn: seized,
                    amountOutMinimum: s.minOut,
                    sqrtPriceLimitX96: 0
                })
            );
            _approve(s.collateralToken, address(router), 0);
        }
        uint256 received = IERC20Min(s.loanToken).balanceOf(address(this)) - s.loanBefore;
        if (received < repaidAssets) revert SwapShort(received, repaidAssets);
        // Morpho pulls exactly `repaidAssets` after we return, which spends this allowance to zero.
        _approve(s.loanToken, address(morpho), repaidAssets);
    }

    /// @dev After Morpho pulled the repayment: check the profit, send it to the owner.
    function _payOut(address loanToken, uint256 loanBefore, uint256 minProfit) private returns (uint256 profit) {
        // A token that did not spend the whole approval on transferFrom must not keep it.
        _approve(loanToken, address(morpho), 0);
        profit = IERC20Min(loanToken).balanceOf(address(this)) - loanBefore;
        if (profit < minProfit) revert InsufficientProfit(profit, minProfit);
        if (profit > 0) _transfer(loanToken, owner, profit);
    }
}
