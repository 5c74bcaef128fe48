"""RPC request items per block in steady state, by method, over HTTP and WebSocket.

    python bench/rpc_budget.py [--blocks 20] [--accounts 1000]
prints one JSON line.

Method: Anvil mines a block every second from a cached world (bench/world_cache.py); the keeper
runs in process with the race's settings (polling every 100 ms, default reconciliation) through
a real JSON-RPC proxy on 127.0.0.1 (tests/reliability/fault_proxy.py, no faults) that counts
every request item it forwards: a batch's items one by one, WebSocket messages too (what a node
provider bills; ``keeper_rpc_latency_seconds_count`` counts a batch once). After a warm-up of 8
blocks (the HTTP poll learns the chain's rhythm), the items of the next ``--blocks`` blocks are
divided by the blocks the keeper processed. No price moves, no liquidations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import world_cache
from keeper.app import BlockReport, run_keeper
from keeper.localnode.anvil import Anvil, AnvilOptions
from keeper.settings import load_settings
from tests.reliability.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from collections import Counter

WARM_UP = 8


async def _block_after(
    keeper: asyncio.Task[None], reports: list[BlockReport], start: int, blocks: int
) -> int:
    deadline = time.monotonic() + 60 + 3 * blocks
    while time.monotonic() < deadline:
        if reports and reports[-1].block >= start + blocks:
            return reports[-1].block
        if keeper.done():
            keeper.result()  # the keeper's own error, at once
            raise RuntimeError("the keeper stopped")
        await asyncio.sleep(0.02)
    raise RuntimeError("the keeper did not follow the chain")


async def measure(snap: world_cache.Snapshot, blocks: int, *, websocket: bool) -> dict[str, object]:
    """Items per block of one transport."""
    with (
        Anvil(AnvilOptions(load_state=snap.state, block_time=1)) as anvil,
        tempfile.TemporaryDirectory() as tmp,
    ):
        async with FaultProxy(anvil.url) as proxy:
            settings = load_settings(
                rpc_url=proxy.ws_url if websocket else proxy.url,
                pool_addresses_provider=snap.world.market.pool_addresses_provider,
                private_key=world_cache.OURS_KEY,
                journal_path=f"{tmp}/journal.sqlite",
                poll_interval_s=0.1,
                oracle_heartbeat_s=30 * 86_400,
                breaker_max_head_lag_s=0,
                inventory_direct=True,  # nothing is liquidated here: no contract of ours needed
            )
            reports: list[BlockReport] = []
            stop = asyncio.Event()
            task = asyncio.create_task(run_keeper(settings, stop, reports.append))
            try:
                first = await _block_after(task, reports, 0, 0)
                start = await _block_after(task, reports, first, WARM_UP)
                before = proxy.items.copy()
                end = await _block_after(task, reports, start, blocks)
                used: Counter[str] = proxy.items - before
            finally:
                stop.set()
                await asyncio.wait_for(task, 120)
    span = end - start
    return {
        "transport": "websocket" if websocket else "http",
        "blocks": span,
        "items_per_block": round(sum(used.values()) / span, 2),
        "by_method": {m: round(n / span, 2) for m, n in sorted(used.items())},
    }


async def _both(snap: world_cache.Snapshot, blocks: int) -> list[dict[str, object]]:
    return [await measure(snap, blocks, websocket=ws) for ws in (False, True)]


def main() -> None:
    """Both transports, one after the other, on the same world."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    snap = world_cache.snapshot(args.accounts)  # builds it first if missing (its own loop)
    rows = asyncio.run(_both(snap, args.blocks))
    print(json.dumps({"borrowers": args.accounts, "runs": rows}))


if __name__ == "__main__":
    main()
