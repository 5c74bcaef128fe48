"""Chainlink OCR2 reports as tests write them: what transmit(...) and transmitSecondary(...)
carry. The keeper reads only the observations (its decoder: keeper/oracles/pending.py); the
other fields are fixed filler, and nothing here is signed or verified.
"""

from __future__ import annotations

from eth_abi.abi import encode


def report(observations: list[int]) -> bytes:
    """abi.encode(observationsTimestamp, rawObservers, observations, juelsPerFeeCoin)."""
    return encode(
        ["bytes32", "bytes32", "int192[]", "int192"],
        [b"\x01" * 32, b"\x02" * 32, observations, 10**18],
    )


def transmit_call(selector: str, observations: list[int]) -> bytes:
    """The calldata of a transmit-shaped call (``selector``: transmit or transmitSecondary)."""
    body = encode(
        ["bytes32[3]", "bytes", "bytes32[]", "bytes32[]", "bytes32"],
        [[b"\x00" * 32] * 3, report(observations), [b"\x03" * 32], [b"\x04" * 32], b"\x05" * 32],
    )
    return bytes.fromhex(selector[2:]) + body
