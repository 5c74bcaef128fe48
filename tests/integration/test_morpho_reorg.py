"""Reorgs on the Morpho devnet: the tracker rolls back to the common ancestor, exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.morpho_borrowers import morpho_borrower_address, open_borrower
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from keeper.protocols.morpho_blue.types import MarketParams
from keeper.settings import load_settings
from tests.integration.morpho_chain import MC, send

if TYPE_CHECKING:
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
ADMIN = DEV_ACCOUNTS[0]


async def _market(client: ChainClient, devnet: MorphoDevnet) -> MorphoLendingMarket:
    settings = load_settings(
        rpc_url=devnet.url, protocol="morpho_blue", morpho=devnet.world.morpho, ops_port=None
    )
    market = MorphoLendingMarket(client, devnet.world.morpho, settings)
    await market.start()
    return market


def _assert_equal(tracked: MorphoTracker, fresh: MorphoTracker) -> None:
    """The tracked state equals one read from scratch at the same block (every position)."""
    assert tracked.block == fresh.block
    assert set(tracked.state.markets) == set(fresh.state.markets)
    for market_id, market in fresh.state.markets.items():
        mine = tracked.state.markets[market_id]
        assert mine.totals == market.totals, market_id
        for account in set(mine.positions) | set(market.positions):
            assert mine.position(account) == market.position(account), (market_id, account)
    assert tracked.prices == fresh.prices
    assert tracked.rates == fresh.rates


@pytest.mark.parametrize("method", ["anvil_rollback", "anvil_reorg"])
async def test_orphaned_blocks_are_undone_and_the_new_branch_applied(
    morpho_devnet: MorphoDevnet, method: str
) -> None:
    """Blocks the market followed (a new borrower, a repayment, a market created) are orphaned,
    by a rollback to a shorter chain or by replaced blocks at the same height, and a different
    history follows: the next advance reports the reorg's ancestor, the orphaned borrower and
    market are gone, the new branch's borrower is there, and the whole state equals a tracker
    read from scratch, with no mismatch when the positions are confirmed against Morpho.
    """
    world = morpho_devnet.world
    d = world.deployment
    weth_usdc, wbtc_dai = d.market("WETH/USDC"), d.market("WBTC/DAI")
    async with ChainClient(morpho_devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        market = await _market(client, morpho_devnet)
        base = market.block
        orphan = morpho_borrower_address(4242, 0)
        await open_borrower(dep, ADMIN, d, weth_usdc, orphan, 10**18, 1_000 * 10**6)
        repayer = next(b for b in world.borrowers if b.market == "WBTC/DAI")
        p = wbtc_dai.params
        await send(
            client,
            repayer.address,
            d.morpho,
            MC.encode("repay", p.as_tuple(), repayer.borrow // 3, 0, repayer.address, b""),
        )
        extra = MarketParams(
            p.loan_token, p.collateral_token, weth_usdc.params.oracle, p.irm, p.lltv
        )
        await send(client, ADMIN, d.morpho, MC.encode("createMarket", extra.as_tuple()))
        tick = await market.advance(defer=False)
        assert tick is not None and tick.reorg_ancestor is None
        assert extra.id in market.tracker.state.markets
        assert market.tracker.state.markets[weth_usdc.id].position(orphan).borrow_shares > 0
        depth = tick.block - base
        if method == "anvil_rollback":
            await client.request("anvil_rollback", [depth])
        else:
            await client.request("anvil_reorg", [depth, []])
        survivor = morpho_borrower_address(4242, 1)
        await open_borrower(dep, ADMIN, d, wbtc_dai, survivor, 10**8, 20_000 * 10**18)
        tick = await market.advance(defer=False)
        assert tick is not None and tick.reorg_ancestor is not None
        assert tick.reorg_ancestor <= base + (depth if method == "anvil_reorg" else 0)
        assert not tick.deep_reorg
        state = market.tracker.state
        assert extra.id not in state.markets
        assert state.markets[weth_usdc.id].position(orphan).borrow_shares == 0
        assert state.markets[wbtc_dai.id].position(survivor).borrow_shares > 0
        fresh = MorphoTracker(client, world.morpho)
        await fresh.start()
        _assert_equal(market.tracker, fresh)
        await market.reconcile_sample(10_000)
        assert market.mismatches == 0


async def test_a_reorg_below_what_is_remembered_rebuilds_the_state(
    morpho_devnet: MorphoDevnet,
) -> None:
    """When the orphaned blocks' changes are not all remembered (here: the record is made to
    start after them), the market reads everything again at the new head: the tick says
    deep_reorg and the state equals a tracker read from scratch.
    """
    world = morpho_devnet.world
    d = world.deployment
    async with ChainClient(morpho_devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        market = await _market(client, morpho_devnet)
        orphan = morpho_borrower_address(4343, 0)
        await open_borrower(dep, ADMIN, d, d.market("WETH/USDC"), orphan, 10**18, 10**9)
        tick = await market.advance(defer=False)
        assert tick is not None
        market.tracker.recent.since = market.block + 1  # forget what those blocks changed
        await client.request("anvil_reorg", [3, []])
        await send(client, ADMIN, d.morpho, MC.encode("setFeeRecipient", ADMIN))
        tick = await market.advance(defer=False)
        assert tick is not None and tick.deep_reorg and tick.reorg_ancestor is not None
        assert (
            market.tracker.state.markets[d.market("WETH/USDC").id].position(orphan).borrow_shares
            == 0
        )
        fresh = MorphoTracker(client, world.morpho)
        await fresh.start()
        _assert_equal(market.tracker, fresh)
