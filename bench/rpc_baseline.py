"""Local recompute vs getUserAccountData in JSON-RPC batches, on a devnet with N borrowers.

    python bench/rpc_baseline.py 1000
prints one JSON line: both timings at the same block, and their ratio. The world is the race's
cached one (bench/world_cache.py), loaded into a fresh automining Anvil.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import world_cache
from keeper.chain.client import ChainClient
from keeper.localnode.anvil import Anvil, AnvilOptions
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.settings import load_settings

REPEAT = 5


async def main(url: str, snap: world_cache.Snapshot) -> dict[str, object]:
    """Time both ways of knowing every account's health at the head."""
    world = snap.world
    async with ChainClient(url, timeout_s=60) as client:
        market = await resolve_market(client, world.market.pool_addresses_provider)
        settings = load_settings(rpc_url=url, pool_addresses_provider=market.addresses_provider)
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        accounts = sorted(monitor.engine.data)
        block = monitor.block
        rpc_times, local_times = [], []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            onchain, _ = await read_account_data(client, market, accounts, block, 200)
            rpc_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            monitor.engine.recompute_all()
            local_times.append(time.perf_counter() - t0)
        equal = all(monitor.engine.data[a] == onchain[a] for a in accounts)
    rpc, local = min(rpc_times), min(local_times)
    return {
        "accounts": len(accounts),
        "world_build_s": snap.build_s,
        "rpc_batches_s": round(rpc, 4),
        "local_recompute_s": round(local, 5),
        "ratio_rpc_over_local": round(rpc / local, 1),
        "equal_to_the_wei": equal,
    }


if __name__ == "__main__":
    snapshot = world_cache.snapshot(int(sys.argv[1]))
    with Anvil(AnvilOptions(load_state=snapshot.state)) as anvil:
        print(json.dumps(asyncio.run(main(anvil.url, snapshot))))
