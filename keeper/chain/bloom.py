"""A block's logs bloom: whether a block can hold logs of an address at all, without asking.

Every block header carries a 2048-bit bloom filter of the addresses and topics of its logs
(yellow paper, M3:2048): for each, three bits chosen by the first three pairs of bytes of its
keccak. A bloom has false positives, never false negatives: when none of our addresses' bits
are all set, the block has none of our logs and its ``eth_getLogs`` can be skipped. On a quiet
market (most blocks of a fast L2) that is one request a block saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eth_utils.crypto import keccak

if TYPE_CHECKING:
    from collections.abc import Iterable

BLOOM_BITS = 2048


def bloom_of(value: str | None) -> int | None:
    """The header's ``logsBloom`` as an integer (None when the node gave none)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        return None
    try:
        parsed = int(value, 16)
    except ValueError:
        return None
    return parsed if parsed.bit_length() <= BLOOM_BITS else None


def may_contain(bloom: int, item: bytes) -> bool:
    """True when ``item`` (an address's 20 bytes or a topic's 32) may be in the bloom."""
    digest = keccak(item)
    bits = (int.from_bytes(digest[i : i + 2], "big") & (BLOOM_BITS - 1) for i in (0, 2, 4))
    return all((bloom >> bit) & 1 for bit in bits)


def may_have_logs_of(bloom: int | None, addresses: Iterable[str]) -> bool:
    """True unless the bloom proves the block has no log of any of ``addresses``."""
    if bloom is None:
        return True
    return any(may_contain(bloom, bytes.fromhex(a.removeprefix("0x"))) for a in addresses)
