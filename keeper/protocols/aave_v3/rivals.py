"""Rival liquidations in the mempool: the account a pending transaction liquidates. Pure.

A rival is a transaction sent to the Pool calling ``liquidationCall(address collateralAsset,
address debtAsset, address user, uint256 debtToCover, bool receiveAToken)``: its ``user`` is the
account it races us for. So is a call of our own contract's entry points (``liquidate`` and
``liquidateFrom`` of FlashLiquidator, at any address: another operator running this keeper),
whose ``Order`` names the user. A rival liquidating through a contract of another ABI calls the
Pool from inside it; its calldata names no Pool call, and it is not recognised here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from keeper.chain.types import PendingTx

LIQUIDATION_CALL = (
    "0x" + keccak(text="liquidationCall(address,address,address,uint256,bool)")[:4].hex()
)
_ARGS = ["address", "address", "address", "uint256", "bool"]
_ORDER = "(address,address,address,uint256,address,uint256,uint256)"
# Our contract's entry points and their argument types (the Order first).
_OURS = {
    "0x" + keccak(text=f"liquidate({_ORDER},uint24,uint256,uint256,uint256)")[:4].hex(): [
        _ORDER,
        "uint24",
        "uint256",
        "uint256",
        "uint256",
    ],
    "0x" + keccak(text=f"liquidateFrom({_ORDER},uint256)")[:4].hex(): [_ORDER, "uint256"],
}


def liquidated_account(tx: PendingTx, pool: str) -> str | None:
    """The ``user`` a ``liquidationCall`` to ``pool``, or a call of our contract, liquidates.

    Lower case; None for any other transaction.
    """
    data = tx.input.lower()
    ours = _OURS.get(data[:10])
    if ours is not None:
        try:
            order = decode(ours, bytes.fromhex(data[10:]))[0]
        except (DecodingError, ValueError, OverflowError):
            return None
        return str(order[2]).lower()
    if (tx.to or "").lower() != pool.lower():
        return None
    if not data.startswith(LIQUIDATION_CALL):
        return None
    try:
        _, _, user, _, _ = decode(_ARGS, bytes.fromhex(data[len(LIQUIDATION_CALL) :]))
    except (DecodingError, ValueError, OverflowError):
        return None
    return str(user).lower()
