"""The live market state for ``keeper radar`` and ``keeper stress``.

The one module of keeper.risk that talks to a node. It builds the state exactly as ``keeper run``
does (connect, backfill, read every account at the head through the market monitor), then
freezes it as a :class:`MarketState`; with a Uniswap V3 factory configured it also reads each
reserve pair's pools at the same block.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations
from typing import TYPE_CHECKING

from keeper.chain.batch import eth_call, ok, run_calls
from keeper.errors import RpcError
from keeper.oracles.dex import FACTORY, FEE_TIERS, POOL
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.market import ERC20
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.reads import read_base_currency_unit
from keeper.risk.market import MarketState, PoolState
from keeper.risk.univ3 import MAX_TICK, MIN_TICK

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.settings import Settings

_ZERO = "0x" + "00" * 20
# Ticks each side of a pool's current tick whose bitmap is read: 1.0001^23028 ~ 10, so a price
# divided or multiplied by 10 stays within what is known of the pool's depth.
TICK_WINDOW = 23_028


async def load_state(settings: Settings) -> MarketState:
    """Every account's state at the head, as the keeper's own engine sees it."""
    client, _, market = await connect(settings)
    try:
        monitor = MarketMonitor(client, market, settings)
        head = await monitor.start()
        tracker = monitor.tracker
        if tracker.dirty:
            raise RpcError(
                f"{len(tracker.dirty)} accounts could not be read at block {head.number}; "
                "retry, or check the node",
                method="eth_call",
            )
        assets = [r.asset for r in sorted(tracker.reserves.values(), key=lambda r: r.index)]
        symbols = await _symbols(client, assets)
        base_unit = await read_base_currency_unit(client, market)
        pools = (
            await read_pools(client, settings.uniswap_factory, assets, head.number)
            if settings.uniswap_factory is not None
            else []
        )
        return MarketState(
            block=head.number,
            timestamp=head.timestamp,
            reserves=dict(tracker.reserves),
            emodes=dict(tracker.emodes),
            prices=dict(tracker.prices),
            accounts=dict(monitor.engine.accounts),
            symbols=symbols,
            base_unit=base_unit,
            pool_version=market.rules.version.value,
            pools=pools,
        )
    finally:
        await client.close()


async def _symbols(client: ChainClient, assets: Sequence[str]) -> dict[str, str]:
    out = {}
    for asset in assets:
        try:
            (symbol,) = ERC20.decode("symbol", await client.call(asset, ERC20.encode("symbol")))
            out[asset] = str(symbol)
        except RpcError:  # a token without a string symbol is shown by address
            continue
    return out


async def read_pools(
    client: ChainClient, factory: str, assets: Sequence[str], block: int
) -> list[PoolState]:
    """Every Uniswap V3 pool between two reserves, over the usual fee tiers, at ``block``.

    With its price, in-range liquidity, tick spacing, and the initialized ticks (with their
    ``liquidityNet``) of the bitmap words within ``TICK_WINDOW`` ticks of the current one.
    """
    keys = [
        (a, b, fee)
        for a, b in combinations(sorted(assets, key=lambda x: int(x, 16)), 2)
        for fee in FEE_TIERS
    ]
    calls = [eth_call(factory, FACTORY.encode("getPool", a, b, fee), block) for a, b, fee in keys]
    found = []
    for (a, b, fee), raw in zip(keys, await run_calls(client, calls, len(calls) or 1), strict=True):
        (pool,) = FACTORY.decode("getPool", ok(raw))
        if str(pool).lower() != _ZERO:
            found.append((str(pool), a, b, fee))
    names = ("slot0", "liquidity", "tickSpacing")
    reads = [eth_call(pool, POOL.encode(fn), block) for pool, *_ in found for fn in names]
    results = [ok(r) for r in await run_calls(client, reads, len(reads) or 1)]
    heads = []
    for k, (pool, token0, token1, fee) in enumerate(found):
        slot0, liquidity, spacing = (results[3 * k + i] for i in range(3))
        sqrt_price, tick = (int(v) for v in POOL.decode("slot0", slot0)[:2])
        heads.append(
            PoolState(
                pool,
                token0,
                token1,
                fee,
                sqrt_price,
                int(POOL.decode("liquidity", liquidity)[0]),
                tick,
                int(POOL.decode("tickSpacing", spacing)[0]),
            )
        )
    return [await _with_ticks(client, p, block) for p in heads]


async def _with_ticks(client: ChainClient, pool: PoolState, block: int) -> PoolState:
    """The pool with the initialized ticks of the bitmap words around its tick."""
    spacing = pool.tick_spacing
    here = (pool.tick // spacing) >> 8
    span = TICK_WINDOW // (spacing * 256) + 1
    lowest, highest = (MIN_TICK // spacing) >> 8, (MAX_TICK // spacing) >> 8
    words = list(range(max(here - span, lowest), min(here + span, highest) + 1))
    calls = [eth_call(pool.address, POOL.encode("tickBitmap", w), block) for w in words]
    ticks = []
    for word, raw in zip(words, await run_calls(client, calls, len(calls) or 1), strict=True):
        (bits,) = POOL.decode("tickBitmap", ok(raw))
        ticks += [(word * 256 + bit) * spacing for bit in range(256) if int(bits) >> bit & 1]
    reads = [eth_call(pool.address, POOL.encode("ticks", t), block) for t in ticks]
    nets = [
        int(POOL.decode("ticks", ok(raw))[1])
        for raw in await run_calls(client, reads, len(reads) or 1)
    ]
    return replace(
        pool,
        tick_low=words[0] * 256 * spacing,
        tick_high=(words[-1] * 256 + 255) * spacing,
        ticks=tuple(zip(ticks, nets, strict=True)),
    )
