"""Warm restarts on the real Aave v3.6 devnet: a checkpoint, activity while the keeper is down,
a restart that reads only the blocks since, and checkpoints that must not be used.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from eth_utils.address import to_checksum_address
from structlog.testing import capture_logs

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.devnet.borrowers import MarketActions
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import free_port
from keeper.loop.checkpoints import Checkpointer
from keeper.ops.checkpoint_store import FileCheckpointStore, decode_file, encode_file, open_source
from keeper.ops.metrics import Metrics
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.lending_market import AaveLendingMarket
from tests.integration.helpers import keeper_settings
from tests.support.rpc_proxy import RpcProxy

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from keeper.settings import Settings

pytestmark = pytest.mark.integration

# An account that first appears while the keeper is down.
NEWCOMER = to_checksum_address("0x" + "5a" * 20)
# An account that exists only in blocks a reorg takes away, and one only on the winning branch.
ORPHAN = to_checksum_address("0x" + "0b" * 20)
OTHER_BRANCH = to_checksum_address("0x" + "0c" * 20)


@dataclasses.dataclass
class Started:
    """A market and its checkpointer over one client (closed by :func:`_close`)."""

    client: ChainClient
    market: AaveLendingMarket
    checkpoints: Checkpointer


async def _open(settings: Settings, source: Any = None) -> Started:
    client, chain_id, market = await connect(settings)
    aave = AaveLendingMarket(client, market, settings)
    store = FileCheckpointStore(settings.checkpoint_path) if settings.checkpoint_path else None
    checkpoints = Checkpointer(
        settings, client, (chain_id, aave), (source or store, store), Metrics().checkpoints
    )
    return Started(client, aave, checkpoints)


async def _cold(settings: Settings) -> AaveLendingMarket:
    """A keeper's market started the usual way (no checkpoint), for reference."""
    client, _chain_id, market = await connect(settings)
    aave = AaveLendingMarket(client, market, settings)
    try:
        await aave.start()
    finally:
        await client.close()
    return aave


async def _checkpoint_now(settings: Settings) -> int:
    """Start cold, write a checkpoint at the head (as a clean stop does); return its block."""
    started = await _open(settings)
    try:
        tick = await started.checkpoints.start()
        await started.checkpoints.close()
    finally:
        await started.client.close()
    return tick.block


async def _open_position(chain: ChainClient, devnet: Any, who: str, weth: int, usdc: int) -> None:
    dep = Deployer(chain)
    await dep.impersonate_all()
    await dep.set_balance(who, 10**19)
    actions = MarketActions(dep, devnet.world.market)
    await actions.supply(who, "WETH", weth)
    await actions.borrow(who, "USDC", usdc)


def _events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def _scanned(ranges: list[tuple[int, int]]) -> int:
    return sum(last - first + 1 for first, last in ranges)


@pytest.mark.asyncio
async def test_a_warm_restart_reads_only_the_blocks_since_and_equals_a_cold_start(devnet, tmp_path):
    """A keeper checkpoints at the head and stops; meanwhile a borrower adds to its position, a
    new account borrows, WETH falls 10% and a day of interest accrues. The restart resumes from
    the checkpoint (logged with its block), scans only the blocks since it for logs (a cold
    start scans the whole history), and every account's health factor and account data equal a
    cold-started keeper's at the same block, the newcomer included, and the chain's.
    """
    path = tmp_path / "checkpoint"
    async with RpcProxy(devnet.url) as proxy:
        settings = keeper_settings(devnet, tmp_path, rpc_url=proxy.url, checkpoint_path=str(path))
        with capture_logs() as first_logs:
            saved_at = await _checkpoint_now(settings)
        assert _events(first_logs, "checkpoint_none")
        cold_scanned = _scanned(proxy.log_ranges)
        assert path.is_file()
        async with ChainClient(devnet.url) as chain:
            existing = devnet.world.borrowers[0]
            await _open_position(chain, devnet, existing, 2 * 10**18, 500 * 10**6)
            await _open_position(chain, devnet, NEWCOMER, 5 * 10**18, 4_000 * 10**6)
            await shock_price(chain, devnet.world.market.pool_addresses_provider, "WETH", -10)
            await chain.request("evm_increaseTime", [86_400])
            await chain.request("evm_mine", [])
            head = await chain.block_number()
        proxy.log_ranges.clear()
        with capture_logs() as logs:
            warm = await _open(settings)
            try:
                tick = await warm.checkpoints.start()
                await warm.market.monitor.reconcile(sorted(warm.market.monitor.engine.data))
            finally:
                await warm.client.close()
        warm_scanned = _scanned(proxy.log_ranges)
    (restored,) = _events(logs, "checkpoint_restored")
    assert restored["block"] == saved_at and restored["head"] == head == tick.block
    assert restored["backfilled_blocks"] == head - saved_at
    assert warm_scanned == head - saved_at, proxy.log_ranges
    assert cold_scanned >= saved_at + 1 > 20 * warm_scanned
    cold = await _cold(keeper_settings(devnet, tmp_path))
    assert cold.block == warm.market.block == head
    warm_data, cold_data = warm.market.monitor.engine.data, cold.monitor.engine.data
    assert NEWCOMER in warm_data and existing in warm_data
    assert set(warm_data) == set(cold_data)
    differ = [a for a in cold_data if warm_data[a] != cold_data[a]]
    assert not differ, [(warm_data[a], cold_data[a]) for a in differ[:3]]
    assert warm.market.monitor.tracker.first_seen == cold.monitor.tracker.first_seen
    assert warm.market.mismatches == 0  # and the chain's getUserAccountData, every account


@pytest.mark.asyncio
async def test_a_checkpoint_of_a_reorged_block_is_discarded_and_the_start_is_cold(devnet, tmp_path):
    """A checkpoint written on a branch that a reorg replaces (Anvil snapshot and revert, then
    other blocks up past its height): a start while the chain is shorter discards it (its block
    is above the head); once the other branch is longer, its block's hash differs and it is
    discarded as reorged; the start is cold, and the state is the new branch's (the account of
    the orphaned blocks is gone, the other branch's is there), equal to a cold start's.
    """
    path = tmp_path / "checkpoint"
    settings = keeper_settings(devnet, tmp_path, checkpoint_path=str(path))
    async with ChainClient(devnet.url) as chain:
        fork_point = await chain.request("evm_snapshot", [])
        await _open_position(chain, devnet, ORPHAN, 3 * 10**18, 1_000 * 10**6)
        saved_at = await _checkpoint_now(settings)
        assert ORPHAN in (await FileCheckpointStore(str(path)).load() or _fail()).payload.decode()
        await chain.request("evm_revert", [fork_point])
        started = await _open(settings)
        try:
            with capture_logs() as logs:
                assert await started.checkpoints._load() is None
        finally:
            await started.client.close()
        assert [e["reason"] for e in _events(logs, "checkpoint_discarded")] == ["ahead_of_chain"]
        await _open_position(chain, devnet, OTHER_BRANCH, 4 * 10**18, 2_000 * 10**6)
        while await chain.block_number() <= saved_at:
            await chain.request("evm_mine", [])
        with capture_logs() as logs:
            restarted = await _open(settings)
            try:
                await restarted.checkpoints.start()
            finally:
                await restarted.client.close()
    (discarded,) = _events(logs, "checkpoint_discarded")
    assert discarded["reason"] == DiscardReason.REORGED.value
    assert not _events(logs, "checkpoint_restored")
    assert restarted.checkpoints.restored_from is None
    data = restarted.market.monitor.engine.data
    assert ORPHAN not in data and OTHER_BRANCH in data
    cold = await _cold(keeper_settings(devnet, tmp_path))
    assert cold.block == restarted.market.block
    assert data == cold.monitor.engine.data


def _fail() -> Any:
    pytest.fail("no checkpoint was written")


def _rewritten(path: Path, **header: Any) -> None:
    """The checkpoint file with some of its envelope's fields replaced."""
    data = path.read_bytes()
    end = data.index(b"\n")
    fields = json.loads(data[:end]) | header
    path.write_bytes(json.dumps(fields).encode() + data[end:])


@pytest.mark.asyncio
async def test_checkpoints_of_another_market_chain_or_format_are_discarded_with_the_reason(
    devnet, tmp_path
):
    """Each of: a checkpoint of chain 1, of another protocol, of another Pool, of an unknown
    envelope version, with an unknown payload version, made with another start_block, cut
    short, or not a checkpoint at all, is discarded with its reason named (no crash); with a
    truncated file the start is cold and complete.
    """
    path = tmp_path / "checkpoint"
    settings = keeper_settings(devnet, tmp_path, checkpoint_path=str(path))
    await _checkpoint_now(settings)
    good = path.read_bytes()
    cases: dict[DiscardReason, dict[str, Any]] = {
        DiscardReason.OTHER_CHAIN: {"chain_id": 1},
        DiscardReason.OTHER_PROTOCOL: {"protocol": "compound_v3"},
        DiscardReason.OTHER_MARKET: {"market": "0x" + "77" * 20},
        DiscardReason.FORMAT_VERSION: {"version": 99},
    }
    started = await _open(settings)
    try:
        for reason, header in cases.items():
            path.write_bytes(good)
            _rewritten(path, **header)
            with capture_logs() as logs:
                assert await started.checkpoints._load() is None
            assert [e["reason"] for e in _events(logs, "checkpoint_discarded")] == [reason.value]
        for garbage in (good[: len(good) // 2], b"", b"\x00\xff" * 100, good[:-1] + b"!"):
            path.write_bytes(garbage)
            with capture_logs() as logs:
                assert await started.checkpoints._load() is None
            assert [e["reason"] for e in _events(logs, "checkpoint_discarded")] == ["corrupt"]
        checkpoint = decode_file(good)
        newer = dataclasses.replace(checkpoint, payload_version=99)
        with pytest.raises(CheckpointRejectedError) as version:
            await started.market.restore(newer)
        assert version.value.reason is DiscardReason.FORMAT_VERSION
        path.write_bytes(encode_file(checkpoint))
        other = keeper_settings(devnet, tmp_path, checkpoint_path=str(path), start_block=5)
        elsewhere = await _open(other)
        try:
            with pytest.raises(CheckpointRejectedError) as settings_changed:
                await elsewhere.market.restore(checkpoint)
        finally:
            await elsewhere.client.close()
        assert settings_changed.value.reason is DiscardReason.OTHER_SETTINGS
        path.write_bytes(good[: len(good) - 100])
        with capture_logs() as logs:
            tick = await started.checkpoints.start()
    finally:
        await started.client.close()
    assert [e["reason"] for e in _events(logs, "checkpoint_discarded")] == ["corrupt"]
    assert started.market.block == tick.block
    assert set(devnet.world.borrowers) <= set(started.market.monitor.engine.data)


@pytest.mark.asyncio
async def test_the_keeper_checkpoints_while_running_and_at_stop_and_a_standby_starts_from_it(
    devnet, tmp_path
):
    """The keeper, run as in production with checkpoint_path and its ops endpoint, writes
    checkpoints while running (every block here), serves the newest on /checkpoint, from where
    a standby starting cold resumes (the chain's getUserAccountData agrees with its every
    account); at a clean stop it writes the last processed block's state, and the next run
    resumes from exactly that block.
    """
    path = tmp_path / "active" / "checkpoint"
    path.parent.mkdir()
    port = free_port()
    settings = keeper_settings(
        devnet,
        tmp_path,
        checkpoint_path=str(path),
        checkpoint_interval_blocks=1,
        ops_port=port,
    )
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_keeper(settings, stop, reports.append))
    try:
        deadline = time.monotonic() + 90
        while not path.is_file() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.1)
        assert path.is_file(), "no checkpoint written while running"
        standby_settings = keeper_settings(
            devnet,
            tmp_path,
            checkpoint_path=str(tmp_path / "standby-checkpoint"),
            checkpoint_source=f"http://127.0.0.1:{port}/checkpoint",
        )
        source = open_source(standby_settings.checkpoint_source or "")
        with capture_logs() as logs:
            standby = await _open(standby_settings, source)
            try:
                await standby.checkpoints.start()
                await standby.market.monitor.reconcile(sorted(standby.market.monitor.engine.data))
            finally:
                await standby.client.close()
        (restored,) = _events(logs, "checkpoint_restored")
        assert restored["source"] == f"http://127.0.0.1:{port}/checkpoint"
        assert standby.market.mismatches == 0
        assert set(devnet.world.borrowers) <= set(standby.market.monitor.engine.data)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    final = await FileCheckpointStore(str(path)).load()
    assert final is not None and final.block == reports[-1].block
    stop = asyncio.Event()
    again: list[BlockReport] = []
    with capture_logs() as logs:
        task = asyncio.create_task(run_keeper(settings, stop, again.append))
        try:
            deadline = time.monotonic() + 90
            while not again and time.monotonic() < deadline and not task.done():
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    (restored,) = _events(logs, "checkpoint_restored")
    assert restored["block"] == final.block
