"""Deploying our MorphoLiquidator against the Morpho contract (owner: the keeper's key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.execution.deploy import checked_router, deploy_own_contract
from keeper.protocols.morpho_blue.connect import connect

if TYPE_CHECKING:
    from keeper.settings import Settings


async def deploy_liquidator(settings: Settings, router: str, fund_wei: int = 0) -> str:
    """Deploy MorphoLiquidator(morpho, router), fund it with ``fund_wei``; its address.

    ``fund_wei``: ether for coinbase bids (``coinbase_payment``), sent after the deployment.
    """
    swap_router = checked_router(router)
    client, chain_id, morpho = await connect(settings)
    try:
        return await deploy_own_contract(
            settings, client, chain_id, "MorphoLiquidator", [morpho, swap_router], fund_wei
        )
    finally:
        await client.close()
