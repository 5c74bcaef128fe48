"""RPC requests per block in steady state, counted item by item at the wire.

A real JSON-RPC proxy (tests/reliability/fault_proxy.py, forwarding to Anvil, no faults) counts
every request item the keeper sends, batch items one by one and WebSocket messages too: what a
node provider bills. Anvil mines a block every second; the keeper follows it over HTTP (polling)
and over WebSocket (newHeads), with the default reconciliation.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from keeper.app import BlockReport, run_keeper
from keeper.localnode.anvil import Anvil, AnvilOptions
from tests.integration.helpers import keeper_settings
from tests.reliability.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from collections import Counter
    from pathlib import Path

    from tests.integration.conftest import Snapshot

WARM_UP_BLOCKS = 6  # the HTTP poll learns the chain's rhythm from the first heads
MEASURED_BLOCKS = 12
BUDGET = 3


async def _items_per_block(
    snapshot: Snapshot, tmp_path: Path, *, websocket: bool
) -> tuple[float, Counter[str]]:
    with Anvil(AnvilOptions(load_state=snapshot.state, block_time=1)) as anvil:
        async with FaultProxy(anvil.url) as proxy:
            settings = keeper_settings(
                _Devnet(proxy.ws_url if websocket else proxy.url, snapshot),
                tmp_path,
                poll_interval_s=0.1,
            )
            reports: list[BlockReport] = []
            stop = asyncio.Event()
            task = asyncio.create_task(run_keeper(settings, stop, reports.append))
            try:
                start = await _block_after(reports, None, WARM_UP_BLOCKS)
                before = proxy.items.copy()
                end = await _block_after(reports, start, MEASURED_BLOCKS)
                used = proxy.items - before
            finally:
                stop.set()
                await asyncio.wait_for(task, 60)
    return sum(used.values()) / (end - start), used


async def _block_after(reports: list[BlockReport], start: int | None, blocks: int) -> int:
    """The block of the first report at least ``blocks`` after ``start`` (or after the first)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if reports:
            first = reports[0].block if start is None else start
            if reports[-1].block >= first + blocks:
                return reports[-1].block
        await asyncio.sleep(0.02)
    raise AssertionError("the keeper did not follow the chain")


class _Devnet:
    """What ``keeper_settings`` reads of a devnet: its URL and its market."""

    def __init__(self, url: str, snapshot: Snapshot) -> None:
        self.url = url
        self.world = snapshot.world


@pytest.mark.asyncio
@pytest.mark.parametrize("websocket", [False, True], ids=["http", "websocket"])
async def test_steady_state_costs_at_most_three_requests_per_block(
    snapshot: Snapshot, tmp_path: Path, *, websocket: bool
) -> None:
    """With no price moves, the keeper sends at most 3 JSON-RPC request items per block
    (batch items counted one by one), over HTTP polling and over WebSocket.
    """
    per_block, used = await _items_per_block(snapshot, tmp_path, websocket=websocket)
    assert per_block <= BUDGET, (per_block, dict(used))
