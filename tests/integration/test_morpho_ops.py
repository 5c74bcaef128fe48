"""Metrics, status and alerts of a Morpho keeper: the neutral ops layer serves Morpho too."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS, DEV_KEYS, free_port
from keeper.settings import load_settings
from tests.integration.morpho_chain import ERC20, send

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.loop.report import BlockReport
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN, KEEPER, KEEPER_KEY = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1], DEV_KEYS[1]


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@pytest.mark.asyncio
async def test_a_morpho_keeper_reports_metrics_status_and_alerts(
    morpho_devnet: MorphoDevnet, tmp_path: Path
) -> None:
    """Through a price drop it liquidates, a Morpho keeper's ops endpoint serves /healthz, its
    /status names the head block, /metrics counts the liquidation attempts by outcome, the
    tracked accounts, the head and no health mismatch, /radar draws the markets' radar; a
    Slack-style webhook receives a 'liquidated' alert.
    """
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/slack", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    hook_port, ops_port = free_port(), free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    world, d = morpho_devnet.world, morpho_devnet.world.deployment
    settings = load_settings(
        rpc_url=morpho_devnet.url,
        protocol="morpho_blue",
        morpho=world.morpho,
        private_key=KEEPER_KEY,
        journal_path=str(tmp_path / "journal.sqlite"),
        poll_interval_s=0.05,
        ops_port=ops_port,
        ops_host="127.0.0.1",
        alert_webhooks=[f"slack:http://127.0.0.1:{hook_port}/slack"],
        min_profit_usd=0,
    )
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    try:
        async with ChainClient(morpho_devnet.url) as client, aiohttp.ClientSession() as http:
            await client.request("anvil_autoImpersonateAccount", [True])
            for token in d.tokens.values():
                mint = ERC20.encode("mint(address,uint256)", KEEPER, 10**9 * 10**token.decimals)
                await send(client, ADMIN, token.address, mint)
            task = asyncio.create_task(run_keeper(settings, stop, reports.append))
            deadline = time.monotonic() + 120
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert reports, "the keeper never reported a block"
            oracle = d.market("WETH/USDC").params.oracle
            (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
            await send(client, ADMIN, oracle, ORACLE.encode("setPrice", price * 85 // 100))
            while time.monotonic() < deadline and not any(
                o.status == "liquidated" for r in reports for o in r.outcomes
            ):
                await asyncio.sleep(0.1)
            base = f"http://127.0.0.1:{ops_port}"
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/status") as resp:
                status = await resp.json()
            assert status["head_block"] >= reports[0].block
            async with http.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            assert _sample(metrics, "keeper_liquidation_attempts_total", outcome="liquidated") >= 1
            assert _sample(metrics, "keeper_head_block") >= reports[0].block
            # A position liquidated to nothing is no longer tracked: the gauge is the count of
            # one of the blocks processed so far.
            tracked = _sample(metrics, "keeper_accounts_tracked")
            assert tracked > 0 and tracked in {r.accounts for r in reports}
            assert _sample(metrics, "keeper_health_mismatches_total") == 0
            async with http.get(f"{base}/radar") as resp:
                assert resp.status == 200
                page = await resp.text()
            assert "positions with debt" in page and "liquidatable now" in page
            async with http.get(f"{base}/radar.png") as resp:
                assert resp.status == 200
                assert (await resp.read()).startswith(b"\x89PNG")
            while time.monotonic() < deadline and not any("liquidated" in m["text"] for m in got):
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 60)
    finally:
        stop.set()
        await runner.cleanup()
    assert any("liquidated" in m["text"] for m in got)
