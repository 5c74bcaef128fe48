"""The live market state for ``keeper radar`` and ``keeper stress``.

The one module of keeper.risk that talks to a node. It builds the state exactly as ``keeper run``
does (connect, backfill, read every account at the head through the market monitor), then
freezes it as a :class:`MarketState`; with a Uniswap V3 factory configured it also reads each
reserve pair's pools at the same block.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from keeper.chain.batch import eth_call, run_calls
from keeper.errors import RpcError
from keeper.oracles.dex import FACTORY, FEE_TIERS, POOL
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.market import ERC20
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.reads import read_base_currency_unit
from keeper.risk.market import MarketState, PoolState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keeper.chain.client import ChainClient
    from keeper.settings import Settings

_ZERO = "0x" + "00" * 20


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
    """Every Uniswap V3 pool between two reserves, over the usual fee tiers, at ``block``."""
    keys = [
        (a, b, fee)
        for a, b in combinations(sorted(assets, key=lambda x: int(x, 16)), 2)
        for fee in FEE_TIERS
    ]
    calls = [eth_call(factory, FACTORY.encode("getPool", a, b, fee), block) for a, b, fee in keys]
    found = []
    for (a, b, fee), raw in zip(keys, await run_calls(client, calls, len(calls) or 1), strict=True):
        if isinstance(raw, RpcError):
            raise raw
        (pool,) = FACTORY.decode("getPool", raw)
        if str(pool).lower() != _ZERO:
            found.append((str(pool), a, b, fee))
    reads = [
        eth_call(pool, POOL.encode(fn), block)
        for pool, *_ in found
        for fn in ("slot0", "liquidity")
    ]
    results = await run_calls(client, reads, len(reads) or 1)
    pools = []
    for k, (pool, token0, token1, fee) in enumerate(found):
        slot0, liquidity = results[2 * k], results[2 * k + 1]
        if isinstance(slot0, RpcError):
            raise slot0
        if isinstance(liquidity, RpcError):
            raise liquidity
        pools.append(
            PoolState(
                pool,
                token0,
                token1,
                fee,
                int(POOL.decode("slot0", slot0)[0]),
                int(POOL.decode("liquidity", liquidity)[0]),
            )
        )
    return pools
