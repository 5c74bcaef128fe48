"""The cascade's pool model against the real Uniswap V3 pool on the devnet (v3-core 1.0.1).

The devnet's WETH/USDC pool gets two narrow positions around its price (so a sale crosses
initialized ticks and word boundaries of the tick bitmap); the pool is read as `keeper stress`
reads it (keeper.risk.live.read_pools: slot0, liquidity, tick spacing, the bitmap words and
ticks around the price), and each sale the model makes is compared with the pool's own swap
as QuoterV2 runs it at the same block.
"""

from __future__ import annotations

import pytest

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import npm_artifact
from keeper.devnet.deployer import DEPLOY_GAS, Deployer, codec_of
from keeper.risk.amm import V3Side
from keeper.risk.live import read_pools

pytestmark = pytest.mark.integration
QUOTER = Codec.named("uniswap_v3/IQuoterV2")
POOL = Codec.named("uniswap_v3/IUniswapV3Pool")


async def _add_position(dep: Deployer, devnet, pool: str, lower: int, upper: int):
    """Mint plenty of both tokens to the admin and add what [lower, upper) takes of them."""
    uni = devnet.world.uniswap
    admin = devnet.world.admin
    token0 = str(POOL.decode("token0", await dep.client.call(pool, POOL.encode("token0")))[0])
    token1 = str(POOL.decode("token1", await dep.client.call(pool, POOL.encode("token1")))[0])
    erc20 = codec_of(npm_artifact("MintableERC20"))
    manager = codec_of(npm_artifact("NonfungiblePositionManager", "uniswap-periphery"))
    amounts = []
    for token in (token0, token1):
        decimals = next(
            a.decimals for a in devnet.world.market.assets.values() if a.address == token
        )
        units = 5_000 * 10**decimals if decimals == 18 else 15_000_000 * 10**decimals
        await dep.call_fn(admin, token, erc20, "mint(address,uint256)", admin, units)
        await dep.call_fn(admin, token, erc20, "approve", uni.position_manager, units)
        amounts.append(units)
    await dep.call_fn(
        admin,
        uni.position_manager,
        manager,
        "mint",
        (token0, token1, uni.fee, lower, upper, *amounts, 0, 0, admin, 2**40),
        gas=DEPLOY_GAS,
    )
    return token0, token1


@pytest.mark.asyncio
async def test_sales_equal_the_pools_own_swaps(devnet):
    """Selling WETH or USDC into the real pool, through a narrow position's ticks and several
    bitmap words: the model's amount out and price after equal QuoterV2's to the unit, and it
    uses the whole amount (everything stays within the ticks read).
    """
    uni = devnet.world.uniswap
    assert uni is not None
    weth = devnet.world.market.assets["WETH"].address
    usdc = devnet.world.market.assets["USDC"].address
    pool = next(p for name, p in uni.pools.items() if set(name.split("/")) == {"WETH", "USDC"})
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        slot0 = POOL.decode("slot0", await client.call(pool, POOL.encode("slot0")))
        here = int(slot0[1]) // 60 * 60
        await _add_position(dep, devnet, pool, here - 600, here + 1200)
        await _add_position(dep, devnet, pool, here - 12_000, here - 1800)
        await _add_position(dep, devnet, pool, here + 1800, here + 12_000)
        block = int(await client.request("eth_blockNumber", []), 16)
        (state,) = await read_pools(client, uni.factory, [weth, usdc], block)
        assert state.address.lower() == pool.lower()
        assert len(state.ticks) == 6  # the positions' ticks are within the window read
        compared = most_crossed = 0
        sales = {
            weth: [10**16, 10 * 10**18, 3_000 * 10**18, 15_000 * 10**18],
            usdc: [10 * 10**6, 30_000 * 10**6, 5_000_000 * 10**6, 40_000_000 * 10**6],
        }
        for asset, amounts in sales.items():
            for amount in amounts:
                other = usdc if asset == weth else weth
                raw = await client.call(
                    uni.quoter,
                    QUOTER.encode("quoteExactInputSingle", (asset, other, amount, uni.fee, 0)),
                    block,
                )
                out, price_after, crossed, _ = QUOTER.decode("quoteExactInputSingle", raw)
                most_crossed = max(most_crossed, int(crossed))
                side = V3Side(state, asset)
                used, got = side.curve.swap(side.token0, amount)
                assert (used, got, side.curve.sqrt_price) == (amount, out, price_after)
                compared += 1
        assert compared == 8
        assert most_crossed >= 2  # the largest sales cross initialized ticks
