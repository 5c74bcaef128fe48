"""The /radar page of the status server, and the provider that draws the engine's radar."""

from __future__ import annotations

import base64

import aiohttp
import pytest

from keeper.errors import KeeperError
from keeper.ops.metrics import Metrics
from keeper.ops.server import OpsServer, Status
from keeper.risk.engine import HealthEngine
from keeper.risk.page import radar_provider
from tests.unit.risk_market import borrower, market

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _get(provider, path):
    server = OpsServer(Status(), Metrics(), "127.0.0.1", 0, radar=provider)
    port = await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}{path}") as response,
        ):
            return response.status, response.content_type, await response.read()
    finally:
        await server.stop()


def _engine():
    state = market([borrower("0xa", 10 * 10**18, 790 * 10**6)])
    engine = HealthEngine()
    engine.set_market(state.reserves.values(), state.emodes, state.prices, state.timestamp)
    engine.upsert(state.accounts.values())
    return engine


@pytest.mark.asyncio
async def test_radar_page_inlines_the_png_and_escapes_the_facts():
    """/radar is HTML with the provider's PNG inline (base64) and its facts escaped;
    /radar.png is the PNG itself.
    """

    async def provider():
        return PNG_MAGIC + b"rest", {"nearest <account>": "0xa & co"}

    status, kind, body = await _get(provider, "/radar")
    assert (status, kind) == (200, "text/html")
    page = body.decode()
    assert base64.b64encode(PNG_MAGIC + b"rest").decode() in page
    assert "nearest &lt;account&gt;" in page
    assert "0xa &amp; co" in page
    status, kind, body = await _get(provider, "/radar.png")
    assert (status, kind, body) == (200, "image/png", PNG_MAGIC + b"rest")


@pytest.mark.asyncio
async def test_radar_without_provider_or_state_is_not_served():
    """Without a provider /radar is 404; a provider with nothing to show gives 503 and why."""

    async def empty():
        raise KeeperError("no block processed yet")

    assert (await _get(None, "/radar"))[0] == 404
    status, _, body = await _get(empty, "/radar.png")
    assert status == 503
    assert b"no block processed yet" in body


@pytest.mark.asyncio
async def test_provider_draws_the_engine_radar_and_caches_it():
    """The provider draws a PNG from the engine's state and reuses it within its interval."""
    engine = _engine()
    provide = radar_provider(lambda: engine, {}, lambda: 10**8, min_interval_s=60)
    png, facts = await provide()
    assert png.startswith(PNG_MAGIC)
    assert facts["accounts with debt"] == "1"
    assert facts["liquidatable now"] == "0"
    again, _ = await provide()
    assert again is png


@pytest.mark.asyncio
async def test_provider_before_the_first_block_raises():
    """An engine without a market view yet is reported, not drawn."""
    provide = radar_provider(HealthEngine, {}, lambda: 0)
    with pytest.raises(KeeperError, match="no block"):
        await provide()
