"""Connecting to a Morpho Blue contract: the client, the chain check, code at ``morpho``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.connect import checked_chain_id, open_client
from keeper.errors import ConfigError, RpcError
from keeper.protocols.morpho_blue.reads import MORPHO

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.settings import Settings


async def _check_morpho(client: ChainClient, morpho: str) -> None:
    code = await client.request("eth_getCode", [morpho, "latest"])
    if not isinstance(code, str) or len(code) <= 2:
        raise ConfigError(
            f"morpho: no contract at {morpho} on this chain; set KEEPER_MORPHO or `morpho` to "
            "the Morpho Blue address (0xBBBBBbbBBb9cC5e90e3b3Af64bdAF62C37EEFFCb on Ethereum "
            "and Base)"
        )
    try:
        await client.call(morpho, MORPHO.encode("owner"))
    except RpcError:
        raise ConfigError(
            f"morpho: the contract at {morpho} does not answer owner(): is it Morpho Blue? "
            "Fix KEEPER_MORPHO or `morpho`"
        ) from None


async def connect(settings: Settings) -> tuple[ChainClient, int, str]:
    """Open the client, check the chain id and that ``morpho`` is a contract."""
    client = open_client(settings)
    try:
        chain_id = await checked_chain_id(settings, client)
        await _check_morpho(client, settings.morpho_address)
    except BaseException:
        await client.close()
        raise
    return client, chain_id, settings.morpho_address
