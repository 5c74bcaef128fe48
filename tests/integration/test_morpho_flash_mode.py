"""Flash mode on Morpho Blue: a keeper holding no tokens deploys MorphoLiquidator and liquidates."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from eth_account import Account

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.receipts import liquidate_logs
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.settings import load_settings
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
FRESH_KEY = "0x" + "43" * 32
ADMIN = DEV_ACCOUNTS[0]
ORACLE = codec_of(morpho_artifact("OracleMock"))
SHOCKS = {"WETH/USDC": -12, "WBTC/DAI": -30}


async def _balance(client: ChainClient, token: str, who: str) -> int:
    raw = await client.call(token, ERC20.encode("balanceOf", who))
    return int(ERC20.decode("balanceOf", raw)[0])


def _deploy(url: str, morpho: str, router: str, journal: Path, *extra: str) -> str:
    """`keeper deploy-liquidator` from FRESH_KEY (``extra``: more flags); the address."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env.update(
        {
            "KEEPER_RPC_URL": url,
            "KEEPER_PRIVATE_KEY": FRESH_KEY,
            "KEEPER_PROTOCOL": "morpho_blue",
            "KEEPER_MORPHO": morpho,
            "KEEPER_JOURNAL_PATH": str(journal),
        }
    )
    deployed = subprocess.run(
        [sys.executable, "-m", "keeper", "deploy-liquidator", "--router", router, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    assert FRESH_KEY[2:] not in deployed.stdout + deployed.stderr
    return str(json.loads(deployed.stdout)["flash_liquidator"])


@pytest.mark.asyncio
async def test_zero_capital_keeper_liquidates_morpho_positions(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """A fresh key with only gas money deploys MorphoLiquidator with `keeper deploy-liquidator`
    and runs in flash mode: after two markets' prices drop it liquidates every position Morpho
    lets be liquidated, each through the contract with a positive profit paid to the owner in
    the loan token (the owner's balances are exactly the sum of the realised profits), bad debt
    realised where the collateral runs out, and no position is left below 1.
    """
    world = morpho_devnet.world
    d, uni = world.deployment, world.uniswap
    assert uni is not None
    owner = Account.from_key(FRESH_KEY).address
    journal = tmp_path / "journal.sqlite"
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        await client.request("anvil_setBalance", [owner, hex(10 * 10**18)])
        contract = await asyncio.to_thread(
            _deploy, morpho_devnet.url, world.morpho, uni.router, journal
        )
        for token in d.tokens.values():
            assert await _balance(client, token.address, owner) == 0
        settings = load_settings(
            rpc_url=morpho_devnet.url,
            protocol="morpho_blue",
            morpho=world.morpho,
            private_key=FRESH_KEY,
            journal_path=str(journal),
            poll_interval_s=0.05,
            ops_port=None,
            execution_mode="flash",
            flash_liquidator=contract,
            uniswap_quoter=uni.quoter,
            min_profit_usd=1,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        try:
            deadline = time.monotonic() + 180
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            shocked = 0
            for label, pct in SHOCKS.items():
                oracle = d.market(label).params.oracle
                (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
                new = int(price) * (100 + pct) // 100
                shocked = (await send(client, ADMIN, oracle, ORACLE.encode("setPrice", new))).block
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
        earned: dict[str, int] = {}
        for o in liquidated:
            assert o.realized_profit is not None and o.realized_profit > 0, o
            assert o.expected_profit is not None and o.expected_profit > 0
            earned[o.plan.spend.asset] = earned.get(o.plan.spend.asset, 0) + o.realized_profit
        for asset, amount in earned.items():
            assert await _balance(client, asset, owner) == amount
        events = await liquidate_logs(client, world.morpho, shocked, await client.block_number())
        assert {e.caller for e in events} == {contract}
        assert len(events) == len(liquidated)
        assert any(e.bad_debt_shares > 0 for e in events)
        for token in d.tokens.values():
            assert await _balance(client, token.address, contract) == 0
        tracker = MorphoTracker(client, world.morpho)
        await tracker.start()
        left = [(m, a) for m, a, _ in tracker.borrowers() if (tracker.health(m, a) or 0) < 10**18]
        assert left == []
