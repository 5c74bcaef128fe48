"""Opening the node client and checking the chain, before any protocol is touched."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.chain.client import ChainClient
from keeper.errors import ConfigError

if TYPE_CHECKING:
    from keeper.settings import Settings

log = structlog.get_logger(__name__)


def open_client(settings: Settings) -> ChainClient:
    """The client over every configured endpoint."""
    return ChainClient(
        settings.rpc_urls, timeout_s=settings.rpc_timeout_s, retry_s=settings.rpc_retry_s
    )


async def checked_chain_id(settings: Settings, client: ChainClient) -> int:
    """The chain id, checked on every endpoint.

    Every reachable endpoint must be on the configured chain (or, unconfigured, all on one
    chain); an unreachable endpoint is only a warning: it may come back.
    """
    expected = settings.chain_id
    for index, (label, found) in enumerate(await client.endpoint_chain_ids()):
        key = "rpc_url" if index == 0 else f"rpc_fallback_urls[{index - 1}]"
        if not isinstance(found, int):
            log.warning("rpc_endpoint_unreachable", endpoint=label, key=key, error=str(found))
            continue
        if expected is None:
            expected = found
        elif found != expected:
            raise ConfigError(
                f"{key}: the node at {label} is on chain {found}, expected {expected} "
                f"(chain_id or the first endpoint); fix {key} or chain_id"
            )
    if expected is None:  # nothing answered: retry through the client's own policy
        expected = await client.chain_id()
    return expected
