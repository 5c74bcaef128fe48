// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IERC20Min {
    function balanceOf(address account) external view returns (uint256);
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
/// @notice Liquidates an Aave V3 position with zero capital: flash-borrows the debt asset,
///         liquidates, swaps the seized collateral back on Uniswap V3 with a minimum output,
///         repays the loan and its premium, and sends the profit to the owner. Reverts unless
///         the profit reaches the caller's minimum. Leaves no allowance behind.
contract FlashLiquidator {
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

    error NotOwner();
    error NotPool();
    error BadInitiator();
    error NotInLiquidation();
    error InsufficientProfit(uint256 available, uint256 minProfit);
    error TokenCallFailed(address token);

    address public immutable owner;
    IAavePool public immutable pool;
    ISwapRouterV3 public immutable router;
    bool private active;

    constructor(IAavePool pool_, ISwapRouterV3 router_) {
        owner = msg.sender;
        pool = pool_;
        router = router_;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Liquidate `user` repaying up to `debtToCover` of `debt`, seizing `collateral`.
    function liquidate(
        address collateral,
        address debt,
        address user,
        uint256 debtToCover,
        uint24 swapFee,
        uint256 minSwapOut,
        uint256 minProfit
    ) external onlyOwner {
        active = true;
        pool.flashLoanSimple(
            address(this), debt, debtToCover, abi.encode(Params(collateral, user, swapFee, minSwapOut, minProfit)), 0
        );
        active = false;
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

    /// @notice Send tokens that ended up here by mistake to `to`.
    function rescue(address token, address to, uint256 amount) external onlyOwner {
        _transfer(token, to, amount);
    }

    // Low-level calls accept tokens that return nothing (USDT-style) and reject a `false`.
    function _approve(address token, address spender, uint256 amount) private {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount));
    }

    function _transfer(address token, address to, uint256 amount) private {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
    }

    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TokenCallFailed(token);
    }
}
