"""Several endpoints of one chain: which one is in use, failover and failback."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import structlog

if TYPE_CHECKING:
    from keeper.errors import RpcError

log = structlog.get_logger(__name__)


class Labelled(Protocol):
    """An endpoint with a redacted label."""

    @property
    def label(self) -> str:
        """No credentials, no path."""
        ...


T = TypeVar("T", bound=Labelled)


class Endpoints(Generic[T]):
    """The endpoints in order of preference, and the one in use.

    A transient failure moves to the next one; after ``failback_s`` the preferred one is tried
    again.
    """

    def __init__(self, providers: list[T], failback_s: float) -> None:
        self.providers = providers
        self.failback_s = failback_s
        self.active = 0
        self.failed_over_at = 0.0
        self.failovers = 0

    @property
    def label(self) -> str:
        """The endpoint in use."""
        return self.providers[self.active].label

    def current(self) -> T:
        """The endpoint to send to now (back to the preferred one after ``failback_s``)."""
        if self.active and time.monotonic() - self.failed_over_at > self.failback_s:
            log.info("rpc_failback", to=self.providers[0].label)
            self.active = 0
        return self.providers[self.active]

    def fail_over(self, failed: T, error: RpcError) -> None:
        """Move to the next endpoint after a transient failure of ``failed``."""
        if len(self.providers) == 1 or self.providers[self.active] is not failed:
            return  # a single endpoint, or a concurrent request already moved on
        self.active = (self.active + 1) % len(self.providers)
        self.failed_over_at = time.monotonic()
        self.failovers += 1
        log.warning(
            "rpc_failover",
            failed=failed.label,
            to=self.providers[self.active].label,
            method=error.method,
            error=str(error),
        )
