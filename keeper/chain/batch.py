"""Many ``eth_call``s pinned to one block, sent as JSON-RPC batches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes

from keeper.errors import RpcError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient

Call = tuple[str, list[Any]]


def eth_call(to: str, data: str, block: int) -> Call:
    """One eth_call request for a batch, pinned to ``block``."""
    return ("eth_call", [{"to": to, "data": data}, hex(block)])


async def run_calls(
    client: ChainClient, calls: Sequence[Call], batch_size: int
) -> list[bytes | RpcError]:
    """Results in order: the returned bytes, or the RpcError of that one call."""
    out: list[bytes | RpcError] = []
    for start in range(0, len(calls), batch_size):
        items = await client.batch(calls[start : start + batch_size])
        out.extend(i if isinstance(i, RpcError) else _bytes(i) for i in items)
    return out


def ok(raw: bytes | RpcError) -> bytes:
    """One ``run_calls`` result of a read that is only useful whole: its failure raises."""
    if isinstance(raw, RpcError):
        raise raw
    return raw


def _bytes(item: Any) -> bytes | RpcError:
    """One result as bytes; a result of the wrong shape is that call's error, not a crash."""
    if isinstance(item, str):
        try:
            return bytes(HexBytes(item))
        except ValueError:
            pass
    return RpcError("malformed result", method="eth_call")
