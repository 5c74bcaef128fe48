"""The transport of one endpoint: our HTTP provider (redacted) or our WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keeper.chain.provider import RedactedHTTPProvider, make_web3
from keeper.chain.ws import WebSocketTransport

if TYPE_CHECKING:
    from web3 import AsyncWeb3

Transport = RedactedHTTPProvider | WebSocketTransport


def open_transport(url: str, timeout_s: float) -> tuple[Transport, AsyncWeb3[Any] | None]:
    """The transport for ``url``, and the web3 object over it (HTTP only)."""
    if url.lower().startswith(("ws://", "wss://")):
        return WebSocketTransport(url, timeout_s), None
    w3 = make_web3(url, timeout_s)
    provider = w3.provider
    if not isinstance(provider, RedactedHTTPProvider):  # pragma: no cover - invariant
        raise TypeError("make_web3 must build a RedactedHTTPProvider")
    return provider, w3
