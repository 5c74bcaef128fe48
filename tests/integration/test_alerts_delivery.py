"""Alerts reach Slack-, Discord- and Telegram-style receivers; a broken one blocks nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Self

import pytest
from aiohttp import web

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import free_port
from tests.integration.helpers import keeper_settings

pytestmark = pytest.mark.integration


class Receiver:
    """A local webhook receiver: records JSON per path; /broken fails, /slow hangs."""

    def __init__(self) -> None:
        self.got: dict[str, list[dict[str, Any]]] = {}
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "slow":
            await asyncio.sleep(6)  # longer than the alert client's 5 s deadline
        if name == "broken":
            return web.Response(status=500)
        self.got.setdefault(name, []).append(await request.json())
        return web.Response(text="ok")

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.mark.asyncio
async def test_won_and_low_gas_alerts_in_three_formats_and_a_bad_webhook_blocks_nothing(
    devnet, tmp_path
):
    """After a shock the keeper liquidates as usual while one webhook fails and one hangs; the
    Slack-, Discord- and Telegram-style receivers get the 'liquidated' alerts in their own JSON
    shape, and a low gas balance is alerted too.
    """
    async with Receiver() as rx:
        hooks = [
            f"slack:{rx.url('slack')}",
            f"discord:{rx.url('discord')}",
            f"telegram:{rx.url('telegram')}",
            f"slack:{rx.url('broken')}",
            f"discord:{rx.url('slow')}",
        ]
        settings = keeper_settings(
            devnet,
            tmp_path,
            min_profit_usd=1,
            alert_webhooks=hooks,
            low_gas_balance_eth=10**9,
        )
        reports: list[BlockReport] = []
        stop = asyncio.Event()
        task = asyncio.create_task(run_keeper(settings, stop, reports.append))
        async with ChainClient(devnet.url) as client:
            while not reports:
                await asyncio.sleep(0.05)
            shock = await shock_price(
                client, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            started = time.monotonic()
            while time.monotonic() - started < 60:
                if any(r.block > shock.block and r.plans == 0 for r in reports):
                    break
                await asyncio.sleep(0.05)
            liquidated = [o for r in reports for o in r.outcomes if o.status == "liquidated"]
            assert liquidated
            assert time.monotonic() - started < 30, "a hanging webhook must not slow the keeper"
            for _ in range(100):
                if all(rx.got.get(n) for n in ("slack", "discord", "telegram")):
                    break
                await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 30)
        assert any("liquidated" in m["text"] for m in rx.got["slack"])
        assert any("liquidated" in m["content"] for m in rx.got["discord"])
        assert any("liquidated" in m["text"] for m in rx.got["telegram"])
        assert any("low gas balance" in m["text"] for m in rx.got["slack"])
