"""The keeper liquidates Morpho Blue positions after a price shock, in inventory mode."""

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
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN, KEEPER, KEEPER_KEY = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1], DEV_KEYS[1]
SHOCKS = {"WETH/USDC": -12, "WBTC/DAI": -30}


async def _shock(client: ChainClient, oracle: str, pct: int) -> int:
    (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
    new = int(price) * (100 + pct) // 100
    sent = await send(client, ADMIN, oracle, ORACLE.encode("setPrice", new))
    return sent.block


@pytest.mark.asyncio
async def test_keeper_liquidates_every_unhealthy_position_without_loss(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """After two markets' prices drop, the keeper liquidates every position Morpho lets be
    liquidated, each for at least what it repaid (at the oracle), realising bad debt where the
    collateral runs out; afterwards no position is below 1.
    """
    world = morpho_devnet.world
    d = world.deployment
    settings = load_settings(
        rpc_url=morpho_devnet.url,
        protocol="morpho_blue",
        morpho=world.morpho,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "journal.sqlite"),
        poll_interval_s=0.05,
        ops_port=None,
        min_profit_usd=0,
    )
    reports: list[BlockReport] = []
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        for token in d.tokens.values():
            amount = 10**9 * 10**token.decimals
            await send(
                client, ADMIN, token.address, ERC20.encode("mint(address,uint256)", KEEPER, amount)
            )
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 120
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            shocked = 0
            for label, pct in SHOCKS.items():
                shocked = await _shock(client, d.market(label).params.oracle, pct)
            while time.monotonic() < deadline and not any(
                r.block > shocked and r.candidates == 0 for r in reports
            ):
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        outcomes = [o for r in reports for o in r.outcomes]
        liquidated = [o for o in outcomes if o.status == "liquidated"]
        assert liquidated, [(o.status, o.reason) for o in outcomes]
        events = await liquidate_logs(client, world.morpho, shocked, await client.block_number())
        assert {e.caller for e in events} == {KEEPER}
        assert len(events) == len(liquidated)
        prices = {}
        for m in d.markets:
            (p,) = ORACLE.decode(
                "price", await client.call(m.params.oracle, ORACLE.encode("price"))
            )
            prices[m.id] = int(p)
        for e in events:
            assert e.seized_assets * prices[e.id] // 10**36 >= e.repaid_assets, e
        assert any(e.bad_debt_shares > 0 for e in events)
        tracker = MorphoTracker(client, world.morpho)
        await tracker.start()
        left = [(m, a) for m, a, _ in tracker.borrowers() if (tracker.health(m, a) or 0) < 10**18]
        assert left == []
