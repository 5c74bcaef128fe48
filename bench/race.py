"""Head-to-head race: our keeper against the baseline bot, on a devnet with 1 s blocks.

    python bench/race.py 1000 [--shocks 20] [--tip-gwei 3] [--baseline x1.2|share|self|none]
                         [--path contract|direct]
prints one JSON line (see bench/README.md for every field).

Both keepers run as subprocesses against the same Anvil (interval mining, one block a second),
loaded from a cached world of N borrowers (bench/world_cache.py), with the same inventory and the
same tip cap (bench/race_keepers.py): ours is ``keeper run`` configured through ``KEEPER_*``
variables (its default bidding, or ``--tip-gwei`` as a fixed tip), the baseline is ``python -m
bench.baseline.bot`` (``eth_gasPrice`` x 1.2, a share of its expected profit, or not run: ours
alone). Both poll the head every 100 ms over HTTP.

1. Quiet window: a few blocks without price moves; our keeper's RPC requests per block from its
   ``/metrics`` (``keeper_rpc_latency_seconds_count``, a batch counts as one request) and the
   baseline's from its own counter.
2. Shocks: the harness keeps its own copy of the exact health engine (``MarketMonitor``) and, for
   each shock, picks the smallest fall of WETH's or WBTC's feed (alternating) that makes at least
   two more accounts liquidatable; when a feed has fallen too far it is restored first. Each
   opportunity is confirmed on chain (``getUserAccountData`` below 1 at the shock's block, not at
   the block before). After the shock the harness waits until every opportunity is liquidated
   (or 10 blocks) and both keepers' nonces are quiet.
3. Winners: the ``liquidator`` of the first ``LiquidationCall`` of each opportunity's account
   after the shock. Reaction: from each keeper's own log lines, the broadcast time of its first
   transaction after the shock minus the time its cycle saw the shock's block. Tips paid: per
   liquidation transaction, its effective gas price minus its block's base fee
   (bench/race_figures.py). Gas spent losing: per keeper and shock, the gas of its transactions
   that did not liquidate (bench/race_gas.py); against a copy of ourselves (``--baseline self``)
   this is what "losing is cheap" is measured by, before (``--path direct``) and after
   (``--path contract``, the default: our contract, deployed for each keeper first).

A large world (50,000 accounts and more, or ``--warm``) is loaded without its history
(bench/world_lean.py) and both keepers start warm: the harness reads every account of the
world's list at the head before the chain mines, our keeper restores that state from a
checkpoint file, the baseline gets the list of borrowers (``_warm``). Anvil's resident memory
at each stage is in ``anvil_rss_mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench import race_figures as figures
from bench import world_cache, world_lean
from bench.race_gas import lost_gas
from bench.race_keepers import (
    TIP_BUDGET_GWEI,
    BaselineMode,
    Contest,
    InventoryPath,
    Keepers,
    Warm,
    start,
    stop,
)
from bench.race_shocks import run_shocks, wait_block
from keeper.chain.client import ChainClient
from keeper.devnet.liquidator import deploy_keeper_liquidator
from keeper.execution.fees import gwei_to_wei
from keeper.localnode.anvil import Anvil, AnvilOptions
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.settings import load_settings

if TYPE_CHECKING:
    from keeper.devnet.world import World

QUIET_BLOCKS = 8


async def _ready(keepers: Keepers, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in keepers.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a keeper exited at start: {proc.args!r}")
        ours = any(e.get("event") == "block_checked" for e in figures.lines(keepers.ours_log))
        cycle = "block_checked" if keepers.baseline_is_ours else "block"
        base = keepers.baseline is None or any(
            e.get("event") == cycle for e in figures.lines(keepers.baseline_log)
        )
        if ours and base:
            return
        await asyncio.sleep(0.25)
    raise RuntimeError("the keepers did not start in time")


async def _metrics(port: int) -> tuple[dict[str, float], float]:
    """(RPC requests by method, blocks processed) from our keeper's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    requests = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^keeper_rpc_latency_seconds_count\{method="([^"]*)"\} (\S+)$', text, re.MULTILINE
        )
    }
    blocks = re.search(r"^keeper_blocks_processed_total (\S+)$", text, re.MULTILINE)
    return requests, float(blocks.group(1)) if blocks else 0.0


def _last_block_line(keepers: Keepers) -> dict[str, Any] | None:
    if keepers.baseline_is_ours:
        return None  # a copy of ours: its requests are ours, not measured twice
    blocks = [e for e in figures.lines(keepers.baseline_log) if e.get("event") == "block"]
    return blocks[-1] if blocks else None


async def _quiet(client: ChainClient, keepers: Keepers) -> dict[str, Any]:
    """RPC requests per block of both keepers over a few blocks without price moves."""
    head = await client.block_number()
    await wait_block(client, head + 2)
    req0, blk0 = await _metrics(keepers.ops_port)
    base0 = _last_block_line(keepers)
    # Slow blocks at 100k (Anvil busy serving the baseline's scans): up to 10 s a block.
    await wait_block(client, head + 2 + QUIET_BLOCKS, timeout_s=10.0 * QUIET_BLOCKS)
    await asyncio.sleep(0.5)
    req1, blk1 = await _metrics(keepers.ops_port)
    base1 = _last_block_line(keepers)
    blocks = max(1.0, blk1 - blk0)
    by_method = {m: round((c - req0.get(m, 0.0)) / blocks, 2) for m, c in req1.items()}
    baseline = None
    if base0 is not None and base1 is not None:
        base_blocks = max(1, int(base1["block"]) - int(base0["block"]))
        baseline = round((int(base1["requests"]) - int(base0["requests"])) / base_blocks, 2)
    return {
        "ours_rpc_requests_per_block": round(sum(by_method.values()), 2),
        "ours_rpc_requests_per_block_by_method": {m: c for m, c in by_method.items() if c},
        "baseline_rpc_requests_per_block": baseline,
    }


async def _contracts(client: ChainClient, world: World, contest: Contest) -> dict[str, str]:
    """Each keeper's contract of ours on the contract path (owned by it, reserves approved)."""
    if contest.path != "contract":
        return {}
    owners = [world_cache.OURS_ADDRESS]
    if contest.baseline == "self":
        owners.append(world_cache.BASELINE_ADDRESS)
    return {o: await deploy_keeper_liquidator(client, world, o) for o in owners}


def _aliases(contracts: dict[str, str]) -> dict[str, str]:
    """A contract's address -> its keeper's name, for the winners."""
    names = {world_cache.OURS_ADDRESS: "ours", world_cache.BASELINE_ADDRESS: "baseline"}
    return {c.lower(): names[owner] for owner, c in contracts.items()}


async def _lost_gas(
    client: ChainClient,
    world: World,
    contest: Contest,
    contracts: dict[str, str],
    shock_list: list[dict[str, Any]],
) -> dict[str, Any]:
    keepers = {"ours": world_cache.OURS_ADDRESS}
    if contest.baseline != "none":
        keepers["baseline"] = world_cache.BASELINE_ADDRESS
    pool = world.market.pool
    targets = {n: contracts.get(a, pool) for n, a in keepers.items()}
    blocks = [int(s["block"]) for s in shock_list]
    head = await client.block_number()
    return await lost_gas(client, keepers, targets, pool, blocks, head)


LARGE_WORLD = 50_000
LARGE_STATES = 64  # recent states Anvil keeps for a large world (about 7 GB at 100k)
# Anvil takes about 1 s to mine one empty block of 100k accounts here (0.9-1.4 s): at a block a
# second it would be mining all the time, every request waiting for it. A block every 2 s.
LARGE_BLOCK_S = 2.0


async def _warm(
    client: ChainClient, world: World, monitor: MarketMonitor, tmp: Path, miner: world_lean.Miner
) -> Warm:
    """A large world on a node without its history (bench/world_lean.py): both keepers warm.

    The harness's monitor reads every account of the world's list at the head (the chain not
    mining meanwhile), and its state becomes our keeper's checkpoint; the baseline gets the
    borrowers known at that block.
    """
    at = await world_lean.head(client)
    version = monitor.market.rules.version.value
    await monitor.restore(world_lean.list_checkpoint(world, version, at))
    snapshot = monitor.snapshot()
    if snapshot is None:
        raise RuntimeError("the harness's monitor has no state to checkpoint")
    checkpoint = tmp / "checkpoint-ours"
    await world_lean.write_checkpoint(world, snapshot, checkpoint)
    borrowers = tmp / "borrowers.txt"
    borrowers.write_text("".join(f"{a}\n" for a in world.borrowers))
    await miner.start(LARGE_BLOCK_S)  # now the chain moves
    return Warm(checkpoint, borrowers, snapshot.block)


def _keep_logs(keepers: Keepers, n: int, contest: Contest) -> None:
    """The keepers' logs, kept for reading after the run (bench/.cache/ is not committed)."""
    for log_file in (keepers.ours_log, keepers.baseline_log):
        if log_file is not None:
            target = world_cache.CACHE / f"race-{n}-{contest.baseline}-{log_file.name}"
            target.write_bytes(log_file.read_bytes())


async def _tips(
    client: ChainClient,
    keepers: Keepers,
    ours_lines: list[dict[str, Any]],
    base_lines: list[dict[str, Any]],
) -> dict[str, Any]:
    budget = gwei_to_wei(Decimal(TIP_BUDGET_GWEI))
    return {
        "ours_tip_paid": await figures.tips_paid(
            client, figures.liquidation_hashes(ours_lines, ours=True), budget
        ),
        "baseline_tip_paid": await figures.tips_paid(
            client,
            figures.liquidation_hashes(base_lines, ours=keepers.baseline_is_ours),
            budget,
        ),
    }


async def race(n: int, shocks: int, contest: Contest, *, warm: bool = False) -> dict[str, Any]:
    """One size: quiet window, shocks, winners, reaction, tips paid.

    ``warm``: as for a large world (50k and more), the state without its history and both
    keepers started warm (``_warm``).
    """
    snap = await asyncio.to_thread(world_cache.snapshot, n)  # built first if missing
    world = snap.world
    large = warm or n >= LARGE_WORLD
    lean = world_lean.cached(snap.state) if large else None
    state = snap.state if lean is None else lean.path
    with (
        tempfile.TemporaryDirectory(prefix="keeper-race-") as tmpdir,
        Anvil(
            AnvilOptions(
                load_state=state,
                # A large world mines only once both keepers can start (see _warm).
                block_time=None if large else 1,
                start_timeout_s=max(30.0, state.stat().st_size / 1e6),
                # Anvil keeps every block's state in memory: at 100k borrowers about 110 MB a
                # block, out of memory within minutes. Recent states only: enough for the
                # baseline's scan of every borrower at one block (about 30 s at 100k).
                prune_history=LARGE_STATES if large else None,
            )
        ) as anvil,
    ):
        tmp = Path(tmpdir)
        memory = world_lean.AnvilMemory.of(anvil)
        async with (
            ChainClient(anvil.url, timeout_s=60) as client,
            world_lean.Miner(client, anvil.url, tmp / "miner.log") as miner,
        ):
            market = await resolve_market(client, world.market.pool_addresses_provider)
            settings = load_settings(
                rpc_url=anvil.url, pool_addresses_provider=market.addresses_provider
            )
            monitor = MarketMonitor(client, market, settings)
            memory.sample("loaded")
            warm_start = await _warm(client, world, monitor, tmp, miner) if large else None
            if warm_start is None:
                await monitor.start()
            memory.sample("harness_read_all")
            accounts = len(monitor.engine.data)
            contracts = await _contracts(client, world, contest)
            t0 = time.perf_counter()
            keepers = start(world, anvil.url, tmp, contest, contracts, warm_start)
            try:
                await _ready(keepers, timeout_s=max(180.0, len(world.borrowers) / 100))
                ready_s = round(time.perf_counter() - t0, 1)
                memory.sample("keepers_ready")
                rpc = await _quiet(client, keepers)
                first = await client.block_number()
                opps, shock_list = await run_shocks(client, world, monitor, shocks)
                await figures.winners(client, world, opps, first, _aliases(contracts))
                losing = await _lost_gas(client, world, contest, contracts, shock_list)
                memory.sample("end")
                mine_ms = miner.mine_ms()
            finally:
                stop(keepers)
                _keep_logs(keepers, n, contest)
            ours_lines = figures.lines(keepers.ours_log)
            base_lines = figures.lines(keepers.baseline_log)
            tips = await _tips(client, keepers, ours_lines, base_lines)
    blocks = [s["block"] for s in shock_list]
    total = len(opps)
    # Per shock, the opportunity liquidated first (the race for the block right after it).
    firsts = []
    for block in blocks:
        mine = [o for o in opps if o.shock_block == block and o.block is not None]
        if mine:
            firsts.append(min(mine, key=lambda o: (o.block or 0, o.log_index)).winner)
    won = sum(1 for o in opps if o.winner == "ours")
    lost = sum(1 for o in opps if o.winner == "baseline")
    return {
        "accounts": accounts,
        "tip": "budget" if contest.tip_gwei == TIP_BUDGET_GWEI else contest.tip_gwei or "default",
        "baseline": contest.baseline,
        "path": contest.path,
        "baseline_share_bps": contest.baseline_share_bps if contest.baseline == "share" else None,
        "world_build_s": snap.build_s,
        "start": "cold (events since block 0)" if lean is None else "warm (checkpoint, list)",
        "state_bytes": state.stat().st_size,
        "full_state_bytes": snap.state.stat().st_size,
        "lean_made_s": None if lean is None else lean.made_s,
        "anvil_rss_mb": memory.figures(),
        "keepers_ready_s": ready_s,
        "shocks": len(shock_list),
        "opportunities": total,
        "won_ours": won,
        "won_baseline": lost,
        "won_other_or_none": total - won - lost,
        "first_of_shock_won_ours": sum(1 for w in firsts if w == "ours"),
        "first_of_shock_won_baseline": sum(1 for w in firsts if w == "baseline"),
        "ours_win_share": round(won / total, 3) if total else None,
        "next_block_share_any": round(
            sum(1 for o in opps if o.block == o.shock_block + 1) / total, 3
        )
        if total
        else None,
        "next_block_share_ours": round(
            sum(1 for o in opps if o.block == o.shock_block + 1 and o.winner == "ours") / total, 3
        )
        if total
        else None,
        "ours_reaction": figures.reaction(ours_lines, blocks, ours=True),
        "baseline_reaction": figures.reaction(base_lines, blocks, ours=keepers.baseline_is_ours),
        "ours_approve_ms": figures.approve_ms(ours_lines),
        "ours_first_attempt_parts_ms": figures.first_attempt_parts(ours_lines, blocks),
        "ours_outcomes": figures.count(ours_lines, "liquidation_attempt", "outcome"),
        "ours_bidding": figures.bidding(ours_lines),
        **tips,
        "ours_sync_ms": figures.stats(
            [float(e["sync_ms"]) for e in ours_lines if e.get("event") == "block_checked"]
        ),
        "block_interval_s": figures.block_interval(ours_lines),
        "evm_mine_ms": figures.stats(mine_ms),
        "baseline_scan_ms": figures.stats(
            [float(e["scan_ms"]) for e in base_lines if e.get("event") == "block"]
        ),
        "health_mismatches": max(
            (int(e.get("health_mismatches", 0)) for e in ours_lines if "health_mismatches" in e),
            default=0,
        ),
        **rpc,
        "gas_not_liquidating": losing,
        "shock_list": shock_list,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("borrowers", type=int)
    parser.add_argument("--shocks", type=int, default=20)
    parser.add_argument(
        "--tip-gwei", default=None, help="our keeper's priority_fee_gwei (default: its bidding)"
    )
    parser.add_argument(
        "--baseline",
        choices=get_args(BaselineMode),
        default="x1.2",
        help=(
            "the baseline: eth_gasPrice x 1.2, a share of its profit, a copy of our keeper "
            "(self), or none"
        ),
    )
    parser.add_argument("--baseline-share-bps", type=int, default=5_000)
    parser.add_argument(
        "--path",
        choices=get_args(InventoryPath),
        default="contract",
        help="our inventory path (and the copy's): through our contract, or direct to the Pool",
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="as at 50k and more: the state without its history, both keepers started warm",
    )
    args = parser.parse_args()
    contest = Contest(args.tip_gwei, args.baseline, args.baseline_share_bps, args.path)
    print(json.dumps(asyncio.run(race(args.borrowers, args.shocks, contest, warm=args.warm))))
