"""The submission channels the settings ask for, built in one place (the app calls this)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.errors import ConfigError
from keeper.submission.bundles import BundleChannel
from keeper.submission.endpoints import BuilderEndpoint, parse_endpoint
from keeper.submission.mev_share import MevShareChannel
from keeper.submission.private_tx import PrivateTxChannel
from keeper.submission.public import PublicMempool
from keeper.submission.signing import SearcherIdentity

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.settings import Settings
    from keeper.submission.channel import BackrunChannel, SubmissionChannel
    from keeper.submission.events import ChannelListener


def open_channels(
    settings: Settings,
    client: ChainClient,
    listener: ChannelListener | None,
    trading_address: str,
    *,
    fork: bool = False,
) -> list[SubmissionChannel]:
    """The configured channels, public mempool first; a dry run's ``fork`` gets only that.

    A dry run never reaches a builder: its transactions are for its fork alone.
    """
    if fork:
        return [PublicMempool(client, listener)]
    channels: list[SubmissionChannel] = []
    if settings.public_mempool:
        channels.append(PublicMempool(client, listener))
    identity = None
    if settings.searcher_key is not None:
        identity = SearcherIdentity(settings.searcher_key)
        if identity.address.lower() == trading_address.lower():
            raise ConfigError(
                "searcher_key: must not be the trading key; give the searcher identity a key "
                "of its own (KEEPER_SEARCHER_KEY)"
            )
    builders = [parse_endpoint(e) for e in settings.builder_endpoints()]
    if builders and identity is not None:
        channels.append(
            BundleChannel(
                client,
                builders,
                identity,
                stale_blocks=settings.bundle_stale_blocks,
                listener=listener,
            )
        )
    protect = [parse_endpoint(e) for e in settings.private_tx_endpoints()]
    if protect:
        channels.append(
            PrivateTxChannel(
                client,
                protect,
                identity,
                max_blocks=settings.private_tx_max_blocks,
                listener=listener,
            )
        )
    return channels


def open_backrun_channel(
    settings: Settings,
    client: ChainClient,
    listener: ChannelListener | None,
    *,
    fork: bool = False,
) -> MevShareChannel | None:
    """The MEV-Share channel of SVR back-runs (None: none configured, or a dry run's fork)."""
    if fork or not settings.mev_share_urls or settings.searcher_key is None:
        return None
    endpoints = [BuilderEndpoint(u.get_secret_value()) for u in settings.mev_share_urls]
    return MevShareChannel(
        client, endpoints, SearcherIdentity(settings.searcher_key), listener=listener
    )


async def close_channels(channels: Sequence[SubmissionChannel | BackrunChannel]) -> None:
    """Close every channel (their watches and HTTP sessions)."""
    for channel in channels:
        await channel.close()
