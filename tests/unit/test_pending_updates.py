"""Pending oracle updates are decoded from the transactions that will make them."""

from __future__ import annotations

from eth_abi.abi import encode

from keeper.chain.types import PendingTx
from keeper.oracles.pending import SET_ANSWER, TRANSMIT, decode_update
from tests.support.ocr2 import transmit_call

FEED = "0x" + "ab" * 20


def _tx(data: str, to: str | None = FEED) -> PendingTx:
    return PendingTx("0x" + "00" * 32, "0x" + "01" * 20, to, data, 0, None)


def test_set_answer_is_read_including_negative_answers():
    """setAnswer(int256) on a known feed: the answer, sign included."""
    for answer in (2_100 * 10**8, 0, -1):
        update = decode_update(_tx(SET_ANSWER + encode(["int256"], [answer]).hex()), {FEED})
        assert update is not None and update.answer == answer and update.feed == FEED


def test_ocr2_transmit_gives_the_median_observation():
    """An OCR2 transmit: the report's middle observation is the new answer."""
    observations = [2_090 * 10**8, 2_095 * 10**8, 2_100 * 10**8, 2_101 * 10**8, 2_150 * 10**8]
    update = decode_update(_tx("0x" + transmit_call(TRANSMIT, observations).hex()), {FEED})
    assert update is not None and update.answer == 2_100 * 10**8


def test_other_transactions_are_ignored():
    """Another contract, another function, or a body that does not decode: None."""
    data = SET_ANSWER + encode(["int256"], [1]).hex()
    assert decode_update(_tx(data, to="0x" + "cd" * 20), {FEED}) is None
    assert decode_update(_tx("0xa9059cbb" + "00" * 64), {FEED}) is None
    assert decode_update(_tx(TRANSMIT + "00" * 7), {FEED}) is None
    assert decode_update(_tx(data, to=None), {FEED}) is None
