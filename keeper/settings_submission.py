"""The submission settings of :class:`keeper.settings.Settings` (kept apart for size).

Where signed transactions go: the public mempool (the node), bundles to block builders,
private transactions to protect-style RPCs; several at once. The searcher identity key signs
bundle requests (``X-Flashbots-Signature``); it is a key of its own, never the trading key.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from keeper.submission.endpoints import parse_endpoint

_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class SubmissionSettings(BaseSettings):
    """The submission channels and their settings."""

    public_mempool: bool = Field(
        default=True,
        description="send through the node's public mempool too (false: private channels only; "
        "needs bundle_builders or private_tx_urls)",
    )
    bundle_builders: list[SecretStr] = Field(
        default_factory=list,
        description='builder bundle endpoints, "dialect:url" or a URL (dialect flashbots; '
        "also titan, beaver, plain): each transaction goes as a bundle to all of them",
    )
    private_tx_urls: list[SecretStr] = Field(
        default_factory=list,
        description="protect-style RPCs taking eth_sendPrivateTransaction (same dialect:url)",
    )
    searcher_key: SecretStr | None = Field(
        default=None,
        description="hex key of the searcher identity that signs bundle requests (holds no "
        "funds; not private_key); needed by bundle_builders and private_tx_urls",
    )
    bundle_stale_blocks: int = Field(
        default=25,
        ge=1,
        le=10_000,
        description="a bundle not included after this many blocks is given up and cancelled",
    )
    private_tx_max_blocks: int = Field(
        default=25, ge=1, le=10_000, description="maxBlockNumber of a private transaction: head +"
    )
    channel_failures_to_alert: int = Field(
        default=5, ge=1, description="alert when a channel fails this many deliveries in a row"
    )

    @field_validator("bundle_builders", "private_tx_urls")
    @classmethod
    def _endpoints(cls, values: list[SecretStr]) -> list[SecretStr]:
        for index, value in enumerate(values):
            try:
                parse_endpoint(value.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"entry {index + 1}: {exc}") from None
        return values

    @field_validator("searcher_key")
    @classmethod
    def _searcher_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        if not _KEY_RE.match(raw) or int(raw, 16) == 0:
            raise ValueError("expected a nonzero 32-byte hex key (64 hex digits, optional 0x)")
        return SecretStr(raw if raw.startswith("0x") else "0x" + raw)

    @model_validator(mode="after")
    def _channels(self) -> Self:
        private = bool(self.bundle_builders or self.private_tx_urls)
        if not self.public_mempool and not private:
            raise ValueError(
                "public_mempool: false leaves no way to send; set bundle_builders or "
                "private_tx_urls (KEEPER_BUNDLE_BUILDERS, KEEPER_PRIVATE_TX_URLS), or set "
                "public_mempool = true"
            )
        if private and self.searcher_key is None:
            raise ValueError(
                "searcher_key: bundle_builders and private_tx_urls sign their requests with a "
                "searcher identity key; set KEEPER_SEARCHER_KEY (a new key, not private_key)"
            )
        trading = getattr(self, "private_key", None)
        if (
            self.searcher_key is not None
            and isinstance(trading, SecretStr)
            and trading.get_secret_value().lower().removeprefix("0x")
            == self.searcher_key.get_secret_value().lower().removeprefix("0x")
        ):
            raise ValueError(
                "searcher_key: must not be the trading key (private_key); give the searcher "
                "identity a key of its own"
            )
        return self

    def builder_endpoints(self) -> list[str]:
        """The bundle endpoints' entries (secrets: never logged as such)."""
        return [v.get_secret_value() for v in self.bundle_builders]

    def private_tx_endpoints(self) -> list[str]:
        """The private-transaction endpoints' entries (secrets)."""
        return [v.get_secret_value() for v in self.private_tx_urls]
