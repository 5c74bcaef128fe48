"""Uniswap V3 on the devnet, from the @uniswap/v3-core and v3-periphery artifacts.

Every pair of listed assets (or the pairs given: a Morpho devnet's markets) gets a 0.3% pool
initialised at the oracle prices, with deep full-range liquidity, so that a keeper can swap
seized collateral back to the debt asset. The tokens are the devnet's ``MintableERC20``s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Protocol

from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import DEPLOY_GAS, Deployer, codec_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

FEE = 3000  # 0.3%, tick spacing 60
TICK_SPACING = 60
MAX_TICK = 887272 // TICK_SPACING * TICK_SPACING
DEPTH_USD = 50_000_000  # per side of each pool
_DEADLINE = 2**40


class PoolToken(Protocol):
    """A devnet token a pool is made of (the Aave or the Morpho devnet's)."""

    @property
    def address(self) -> str:
        """The token."""
        ...

    @property
    def decimals(self) -> int:
        """Its decimals."""
        ...


@dataclass
class UniswapV3:
    """The devnet's Uniswap V3 contracts and pools."""

    factory: str
    router: str
    quoter: str
    position_manager: str
    fee: int = FEE
    pools: dict[str, str] = field(default_factory=dict)  # "WETH/USDC" -> pool


def sqrt_price_x96(price0: int, decimals0: int, price1: int, decimals1: int) -> int:
    """sqrt(token1 units per token0 unit) x 2^96, from USD prices (same base for both)."""
    return math.isqrt(price0 * 10**decimals1 * 2**192 // (price1 * 10**decimals0))


async def deploy_uniswap(
    dep: Deployer,
    admin: str,
    assets: Mapping[str, PoolToken],
    prices: Mapping[str, int],
    pairs: Sequence[tuple[str, str]] | None = None,
) -> UniswapV3:
    """Deploy the factory, router, quoter and position manager, and a funded pool per pair.

    ``assets`` by symbol (one is WETH, the periphery's wrapped native token), ``prices`` in USD
    with 8 decimals by symbol; ``pairs`` (symbols) default to every pair of ``assets``.
    """
    factory_art = npm_artifact("UniswapV3Factory", "uniswap-core")
    factory = await dep.deploy(admin, factory_art)
    weth = assets["WETH"].address
    zero = "0x" + "00" * 20
    router = await dep.deploy(
        admin, npm_artifact("SwapRouter", "uniswap-periphery"), [factory, weth]
    )
    quoter = await dep.deploy(admin, npm_artifact("QuoterV2", "uniswap-periphery"), [factory, weth])
    npm_art = npm_artifact("NonfungiblePositionManager", "uniswap-periphery")
    manager = await dep.deploy(admin, npm_art, [factory, weth, zero])
    uni = UniswapV3(factory, router, quoter, manager)
    factory_c = codec_of(factory_art)
    pool_c = codec_of(npm_artifact("UniswapV3Pool", "uniswap-core"))
    npm_c = codec_of(npm_art)
    token_c = codec_of(npm_artifact("MintableERC20"))
    # One pool per unordered pair: (A, B) and (B, A) name the same pool.
    wanted = combinations(sorted(assets), 2) if pairs is None else pairs
    for a, b in sorted({(min(a, b), max(a, b)) for a, b in wanted}):
        t_a, t_b = assets[a], assets[b]
        (s0, i0), (s1, i1) = sorted([(a, t_a), (b, t_b)], key=lambda x: int(x[1].address, 16))
        await dep.call_fn(
            admin, factory, factory_c, "createPool", i0.address, i1.address, FEE, gas=DEPLOY_GAS
        )
        (pool,) = await dep.read(factory, factory_c, "getPool", i0.address, i1.address, FEE)
        await dep.call_fn(
            admin,
            pool,
            pool_c,
            "initialize",
            sqrt_price_x96(prices[s0], i0.decimals, prices[s1], i1.decimals),
        )
        amounts = []
        for sym, info in ((s0, i0), (s1, i1)):
            amount = DEPTH_USD * 10**8 * 10**info.decimals // prices[sym]
            await dep.call_fn(admin, info.address, token_c, "mint(address,uint256)", admin, amount)
            await dep.call_fn(admin, info.address, token_c, "approve", manager, amount)
            amounts.append(amount)
        await dep.call_fn(
            admin,
            manager,
            npm_c,
            "mint",
            (
                i0.address,
                i1.address,
                FEE,
                -MAX_TICK,
                MAX_TICK,
                amounts[0],
                amounts[1],
                0,
                0,
                admin,
                _DEADLINE,
            ),
            gas=DEPLOY_GAS,
        )
        uni.pools[f"{s0}/{s1}"] = pool
    return uni
