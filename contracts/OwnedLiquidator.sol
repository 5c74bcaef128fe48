// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title OwnedLiquidator
/// @notice What the keeper's liquidators (Aave's FlashLiquidator, MorphoLiquidator) share: one
///         owner, ether kept for bids, the bid paid to `block.coinbase`, rescue of what ends up
///         here, and token calls that accept tokens returning nothing (USDT-style).
abstract contract OwnedLiquidator {
    error NotOwner();
    error BidUnpaid(uint256 bid, uint256 balance);
    error TokenCallFailed(address token);
    error EtherSendFailed();

    address public immutable owner;

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    /// @notice Ether for bids (a bundle's coinbase payments).
    receive() external payable {}

    /// @notice Send tokens that ended up here by mistake to `to`.
    function rescue(address token, address to, uint256 amount) external onlyOwner {
        _transfer(token, to, amount);
    }

    /// @notice Send ether (the bid float) to `to`.
    function rescueEther(address payable to, uint256 amount) external onlyOwner {
        _sendEther(to, amount);
    }

    /// @dev Called last, after the liquidation and its profit floor held: the bid is paid only
    ///      with them, and a short balance reverts the whole call.
    function _payBid(uint256 bid) internal {
        if (bid == 0) return;
        if (address(this).balance < bid) revert BidUnpaid(bid, address(this).balance);
        _sendEther(payable(block.coinbase), bid);
    }

    function _sendEther(address payable to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert EtherSendFailed();
    }

    // Low-level calls accept tokens that return nothing (USDT-style) and reject a `false`.
    function _approve(address token, address spender, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount));
    }

    function _transfer(address token, address to, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
    }

    function _call(address token, bytes memory data) internal {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length != 0 && !abi.decode(ret, (bool)))) revert TokenCallFailed(token);
    }
}
