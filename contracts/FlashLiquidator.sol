// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {OwnedLiquidator} from "./OwnedLiquidator.sol";

interface IERC20Min {
    function balanceOf(address account) external view returns (uint256);
}

interface IScaledBalanceToken {
    function scaledBalanceOf(address user) external view returns (uint256);
}

interface IAavePool {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referralCode)
        external;

    function liquidationCall(address collateral, address debt, address user, uint256 debtToCover, bool receiveAToken)
        external;
}

interface ISwapRouterV3 {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 deadline;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);
}

/// @title FlashLiquidator
/// @notice The keeper's own Aave V3 liquidator, owner-only, in two ways:
///         - `liquidate`: zero capital. Flash-borrows the debt asset, liquidates, swaps the seized
///           collateral back on Uniswap V3 with a minimum output, repays the loan and its premium
///           and sends the profit to the owner; reverts unless the profit, less the bid's cost,
///           reaches the caller's minimum.
///         - `liquidateFrom`: the owner's own tokens (one standing approval to this contract).
///           Pulls the debt asset from the owner, liquidates, returns the collateral and what
///           the Pool did not take.
///         Both first check cheaply that the plan still holds: the borrower's scaled variable
///         debt (one storage read in the debt token, no call into the Pool) is still at least
///         what was planned. Less means someone repaid or liquidated first: the call reverts
///         with `PlanStale()` after ~10k gas, instead of deep in the Pool.
///         Both can pay a bid to `block.coinbase` (a bundle's bid), all-or-nothing with the
///         liquidation, from this contract's ether (the call's value included).
///         No allowance is left behind.
contract FlashLiquidator is OwnedLiquidator {
    /// What one liquidation is and what it assumed.
    struct Order {
        address collateral;
        address debt;
        address user;
        uint256 debtToCover; // passed to the Pool as is (type(uint256).max: all it allows)
        address debtToken; // the debt asset's variable debt token (the cheap check reads it)
        uint256 minScaledDebt; // the borrower's scaled variable debt when planned (0: no check)
        uint256 bid; // wei paid to block.coinbase when the liquidation succeeds
    }

    struct Params {
        address collateral;
        address user;
        uint24 swapFee;
        uint256 minSwapOut;
        uint256 minProfit;
    }

    event Liquidated(
        address indexed user, address indexed collateral, address indexed debt, uint256 debtRepaid, uint256 profit
    );

    error NotPool();
    error BadInitiator();
    error NotInLiquidation();
    error PlanStale();
    error InsufficientProfit(uint256 available, uint256 minProfit);

    IAavePool public immutable pool;
    ISwapRouterV3 public immutable router;
    bool private active;

    constructor(IAavePool pool_, ISwapRouterV3 router_) {
        pool = pool_;
        router = router_;
    }

    /// @notice Flash-liquidate `o.user`. `minProfit` and `bidCost` (the bid's worth) are in
    ///         units of the debt asset: the profit must reach their sum.
    function liquidate(Order calldata o, uint24 swapFee, uint256 minSwapOut, uint256 minProfit, uint256 bidCost)
        external
        payable
        onlyOwner
    {
        _checkPlan(o);
        active = true;
        pool.flashLoanSimple(
            address(this),
            o.debt,
            o.debtToCover,
            abi.encode(Params(o.collateral, o.user, swapFee, minSwapOut, minProfit + bidCost)),
            0
        );
        active = false;
        _payBid(o.bid);
    }

    /// @notice Liquidate `o.user` with `pull` of the owner's debt asset (approved to this
    ///         contract once); the seized collateral and what the Pool left go back to the owner.
    function liquidateFrom(Order calldata o, uint256 pull) external payable onlyOwner {
        _checkPlan(o);
        _call(o.debt, abi.encodeWithSelector(0x23b872dd, owner, address(this), pull));
        _approve(o.debt, address(pool), pull);
        pool.liquidationCall(o.collateral, o.debt, o.user, o.debtToCover, false);
        // The Pool may take less than approved (a smaller close factor, all of a small debt).
        _approve(o.debt, address(pool), 0);
        _sweep(o.collateral);
        if (o.debt != o.collateral) _sweep(o.debt);
        _payBid(o.bid);
    }

    /// @notice Aave's flash-loan callback. Only the Pool may call it, only for a loan we took.
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        if (msg.sender != address(pool)) revert NotPool();
        if (initiator != address(this)) revert BadInitiator();
        if (!active) revert NotInLiquidation();
        Params memory p = abi.decode(params, (Params));

        uint256 collateralBefore = IERC20Min(p.collateral).balanceOf(address(this));
        _approve(asset, address(pool), amount);
        pool.liquidationCall(p.collateral, asset, p.user, amount, false);
        _approve(asset, address(pool), 0);

        if (p.collateral != asset) {
            uint256 seized = IERC20Min(p.collateral).balanceOf(address(this)) - collateralBefore;
            _approve(p.collateral, address(router), seized);
            router.exactInputSingle(
                ISwapRouterV3.ExactInputSingleParams({
                    tokenIn: p.collateral,
                    tokenOut: asset,
                    fee: p.swapFee,
                    recipient: address(this),
                    deadline: block.timestamp,
                    amountIn: seized,
                    amountOutMinimum: p.minSwapOut,
                    sqrtPriceLimitX96: 0
                })
            );
            _approve(p.collateral, address(router), 0);
        }

        uint256 owed = amount + premium;
        uint256 balance = IERC20Min(asset).balanceOf(address(this));
        uint256 available = balance > owed ? balance - owed : 0;
        if (balance < owed || available < p.minProfit) revert InsufficientProfit(available, p.minProfit);
        // The Pool pulls exactly `owed` after we return, which spends this allowance to zero.
        _approve(asset, address(pool), owed);
        if (available > 0) _transfer(asset, owner, available);
        emit Liquidated(p.user, p.collateral, asset, amount, available);
        return true;
    }

    // The early stop: a lost race costs this read, not a revert deep in the Pool. Interest never
    // lowers a scaled balance; only a repayment or a liquidation burns it.
    function _checkPlan(Order calldata o) private view {
        if (o.minScaledDebt != 0 && IScaledBalanceToken(o.debtToken).scaledBalanceOf(o.user) < o.minScaledDebt) {
            revert PlanStale();
        }
    }

    function _sweep(address token) private {
        uint256 balance = IERC20Min(token).balanceOf(address(this));
        if (balance > 0) _transfer(token, owner, balance);
    }
}
