"""Which Morpho markets the keeper follows and acts in: the lists and the minimum size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
from keeper.protocols.morpho_blue.prices import USD_UNIT
from keeper.settings import load_settings
from tests.integration.morpho_chain import send

if TYPE_CHECKING:
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN = DEV_ACCOUNTS[0]


async def _market(client: ChainClient, devnet: MorphoDevnet, **kw: Any) -> MorphoLendingMarket:
    settings = load_settings(
        rpc_url=devnet.url, protocol="morpho_blue", morpho=devnet.world.morpho, ops_port=None, **kw
    )
    market = MorphoLendingMarket(client, devnet.world.morpho, settings)
    await market.start()
    return market


async def _shock_all(client: ChainClient, devnet: MorphoDevnet, pct: int) -> None:
    for m in devnet.world.deployment.markets:
        oracle = m.params.oracle
        (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
        await send(client, ADMIN, oracle, ORACLE.encode("setPrice", price * (100 + pct) // 100))


async def test_the_lists_choose_the_markets_followed(morpho_devnet: MorphoDevnet) -> None:
    """With an allow-list only its market is tracked (and only its borrowers are candidates);
    with a deny-list every market but that one; with neither, every market.
    """
    d = morpho_devnet.world.deployment
    chosen = d.market("WBTC/DAI").id
    every = {m.id for m in d.markets}
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        await _shock_all(client, morpho_devnet, -25)
        allowed = await _market(client, morpho_devnet, morpho_markets=[chosen])
        assert set(allowed.tracker.state.markets) == {chosen}
        assert {c.market for c in await allowed.confirm(allowed.below_one())} == {chosen}
        denied = await _market(client, morpho_devnet, morpho_skip_markets=[chosen])
        assert set(denied.tracker.state.markets) == every - {chosen}
        assert chosen not in {c.market for c in await denied.confirm(denied.below_one())}
        full = await _market(client, morpho_devnet)
        assert set(full.tracker.state.markets) == every


async def test_markets_below_the_minimum_size_are_not_acted_in(morpho_devnet: MorphoDevnet) -> None:
    """After a price drop, with a minimum size between the markets' sizes only positions of the
    markets at or above it are liquidatable candidates; above every market's size, none.
    """
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        await _shock_all(client, morpho_devnet, -25)
        full = await _market(client, morpho_devnet)
        prices = full.prices()
        sizes = {}
        for market_id, m in full.tracker.state.markets.items():
            view = full.tracker.view(market_id)
            assert view is not None
            loan = m.params.loan_token
            decimals = (await full.assets())[loan].decimals
            sizes[market_id] = view.totals.total_borrow_assets * prices[loan] // 10**decimals
        unhealthy = {c.market for c in await full.confirm(full.below_one()) if c.market}
        assert len(unhealthy) >= 2
        ranked = sorted(sizes[m] for m in unhealthy)
        floor = ranked[-1]  # the largest unhealthy market's size, in base units
        sized = await _market(client, morpho_devnet, morpho_min_market_usd=floor // USD_UNIT)
        kept = {c.market for c in await sized.confirm(sized.below_one())}
        assert kept and kept == {m for m in unhealthy if sizes[m] >= floor // USD_UNIT * USD_UNIT}
        assert kept != unhealthy
        top = max(sizes.values()) // USD_UNIT + 1
        none = await _market(client, morpho_devnet, morpho_min_market_usd=top)
        assert none.below_one() == []
