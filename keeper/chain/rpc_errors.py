"""The one place a node's JSON-RPC error becomes a typed keeper error.

Nodes word the same failure differently (geth, Anvil, Erigon, Nethermind, providers); every
message match lives here, so no stage inspects error strings itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from keeper.errors import ContractRevertError, RpcError, TransientRpcError

_TRANSIENT_CODES = {-32000, -32005, -32603, 429}
_REVERT_CODES = {3}
_UNSUPPORTED_CODES = {-32601, -32602}


class SendRefusal(StrEnum):
    """Why a node refused a raw transaction."""

    KNOWN = "known"  # it already has it: not a failure
    NONCE_LOW = "nonce_low"  # the nonce is used (by us, mined, or by someone else)
    UNDERPRICED = "underpriced"  # fees too low (a replacement below +10%, under the base fee)
    OTHER = "other"


def classify(method: str, error: dict[str, Any]) -> RpcError:
    """The keeper error for a JSON-RPC error object."""
    code = error.get("code")
    message = str(error.get("message", "unknown error"))
    data = error.get("data")
    if code in _REVERT_CODES or "revert" in message.lower():
        return ContractRevertError(
            message, method=method, data=data if isinstance(data, str) else None
        )
    lowered = message.lower()
    if code == 429 or "rate limit" in lowered or "timeout" in lowered or "timed out" in lowered:
        return TransientRpcError(message, method=method, code=code)
    if code in _TRANSIENT_CODES and ("busy" in lowered or "unavailable" in lowered):
        return TransientRpcError(message, method=method, code=code)
    return RpcError(message, method=method, code=code if isinstance(code, int) else None)


def send_refusal(exc: RpcError) -> SendRefusal:
    """What an ``eth_sendRawTransaction`` refusal means."""
    text = str(exc).lower()
    if "already known" in text or "known transaction" in text or "already imported" in text:
        return SendRefusal.KNOWN
    if "nonce too low" in text or "nonce is too low" in text or "oldnonce" in text:
        return SendRefusal.NONCE_LOW
    if (
        "underpriced" in text
        or "fee too low" in text
        or "replacement" in text
        or "less than block base fee" in text
    ):
        return SendRefusal.UNDERPRICED
    return SendRefusal.OTHER


def unsupported_method(exc: RpcError) -> bool:
    """The node does not offer the method (or its parameters): fall back, do not fail."""
    text = str(exc).lower()
    return exc.code in _UNSUPPORTED_CODES or "not found" in text or "not supported" in text
