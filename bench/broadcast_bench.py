"""From seeing a block to broadcasting its first liquidation at N accounts (issue 16, item 1).

    python bench/broadcast_bench.py 100000 [--repeat 15]
prints one JSON line.

Method. One process, one core, the keeper's own code. The market of N accounts is the
synthetic one of bench/synthetic.py (accounts liquidatable at the start left out), held by a
real ``AaveLendingMarket`` whose tracker and engine are given that state; the chain is a real
local Anvil holding the 1,000-borrower devnet world of bench/world_cache.py (Aave 3.6, our
contract deployed, WETH -40%), with mining off so that broadcasts stay pending. For one block
whose feed moves one asset (-1%: a block; -10%: a shock), the clock starts with the header in
hand ("head seen") and stops when ``eth_sendRawTransaction`` of the first liquidation returned
("broadcast"). In between, as the keeper does it:

- the block's logs, one ``eth_getLogs`` by block hash to the node (what the block did: needed);
- the engine at the new price: accrued, the accounts the move can take under the urgent bound
  recomputed, those under 1 listed (``MarketMonitor.step(defer=True)``);
- ``confirm``, the plan of the largest-debt candidate (``AaveLendingMarket.plan``), its call
  through our contract (``contract_call``), then signing, journaling (SQLite) and the broadcast
  by the keeper's ``TxSender``.

``new``: this code (candidates and plan inputs from the tracked state, no read; the urgent set
limited to the accounts the moved price reaches). ``baseline``: the previous method in the same
run, on the same engine: every account under the urgent bound recomputed, ``getUserAccountData``
of every candidate in batches of ``batch_size`` before planning, and the batch of reserve cash,
our balances and allowances before the plan. The previous method read the Pool at the block for
accounts the devnet does not have: those reads go to real devnet borrowers instead (one per
candidate, cycled), so the node does the same work per item.

The simulation of the exact transaction (``eth_simulateV1``) stays on the path: it is what keeps
a plan made from stale inputs (reserve cash, our tokens) from being sent. It needs a real
liquidation, so it is measured apart, on the devnet world (a real candidate of the -40% shock,
planned by a real market), with the node's gas estimate after it (before) and beside it (now).
Each figure: p50 / p95 over ``--repeat`` blocks (the engine put back to the block before
after each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synthetic, world_cache
from keeper.chain.client import ChainClient
from keeper.core.outcome import TxPurpose
from keeper.core.plan import Skip
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import Anvil, AnvilOptions
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.lending_market import AaveLendingMarket
from keeper.protocols.aave_v3.monitor import URGENT_HF
from keeper.protocols.aave_v3.reads import Available, read_account_data, read_available
from keeper.risk.engine import HealthEngine, move_threshold
from keeper.settings import load_settings
from keeper.strategy.gas import GasPricing

if TYPE_CHECKING:
    from keeper.app import Keeper
    from keeper.protocols.aave_v3.market import Market
    from keeper.settings import Settings

WORLD = 1_000
BATCH = 200  # the keeper's default batch_size
GAS_LIMIT = 1_500_000  # the broadcast's limit (the simulation's padded figure in the keeper)
PLENTY = 10**40  # our tokens and the reserves' cash in the synthetic market: never the limit


def _pct(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, (len(ordered) * q) // 100)], 2)


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p95": _pct(values, 95)}


def _synthetic_market(client: ChainClient, market: Market, settings: Settings, n: int) -> Any:
    """A real AaveLendingMarket holding the synthetic market's state (never started)."""
    aave = AaveLendingMarket(client, market, settings)
    reserves = synthetic.reserves()
    prices = synthetic.prices(reserves)
    engine = HealthEngine()
    engine.set_market(reserves, synthetic.emodes(), prices, 1_700_100_000)
    engine.upsert(synthetic.accounts(n))
    engine.remove([a for a, d in engine.data.items() if d.health_factor < 10**18])
    tracker = aave.monitor.tracker
    tracker.reserves = {r.asset: r for r in reserves}
    tracker.prices, tracker.emodes = dict(prices), synthetic.emodes()
    aave.monitor.engine = engine
    return aave


def _cash(aave: AaveLendingMarket, holder: str, block: int) -> None:
    tracker = aave.monitor.tracker
    assets = list(tracker.reserves)
    aave.our_tokens.available = Available(
        dict.fromkeys(assets, PLENTY), dict.fromkeys(assets, PLENTY), dict.fromkeys(assets, 0)
    )
    aave.our_tokens.holder, aave.our_tokens.block = holder, block


async def _reaction(  # noqa: PLR0915 - one timed sequence, read top to bottom
    keeper: Keeper,
    aave: AaveLendingMarket,
    real: AaveLendingMarket,
    standins: list[str],
    fall_pct: int,
    *,
    baseline: bool,
    repeat: int,
) -> dict[str, Any]:
    """``repeat`` blocks of one move, head seen -> first broadcast, by one method."""
    client, sender = keeper.client, keeper.execution.sender
    executor = keeper.execution.executor
    monitor, engine = aave.monitor, aave.monitor.engine
    tracker = monitor.tracker
    reserves, emodes = list(tracker.reserves.values()), tracker.emodes
    prices = dict(tracker.prices)
    asset = reserves[0].asset  # the ETH-like reserve, the most used
    moved = {**prices, asset: prices[asset] * (100 - fall_pct) // 100}
    threshold = move_threshold(URGENT_HF, prices, {asset: moved[asset]})
    if threshold is None:
        raise RuntimeError("no bound for a positive price")
    head = await client.get_block("latest")
    head_hash, block = str(head["hash"]), int(head["number"], 16)
    tracker.block = block
    world_reserves = real.monitor.tracker.reserves
    world_assets, a_tokens = list(world_reserves), {a: r.a_token for a, r in world_reserves.items()}
    contract = executor.liquidator
    totals: list[float] = []
    parts: dict[str, list[float]] = {
        "logs": [],
        "engine": [],
        "confirm": [],
        "plan": [],
        "send": [],
    }
    found: tuple[int, int, int] = (0, 0, 0)
    rests: list[float] = []
    for _ in range(repeat):
        sender.fees.pin(block, 10**9, 10**9)
        _cash(aave, executor.holder or "", block)
        t0 = time.perf_counter()
        await client.request("eth_getLogs", [{"blockHash": head_hash, "address": [real.spender]}])
        t1 = time.perf_counter()
        engine.set_market(reserves, emodes, moved, 1_700_100_012)
        if baseline:
            urgent = engine.under(threshold)
            recomputed = engine.recompute(urgent)
        else:
            urgent = engine.under(URGENT_HF) | engine.under_exposed(threshold, [asset])
            recomputed = monitor._first_wave(urgent)  # noqa: SLF001 - the step's own work
        below = aave.below_one()
        t2 = time.perf_counter()
        if baseline:  # getUserAccountData of every candidate, then the local data as before
            wanted = [standins[k % len(standins)] for k in range(len(below))]
            await read_account_data(client, real.market, wanted, block, BATCH)
        candidates = await aave.confirm(below)
        aave.unchecked.clear()
        t3 = time.perf_counter()
        ctx = keeper.cycle.context(block, GasPricing(10**9, prices[reserves[0].asset]))
        plan = None
        for candidate in candidates:
            if baseline:
                await read_available(client, real.market, world_assets, a_tokens, executor.holder)
            result = await aave.plan(candidate, ctx)
            if not isinstance(result, Skip):
                plan = result
                break
        if plan is None:
            raise RuntimeError("no candidate had a plan")
        call = aave.contract_call(plan, contract, 0)
        t4 = time.perf_counter()
        await sender.send(
            call.to, call.data, GAS_LIMIT, purpose=TxPurpose.LIQUIDATION, meta=plan.to_meta()
        )
        t5 = time.perf_counter()
        totals.append((t5 - t0) * 1000)
        for key, (a, b) in {
            "logs": (t0, t1),
            "engine": (t1, t2),
            "confirm": (t2, t3),
            "plan": (t3, t4),
            "send": (t4, t5),
        }.items():
            parts[key].append((b - a) * 1000)
        t6 = time.perf_counter()
        rest = await aave.more_candidates()  # the rest of the urgent set, after the broadcast
        aave.unchecked.clear()
        rests.append((time.perf_counter() - t6) * 1000)
        found = (len(urgent), recomputed, len(candidates) + len(rest))
        # Back to the block before: every repetition does the same work (the node's pool too).
        await client.request("anvil_dropAllTransactions", [])
        await sender.nonces.resync()
        engine.set_market(reserves, emodes, prices, 1_700_100_000)
        engine.recompute(urgent)
    return {
        "method": "baseline" if baseline else "new",
        "fall_pct": fall_pct,
        "urgent": found[0],
        "recomputed_before_broadcast": found[1],
        "candidates": found[2],
        "head_seen_to_broadcast_ms": _stats(totals),
        "parts_median_ms": {k: round(statistics.median(v), 2) for k, v in parts.items()},
        # After the first broadcast: the urgent accounts left, their candidates (new only).
        "rest_after_broadcast_ms": _stats(rests),
    }


async def _simulation(keeper: Keeper, real: AaveLendingMarket, repeat: int) -> dict[str, Any]:
    """The simulation of a real liquidation through our contract, and the estimate after it.

    Now the simulation alone is on the path (its padded gas is the limit); the previous
    method asked ``eth_estimateGas`` after it.
    """
    executor = keeper.execution.executor
    tx = executor.tx  # type: ignore[attr-defined]  # ContractInventoryExecutor's transactor
    ctx = keeper.cycle.context(real.block, GasPricing(0, 0))
    plan = None
    for candidate in await real.confirm(real.below_one()):
        result = await real.plan(candidate, ctx)
        if not isinstance(result, Skip):
            plan = result
            break
    if plan is None:
        raise RuntimeError("the devnet shock left nothing to liquidate")
    call = real.contract_call(plan, executor.liquidator, 0)
    if call is None:
        raise RuntimeError("no contract call")
    alone, after = [], []
    simulated: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        simulated = await tx.simulate([call])
        t1 = time.perf_counter()
        await tx.estimate(call)
        t2 = time.perf_counter()
        alone.append((t1 - t0) * 1000)
        after.append((t2 - t0) * 1000)
    if not isinstance(simulated, tuple):
        raise TypeError(f"the liquidation does not simulate: {simulated}")
    return {
        "simulate_ms": _stats(alone),
        "simulate_then_estimate_ms": _stats(after),
        "gas_simulated": simulated[1],
    }


async def run(n: int, repeat: int) -> dict[str, Any]:
    """The devnet world, the synthetic market of ``n`` accounts, both moves and methods."""
    snap = world_cache.snapshot(WORLD)
    journal_dir = Path(tempfile.mkdtemp(prefix="broadcast-bench-"))
    with Anvil(AnvilOptions(load_state=snap.state)) as anvil:
        provider = snap.world.market.pool_addresses_provider
        async with ChainClient(anvil.url) as setup:
            contract = await deploy_keeper_liquidator(setup, snap.world, world_cache.OURS_ADDRESS)
            await shock_price(setup, provider, "WETH", -40)
        settings = load_settings(
            rpc_url=anvil.url,
            pool_addresses_provider=provider,
            private_key=world_cache.OURS_KEY,
            journal_path=str(journal_dir / "journal.sqlite"),
            flash_liquidator=contract,
        )
        from keeper.app import Keeper  # noqa: PLC0415 - the wiring, after the path is set

        client, chain_id, market = await connect(settings)
        try:
            real = AaveLendingMarket(client, market, settings)
            keeper = Keeper(settings, client, chain_id, real)
            await real.start()
            simulation = await _simulation(keeper, real, repeat)
            await client.request("evm_setAutomine", [False])  # broadcasts stay pending
            await keeper.execution.sender.nonces.resync()
            aave = _synthetic_market(client, market, settings, n)
            standins = list(snap.world.borrowers)
            rows = [
                await _reaction(keeper, aave, real, standins, fall, baseline=old, repeat=repeat)
                for fall in (1, 10)
                for old in (True, False)
            ]
        finally:
            await client.close()
    return {
        "accounts": len(aave.monitor.engine.data),
        "repeat": repeat,
        "reaction": rows,
        "simulation": simulation,
    }


def main() -> None:
    """Parse the arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("accounts", type=int)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.accounts, args.repeat))))


if __name__ == "__main__":
    main()
