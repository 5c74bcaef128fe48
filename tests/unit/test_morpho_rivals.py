"""Recognising a rival's pending Morpho ``liquidate`` (the bidding watch's input)."""

from __future__ import annotations

from eth_abi.abi import encode

from keeper.chain.types import PendingTx
from keeper.protocols.morpho_blue.rivals import LIQUIDATE, liquidated_borrower

MORPHO = "0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb"
BORROWER = "0x00000000000000000000000000000000000000b0"
PARAMS = ("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20, 86 * 10**16)


def _tx(to: str, data: str) -> PendingTx:
    return PendingTx("0x" + "ab" * 32, "0x" + "cd" * 20, to, data, 10**10, 10**9)


def _liquidate() -> str:
    args = encode(
        ["(address,address,address,address,uint256)", "address", "uint256", "uint256", "bytes"],
        [PARAMS, BORROWER, 10**18, 0, b""],
    )
    return LIQUIDATE + args.hex()


def test_a_liquidate_to_morpho_names_its_borrower():
    """A ``liquidate`` sent to Morpho is a rival for its borrower (lower case)."""
    assert liquidated_borrower(_tx(MORPHO.lower(), _liquidate()), MORPHO) == BORROWER


def test_other_calls_and_other_contracts_are_not_rivals():
    """The same call to another contract, another selector, or garbled arguments: None."""
    assert liquidated_borrower(_tx("0x" + "99" * 20, _liquidate()), MORPHO) is None
    assert liquidated_borrower(_tx(MORPHO, "0xa9059cbb" + "00" * 64), MORPHO) is None
    assert liquidated_borrower(_tx(MORPHO, LIQUIDATE + "00" * 7), MORPHO) is None
