"""Rival liquidations in the mempool: the account a pending transaction liquidates. Pure.

A rival is a transaction sent to the Pool calling ``liquidationCall(address collateralAsset,
address debtAsset, address user, uint256 debtToCover, bool receiveAToken)``: its ``user`` is the
account it races us for. A rival liquidating through its own contract calls the Pool from
inside that contract; its calldata names no Pool call, and it is not recognised here.
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


def liquidated_account(tx: PendingTx, pool: str) -> str | None:
    """The ``user`` a ``liquidationCall`` to ``pool`` liquidates (lower case), or None."""
    if (tx.to or "").lower() != pool.lower():
        return None
    data = tx.input.lower()
    if not data.startswith(LIQUIDATION_CALL):
        return None
    try:
        _, _, user, _, _ = decode(_ARGS, bytes.fromhex(data[len(LIQUIDATION_CALL) :]))
    except (DecodingError, ValueError, OverflowError):
        return None
    return str(user).lower()
