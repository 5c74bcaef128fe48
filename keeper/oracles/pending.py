"""Pending oracle updates: which price a transaction in the node's pool is about to set.

Two shapes are understood, both sent to the feed that emits ``AnswerUpdated``:
- ``setAnswer(int256)``: our settable feed (contracts/ManualAggregator.sol) and similar;
- Chainlink OCR2 ``transmit(bytes32[3] reportContext, bytes report, bytes32[] rs,
  bytes32[] ss, bytes32 rawVs)``, whose report is ``abi.encode(bytes32 observationsTimestamp,
  bytes32 rawObservers, int192[] observations, int192 juelsPerFeeCoin)``; the new answer is the
  median observation, ``observations[len / 2]`` (they arrive sorted), as the aggregator takes it.
Anything else is not an update we can read, and is ignored. Pure: no node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from keeper.chain.types import PendingTx

SET_ANSWER = "0x" + keccak(text="setAnswer(int256)")[:4].hex()
TRANSMIT = "0x" + keccak(text="transmit(bytes32[3],bytes,bytes32[],bytes32[],bytes32)")[:4].hex()


@dataclass(frozen=True)
class PendingUpdate:
    """A feed's answer as a pending transaction will set it."""

    feed: str  # the emitter (lower case)
    answer: int
    tx: PendingTx


def decode_update(tx: PendingTx, feeds: set[str]) -> PendingUpdate | None:
    """The update ``tx`` makes to one of ``feeds`` (lower-case addresses), or None."""
    to = (tx.to or "").lower()
    data = tx.input
    if to not in feeds or len(data) < 10:
        return None
    selector, body = data[:10].lower(), bytes.fromhex(data[10:])
    try:
        if selector == SET_ANSWER:
            (answer,) = decode(["int256"], body)
            return PendingUpdate(to, int(answer), tx)
        if selector == TRANSMIT:
            answer = median_of_report(body)
            return None if answer is None else PendingUpdate(to, answer, tx)
    except (DecodingError, ValueError, OverflowError):
        return None
    return None


def median_of_report(body: bytes) -> int | None:
    """The answer an OCR2 ``transmit`` (or SVR ``transmitSecondary``) body sets, or None.

    ``body`` is the call's arguments (no selector). Raises DecodingError on a malformed one.
    """
    _, report, _, _, _ = decode(["bytes32[3]", "bytes", "bytes32[]", "bytes32[]", "bytes32"], body)
    _, _, observations, _ = decode(["bytes32", "bytes32", "int192[]", "int192"], report)
    if not observations:
        return None
    return int(observations[len(observations) // 2])
