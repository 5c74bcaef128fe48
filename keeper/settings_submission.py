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
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


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
    svr_aggregators: list[str] = Field(
        default_factory=list,
        description="Chainlink SVR aggregators (the feed contracts behind the market's price "
        "sources, not their proxies) whose private updates are back-run through MEV-Share",
    )
    mev_share_stream_url: SecretStr | None = Field(
        default=None,
        description="the MEV-Share event stream (server-sent events; Flashbots: "
        "https://mev-share.flashbots.net); needed by svr_aggregators",
    )
    mev_share_urls: list[SecretStr] = Field(
        default_factory=list,
        description="endpoints taking mev_sendBundle (Flashbots: https://relay.flashbots.net); "
        "needed by svr_aggregators",
    )
    svr_max_blocks: int = Field(
        default=2,
        ge=1,
        le=25,
        description="a back-run is valid for this many blocks after the head it was sent at; "
        "if the SVR update has not landed by then, the standard feed path takes over",
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

    @field_validator("mev_share_urls")
    @classmethod
    def _mev_share_urls(cls, values: list[SecretStr]) -> list[SecretStr]:
        for index, value in enumerate(values):
            if not value.get_secret_value().startswith(("http://", "https://")):
                raise ValueError(f"entry {index + 1}: expected an http(s):// URL")
        return values

    @field_validator("svr_aggregators")
    @classmethod
    def _svr_aggregators(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if not _ADDRESS_RE.match(value.strip()):
                raise ValueError(f"entry {index + 1}: expected a 0x-prefixed 20-byte address")
        return [v.strip().lower() for v in values]

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
        self._svr_needs()
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

    def _svr_needs(self) -> None:
        mev_share = self.mev_share_stream_url is not None or bool(self.mev_share_urls)
        if self.svr_aggregators and (self.mev_share_stream_url is None or not self.mev_share_urls):
            raise ValueError(
                "svr_aggregators: back-running SVR updates needs the MEV-Share event stream and "
                "a mev_sendBundle endpoint; set mev_share_stream_url and mev_share_urls "
                "(KEEPER_MEV_SHARE_STREAM_URL, KEEPER_MEV_SHARE_URLS)"
            )
        if mev_share and not self.svr_aggregators:
            raise ValueError(
                "mev_share_stream_url, mev_share_urls: they serve SVR back-runs only; set "
                "svr_aggregators (KEEPER_SVR_AGGREGATORS) or remove them"
            )
        if self.svr_aggregators and self.searcher_key is None:
            raise ValueError(
                "searcher_key: mev_sendBundle requests are signed with a searcher identity "
                "key; set KEEPER_SEARCHER_KEY (a new key, not private_key)"
            )

    def builder_endpoints(self) -> list[str]:
        """The bundle endpoints' entries (secrets: never logged as such)."""
        return [v.get_secret_value() for v in self.bundle_builders]

    def private_tx_endpoints(self) -> list[str]:
        """The private-transaction endpoints' entries (secrets)."""
        return [v.get_secret_value() for v in self.private_tx_urls]
