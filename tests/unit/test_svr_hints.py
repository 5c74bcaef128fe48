"""SVR updates are read from MEV-Share hints: forward(aggregator, transmitSecondary) only."""

from __future__ import annotations

from eth_abi.abi import encode

from keeper.oracles.pending import TRANSMIT
from keeper.oracles.svr import FORWARD, TRANSMIT_SECONDARY, decode_hint
from tests.support.ocr2 import transmit_call

AGGREGATOR = "0x" + "ab" * 20
FORWARDER = "0x" + "fa" * 20
UPDATE = "0x" + "12" * 32
OBSERVATIONS = [1_990 * 10**8, 2_000 * 10**8, 2_010 * 10**8, 2_020 * 10**8, 2_100 * 10**8]


def _forward(to: str, inner: bytes) -> str:
    return FORWARD + encode(["address", "bytes"], [to, inner]).hex()


def _hint(call_data: str | None, to: str = FORWARDER) -> dict[str, object]:
    tx: dict[str, object] = {"to": to, "functionSelector": FORWARD}
    if call_data is not None:
        tx["callData"] = call_data
    return {"hash": UPDATE, "logs": [], "txs": [tx]}


def test_a_forwarded_transmit_secondary_gives_the_median_and_the_call_to_simulate():
    """forward(aggregator, transmitSecondary(...)): the report's median is the answer; the
    call a simulation runs first is the forwarder calling the aggregator with the inner data.
    """
    inner = transmit_call(TRANSMIT_SECONDARY, OBSERVATIONS)
    update = decode_hint(_hint(_forward(AGGREGATOR, inner)), {AGGREGATOR})
    assert update is not None
    assert update.answer == 2_010 * 10**8
    assert update.feed == AGGREGATOR and update.tx_hash == UPDATE
    assert update.forwarder == FORWARDER
    assert update.inner.sender == FORWARDER and update.inner.to == AGGREGATOR
    assert update.inner.input == "0x" + inner.hex()


def test_the_standard_transmit_through_a_forwarder_is_read_too():
    """The same arguments under transmit's selector (a forwarded standard report)."""
    inner = transmit_call(TRANSMIT, OBSERVATIONS[:3])
    update = decode_hint(_hint(_forward(AGGREGATOR, inner)), {AGGREGATOR})
    assert update is not None and update.answer == 2_000 * 10**8


def test_other_hints_are_not_updates_of_ours():
    """Another aggregator, another inner call, no calldata shared, a bad body, a bad hash,
    an empty report: None.
    """
    inner = transmit_call(TRANSMIT_SECONDARY, OBSERVATIONS)
    other = "0x" + "cd" * 20
    assert decode_hint(_hint(_forward(other, inner)), {AGGREGATOR}) is None
    assert (
        decode_hint(_hint(_forward(AGGREGATOR, b"\xa9\x05\x9c\xbb" + b"\x00" * 64)), {AGGREGATOR})
        is None
    )
    assert decode_hint(_hint(None), {AGGREGATOR}) is None
    assert decode_hint(_hint(FORWARD + "00" * 7), {AGGREGATOR}) is None
    assert decode_hint(_hint("0xdeadbeef"), {AGGREGATOR}) is None
    empty = transmit_call(TRANSMIT_SECONDARY, [])
    assert decode_hint(_hint(_forward(AGGREGATOR, empty)), {AGGREGATOR}) is None
    bad_hash = {**_hint(_forward(AGGREGATOR, inner)), "hash": "0x12"}
    assert decode_hint(bad_hash, {AGGREGATOR}) is None
    assert decode_hint({"hash": UPDATE, "txs": "nope"}, {AGGREGATOR}) is None
    assert decode_hint({"hash": UPDATE, "txs": [1, None]}, {AGGREGATOR}) is None


def test_the_update_is_found_among_several_calls_of_a_hint():
    """A hint of several calls: the forwarded SVR report among them is found."""
    inner = transmit_call(TRANSMIT_SECONDARY, OBSERVATIONS)
    calls = [{"to": FORWARDER, "functionSelector": "0x12345678"}]
    calls.append({"to": FORWARDER, "callData": _forward(AGGREGATOR, inner)})
    hint = {"hash": UPDATE, "txs": calls}
    update = decode_hint(hint, {AGGREGATOR})
    assert update is not None and update.answer == 2_010 * 10**8
