"""Our liquidator contract on a devnet, owned by a keeper account (impersonated on Anvil).

What ``keeper deploy-liquidator`` does from the keeper's own key, done for a devnet in one step:
deploy ``FlashLiquidator(pool, router)`` from the keeper's address (so it is the owner), approve
every listed asset to it from the keeper (the standing approvals of inventory mode) and send it
ether for coinbase bids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keeper.devnet.artifacts import own_artifact
from keeper.devnet.deployer import Deployer
from keeper.protocols.aave_v3.market import ERC20

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.world import World

MAX_UINT256 = 2**256 - 1
NO_ROUTER = "0x" + "00" * 20


async def deploy_keeper_liquidator(
    client: ChainClient, world: World, owner: str, *, approve: bool = True, fund_wei: int = 0
) -> str:
    """Deploy the contract owned by ``owner``; return its address."""
    dep = Deployer(client)
    await dep.impersonate_all()
    router = NO_ROUTER if world.uniswap is None else world.uniswap.router
    address = await dep.deploy(owner, own_artifact("FlashLiquidator"), [world.market.pool, router])
    if approve:
        for info in world.market.assets.values():
            await dep.transact(owner, info.address, ERC20.encode("approve", address, MAX_UINT256))
    if fund_wei > 0:
        await dep.transact(owner, address, "0x", value=fund_wei)
    return address
