"""Shadow mode on Morpho Blue: liquidations only on the keeper's fork, verdicts on real ones."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.settings import load_settings
from keeper.shadow.ledger import ShadowLedger
from keeper.shadow.mode import shadow_journal_path
from tests.integration.morpho_chain import ERC20, MC, fund, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN, KEEPER, KEEPER_KEY = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1], DEV_KEYS[1]
RIVAL = DEV_ACCOUNTS[2]


@pytest.mark.asyncio
async def test_dry_run_liquidates_on_its_fork_and_judges_the_real_liquidations(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """With dry_run the Morpho keeper liquidates after a price drop on its own fork only: the
    real chain sees no Liquidate from it and its positions stay unhealthy; a rival's real
    liquidation of one of them is recorded in the shadow ledger against our plan, and the
    others get a verdict once the window passes.
    """
    world = morpho_devnet.world
    d = world.deployment
    market = d.market("WETH/USDC")
    settings = load_settings(
        rpc_url=morpho_devnet.url,
        protocol="morpho_blue",
        morpho=world.morpho,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "journal.sqlite"),
        poll_interval_s=0.05,
        ops_port=None,
        dry_run=True,
        min_profit_usd=0,
    )
    reports: list[BlockReport] = []
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        loan = market.params.loan_token
        for who in (KEEPER, RIVAL):
            await fund(client, ADMIN, loan, who, 10**15, world.morpho)
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 180
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            oracle = market.params.oracle
            (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
            shock = (
                await send(client, ADMIN, oracle, ORACLE.encode("setPrice", price * 88 // 100))
            ).block
            while time.monotonic() < deadline and not any(r.outcomes for r in reports):
                await asyncio.sleep(0.1)
            planned = {o.plan.account for r in reports for o in r.outcomes}
            assert planned, "no plan on the fork"
            tracker = MorphoTracker(client, world.morpho)
            await tracker.start()
            victim = min(planned)
            shares = tracker.state.markets[market.id].position(victim).borrow_shares
            rival = await send(
                client,
                RIVAL,
                world.morpho,
                MC.encode("liquidate", market.params.as_tuple(), victim, 0, shares, b""),
            )
            assert rival.ok
            for _ in range(8):  # blocks for the verdict window to pass
                await send(client, ADMIN, loan, ERC20.encode("transfer", ADMIN, 0))
                head = await client.block_number()
                while time.monotonic() < deadline and not any(r.block >= head for r in reports):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        outcomes = [o for r in reports for o in r.outcomes]
        assert any(o.status == "liquidated" for o in outcomes), [o.reason for o in outcomes]
        real = await liquidate_logs(client, world.morpho, shock, await client.block_number())
        assert [e.caller for e in real] == [RIVAL]
        tracker = MorphoTracker(client, world.morpho)
        await tracker.start()
        still = {a for m, a, _ in tracker.borrowers() if (tracker.health(m, a) or 0) < 10**18}
        assert planned - {victim} <= still
    ledger = ShadowLedger(shadow_journal_path(settings))
    try:
        rows = ledger.rows()
    finally:
        ledger.close()
    judged = {r.account: r for r in rows if r.verdict is not None}
    assert victim in judged
    victim_row = judged[victim]
    (rival_event,) = real
    assert victim_row.real is not None
    assert victim_row.real["tx_hash"] == rival_event.at.tx_hash
    assert victim_row.plan_block is not None
    assert planned <= set(judged)
