"""A failure's text that carries the protocol's decoded error name."""

from __future__ import annotations

from typing import Self


class RevertReason(str):
    """A failure's text that also carries the decoded error's name (None when unknown)."""

    __slots__ = ("error",)
    error: str | None

    def __new__(cls, text: str, error: str | None = None) -> Self:
        """The text as given; ``error`` is the name for logs and metrics."""
        reason = super().__new__(cls, text)
        reason.error = error
        return reason
