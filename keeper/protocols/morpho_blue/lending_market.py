"""Morpho Blue behind the neutral :class:`keeper.core.market.LendingMarket`.

Every market of one Morpho contract, one position per (market, account). The state is the
tracker's (exact, from events); health is Morpho's own rule. A candidate names its market
(``Candidate.market``); the plan's payload carries it to the call. Prices for the neutral
layers (profit, gas) are USD derived from the markets' oracles (``prices.py``). Inventory
mode pays from the keeper's tokens; flash mode goes through our ``MorphoLiquidator``, which
sells the seized collateral inside Morpho's liquidation callback (``flash.py``).
Heads, reorgs and checkpoints are the follower's (``following.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from keeper.chain.abi import error_string
from keeper.chain.erc20 import ERC20
from keeper.core.market import AssetInfo, Call, Tick
from keeper.core.money import to_base_down
from keeper.core.plan import Candidate, Skip, SkipKind
from keeper.errors import RpcError
from keeper.protocols.morpho_blue import receipts
from keeper.protocols.morpho_blue.connect import connect
from keeper.protocols.morpho_blue.exposure import exposed, pending_prices, split_prices
from keeper.protocols.morpho_blue.flash import flash_call
from keeper.protocols.morpho_blue.following import MorphoFollower
from keeper.protocols.morpho_blue.health import health_factor, is_healthy
from keeper.protocols.morpho_blue.planner import (
    PlanInputs,
    morpho_plan,
    plan_from_meta,
    plan_liquidation,
)
from keeper.protocols.morpho_blue.prices import STABLE_SYMBOLS, USD_UNIT, usd_prices
from keeper.protocols.morpho_blue.reads import MORPHO, read_token
from keeper.protocols.morpho_blue.rivals import liquidated_borrower
from keeper.protocols.morpho_blue.sizing import sized_markets
from keeper.strategy.gas import gas_estimate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.chain.types import PendingTx, Receipt
    from keeper.core.checkpoint import MarketCheckpoint, StateSnapshot
    from keeper.core.market import (
        FlashCall,
        FlashInputs,
        LendingMarket,
        ObservedLiquidation,
        PlanContext,
    )
    from keeper.core.outcome import Realised
    from keeper.core.plan import AnyPlan
    from keeper.protocols.morpho_blue.page import RadarPicture
    from keeper.protocols.morpho_blue.tracker import MorphoTracker
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
WAD = 10**18


class MorphoLendingMarket:
    """Every market of one Morpho Blue contract."""

    name = "morpho_blue"

    def __init__(self, client: ChainClient, morpho: str, settings: Settings) -> None:
        self.client = client
        self.spender = morpho
        self.address = morpho  # what a checkpoint is bound to
        self.settings = settings
        self.following = MorphoFollower(client, morpho, settings)
        self._assets: dict[str, AssetInfo] = {}
        self._mismatches = 0
        self._sample = itertools.count()

    @property
    def tracker(self) -> MorphoTracker:
        """The exact state of every followed market (replaced on a deep reorg or a restore)."""
        return self.following.tracker

    # -- state ---------------------------------------------------------------------------------

    @property
    def block(self) -> int:
        """The block the state is at."""
        return self.tracker.block

    def rival_target(self, tx: PendingTx) -> str | None:
        """The borrower a pending ``liquidate`` to Morpho liquidates."""
        return liquidated_borrower(tx, self.spender)

    @property
    def base_unit(self) -> int:
        """Prices are USD with 8 decimals (derived from the markets' oracles)."""
        return USD_UNIT

    @property
    def mismatches(self) -> int:
        """Tracked positions, totals or local oracle prices that differed from Morpho's reads."""
        return self._mismatches + self.tracker.feeds.mismatches

    async def start(self) -> Tick:
        """Discover every market and position, read them at the head."""
        tick = await self.following.start()
        await self.assets()
        return tick

    async def advance(self, *, defer: bool, head: Header | None = None) -> Tick | None:
        """Follow the head, rolling back orphaned blocks; None when the head has not moved.

        ``head``: the follower's new head (the usual next block then costs no header read).
        """
        del defer  # every position is recomputed from the market views, no RPC per account
        return await self.following.advance(head)

    def finish(self) -> None:
        """Nothing is deferred."""

    def snapshot(self) -> StateSnapshot | None:
        """The followed state at the block, for a checkpoint (``checkpoint.py``)."""
        return self.following.snapshot()

    async def restore(self, checkpoint: MarketCheckpoint) -> Tick:
        """A checkpoint's state, then what changed since read at the head."""
        tick = await self.following.restore(checkpoint)
        await self.assets()
        return tick

    def _healths(self) -> list[tuple[str, str, int]]:
        out = []
        for market_id, account, _ in self.tracker.borrowers():
            hf = self.tracker.health(market_id, account)
            if hf is not None:
                out.append((market_id, account, hf))
        return out

    def _sized_markets(self) -> set[str]:
        """Markets big enough to act in (``morpho_min_market_usd``)."""
        return sized_markets(
            self.tracker,
            self.settings.morpho_min_market_usd,
            self.prices,
            {a: i.decimals for a, i in self._assets.items()},
        )

    def account_count(self) -> int:
        """Accounts with a borrow in any market."""
        return len({a for _, a, _ in self.tracker.borrowers()})

    def health_factors(self) -> list[int]:
        """Every borrowing position's health factor."""
        return [hf for _, _, hf in self._healths()]

    def below_one(self) -> list[str]:
        """Accounts with a position Morpho would let be liquidated now, with collateral."""
        markets, sized = self.tracker.state.markets, self._sized_markets()
        return sorted(
            {
                a
                for m, a, hf in self._healths()
                if hf < WAD and m in sized and markets[m].positions[a].collateral > 0
            }
        )

    async def confirm(self, accounts: Sequence[str]) -> list[Candidate]:
        """Each unhealthy position of ``accounts``, re-read from Morpho at the block."""
        wanted, sized = set(accounts), self._sized_markets()
        pairs = [(m, a) for m, a, hf in self._healths() if a in wanted and hf < WAD and m in sized]
        checked = await self._reconcile(pairs)
        out = []
        for market_id, account in checked:
            view = self.tracker.view(market_id)
            position = self.tracker.state.markets[market_id].position(account)
            if view is None or is_healthy(position, view.totals, view.price, view.params.lltv):
                continue
            hf = health_factor(position, view.totals, view.price, view.params.lltv)
            debt = self._base(view.params.loan_token, position.borrowed(view.totals))
            coll = self._base(view.params.collateral_token, position.collateral)
            out.append(Candidate(account, hf, debt, coll, market=market_id))
        out.sort(key=lambda c: c.debt_base, reverse=True)
        return out

    def _base(self, token: str, amount: int, usd: Mapping[str, int] | None = None) -> int:
        price = (self.prices() if usd is None else usd).get(token)
        info = self._assets.get(token)
        return 0 if price is None or info is None else to_base_down(amount, price, info.decimals)

    async def _reconcile(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Compare positions and totals with Morpho at the block; a difference is re-read."""
        for what, market_id, account in await self.tracker.reconcile(pairs):
            self._mismatches += 1
            log.error("morpho_state_mismatch", what=what, market=market_id, account=account)
        return list(pairs)

    async def more_candidates(self) -> list[Candidate]:
        """None: an advance computes every position before acting."""
        return []

    async def check_after_acting(self, holder: str | None) -> None:
        """Nothing: :meth:`confirm` re-reads every candidate from Morpho before acting."""
        del holder

    async def reconcile_sample(self, size: int) -> None:
        """A rotating sample of positions against Morpho's own."""
        pairs = [(m, a) for m, a, _ in self.tracker.borrowers()]
        if not pairs or size <= 0:
            return
        start = next(self._sample) * size % len(pairs)
        await self._reconcile((pairs + pairs)[start : start + min(size, len(pairs))])

    def exposed_at(self, feed: str, answer: int) -> tuple[dict[str, int], list[Candidate]]:
        """Prices once ``feed`` reports ``answer``, and the positions liquidatable then (no RPC).

        Only markets whose oracle has the feed behind it move (``exposure.py``); the mapping
        also carries their pending oracle prices under their market ids, for :meth:`plan`.
        """
        moved = pending_prices(self.tracker, feed, answer)
        if not moved:
            return self.prices(), []
        usd = self._usd(self.tracker.prices | moved)
        hit = []
        for e in exposed(self.tracker, moved, self._sized_markets()):
            position = self.tracker.state.markets[e.market_id].position(e.account)
            params = e.view.params
            debt = self._base(params.loan_token, position.borrowed(e.view.totals), usd)
            coll = self._base(params.collateral_token, position.collateral, usd)
            hit.append(Candidate(e.account, e.health_factor, debt, coll, market=e.market_id))
        hit.sort(key=lambda c: c.debt_base, reverse=True)
        return usd | moved, hit

    def feed_emitters(self) -> set[str]:
        """Where the updates of the feeds behind the markets' oracles are sent (lower case)."""
        return set(self.tracker.feeds.emitters.values())

    def waiting(self, candidates: Sequence[Candidate]) -> dict[str, int]:
        """Morpho has no grace period."""
        del candidates
        return {}

    async def assets(self) -> dict[str, AssetInfo]:
        """Every loan and collateral token; symbol and decimals read once."""
        tokens = {
            t
            for m in self.tracker.state.markets.values()
            for t in (m.params.loan_token, m.params.collateral_token)
        }
        for token in sorted(tokens - set(self._assets)):
            info = await read_token(self.client, token)
            if isinstance(info, RpcError):
                log.warning("token_unread", token=token, error=str(info))
                continue
            self._assets[token] = info
        return dict(self._assets)

    def prices(self) -> dict[str, int]:
        """USD (8 decimals) per whole token, from the markets' oracles at the block."""
        return self._usd(self.tracker.prices)

    def _usd(self, oracle_prices: Mapping[str, int]) -> dict[str, int]:
        """USD per whole token from the markets' oracle prices ``oracle_prices`` (by id)."""
        markets = self.tracker.state.markets
        edges = [
            (m.params.collateral_token, m.params.loan_token, oracle_prices[i])
            for i, m in markets.items()
            if i in oracle_prices
        ]
        decimals = {a: i.decimals for a, i in self._assets.items()}
        usd = self.settings.usd_tokens or [
            a for a, i in self._assets.items() if (i.symbol or "").upper() in STABLE_SYMBOLS
        ]
        return usd_prices(edges, decimals, usd)

    def stale_feeds(self) -> dict[str, int]:
        """Feeds behind the oracles older than the heartbeat (feedless: no age to tell)."""
        tracker = self.tracker
        return tracker.feeds.stale(tracker.timestamp, self.settings.oracle_heartbeat_s)

    def unpriced(self) -> list[str]:
        """Markets whose oracle or IRM could not be read at the block."""
        return sorted(self.tracker.unpriced)

    # -- planning ------------------------------------------------------------------------------

    async def plan(
        self, candidate: Candidate, ctx: PlanContext, prices: Mapping[str, int] | None = None
    ) -> AnyPlan | Skip:
        """The largest liquidation of the candidate's position that still holds when it lands.

        ``prices`` from :meth:`exposed_at` also carry the market's pending oracle price.
        """
        market_id = candidate.market
        view = None if market_id is None else self.tracker.view(market_id)
        if market_id is None or view is None:
            return Skip(candidate.account, "market not tracked or unpriced", SkipKind.NOT_TRACKED)
        usd, pending = split_prices(self.prices() if prices is None else prices)
        if market_id in pending:
            view = replace(view, price=pending[market_id])
        position = self.tracker.state.markets[market_id].position(candidate.account)
        if position.collateral == 0:
            return Skip(candidate.account, "no collateral left", SkipKind.NO_COLLATERAL)
        loan = view.params.loan_token
        inventory = None
        if ctx.holder is not None:
            raw = await self.client.call(loan, ERC20.encode("balanceOf", ctx.holder), ctx.block)
            inventory = int(ERC20.decode("balanceOf", raw)[0]) - ctx.spent.get(loan, 0)
        gas = gas_estimate(ctx.mode)
        return plan_liquidation(
            candidate.account,
            position,
            view,
            PlanInputs(
                usd=usd,
                decimals={a: i.decimals for a, i in self._assets.items()},
                gas_estimate=gas,
                gas_cost_base=ctx.gas_cost_base(gas),
                min_profit_base=ctx.min_profit_base,
                inventory=inventory,
                block=ctx.block,
                health_factor=candidate.health_factor,
            ),
        )

    async def allowance(self, plan: AnyPlan, owner: str) -> int | None:
        """Not read while planning: the executor reads it."""
        del plan, owner
        return None

    def inventory_call(self, plan: AnyPlan) -> Call:
        """``Morpho.liquidate`` with no callback data: the repayment is pulled from us."""
        p = morpho_plan(plan).payload
        data = MORPHO.encode(
            "liquidate", p.params.as_tuple(), plan.account, p.seized_assets, p.repaid_shares, b""
        )
        return Call(self.spender, data)

    def flash_call(
        self, plan: AnyPlan, contract: str, swap_fee: int, inputs: FlashInputs
    ) -> FlashCall:
        """``MorphoLiquidator.liquidate`` with the slippage bound and on-chain minimum profit."""
        mine = morpho_plan(plan)
        loan = mine.payload.params.loan_token
        return flash_call(mine, (contract, swap_fee), inputs, self._assets.get(loan), self.prices())

    def contract_call(self, plan: AnyPlan, contract: str, bid_wei: int = 0) -> None:
        """None: no contract of ours for Morpho yet; the direct ``liquidate`` is used."""
        del plan, contract, bid_wei

    # -- outcomes ------------------------------------------------------------------------------

    def realised(self, plan: AnyPlan, receipt: Receipt, liquidator: str) -> Realised:
        """What our ``Liquidate`` moved."""
        return receipts.realised(morpho_plan(plan), receipt, self.spender, liquidator)

    async def winner(
        self, client: ChainClient, plan: AnyPlan, receipt: Receipt, liquidator: str
    ) -> str | None:
        """Who liquidated the position before us."""
        return await receipts.winner(client, morpho_plan(plan), receipt, self.spender, liquidator)

    def revert_error(self, data: str | None) -> str | None:
        """Morpho reverts with ``Error(string)`` messages (ErrorsLib)."""
        return None if data is None else error_string(data)

    async def observed_liquidations(
        self, client: ChainClient, from_block: int, to_block: int
    ) -> list[ObservedLiquidation]:
        """Every ``Liquidate`` of the range."""
        params = {i: m.params for i, m in self.tracker.state.markets.items()}
        return await receipts.observed(client, self.spender, params, from_block, to_block)

    def plan_from_meta(self, meta: Mapping[str, object]) -> AnyPlan:
        """A journaled plan."""
        return plan_from_meta(meta)

    def radar(self) -> Callable[[], Awaitable[RadarPicture]]:
        """The ops endpoint's /radar provider for these markets."""
        from keeper.protocols.morpho_blue.page import radar_provider  # noqa: PLC0415 - on use

        return radar_provider(self)


async def open_lending_market(
    settings: Settings,
) -> tuple[ChainClient, int, LendingMarket]:
    """The neutral market of ``protocol = "morpho_blue"``."""
    client, chain_id, morpho = await connect(settings)
    market: LendingMarket = MorphoLendingMarket(client, morpho, settings)  # checked by mypy
    return client, chain_id, market
