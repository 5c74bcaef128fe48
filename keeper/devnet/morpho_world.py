"""A complete Morpho Blue devnet world: deployment, lender, borrowers, Uniswap (one call).

Uniswap V3 gets one deep pool per market pair (at the tokens' USD prices), so that a flash
liquidation through our MorphoLiquidator can sell the seized collateral for the loan token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.devnet.deployer import Deployer
from keeper.devnet.morpho_borrowers import MorphoBorrower, open_positions, plan_borrowers
from keeper.devnet.morpho_market import MorphoDeployment, deploy_morpho
from keeper.devnet.morpho_spec import MARKETS, MarketSpec
from keeper.devnet.uniswap import UniswapV3, deploy_uniswap
from keeper.localnode.anvil import DEV_ACCOUNTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient

ADMIN = DEV_ACCOUNTS[0]
FEE_RECIPIENT = DEV_ACCOUNTS[2]


@dataclass(frozen=True)
class MorphoWorld:
    """Morpho, its markets, the lender, the borrowers and Uniswap of one devnet."""

    deployment: MorphoDeployment
    lender: str
    borrowers: tuple[MorphoBorrower, ...]
    uniswap: UniswapV3 | None = None

    @property
    def morpho(self) -> str:
        """The Morpho contract."""
        return self.deployment.morpho


async def build_morpho_world(
    client: ChainClient,
    *,
    borrowers: int,
    seed: int,
    uniswap: bool = True,
    markets: Sequence[MarketSpec] = MARKETS,
) -> MorphoWorld:
    """Deploy Morpho and its markets, supply liquidity, open ``borrowers`` positions.

    ``uniswap``: also deploy Uniswap V3 with a pool per market pair (after the positions, so
    Morpho's addresses do not depend on it). ``markets``: every devnet market by default.
    """
    dep = Deployer(client)
    deployment = await deploy_morpho(dep, ADMIN, FEE_RECIPIENT, markets)
    planned = plan_borrowers(borrowers, seed, deployment)
    lender = await open_positions(dep, ADMIN, deployment, planned, seed)
    pools = None
    if uniswap:
        tokens = deployment.tokens
        pairs = [(m.collateral, m.loan) for m in markets]
        pools = await deploy_uniswap(
            dep, ADMIN, tokens, {s: t.usd for s, t in tokens.items()}, pairs
        )
    return MorphoWorld(deployment, lender, tuple(planned), pools)
