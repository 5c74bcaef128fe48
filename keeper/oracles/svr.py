"""Chainlink SVR price updates, read from the hints of the MEV-Share event stream.

An SVR update is sent privately: a node operator's account calls ``forward(address to, bytes
data)`` on its forwarder contract, ``to`` being the feed's SVR aggregator and ``data`` its
``transmitSecondary(bytes32[3],bytes,bytes32[],bytes32[],bytes32)`` (the standard path's
``transmit`` has the same arguments). MEV-Share shows searchers a hint of it: its hash and,
as the sender chose to share them, each call's target, selector and calldata. The new price is
the report's median observation, as the aggregator takes it (``oracles.pending``).

Only ``forward`` calls whose ``to`` is a configured SVR aggregator count: other forwarders'
calls on the stream are not price updates of ours. Pure: no node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from keeper.chain.types import PendingTx
from keeper.oracles.pending import TRANSMIT, median_of_report

if TYPE_CHECKING:
    from collections.abc import Mapping

FORWARD = "0x" + keccak(text="forward(address,bytes)")[:4].hex()
TRANSMIT_SECONDARY = (
    "0x" + keccak(text="transmitSecondary(bytes32[3],bytes,bytes32[],bytes32[],bytes32)")[:4].hex()
)
_HASH_LEN = 66


@dataclass(frozen=True)
class SvrUpdate:
    """A private SVR update seen on the stream: which feed, the answer it sets, its hash.

    ``forwarder`` is the contract whose ``forward`` makes the update; ``inner`` is the call it
    makes (the forwarder calling the aggregator), which a simulation runs before our back-run.
    """

    tx_hash: str
    feed: str  # the SVR aggregator (lower case): the market's feed emitter
    answer: int
    forwarder: str
    inner: PendingTx


def decode_hint(event: Mapping[str, Any], aggregators: set[str]) -> SvrUpdate | None:
    """The SVR update a MEV-Share hint shows for one of ``aggregators`` (lower case), or None.

    A hint without calldata (the sender shared less), with another call, or with a body that
    does not decode is not an update we can act on.
    """
    tx_hash = event.get("hash")
    txs = event.get("txs")
    if not isinstance(tx_hash, str) or len(tx_hash) != _HASH_LEN or not isinstance(txs, list):
        return None
    for call in txs:
        if not isinstance(call, dict):
            continue
        update = _decode_call(tx_hash, call, aggregators)
        if update is not None:
            return update
    return None


def _decode_call(tx_hash: str, call: Mapping[str, Any], aggregators: set[str]) -> SvrUpdate | None:
    forwarder, data = call.get("to"), call.get("callData")
    if not isinstance(forwarder, str) or not isinstance(data, str) or data[:10].lower() != FORWARD:
        return None
    try:
        target, inner = decode(["address", "bytes"], bytes.fromhex(data[10:]))
        feed = str(target).lower()
        if feed not in aggregators or len(inner) < 4:
            return None
        selector = "0x" + bytes(inner[:4]).hex()
        answer = (
            median_of_report(bytes(inner[4:]))
            if selector in (TRANSMIT_SECONDARY, TRANSMIT)
            else None
        )
    except (DecodingError, ValueError, OverflowError):
        return None
    if answer is None:
        return None
    # The aggregator sees the forwarder as its caller: that is the call a simulation makes.
    inner_call = PendingTx(tx_hash, forwarder.lower(), feed, "0x" + bytes(inner).hex(), 0, None)
    return SvrUpdate(tx_hash.lower(), feed, answer, forwarder.lower(), inner_call)
