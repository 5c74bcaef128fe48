"""Warm restarts (issue 15, item 2): what a checkpoint costs, and what a restart from one saves.

    python bench/checkpoint_bench.py synthetic 10000   # in memory: capture, encode, write, load
    python bench/checkpoint_bench.py world 10000       # the race's cached devnet: cold vs warm

``synthetic N``: the tracker of a market with N accounts (``bench/synthetic.py`` positions, every
account first seen in some block) is checkpointed as the keeper does it: the capture on the
event loop (``MarketTracker.tracked``: copies of references), the encoding and the atomic write
(fsync, rename) in a worker thread, while a 1 ms ticker on the loop records the longest the loop
was held (automatic garbage collection off, as while the keeper loop runs); then the file is
loaded and decoded. Best of 3.

``world N``: the cached world of N borrowers (``bench/world_cache.py``) in a fresh Anvil; a cold
start of the market (every log since block 0, every account read), a checkpoint, 20 blocks of
activity, then the restart from the checkpoint against a second cold start at the same block
(their account data compared for equality). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import synthetic, world_cache
from keeper.chain.client import ChainClient
from keeper.core.checkpoint import MarketCheckpoint, MarketIdentity
from keeper.devnet.borrowers import MarketActions
from keeper.devnet.deployer import Deployer
from keeper.gc_pacing import IdleCollector
from keeper.localnode.anvil import Anvil, AnvilOptions
from keeper.loop.checkpoints import Checkpointer
from keeper.ops.checkpoint_store import FileCheckpointStore
from keeper.ops.metrics import Metrics
from keeper.protocols.aave_v3 import checkpoint as aave
from keeper.protocols.aave_v3.lending_market import AaveLendingMarket
from keeper.protocols.aave_v3.market import Market, resolve_market
from keeper.protocols.aave_v3.tracker import MarketTracker
from keeper.settings import Settings, load_settings

if TYPE_CHECKING:
    from keeper.devnet.world import World

IDENTITY = MarketIdentity(1, "aave_v3", "0x" + "87" * 20)


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    """Sleep 1 ms at a time; record how late each wake-up was (the loop held by others)."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        gaps.append(time.perf_counter() - t0 - 0.001)


async def _one_synthetic(tracker: MarketTracker, store: FileCheckpointStore) -> dict[str, float]:
    gaps: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stop, gaps))
    await asyncio.sleep(0.05)
    gaps.clear()
    t0 = time.perf_counter()
    tracked = tracker.tracked()
    capture = time.perf_counter() - t0
    snapshot = aave.AaveSnapshot(tracker.block, "0x" + "ab" * 32, 1_700_000_000, tracked)
    t1 = time.perf_counter()
    payload = await asyncio.to_thread(snapshot.encode)
    encode = time.perf_counter() - t1
    t2 = time.perf_counter()
    size = await store.save(
        MarketCheckpoint(IDENTITY, snapshot.block, snapshot.block_hash, 0, 1, payload, time.time())
    )
    write = time.perf_counter() - t2
    stop.set()
    await ticker
    idle: list[float] = []  # the same ticker with nothing else running: the machine's noise
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(stop, idle))
    await asyncio.sleep(encode + write)
    stop.set()
    await ticker
    t3 = time.perf_counter()
    loaded = await store.load()
    if loaded is None:
        raise RuntimeError("the checkpoint just written is missing")
    back = await asyncio.to_thread(aave.decode, loaded.payload)
    load = time.perf_counter() - t3
    if back.accounts != tracked.accounts:
        raise RuntimeError("the checkpoint does not decode to what was saved")
    return {
        "capture_ms": capture * 1000,
        "encode_ms": encode * 1000,
        "write_ms": write * 1000,
        "load_ms": load * 1000,
        "max_loop_stall_ms": max(gaps, default=0.0) * 1000,
        "max_idle_stall_ms": max(idle, default=0.0) * 1000,
        "bytes": float(size),
    }


async def bench_synthetic(n: int) -> dict[str, Any]:
    """Capture, encode, write and load a checkpoint of ``n`` accounts (best of 3 per figure)."""
    rng = random.Random(3)
    address = "0x" + "87" * 20
    market = Market(address, address, address, address, address)
    tracker = MarketTracker(
        cast("ChainClient", None), market, start_block=0, batch_size=200, log_span=10_000
    )
    tracker.accounts = {a.address: a for a in synthetic.accounts(n)}
    tracker.first_seen = {a: rng.randrange(20_000_000) for a in tracker.accounts}
    tracker.block = 20_000_000
    with TemporaryDirectory() as tmp, IdleCollector():  # automatic GC off, as in the keeper loop
        store = FileCheckpointStore(str(Path(tmp) / "checkpoint"))
        runs = [await _one_synthetic(tracker, store) for _ in range(3)]
    best = {k: round(min(r[k] for r in runs), 1) for k in runs[0]}
    return {"bench": "checkpoint_synthetic", "accounts": n, **best}


async def _market(url: str, provider: str, path: Path) -> tuple[Settings, ChainClient, Any]:
    settings = load_settings(
        rpc_url=url, pool_addresses_provider=provider, checkpoint_path=str(path)
    )
    client = ChainClient(url, timeout_s=120)
    market = await resolve_market(client, provider)
    return settings, client, AaveLendingMarket(client, market, settings)


async def _activity(url: str, world: World, blocks: int) -> None:
    """Borrowers add collateral while the keeper is down (one block each)."""
    async with ChainClient(url) as chain:
        dep = Deployer(chain)
        await dep.impersonate_all()
        actions = MarketActions(dep, world.market)
        for who in world.borrowers[: blocks // 3]:
            await actions.supply(who, "WETH", 10**17)  # mint, approve, supply: 3 blocks


async def bench_world(n: int) -> dict[str, Any]:
    """Cold start, checkpoint, activity, then a warm restart against a cold one."""
    snap = world_cache.snapshot(n)
    world = snap.world
    provider = world.market.pool_addresses_provider
    with TemporaryDirectory() as tmp, Anvil(AnvilOptions(load_state=snap.state)) as anvil:
        path = Path(tmp) / "checkpoint"
        settings, client, first = await _market(anvil.url, provider, path)
        store = FileCheckpointStore(str(path))
        checkpoints = Checkpointer(
            settings, client, (31337, first), (store, store), Metrics().checkpoints
        )
        t0 = time.perf_counter()
        tick = await checkpoints.start()
        cold_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        await checkpoints.close()
        write_s = time.perf_counter() - t1
        await client.close()
        await _activity(anvil.url, world, 20)
        settings, client, warm = await _market(anvil.url, provider, path)
        checkpoints = Checkpointer(
            settings, client, (31337, warm), (store, store), Metrics().checkpoints
        )
        t2 = time.perf_counter()
        warm_tick = await checkpoints.start()
        warm_s = time.perf_counter() - t2
        await client.close()
        settings, client, cold = await _market(anvil.url, provider, path)
        t3 = time.perf_counter()
        await cold.start()
        cold_again_s = time.perf_counter() - t3
        await client.close()
        same = warm.monitor.engine.data == cold.monitor.engine.data
        size = path.stat().st_size
    return {
        "bench": "checkpoint_world",
        "borrowers": len(world.borrowers),
        "accounts": warm.account_count(),
        "checkpoint_block": tick.block,
        "restart_head": warm_tick.block,
        "restored": checkpoints.restored_from == tick.block,
        "cold_start_s": round(cold_s, 2),
        "cold_start_again_s": round(cold_again_s, 2),
        "final_checkpoint_s": round(write_s, 2),
        "checkpoint_bytes": size,
        "warm_restart_s": round(warm_s, 2),
        "warm_equals_cold": same,
    }


def main() -> None:
    """``synthetic N`` or ``world N``."""
    mode, n = sys.argv[1], int(sys.argv[2])
    run = bench_synthetic if mode == "synthetic" else bench_world
    print(json.dumps(asyncio.run(run(n))))


if __name__ == "__main__":
    main()
