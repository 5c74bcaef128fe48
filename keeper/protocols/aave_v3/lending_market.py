"""Aave V3 (v3.0 ... v3.6) behind the neutral :class:`keeper.core.market.LendingMarket`.

State, health and the version's rules are the monitor's (tracker + exact health engine); this
class turns them into the neutral hand-offs: candidates, plans, calls, realised outcomes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from keeper.core.market import AssetInfo, Call, FlashCall, Tick
from keeper.core.plan import Candidate, Skip, SkipKind
from keeper.errors import RpcError
from keeper.protocols.aave_v3 import receipts
from keeper.protocols.aave_v3.available import AvailableCache
from keeper.protocols.aave_v3.flash_terms import flash_terms
from keeper.protocols.aave_v3.handoffs import aave_plan, candidate_of, less, tick_of
from keeper.protocols.aave_v3.liquidation import is_liquidatable
from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.orders import order
from keeper.protocols.aave_v3.planner import choose_liquidation, plan_from_meta
from keeper.protocols.aave_v3.positions import emode_terms, grace_wait, holdings, reserve_terms
from keeper.protocols.aave_v3.reads import read_base_currency_unit
from keeper.protocols.aave_v3.reverts import revert_error
from keeper.protocols.aave_v3.rivals import liquidated_account
from keeper.strategy.gas import gas_estimate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.chain.types import PendingTx, Receipt
    from keeper.core.checkpoint import MarketCheckpoint
    from keeper.core.market import FlashInputs, ObservedLiquidation, PlanContext
    from keeper.core.outcome import Realised
    from keeper.core.plan import AnyPlan
    from keeper.protocols.aave_v3.checkpoint import AaveSnapshot
    from keeper.protocols.aave_v3.market import Market
    from keeper.protocols.aave_v3.orders import Order
    from keeper.protocols.aave_v3.planner import AavePlan
    from keeper.risk.page import RadarPicture
    from keeper.settings import Settings

log = structlog.get_logger(__name__)
WAD = 10**18


class AaveLendingMarket:
    """One Aave V3 Pool, its version's rules read from the chain."""

    name = "aave_v3"

    def __init__(self, client: ChainClient, market: Market, settings: Settings) -> None:
        self.client = client
        self.market = market
        self.rules = market.rules
        self.spender = market.pool
        self.address = market.pool.lower()
        self.monitor = MarketMonitor(client, market, settings)
        self._base_unit = 0
        self._symbols: dict[str, str] = {}
        self.our_tokens = AvailableCache(client, market)  # our balances, read after acting
        self.unchecked: set[str] = set()  # acted on from local data, not yet checked on chain
        self._premium_bps = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def block(self) -> int:
        """The block the state is at."""
        return self.monitor.block

    @property
    def base_unit(self) -> int:
        """The oracle's base currency unit (read at start)."""
        return self._base_unit

    @property
    def mismatches(self) -> int:
        """Local account data that differed from getUserAccountData."""
        return self.monitor.mismatches

    async def start(self) -> Tick:
        """Read the oracle's unit and the flash premium, backfill, stand at the head."""
        await self._read_constants()
        head = await self.monitor.start()
        return Tick(head.number, head.timestamp, base_fee=head.base_fee)

    async def restore(self, checkpoint: MarketCheckpoint) -> Tick:
        """Like :meth:`start`, from a checkpoint and the logs since its block."""
        await self._read_constants()
        head = await self.monitor.restore(checkpoint)
        return Tick(head.number, head.timestamp, base_fee=head.base_fee)

    def snapshot(self) -> AaveSnapshot | None:
        """The tracked accounts at the block (None while a step is unfinished)."""
        return self.monitor.snapshot()

    async def _read_constants(self) -> None:
        self._base_unit = await read_base_currency_unit(self.client, self.market)
        raw = await self.client.call(self.market.pool, POOL.encode("FLASHLOAN_PREMIUM_TOTAL"))
        self._premium_bps = int(POOL.decode("FLASHLOAN_PREMIUM_TOTAL", raw)[0])

    async def advance(self, *, defer: bool, head: Header | None = None) -> Tick | None:
        """Follow the head; see :meth:`MarketMonitor.step`."""
        step = await self.monitor.step(defer=defer, head=head)
        return None if step is None else tick_of(step)

    def finish(self) -> None:
        """Recompute what a deferred advance left."""
        self.monitor.finish()

    def account_count(self) -> int:
        """Accounts tracked."""
        return len(self.monitor.engine.data)

    def health_factors(self) -> list[int]:
        """Health factors of the accounts with debt."""
        return [d.health_factor for d in self.monitor.engine.data.values() if d.total_debt_base > 0]

    def below_one(self) -> list[str]:
        """Accounts under HF 1 locally, with debt and collateral."""
        return [
            d.account
            for d in self.monitor.engine.below()
            if d.total_debt_base > 0 and d.total_collateral_base > 0
        ]

    async def confirm(self, accounts: Sequence[str]) -> list[Candidate]:
        """Those liquidatable, the largest debt first, from the exact local account data.

        No read for an account the engine holds at this block: the local data equals
        ``getUserAccountData`` to the wei, and :meth:`check_after_acting` compares them once
        the block's plans ran. An account a check found different is read from the chain
        first; one whose state read failed this block is left for the next.
        """
        monitor, data = self.monitor, self.monitor.engine.data
        stale = monitor.tracker.dirty
        trusted = [a for a in accounts if a in data and monitor.trusted(a)]
        found = [data[a] for a in trusted]
        doubted = [a for a in accounts if a in monitor.suspects and a not in stale]
        if doubted:
            onchain = await monitor.reconcile(doubted)
            found += [onchain[a] for a in doubted if a in onchain]
        liquidatable = [d for d in found if is_liquidatable(d.health_factor)]
        liquidatable.sort(key=lambda d: d.total_debt_base, reverse=True)
        local = set(trusted)
        self.unchecked.update(d.account for d in liquidatable if d.account in local)
        return [candidate_of(d) for d in liquidatable]

    async def more_candidates(self) -> list[Candidate]:
        """The candidates among the urgent accounts the advance left, computed now."""
        rest = self.monitor.rest()
        if not rest:
            return []
        return await self.confirm([a for a in self.below_one() if a in rest])

    async def check_after_acting(self, holder: str | None) -> None:
        """Check the local data acted on, then read what the next plans may use.

        The accounts acted on from local data against ``getUserAccountData`` at the block (a
        difference: logged, counted, the account re-read and checked on chain before it is
        acted on again), then our balances and allowances (see ``available``).
        """
        if self.unchecked:
            await self.monitor.reconcile(sorted(self.unchecked))
            self.unchecked.clear()
        await self.our_tokens.refresh(self.monitor.tracker.reserves, holder, self.block)

    async def reconcile_sample(self, size: int) -> None:
        """A rotating sample against getUserAccountData (mismatches logged and counted)."""
        await self.monitor.reconcile(self.monitor.sample(size))

    def exposed_at(self, feed: str, answer: int) -> tuple[dict[str, int], list[Candidate]]:
        """Prices with ``feed``'s answer, and the accounts under HF 1 at them (no RPC)."""
        tracker, engine = self.monitor.tracker, self.monitor.engine
        prices = dict(tracker.prices)
        hit: dict[str, Candidate] = {}
        for asset in tracker.feeds.assets_by_emitter.get(feed, []):
            prices[asset] = answer
            for data in engine.at_price(asset, answer):
                if data.health_factor < WAD and data.total_debt_base > 0:
                    hit[data.account] = candidate_of(data)
        ordered = sorted(hit.values(), key=lambda c: c.debt_base, reverse=True)
        return prices, ordered

    def feed_emitters(self) -> set[str]:
        """The feeds' aggregators (lower case)."""
        return {f.lower() for f in self.monitor.tracker.feeds.emitters()}

    def waiting(self, candidates: Sequence[Candidate]) -> dict[str, int]:
        """Candidates a liquidation grace period holds back (3.1+), with when it ends."""
        engine, reserves = self.monitor.engine, self.monitor.tracker.reserves
        if engine.view is None or not self.rules.grace_period:
            return {}
        out = {}
        for candidate in candidates:
            state = engine.accounts.get(candidate.account)
            until = None if state is None else grace_wait(state, engine.view, reserves)
            if until is not None:
                out[candidate.account] = until
        return out

    async def assets(self) -> dict[str, AssetInfo]:
        """The reserves; a symbol is read once, and one that failed is read again next time."""
        out = {}
        for reserve in self.monitor.tracker.reserves.values():
            if reserve.asset not in self._symbols:
                try:
                    raw = await self.client.call(reserve.asset, ERC20.encode("symbol"))
                    self._symbols[reserve.asset] = str(ERC20.decode("symbol", raw)[0])
                except RpcError as exc:
                    log.warning("symbol_unread", asset=reserve.asset, error=str(exc))
            symbol = self._symbols.get(reserve.asset)
            out[reserve.asset] = AssetInfo(reserve.asset, symbol, reserve.config.decimals)
        return out

    def prices(self) -> dict[str, int]:
        """The oracle's prices at the block (read by the tracker)."""
        return dict(self.monitor.tracker.prices)

    def stale_feeds(self) -> dict[str, int]:
        """Feeds older than the heartbeat."""
        return self.monitor.stale_feeds()

    def unpriced(self) -> list[str]:
        """Reserves the oracle gave no usable price for."""
        return [self._symbols.get(a, a) for a in self.monitor.tracker.unpriced]

    # -- planning ------------------------------------------------------------------------------

    async def plan(
        self, candidate: Candidate, ctx: PlanContext, prices: Mapping[str, int] | None = None
    ) -> AnyPlan | Skip:
        """The best liquidation of ``candidate`` from the tracked state.

        The account's balances and the reserves' cash come from the tracked state, our balances
        and allowances from the last reading after acting (see ``available``), less what
        earlier plans of the cycle use: no read on this path.
        """
        tracker, engine = self.monitor.tracker, self.monitor.engine
        state, view = engine.accounts.get(candidate.account), engine.view
        if state is None or view is None:
            return Skip(
                candidate.account, "not tracked: its state is being read", SkipKind.NOT_TRACKED
            )
        # The Pool would revert (PriceOracleSentinelCheckFailed): no read, no simulation.
        sentinel = tracker.sentinel
        if not sentinel.allows(candidate.health_factor):
            return Skip(candidate.account, sentinel.held_reason(), SkipKind.SENTINEL)
        available = self.our_tokens.get(ctx.holder)
        if available is None:  # the first plan for this holder: nothing read yet
            available = await self.our_tokens.read_now(tracker.reserves, ctx.holder, ctx.block)
        inventory = None if available.balances is None else less(available.balances, ctx.spent)
        at = tracker.prices if prices is None else prices
        gas = gas_estimate(ctx.mode)
        return choose_liquidation(
            account=candidate.account,
            health_factor=candidate.health_factor,
            total_debt_base=candidate.debt_base,
            block=ctx.block,
            holdings=holdings(state, view),
            reserves=reserve_terms(tracker.reserves.values(), at, view.timestamp + 1),
            rules=self.rules,
            inventory=inventory,
            min_profit_base=ctx.min_profit_base,
            gas_cost_base=ctx.gas_cost_base(gas),
            emode=emode_terms(state, tracker.emodes, tracker.reserves.values()),
            liquidity=less(available.liquidity | tracker.cash(), ctx.seized),
            liquidator=ctx.liquidator,
            gas_estimate=gas,
            l1_fee_base=ctx.l1_fee_base,
        )

    async def allowance(self, plan: AnyPlan, owner: str) -> int | None:
        """Our allowance of the debt asset as last read for planning (None: read it)."""
        del owner  # read for the planning context's holder
        return self.our_tokens.allowance(plan.spend.asset, plan.block)

    def inventory_call(self, plan: AnyPlan) -> Call:
        """``Pool.liquidationCall``, receiving the underlying collateral."""
        p = aave_plan(plan).payload
        return Call(
            self.market.pool,
            POOL.encode(
                "liquidationCall",
                p.collateral_asset,
                p.debt_asset,
                plan.account,
                p.debt_to_cover,
                False,
            ),
        )

    def flash_call(
        self, plan: AnyPlan, contract: str, swap_fee: int, inputs: FlashInputs
    ) -> FlashCall:
        """``FlashLiquidator.liquidate`` with the flash premium and slippage bound applied."""
        aave = aave_plan(plan)
        p = aave.payload
        debt_price = self.monitor.tracker.prices[p.debt_asset]
        decimals = self.monitor.tracker.reserves[p.debt_asset].config.decimals
        terms = flash_terms(
            debt_to_cover=p.debt_to_cover,
            collateral_received=plan.receive.amount,
            same_asset=p.collateral_asset == p.debt_asset,
            quote_out=inputs.quote_out,
            premium_bps=self._premium_bps,
            slippage_bps=inputs.slippage_bps,
            debt_price=debt_price,
            debt_decimals=decimals,
            min_profit_base=inputs.min_profit_base,
            gas_cost_base=inputs.gas_cost_base,
            bid_cost_base=inputs.bid_cost_base,
            debt_repaid=plan.expected_spent or p.debt_to_cover,
            premium_rounds_up=self.rules.directed_rounding,
        )
        data = receipts.LIQUIDATOR.encode(
            "liquidate",
            self._order(aave, inputs.bid_wei),
            swap_fee,
            terms.min_swap_out,
            terms.min_profit,
            terms.bid_cost,
        )
        refusal = None
        if terms.profit_at_min < terms.min_profit + terms.bid_cost:
            refusal = (
                f"flash profit at the worst accepted swap ({terms.profit_at_min}) is below "
                f"minimum profit plus gas ({terms.min_profit}) plus the bid ({terms.bid_cost}), "
                "in units of the debt asset"
            )
        return FlashCall(
            Call(contract, data),
            terms.profit_at_quote,
            terms.profit_at_min,
            f"quote {terms.swap_out_quote}, premium {terms.premium}",
            refusal,
        )

    def contract_call(self, plan: AnyPlan, contract: str, bid_wei: int = 0) -> Call:
        """``FlashLiquidator.liquidateFrom``: pulls the plan's spend from the caller."""
        aave = aave_plan(plan)
        order = self._order(aave, bid_wei)
        return Call(contract, receipts.LIQUIDATOR.encode("liquidateFrom", order, plan.spend.amount))

    def _order(self, plan: AavePlan, bid_wei: int) -> Order:
        tracker, engine = self.monitor.tracker, self.monitor.engine
        return order(plan, tracker.reserves, engine.accounts, bid_wei)

    # -- outcomes ------------------------------------------------------------------------------

    def realised(self, plan: AnyPlan, receipt: Receipt, liquidator: str) -> Realised:
        """What our LiquidationCall moved."""
        return receipts.realised(aave_plan(plan), receipt, self.market.pool, liquidator)

    async def winner(
        self, client: ChainClient, plan: AnyPlan, receipt: Receipt, liquidator: str
    ) -> str | None:
        """Who liquidated the account before us."""
        return await receipts.winner(client, aave_plan(plan), receipt, self.market.pool, liquidator)

    def revert_error(self, data: str | None) -> str | None:
        """The Pool's error name (3.2+ custom errors, string codes before)."""
        return revert_error(data)

    def rival_target(self, tx: PendingTx) -> str | None:
        """The account a pending ``liquidationCall`` to our Pool liquidates."""
        return liquidated_account(tx, self.market.pool)

    async def observed_liquidations(
        self, client: ChainClient, from_block: int, to_block: int
    ) -> list[ObservedLiquidation]:
        """The Pool's LiquidationCall events in the range."""
        return await receipts.observed(client, self.market.pool, from_block, to_block)

    def plan_from_meta(self, meta: Mapping[str, object]) -> AnyPlan:
        """A journaled plan."""
        return plan_from_meta(meta)

    def radar(self) -> Callable[[], Awaitable[RadarPicture]]:
        """The ops endpoint's /radar provider for this market."""
        from keeper.risk.page import radar_provider  # noqa: PLC0415 - only with the endpoint on

        return radar_provider(lambda: self.monitor.engine, self._symbols, lambda: self._base_unit)
