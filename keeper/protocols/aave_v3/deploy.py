"""Deploying our FlashLiquidator against the market's Pool (owner: the keeper's key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.execution.deploy import checked_router, deploy_own_contract
from keeper.protocols.aave_v3.connect import connect

if TYPE_CHECKING:
    from keeper.settings import Settings


async def deploy_liquidator(settings: Settings, router: str) -> str:
    """Deploy FlashLiquidator(pool, router); return its address."""
    swap_router = checked_router(router)
    client, chain_id, market = await connect(settings)
    try:
        return await deploy_own_contract(
            settings, client, chain_id, "FlashLiquidator", [market.pool, swap_router]
        )
    finally:
        await client.close()
