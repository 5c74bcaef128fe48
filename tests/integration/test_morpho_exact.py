"""The Morpho tracker equals Morpho Blue 1.0.0 (its own bytecode) to the wei.

Through a random session of supplies, withdrawals, borrows, repayments, collateral moves, fee
changes, time warps and price moves: the tracked totals and positions equal ``market`` and
``position`` at every block; accrued locally to a chosen next timestamp they equal what
``accrueInterest`` writes there; ``liquidate`` succeeds exactly when the local math says it
will, and the seized, repaid and bad-debt amounts of each liquidation equal the pure math.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue import events as ev
from keeper.protocols.morpho_blue.health import is_healthy
from keeper.protocols.morpho_blue.interest import accrue
from keeper.protocols.morpho_blue.liquidation import (
    LiquidationRefusedError,
    LiquidationResult,
    largest,
    liquidate,
)
from keeper.protocols.morpho_blue.reads import read_positions, read_totals
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from tests.integration.morpho_chain import (
    MC,
    accrue_on_chain,
    fund,
    next_timestamp,
    send,
)

if TYPE_CHECKING:
    from keeper.devnet.morpho_market import DevMarket
    from tests.integration.conftest import MorphoDevnet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]
STEPS = 60
CHECK_EVERY = 4
ADMIN, LIQUIDATOR = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1]
DAY = 86_400
ORACLE_MOCK = codec_of(morpho_artifact("OracleMock"))


class Session:
    """Random users' actions on the devnet's markets; each may revert, as real ones do."""

    def __init__(self, client: ChainClient, devnet: MorphoDevnet, rng: random.Random) -> None:
        self.client, self.rng = client, rng
        self.d = devnet.world.deployment
        self.world = devnet.world
        self.borrowers = [(b.address, self.d.market(b.market)) for b in devnet.world.borrowers]
        self.liquidations = 0
        self.bad_debts = 0
        self.checked = 0

    async def setup(self) -> None:
        """Tokens and approvals for every actor (borrowers repay, the lender supplies more)."""
        await self.client.request("anvil_autoImpersonateAccount", [True])
        actors = [self.world.lender, LIQUIDATOR, *(a for a, _ in self.borrowers)]
        for token in self.d.tokens.values():
            for actor in actors:
                big = 10**12 * 10**token.decimals
                await fund(self.client, ADMIN, token.address, actor, big, self.d.morpho)

    async def step(self) -> None:
        """One random action."""
        rng = self.rng
        account, market = rng.choice(self.borrowers)
        p = market.params.as_tuple()
        pos = await read_positions(
            self.client, self.d.morpho, [(market.id, account)], await self.client.block_number(), 10
        )
        position = pos[(market.id, account)]
        kind = rng.choice(
            [
                "borrow",
                "repay",
                "repay_shares",
                "collateral",
                "withdraw_collateral",
                "supply",
                "withdraw",
                "warp",
                "price",
                "fee",
                "accrue",
            ]
        )
        m = MC
        if kind == "borrow":
            amount = max(1, position.collateral * market.price // 10**36 // rng.randint(5, 40))
            data = m.encode("borrow", p, amount, 0, account, account)
        elif kind == "repay":
            data = m.encode("repay", p, max(1, rng.randint(1, 10**6)), 0, account, b"")
        elif kind == "repay_shares":
            shares = position.borrow_shares * rng.randint(1, 100) // 100
            data = m.encode("repay", p, 0, max(1, shares), account, b"")
        elif kind == "collateral":
            data = m.encode(
                "supplyCollateral",
                p,
                max(1, position.collateral // rng.randint(2, 20)),
                account,
                b"",
            )
        elif kind == "withdraw_collateral":
            data = m.encode(
                "withdrawCollateral",
                p,
                max(1, position.collateral // rng.randint(5, 50)),
                account,
                account,
            )
        elif kind == "supply":
            amount = rng.randint(1, 10**6) * 10 ** self._decimals(market.params.loan_token)
            data = m.encode("supply", p, amount, 0, self.world.lender, b"")
            account = self.world.lender
        elif kind == "withdraw":
            data = m.encode(
                "withdraw", p, rng.randint(1, 10**9), 0, self.world.lender, self.world.lender
            )
            account = self.world.lender
        elif kind == "fee":
            data = m.encode("setFee", p, rng.choice([0, 5, 15, 25]) * 10**16)
            account = ADMIN
        elif kind == "accrue":
            data = m.encode("accrueInterest", p)
        else:
            await self._warp_or_price(kind, market)
            return
        await send(self.client, account, self.d.morpho, data)

    async def _warp_or_price(self, kind: str, market: DevMarket) -> None:
        if kind == "warp":
            await self.client.request("evm_increaseTime", [self.rng.randint(60, 30 * DAY)])
            await self.client.request("evm_mine", [])
            return
        oracle = market.params.oracle
        oc = ORACLE_MOCK
        (price,) = oc.decode("price", await self.client.call(oracle, oc.encode("price")))
        new = int(price) * self.rng.randint(60, 110) // 100
        await send(self.client, ADMIN, oracle, oc.encode("setPrice", new))

    def _decimals(self, token: str) -> int:
        return next(t.decimals for t in self.d.tokens.values() if t.address == token)


async def _assert_tracked(client: ChainClient, tracker: MorphoTracker) -> None:
    """Totals and every tracked position equal Morpho's at the tracker's block."""
    block, morpho = tracker.block, tracker.morpho
    ids = sorted(tracker.state.markets)
    chain = await read_totals(client, morpho, ids, block, 50)
    for market_id in ids:
        assert tracker.state.markets[market_id].totals == chain[market_id], market_id
    pairs = [(i, a) for i in ids for a in tracker.state.markets[i].positions]
    positions = await read_positions(client, morpho, pairs, block, 100)
    for (market_id, account), position in positions.items():
        assert tracker.state.markets[market_id].positions[account] == position, account


def _planned(rng: random.Random, position, totals, price, lltv) -> tuple[int, int]:
    """Liquidation arguments to try: the largest, or a random part by seized or by shares."""
    draw = rng.random()
    if draw < 0.4:
        try:
            choice = largest(position, totals, price, lltv)
        except LiquidationRefusedError:
            return position.collateral, 0
        return choice.seized_assets, choice.repaid_shares
    if draw < 0.7:
        return max(1, position.collateral * rng.randint(1, 100) // 100), 0
    return 0, max(1, position.borrow_shares * rng.randint(1, 100) // 100)


async def _check_projection(client: ChainClient, tracker: MorphoTracker, s: Session) -> None:
    """Accrual, health and liquidation predicted at a chosen next timestamp equal the chain's."""
    rng = s.rng
    market_id = rng.choice(sorted(tracker.state.markets))
    market = tracker.state.markets[market_id]
    params, price, rate = market.params, tracker.prices[market_id], tracker.rates[market_id]
    gap = rng.choice([1, 13, 3_600, DAY, 20 * DAY])
    latest = int((await client.get_block("latest"))["timestamp"], 16)
    when = latest + gap
    totals = accrue(market.totals, rate, when).totals
    for account in market.borrowers():
        position = market.positions[account]
        seized, shares = _planned(rng, position, totals, price, params.lltv)
        try:
            expected: LiquidationResult | None = liquidate(
                position, totals, price, params.lltv, seized_assets=seized, repaid_shares=shares
            )
        except LiquidationRefusedError:
            expected = None
        snap = await client.request("evm_snapshot", [])
        await client.request("evm_setNextBlockTimestamp", [when])
        data = MC.encode("liquidate", params.as_tuple(), account, seized, shares, b"")
        sent = await send(client, LIQUIDATOR, tracker.morpho, data)
        await client.request("evm_revert", [snap])
        assert sent.ok == (expected is not None), (account, seized, shares)
        assert (
            sent.ok == (not is_healthy(position, totals, price, params.lltv))
            or seized == 0
            or shares == 0
        )
        s.checked += 1
        if expected is not None:
            (event,) = [e for e in sent.events if isinstance(e, ev.Liquidate)]
            got = (
                event.seized_assets,
                event.repaid_shares,
                event.repaid_assets,
                event.bad_debt_assets,
                event.bad_debt_shares,
            )
            assert got == (
                expected.seized_assets,
                expected.repaid_shares,
                expected.repaid_assets,
                expected.bad_debt_assets,
                expected.bad_debt_shares,
            )
    await next_timestamp(client, gap)
    sent = await accrue_on_chain(client, tracker.morpho, ADMIN, params)
    assert sent.ok
    chain = await read_totals(client, tracker.morpho, [market_id], sent.block, 5)
    assert chain[market_id] == totals


async def _liquidate_one(client: ChainClient, tracker: MorphoTracker, s: Session) -> None:
    """Liquidate one unhealthy position for real (largest choice), if any, and keep it."""
    for market_id, account, position in list(tracker.borrowers()):
        view = tracker.view(market_id)
        if view is None or is_healthy(position, view.totals, view.price, view.params.lltv):
            continue
        choice = largest(position, view.totals, view.price, view.params.lltv)
        data = MC.encode(
            "liquidate",
            view.params.as_tuple(),
            account,
            choice.seized_assets,
            choice.repaid_shares,
            b"",
        )
        sent = await send(client, LIQUIDATOR, tracker.morpho, data)
        if sent.ok:
            s.liquidations += 1
            s.bad_debts += int(choice.result.bad_debt_shares > 0)
        return


async def test_tracker_follows_morpho_exactly(morpho_devnet: MorphoDevnet) -> None:
    """Tracked state, local accrual, health and liquidations equal Morpho's, to the wei."""
    rng = random.Random(2024)
    async with ChainClient(morpho_devnet.url) as client:
        session = Session(client, morpho_devnet, rng)
        tracker = MorphoTracker(client, morpho_devnet.world.morpho, batch_size=100)
        await tracker.start()
        await _assert_tracked(client, tracker)
        await session.setup()
        for step in range(STEPS):
            await session.step()
            await tracker.advance(await client.block_number())
            await _assert_tracked(client, tracker)
            if step % CHECK_EVERY == CHECK_EVERY - 1:
                await _check_projection(client, tracker, session)
                await _liquidate_one(client, tracker, session)
                await tracker.advance(await client.block_number())
                await _assert_tracked(client, tracker)
    assert session.checked > 20
    assert session.liquidations > 0
    assert session.bad_debts > 0
