"""JSON-RPC to builder and private-transaction endpoints: one session, every endpoint at once.

A request goes to every endpoint concurrently, each with its own deadline: a slow or failing
endpoint never holds back the others, and its failures are counted, not raised. Bodies are
serialised once and signed byte for byte (``X-Flashbots-Signature``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from keeper.errors import RpcError, TransientRpcError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from keeper.submission.endpoints import BuilderEndpoint
    from keeper.submission.signing import SearcherIdentity

log = structlog.get_logger(__name__)


@dataclass
class FanOut:
    """How one request went on each endpoint (labels only: URLs are secrets)."""

    ok: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, error message)
    failed: list[str] = field(default_factory=list)  # no usable answer (transport, 5xx)

    @property
    def delivered(self) -> bool:
        """At least one endpoint took it."""
        return bool(self.ok)

    @property
    def unsuccessful(self) -> list[str]:
        """The endpoints that did not take the request: failed, then refused (labels)."""
        return [*self.failed, *(label for label, _ in self.refused)]

    @property
    def all_refused(self) -> bool:
        """Every endpoint answered, and every one with an error."""
        return bool(self.refused) and not self.ok and not self.failed


class EndpointPool:
    """The endpoints of one channel and the HTTP session it owns (closed by :meth:`close`)."""

    def __init__(
        self,
        endpoints: Sequence[BuilderEndpoint],
        identity: SearcherIdentity | None,
        *,
        timeout_s: float = 3.0,
    ) -> None:
        self.endpoints = list(endpoints)
        self.identity = identity
        self.timeout_s = timeout_s
        self.errors: dict[str, int] = {e.label: 0 for e in self.endpoints}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def close(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fan_out(
        self, request: Callable[[BuilderEndpoint], tuple[str, list[Any]] | None]
    ) -> FanOut:
        """``request(endpoint)`` (method, params) on each endpoint at once (None: skip one)."""
        calls = [(e, request(e)) for e in self.endpoints]
        chosen = [(e, r) for e, r in calls if r is not None]
        answers = await asyncio.gather(
            *(self._one(e, *r) for e, r in chosen), return_exceptions=True
        )
        out = FanOut()
        for (endpoint, (method, _)), answer in zip(chosen, answers, strict=True):
            if isinstance(answer, TransientRpcError):
                out.failed.append(endpoint.label)
            elif isinstance(answer, RpcError):
                out.refused.append((endpoint.label, str(answer)))
            elif isinstance(answer, BaseException):
                raise answer  # a bug, or a cancellation: surfaced
            else:
                out.ok.append(endpoint.label)
                continue
            self.errors[endpoint.label] = self.errors.get(endpoint.label, 0) + 1
            log.warning(
                "endpoint_failed", endpoint=endpoint.label, method=method, error=str(answer)
            )
        return out

    async def _one(self, endpoint: BuilderEndpoint, method: str, params: list[Any]) -> Any:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json"}
        if endpoint.signed and self.identity is not None:
            headers.update(self.identity.header(body))
        try:
            async with self._open().post(endpoint.url, data=body, headers=headers) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Never str(exc): connection errors quote the URL, which may carry a key.
            raise TransientRpcError(type(exc).__name__, method=method) from None
        if status >= 500 or status == 429:
            raise TransientRpcError(f"HTTP {status}", method=method, code=status)
        try:
            answer = json.loads(text)
        except ValueError:
            raise RpcError(f"HTTP {status}, not JSON", method=method, code=status) from None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RpcError(str(message)[:200], method=method, code=status)
        if status >= 400 or not isinstance(answer, dict):
            raise RpcError(f"HTTP {status}", method=method, code=status)
        return answer.get("result")
