"""A complete Morpho Blue devnet world: deployment, lender, borrowers (one call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.devnet.deployer import Deployer
from keeper.devnet.morpho_borrowers import MorphoBorrower, open_positions, plan_borrowers
from keeper.devnet.morpho_market import MorphoDeployment, deploy_morpho
from keeper.localnode.anvil import DEV_ACCOUNTS

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

ADMIN = DEV_ACCOUNTS[0]
FEE_RECIPIENT = DEV_ACCOUNTS[2]


@dataclass(frozen=True)
class MorphoWorld:
    """Morpho, its markets, the lender and the borrowers of one devnet."""

    deployment: MorphoDeployment
    lender: str
    borrowers: tuple[MorphoBorrower, ...]

    @property
    def morpho(self) -> str:
        """The Morpho contract."""
        return self.deployment.morpho


async def build_morpho_world(client: ChainClient, *, borrowers: int, seed: int) -> MorphoWorld:
    """Deploy Morpho and its markets, supply liquidity, open ``borrowers`` positions."""
    dep = Deployer(client)
    deployment = await deploy_morpho(dep, ADMIN, FEE_RECIPIENT)
    planned = plan_borrowers(borrowers, seed, deployment)
    lender = await open_positions(dep, ADMIN, deployment, planned, seed)
    return MorphoWorld(deployment, lender, tuple(planned))
