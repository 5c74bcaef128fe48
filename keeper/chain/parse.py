"""Checking the shape of JSON-RPC answers before any stage sees them.

Each parser raises TypeError or ValueError for an answer of the wrong shape; the client turns
that into a TransientRpcError (the node misbehaved), retried like any transient failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hexbytes import HexBytes

from keeper.chain.rpc_errors import classify
from keeper.errors import TransientRpcError

if TYPE_CHECKING:
    from collections.abc import Sequence


def quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a"); TypeError or ValueError for anything else."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise TypeError("not a quantity")
    return int(value, 16)


def data(value: Any) -> bytes:
    """JSON-RPC data ("0x..."); TypeError or ValueError for anything else."""
    if not isinstance(value, str):
        raise TypeError("not data")
    return bytes(HexBytes(value))


def header(value: Any) -> dict[str, Any]:
    """A block header; TypeError for anything else (also null: the block is not there yet)."""
    if not isinstance(value, dict) or "number" not in value or "hash" not in value:
        raise TypeError("not a block")
    return value


def logs(value: Any) -> list[dict[str, Any]]:
    """A list of logs; TypeError for anything else."""
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise TypeError("not a list of logs")
    return value


def receipt(value: Any) -> dict[str, Any] | None:
    """A receipt (null while pending); TypeError for anything else."""
    if value is None:
        return None
    if not isinstance(value, dict) or "status" not in value or "blockNumber" not in value:
        raise TypeError("not a receipt")
    return value


def parse_batch(calls: Sequence[tuple[str, Sequence[Any]]], raw: Any) -> list[Any]:
    """Per-call results of a batch answer, or raise for an unusable one."""
    if not isinstance(raw, list):
        error = raw.get("error") if isinstance(raw, dict) else None
        if isinstance(error, dict):
            raise classify("batch", error)
        raise TransientRpcError("malformed batch answer", method="batch")
    if len(raw) != len(calls):
        raise TransientRpcError(f"batch answered {len(raw)} of {len(calls)} calls", method="batch")
    results: list[Any] = []
    for (method, _), item in zip(calls, raw, strict=True):
        if not isinstance(item, dict):
            raise TransientRpcError("malformed batch item", method=method)
        if item.get("error"):
            results.append(classify(method, dict(item["error"])))
        elif "result" in item:
            results.append(item["result"])
        else:
            raise TransientRpcError("batch item without result", method=method)
    return results
