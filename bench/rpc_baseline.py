"""Local recompute vs getUserAccountData in JSON-RPC batches, on a devnet with N borrowers.

    python bench/rpc_baseline.py 1000
prints one JSON line: both timings at the same block, and their ratio.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keeper.chain.client import ChainClient
from keeper.devnet.anvil import Anvil
from keeper.devnet.world import build_world
from keeper.monitor import MarketMonitor
from keeper.protocols.aave_v3.market import resolve_market
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.settings import load_settings

REPEAT = 5


async def main(url: str, n: int) -> dict[str, object]:
    """Deploy, then time both ways of knowing every account's health at the head."""
    async with ChainClient(url) as client:
        t0 = time.perf_counter()
        world = await build_world(client, borrowers=n, seed=3)
        deploy_s = time.perf_counter() - t0
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
        "deploy_s": round(deploy_s, 1),
        "rpc_batches_s": round(rpc, 4),
        "local_recompute_s": round(local, 5),
        "ratio_rpc_over_local": round(rpc / local, 1),
        "equal_to_the_wei": equal,
    }


if __name__ == "__main__":
    with Anvil() as anvil:
        print(json.dumps(asyncio.run(main(anvil.url, int(sys.argv[1])))))
