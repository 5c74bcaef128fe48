"""Builder endpoints and their dialects of the bundle API.

Builders accept ``eth_sendBundle`` with small differences; each endpoint names its dialect,
written ``dialect:url`` in the settings (a bare URL is the Flashbots dialect):

- ``flashbots``: ``{txs, blockNumber, replacementUuid}``, signed, ``eth_cancelBundle``
  ``[{replacementUuid}]`` (the relay and most builders);
- ``titan``: as flashbots plus ``refundPercent`` (the share of the bundle's value refunded);
- ``beaver``: cancels by sending the same ``replacementUuid`` with no transactions;
- ``plain``: no ``replacementUuid`` (nothing to replace or cancel), no signature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from keeper.chain.redact import redact_url


class Dialect(StrEnum):
    """How one builder takes bundles."""

    FLASHBOTS = "flashbots"
    TITAN = "titan"
    BEAVER = "beaver"
    PLAIN = "plain"


_PREFIX_RE = re.compile(r"^([a-z]+):(https?://.+)$", re.IGNORECASE)
_URL_RE = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


@dataclass(frozen=True)
class BuilderEndpoint:
    """One builder's bundle API; ``url`` is a secret (it may carry a key), ``label`` is not."""

    url: str
    dialect: Dialect = Dialect.FLASHBOTS
    refund_percent: int | None = None  # titan: refundPercent

    @property
    def label(self) -> str:
        """The endpoint, safe to log."""
        return redact_url(self.url)

    @property
    def uses_uuid(self) -> bool:
        """Whether bundles carry ``replacementUuid`` (replace and cancel by it)."""
        return self.dialect is not Dialect.PLAIN

    @property
    def signed(self) -> bool:
        """Whether requests carry the ``X-Flashbots-Signature`` header."""
        return self.dialect is not Dialect.PLAIN

    def bundle(self, txs: list[str], block: int, uuid: str) -> dict[str, Any]:
        """The ``eth_sendBundle`` parameter object."""
        params: dict[str, Any] = {"txs": txs, "blockNumber": hex(block)}
        if self.uses_uuid:
            params["replacementUuid"] = uuid
        if self.dialect is Dialect.TITAN and self.refund_percent is not None:
            params["refundPercent"] = self.refund_percent
        return params

    def cancel(self, uuid: str, block: int) -> tuple[str, list[Any]] | None:
        """The request that withdraws the bundle of ``uuid`` (None: this dialect cannot)."""
        if self.dialect is Dialect.PLAIN:
            return None
        if self.dialect is Dialect.BEAVER:
            empty = {"txs": [], "blockNumber": hex(block), "replacementUuid": uuid}
            return "eth_sendBundle", [empty]
        return "eth_cancelBundle", [{"replacementUuid": uuid}]


def parse_endpoint(entry: str) -> BuilderEndpoint:
    """``dialect:url`` or a bare URL (flashbots); raises ValueError (the URL never quoted)."""
    entry = entry.strip()
    match = _PREFIX_RE.match(entry)
    dialect, url = (match.group(1).lower(), match.group(2)) if match else ("flashbots", entry)
    if dialect not in {d.value for d in Dialect}:
        names = ", ".join(d.value for d in Dialect)
        raise ValueError(f"unknown builder dialect (expected one of {names})")
    if not _URL_RE.match(url):
        raise ValueError("expected an http(s):// URL, optionally prefixed with dialect:")
    return BuilderEndpoint(url, Dialect(dialect))
