"""Warm restarts on the Morpho devnet: a checkpoint, activity while down, an exact resume."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from structlog.testing import capture_logs

from keeper.chain.client import ChainClient
from keeper.core.checkpoint import CheckpointRejectedError, DiscardReason
from keeper.devnet.deployer import Deployer
from keeper.devnet.morpho_borrowers import morpho_borrower_address, open_borrower
from keeper.localnode.anvil import CHAIN_ID, DEV_ACCOUNTS
from keeper.loop.checkpoints import Checkpointer
from keeper.ops.checkpoint_store import FileCheckpointStore
from keeper.ops.metrics import Metrics
from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.protocols.morpho_blue.types import MarketParams
from keeper.settings import load_settings
from tests.integration.morpho_chain import MC, fund, send
from tests.integration.test_morpho_reorg import _assert_equal

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.settings import Settings
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
ADMIN = DEV_ACCOUNTS[0]


def _settings(devnet: MorphoDevnet, path: Path, **kw: Any) -> Settings:
    return load_settings(
        rpc_url=devnet.url,
        protocol="morpho_blue",
        morpho=devnet.world.morpho,
        checkpoint_path=str(path),
        ops_port=None,
        **kw,
    )


def _checkpointer(
    client: ChainClient, settings: Settings
) -> tuple[MorphoLendingMarket, Checkpointer]:
    market = MorphoLendingMarket(client, settings.morpho_address, settings)
    store = FileCheckpointStore(str(settings.checkpoint_path))
    return market, Checkpointer(
        settings, client, (CHAIN_ID, market), (store, store), Metrics().checkpoints
    )


async def test_a_restart_resumes_from_its_checkpoint_and_equals_a_cold_start(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """A keeper checkpoints at the head and stops; meanwhile a newcomer borrows, a borrower
    repays, a market is created and supplied, and the fee recipient changes. The restart logs
    that it restored the checkpoint's block, reaches the head, and its whole state (markets,
    totals, every position, prices and rates) equals a tracker read from scratch.
    """
    world, d = morpho_devnet.world, morpho_devnet.world.deployment
    settings = _settings(morpho_devnet, tmp_path / "checkpoint")
    async with ChainClient(morpho_devnet.url) as client:
        market, checkpoints = _checkpointer(client, settings)
        first = await checkpoints.start()
        await checkpoints.close()
        dep = Deployer(client)
        await dep.impersonate_all()
        newcomer = morpho_borrower_address(5151, 0)
        await open_borrower(dep, ADMIN, d, d.market("WETH/USDC"), newcomer, 10**18, 10**9)
        repayer = next(b for b in world.borrowers if b.market == "WBTC/DAI")
        p = d.market("WBTC/DAI").params
        await fund(client, ADMIN, p.loan_token, repayer.address, 10**24, d.morpho)
        repay = MC.encode("repay", p.as_tuple(), repayer.borrow // 2, 0, repayer.address, b"")
        assert (await send(client, repayer.address, d.morpho, repay)).ok
        extra = MarketParams(
            p.loan_token, p.collateral_token, d.market("WETH/USDC").params.oracle, p.irm, p.lltv
        )
        await send(client, ADMIN, d.morpho, MC.encode("createMarket", extra.as_tuple()))
        await fund(client, ADMIN, p.loan_token, ADMIN, 10**24, d.morpho)
        supply = MC.encode("supply", extra.as_tuple(), 10**21, 0, ADMIN, b"")
        assert (await send(client, ADMIN, d.morpho, supply)).ok
        await send(client, ADMIN, d.morpho, MC.encode("setFeeRecipient", DEV_ACCOUNTS[1]))
        market, checkpoints = _checkpointer(client, settings)
        with capture_logs() as logs:
            tick = await checkpoints.start()
        restored = [e for e in logs if e["event"] == "checkpoint_restored"]
        assert restored and restored[0]["block"] == first.block
        assert tick.block == await client.block_number() > first.block
        fresh = MorphoTracker(client, world.morpho)
        await fresh.start()
        _assert_equal(market.tracker, fresh)
        assert market.tracker.state.fee_recipient == fresh.state.fee_recipient == DEV_ACCOUNTS[1]
        assert extra.id in market.tracker.state.markets


async def test_checkpoints_made_with_other_settings_or_garbled_are_refused(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """A checkpoint made with another start_block or market list is refused (other_settings),
    one of an unknown payload version (format_version) and a garbled payload (corrupt); the
    market is then as before the call, and a checkpoint at the head itself restores exactly.
    """
    settings = _settings(morpho_devnet, tmp_path / "checkpoint")
    async with ChainClient(morpho_devnet.url) as client:
        market, checkpoints = _checkpointer(client, settings)
        await checkpoints.start()
        snapshot = market.snapshot()
        assert snapshot is not None
        saved = await FileCheckpointStore(str(settings.checkpoint_path)).load()
        assert saved is None  # nothing written yet: the checkpointer writes on close
        await checkpoints.close()
        saved = await FileCheckpointStore(str(settings.checkpoint_path)).load()
        assert saved is not None
        other_id = "0x" + "ab" * 32
        for kw, reason in (
            ({"start_block": 1}, DiscardReason.OTHER_SETTINGS),
            ({"morpho_skip_markets": [other_id]}, DiscardReason.OTHER_SETTINGS),
        ):
            other = MorphoLendingMarket(
                client, morpho_devnet.world.morpho, _settings(morpho_devnet, tmp_path / "x", **kw)
            )
            with pytest.raises(CheckpointRejectedError) as err:
                await other.restore(saved)
            assert err.value.reason is reason
        fresh = MorphoLendingMarket(client, morpho_devnet.world.morpho, settings)
        for bad, reason in (
            (dataclasses.replace(saved, payload_version=99), DiscardReason.FORMAT_VERSION),
            (dataclasses.replace(saved, payload=b"{garbled"), DiscardReason.CORRUPT),
        ):
            with pytest.raises(CheckpointRejectedError) as err:
                await fresh.restore(bad)
            assert err.value.reason is reason
            assert fresh.block == -1
        tick = await fresh.restore(saved)
        assert tick.block == saved.block
        _assert_equal(fresh.tracker, market.tracker)
        assert fresh.tracker.recent.since == market.tracker.recent.since
