"""The race's shocks: the smallest price falls that open new liquidations, each confirmed on chain.

The harness holds its own exact health engine (``MarketMonitor``); per shock it picks the
smallest fall of WETH's or WBTC's feed (alternating) that makes at least two more accounts
liquidatable, restores a feed that has fallen too far, confirms each opportunity on chain and
waits until every one is liquidated (or 10 blocks) and both keepers' nonces are quiet.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bench import world_cache
from keeper.devnet.scenarios import shock_price
from keeper.protocols.aave_v3.market import POOL
from keeper.protocols.aave_v3.reads import read_account_data

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.devnet.world import World
    from keeper.protocols.aave_v3.monitor import MarketMonitor
    from keeper.risk.engine import HealthEngine

WAD = 10**18
ASSETS = ("WETH", "WBTC")
MIN_NEW = 2  # opportunities per shock (at least)
STEP_BPS = 5
COARSE_BPS = 50
MAX_FALL_BPS = 2_500  # per shock
RESTORE_BELOW = Decimal("0.70")  # restore a feed that has fallen under 70% of its start
RESOLVE_BLOCKS = 10


@dataclass
class Opportunity:
    """An account made liquidatable by one shock."""

    account: str
    shock_block: int
    winner: str = "none"
    block: int | None = None
    log_index: int = 0


async def wait_block(client: ChainClient, number: int, timeout_s: float = 30) -> None:
    """Until block ``number`` is mined (RuntimeError after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while await client.block_number() < number:
        if time.monotonic() > deadline:
            raise RuntimeError(f"block {number} did not come")
        await asyncio.sleep(0.05)


def _new_liquidatable(engine: HealthEngine, asset: str, old: int, new: int) -> set[str]:
    def liquidatable() -> set[str]:
        return {
            d.account
            for d in engine.below()
            if d.total_debt_base > 0 and d.total_collateral_base > 0
        }

    before = liquidatable()
    engine.on_price(asset, new)
    after = liquidatable()
    engine.on_price(asset, old)
    return after - before


def _smallest_fall(
    engine: HealthEngine, asset: str, old: int, start: int
) -> tuple[int | None, set[str]]:
    """The smallest fall (bps, in 5 bps steps) that makes MIN_NEW more accounts liquidatable.

    Coarse steps first, then fine steps inside the first coarse step that is enough.
    """
    previous = 0
    for coarse in range(COARSE_BPS, MAX_FALL_BPS + 1, COARSE_BPS):
        new = old * (10_000 - coarse) // 10_000
        if new < start * RESTORE_BELOW:
            return None, set()
        if len(_new_liquidatable(engine, asset, old, new)) >= MIN_NEW:
            for bps in range(previous + STEP_BPS, coarse + 1, STEP_BPS):
                predicted = _new_liquidatable(engine, asset, old, old * (10_000 - bps) // 10_000)
                if len(predicted) >= MIN_NEW:
                    return bps, predicted
        previous = coarse
    return None, set()


async def _nonces_quiet(client: ChainClient, addresses: list[str]) -> tuple[int, ...] | None:
    out = []
    for address in addresses:
        latest = await client.get_transaction_count(address, "latest")
        if latest != await client.get_transaction_count(address, "pending"):
            return None
        out.append(latest)
    return tuple(out)


async def _settle(client: ChainClient, world: World, opps: list[Opportunity]) -> None:
    """Until every opportunity is liquidated (or 10 blocks), then both keepers are quiet."""
    pool = world.market.pool
    shock_block = opps[0].shock_block if opps else await client.block_number()
    topic = POOL.topic("LiquidationCall")
    users = ["0x" + "00" * 12 + o.account[2:].lower() for o in opps]
    while opps:
        head = await client.block_number()
        if head <= shock_block:
            await asyncio.sleep(0.1)
            continue
        logs = await client.get_logs(
            address=pool,
            topics=[topic, None, None, users],
            from_block=shock_block + 1,
            to_block=head,
        )
        decoded = [POOL.decode_log(e) for e in logs]
        done = {str(d[1]["user"]).lower() for d in decoded if d is not None}
        if all(o.account.lower() in done for o in opps):
            break
        if await client.block_number() > shock_block + RESOLVE_BLOCKS:
            break
        await asyncio.sleep(0.2)
    addresses = [world_cache.OURS_ADDRESS, world_cache.BASELINE_ADDRESS]
    previous = None
    deadline = await client.block_number() + 15
    while await client.block_number() < deadline:
        head = await client.block_number()
        now = await _nonces_quiet(client, addresses)
        if now is not None and now == previous:
            return
        previous = now
        await wait_block(client, head + 1)


async def _confirm(
    client: ChainClient, world: World, candidates: set[str], block: int
) -> list[str]:
    """The candidates below 1 at ``block`` and not below 1 at ``block - 1``."""
    from keeper.protocols.aave_v3.market import Market  # noqa: PLC0415

    market = Market(world.market.pool_addresses_provider, world.market.pool, "", "", "")
    after, _ = await read_account_data(client, market, sorted(candidates), block, 200)
    before, _ = await read_account_data(client, market, sorted(candidates), block - 1, 200)
    return sorted(
        a
        for a in candidates
        if a in after
        and a in before
        and after[a].health_factor < WAD
        and after[a].total_debt_base > 0
        and before[a].health_factor >= WAD
    )


async def run_shocks(
    client: ChainClient, world: World, monitor: MarketMonitor, count: int
) -> tuple[list[Opportunity], list[dict[str, Any]]]:
    """``count`` shocks, each settled; the opportunities they made and a line per shock."""
    provider = world.market.pool_addresses_provider
    start_prices = {s: monitor.tracker.prices[world.asset(s).address] for s in ASSETS}
    opportunities: list[Opportunity] = []
    shocks: list[dict[str, Any]] = []
    turn = 0
    attempts = 0
    while len(shocks) < count and attempts < 4 * count:
        attempts += 1
        symbol = ASSETS[turn % len(ASSETS)]
        turn += 1
        await monitor.step()
        asset = world.asset(symbol).address
        old = monitor.tracker.prices[asset]
        chosen, predicted = _smallest_fall(monitor.engine, asset, old, start_prices[symbol])
        if chosen is None:  # fallen too far or nothing left near the edge: restore
            pct = Decimal(start_prices[symbol] - old) * 100 / Decimal(old)
            await shock_price(client, provider, symbol, pct)
            continue
        # Candidates to confirm: the predicted ones and anyone else close to 1 after the move.
        shock = await shock_price(client, provider, symbol, Decimal(-chosen) / 100)
        confirmed = await _confirm(client, world, predicted, shock.block)
        opps = [Opportunity(a, shock.block) for a in confirmed]
        shocks.append(
            {
                "asset": symbol,
                "fall_bps": chosen,
                "block": shock.block,
                "predicted": len(predicted),
                "opportunities": len(opps),
            }
        )
        opportunities.extend(opps)
        await _settle(client, world, opps)
    return opportunities, shocks
