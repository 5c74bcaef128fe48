"""Rival liquidations in the mempool: the borrower a pending Morpho ``liquidate`` targets. Pure.

``liquidate((address loanToken, address collateralToken, address oracle, address irm, uint256
lltv) marketParams, address borrower, uint256 seizedAssets, uint256 repaidShares, bytes data)``
sent to Morpho itself; a rival liquidating from inside its own contract is not recognised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from keeper.chain.types import PendingTx

_SIGNATURE = "liquidate((address,address,address,address,uint256),address,uint256,uint256,bytes)"
LIQUIDATE = "0x" + keccak(text=_SIGNATURE)[:4].hex()
_ARGS = ["(address,address,address,address,uint256)", "address", "uint256", "uint256", "bytes"]


def liquidated_borrower(tx: PendingTx, morpho: str) -> str | None:
    """The ``borrower`` a ``liquidate`` to ``morpho`` liquidates (lower case), or None."""
    if (tx.to or "").lower() != morpho.lower():
        return None
    data = tx.input.lower()
    if not data.startswith(LIQUIDATE):
        return None
    try:
        _, borrower, _, _, _ = decode(_ARGS, bytes.fromhex(data[len(LIQUIDATE) :]))
    except (DecodingError, ValueError, OverflowError):
        return None
    return str(borrower).lower()
