"""Deploying our MorphoLiquidator against the Morpho contract (owner: the keeper's key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.execution.deploy import checked_router, deploy_own_contract
from keeper.protocols.morpho_blue.connect import connect

if TYPE_CHECKING:
    from keeper.settings import Settings


async def deploy_liquidator(settings: Settings, router: str) -> str:
    """Deploy MorphoLiquidator(morpho, router); return its address."""
    swap_router = checked_router(router)
    client, chain_id, morpho = await connect(settings)
    try:
        return await deploy_own_contract(
            settings, client, chain_id, "MorphoLiquidator", [morpho, swap_router]
        )
    finally:
        await client.close()
