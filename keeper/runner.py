"""The keeper loop: follow the head, find unhealthy accounts, plan, execute, report.

The pipeline stays separate: the monitor (chain reads, exact local health engine) -> pure
strategy (keeper.strategy.pair) -> execution (keeper.execution). This loop only wires them, and
confirms the engine's candidates with ``getUserAccountData`` before acting. Its work runs as
supervised stages (keeper.daemon); breakers, alerts and metrics are evaluated here per head.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from keeper.chain.abi import Codec
from keeper.chain.client import ChainClient
from keeper.daemon import RestartPolicy, Stage, Supervisor
from keeper.errors import ConfigError, RpcError, TransactionError
from keeper.execution.fees import FeePolicy, Fees
from keeper.execution.flash import FlashExecutor
from keeper.execution.inventory import InventoryExecutor
from keeper.execution.journal import DAY_S, Journal
from keeper.execution.outcome import Outcome
from keeper.execution.sender import Settled, TxSender
from keeper.execution.signer import Signer
from keeper.gc_pacing import IdleCollector
from keeper.keys import resolve_key
from keeper.monitor import MarketMonitor, Step
from keeper.ops.alerts import Alerts, parse_webhooks
from keeper.ops.breakers import BreakerInputs, Breakers
from keeper.ops.metrics import Metrics
from keeper.ops.server import OpsServer, Status
from keeper.oracles.dex import DexPriceCheck
from keeper.oracles.pending import decode_update
from keeper.protocols.aave_v3.liquidation import is_liquidatable, value_in_base
from keeper.protocols.aave_v3.market import ERC20, POOL, Market, resolve_market
from keeper.protocols.aave_v3.positions import emode_terms, grace_wait, holdings, reserve_terms
from keeper.protocols.aave_v3.reads import (
    AccountData,
    ReserveInfo,
    read_available,
    read_base_currency_unit,
)
from keeper.protocols.aave_v3.versions import AaveVersion
from keeper.risk.display import format_base, format_wad
from keeper.shadow.mode import ShadowMode, shadow_journal_path
from keeper.strategy.flash import flash_terms, units_to_base
from keeper.strategy.gas import (
    APPROVE_GAS_ESTIMATE,
    FLASH_GAS_ESTIMATE,
    LIQUIDATION_GAS_ESTIMATE,
    WEI_PER_NATIVE,
    GasPricing,
    net_after_gas,
    wei_to_base,
)
from keeper.strategy.pair import choose_liquidation
from keeper.strategy.plan import LiquidationPlan, Skip

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from keeper.settings import Settings

log = structlog.get_logger(__name__)
WAD_INT = 10**18
FAILURE_MEMORY_BLOCKS = 20  # the failures breaker forgets failures this many blocks old
BALANCE_CHECK_S = 60.0
QUOTER = Codec.named("uniswap_v3/IQuoterV2")
WRAPPED_NATIVE_SYMBOLS = {"WETH", "WMATIC", "WPOL", "WAVAX", "WBNB", "WXDAI", "WMNT", "WS", "WFTM"}


@dataclass
class BlockReport:
    """What the loop did at one head."""

    block: int
    accounts: int
    candidates: int
    plans: int
    outcomes: list[Outcome] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


async def connect(settings: Settings) -> tuple[ChainClient, int, Market]:
    """Open the client, check the chain id, and resolve the market."""
    client = ChainClient(
        settings.rpc_urls,
        timeout_s=settings.rpc_timeout_s,
        retry_s=settings.rpc_retry_s,
    )
    try:
        chain_id = await _checked_chain_id(settings, client)
        market = await resolve_market(
            client,
            settings.pool_addresses_provider,
            pool_version=None
            if settings.pool_version is None
            else AaveVersion(settings.pool_version),
        )
    except BaseException:
        await client.close()
        raise
    return client, chain_id, market


async def _checked_chain_id(settings: Settings, client: ChainClient) -> int:
    """The chain id, checked on every endpoint.

    Every reachable endpoint must be on the configured chain (or, unconfigured, all on one
    chain); an unreachable endpoint is only a warning: it may come back.
    """
    expected = settings.chain_id
    for index, (label, found) in enumerate(await client.endpoint_chain_ids()):
        key = "rpc_url" if index == 0 else f"rpc_fallback_urls[{index - 1}]"
        if not isinstance(found, int):
            log.warning("rpc_endpoint_unreachable", endpoint=label, key=key, error=str(found))
            continue
        if expected is None:
            expected = found
        elif found != expected:
            raise ConfigError(
                f"{key}: the node at {label} is on chain {found}, expected {expected} "
                f"(chain_id or the first endpoint); fix {key} or chain_id"
            )
    if expected is None:  # nothing answered: retry through the client's own policy
        expected = await client.chain_id()
    return expected


class KeeperLoop:
    """One market, one key: processes the newest head whenever it changes."""

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        chain_id: int,
        market: Market,
        on_block: Callable[[BlockReport], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.market = market
        self.signer = Signer(resolve_key(settings))
        self.chain_id = chain_id
        if settings.execution_mode == "flash" and (
            settings.flash_liquidator is None or settings.uniswap_quoter is None
        ):
            raise ConfigError(
                'flash_liquidator, uniswap_quoter: execution_mode = "flash" needs both '
                "(deploy the contract with `keeper deploy-liquidator`)"
            )
        # A dry run (shadow mode) journals apart and sends only to its fork (built in run()).
        journal = shadow_journal_path(settings) if settings.dry_run else settings.journal_path
        self.journal = Journal(journal, chain_id)
        self._build_execution(client)
        self._premium_bps = 0
        self.monitor = MarketMonitor(client, market, settings)
        self.metrics = Metrics()
        self.breakers = Breakers(
            max_consecutive_failures=settings.breaker_max_consecutive_failures,
            max_head_lag_s=settings.breaker_max_head_lag_s,
            max_dex_deviation_bps=settings.breaker_max_dex_deviation_bps,
        )
        self.dex = (
            DexPriceCheck(client, settings.uniswap_factory)
            if settings.uniswap_factory is not None
            else None
        )
        self._consecutive_failures = 0
        self._last_failure_block = -(10**9)
        self.alerts = Alerts(
            parse_webhooks(settings.alert_webhooks),
            dedup_s=settings.alert_dedup_s,
            per_minute=settings.alert_per_minute,
        )
        self.status = Status(dry_run=settings.dry_run, max_head_age_s=settings.max_head_age_s)
        client.on_request = self.metrics.observe_rpc
        self.shadow = (
            ShadowMode(
                settings,
                chain_id,
                self.journal,
                client,
                market.pool,
                self.metrics.registry,
                self.status,
            )
            if settings.dry_run
            else None
        )
        self._step_started = 0.0
        self._step_seen_at = 0.0
        self._symbols: dict[str, str] = {}
        self._unfinished: Step | None = None  # a head whose cycle failed on a node fault
        self.restart_policy = RestartPolicy()
        self.supervisor: Supervisor | None = None
        self._prepared = False
        self.on_block = on_block
        self.last_block = -1
        # account -> first block at which a plan for it may be tried again
        self._cooldown: dict[str, int] = {}
        # account -> block where a transaction of ours acting on it was last mined: state read
        # at an older head predates it (a cycle acted again on a head after a fault).
        self._mined_at: dict[str, int] = {}
        self._stale: set[str] = set()
        self._base_unit = 0

    def _build_execution(self, exec_client: ChainClient) -> None:
        """The sender and executors, bound to the node they send to (the fork in a dry run)."""
        settings = self.settings
        self.sender = TxSender(
            exec_client,
            self.signer,
            self.journal,
            FeePolicy(
                settings.max_fee_gwei, settings.max_priority_fee_gwei, settings.priority_fee_gwei
            ),
            chain_id=self.chain_id,
            stuck_blocks=settings.replace_after_blocks,
        )
        self.executor = InventoryExecutor(
            exec_client,
            self.sender,
            pool=self.market.pool,
            receipt_timeout_s=settings.receipt_timeout_s,
        )
        self.flash: FlashExecutor | None = None
        if settings.execution_mode == "flash" and settings.flash_liquidator is not None:
            self.flash = FlashExecutor(
                exec_client,
                self.sender,
                liquidator=settings.flash_liquidator,
                pool=self.market.pool,
                swap_fee=settings.swap_fee,
                receipt_timeout_s=settings.receipt_timeout_s,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Run the supervised stages until ``stop`` is set.

        Returns once in-flight work is settled or the shutdown deadline has passed.
        """
        server = None
        if self.settings.ops_port is not None:
            from keeper.risk.page import radar_provider  # noqa: PLC0415 - needed only with the endpoint on

            server = OpsServer(
                self.status,
                self.metrics,
                self.settings.ops_host,
                self.settings.ops_port,
                radar=radar_provider(
                    lambda: self.monitor.engine, self._symbols, lambda: self._base_unit
                ),
            )
            port = await server.start()
            log.info(
                "ops_endpoint",
                url=f"http://{self.settings.ops_host}:{port}",
                paths=["/healthz", "/status", "/metrics", "/radar"],
            )
        await self.alerts.start()
        # Every line of every stage names the chain (stage tasks inherit this context).
        structlog.contextvars.bind_contextvars(chain=self.chain_id)
        self.supervisor = Supervisor(self.status, self.alerts, self.restart_policy)
        try:
            await self.supervisor.run(
                [
                    Stage("keeper_loop", self._loop_stage),
                    Stage("balance_watch", self._balance_stage),
                    *(
                        [Stage("pending_watch", self._pending_stage)]
                        if self.settings.predictive
                        else []
                    ),
                    *([Stage("shadow_book", self.shadow.stage)] if self.shadow else []),
                ],
                stop,
                shutdown_timeout_s=self.shadow.shutdown_timeout_s
                if self.shadow
                else self.settings.shutdown_timeout_s,
            )
        finally:
            if self.shadow is not None:
                await self.shadow.stop(self.signer.address)
            self._log_open_transactions()
            await self.alerts.stop()
            if server is not None:
                await server.stop()

    def _log_open_transactions(self) -> None:
        """At shutdown: what is still open is in the journal, reconciled at the next start."""
        open_entries = self.journal.open_entries(self.signer.address)
        log.info(
            "keeper_stopped",
            last_block=self.last_block,
            health_mismatches=self.monitor.mismatches,
            open_transactions=[
                {"nonce": e.nonce, "tx_hash": e.tx_hash, "status": e.status} for e in open_entries
            ],
        )

    async def _loop_stage(self, stop: asyncio.Event) -> None:
        """Follow the head and act on it; the one-time preparation is redone until it works."""
        if not self._prepared:
            await self._prepare(stop)
            self._prepared = True
        with IdleCollector() as collector:
            await self._follow(stop, collector.idle)

    async def _balance_stage(self, stop: asyncio.Event) -> None:
        """Alert when the keeper's native balance runs low; checked every minute."""
        while not stop.is_set():
            try:
                await self._check_gas_money()
            except RpcError as exc:
                log.warning("balance_check_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BALANCE_CHECK_S)

    async def _prepare(self, stop: asyncio.Event) -> None:
        self._base_unit = await read_base_currency_unit(self.client, self.market)
        if self.shadow is not None:
            fork_client = await self.shadow.start(
                await self.client.block_number(), self.signer.address
            )
            self._build_execution(fork_client)
        if self.flash is not None:
            raw = await self.client.call(self.market.pool, POOL.encode("FLASHLOAN_PREMIUM_TOTAL"))
            self._premium_bps = int(POOL.decode("FLASHLOAN_PREMIUM_TOTAL", raw)[0])
        recovered = await self.sender.reconcile(timeout_s=self.settings.receipt_timeout_s)
        log.info(
            "keeper_started",
            keeper=self.signer.address,
            pool=self.market.pool,
            rpc=self.client.label,
            dry_run=self.settings.dry_run,
            start_block=self.settings.start_block,
        )
        head = await self.monitor.start()
        self.last_block = self.monitor.block
        await self._record_late(recovered)
        self._step_started = time.perf_counter()
        self._step_seen_at = time.time()
        report = await self._act(self.monitor.block, head.timestamp, 0, stop)
        await self._reconcile_sample()
        self._record(head.number, head.timestamp, report)
        if self.on_block is not None:
            self.on_block(report)

    async def _follow(self, stop: asyncio.Event, idle: Callable[[], None]) -> None:
        """Process the newest head whenever it changes.

        Heads that arrive mid-cycle coalesce to the newest (the monitor jumps to the node's
        head), so work never stacks up. ``idle`` runs between cycles (garbage collection).
        """
        while not stop.is_set():
            try:
                late = await self.sender.check_open()
                for settled in late:
                    account, receipt = settled.meta.get("account"), settled.receipt
                    if isinstance(account, str) and receipt is not None:
                        self._note_mined(account, int(receipt["blockNumber"], 16))
                    log.info(
                        "open_transaction_settled",
                        status=settled.status,
                        tx_hash=settled.tx_hash,
                        replacements=settled.replacements,
                    )
                await self._record_late(late)
                self._step_started = time.perf_counter()
                self._step_seen_at = time.time()
                step = await self.monitor.step(defer=True)
                if step is not None and step.reorg_ancestor is not None:
                    await self.sender.on_reorg(step.reorg_ancestor)
                    # Liquidations mined in the orphaned blocks are gone with them.
                    self._mined_at = {
                        a: b for a, b in self._mined_at.items() if b <= step.reorg_ancestor
                    }
                if step is None and self._unfinished is not None:
                    # The last cycle failed after the head was followed (a node fault): act on
                    # that head again now rather than waiting for the next block.
                    step = self._unfinished
                if step is not None:
                    self._unfinished = step
                    report = await self._act(
                        step.block, step.timestamp, step.ms, stop, base_fee=step.base_fee
                    )
                    self._unfinished = None
                    self.monitor.finish()  # the accounts the step left for after acting
                    await self._reconcile_sample()
                    self._record(step.block, step.timestamp, report)
                    self.last_block = step.block
                    if self.on_block is not None:
                        self.on_block(report)
            except RpcError as exc:
                # Skip this head: nothing is sent on partial data; the next head retries.
                log.warning("block_skipped", error=str(exc), last_block=self.last_block)
            idle()
            await self._wait_next(stop)

    async def _wait_next(self, stop: asyncio.Event) -> None:
        """Until a new head is announced (WebSocket), the poll interval passes, or stop."""
        waiters = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self.client.next_head(self.settings.poll_interval_s)),
        ]
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and isinstance(task.exception(), RpcError):
                    log.warning("head_wait_failed", error=str(task.exception()))
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _check_gas_money(self) -> None:
        balance = await self.client.get_balance(self.signer.address)
        threshold = int(self.settings.low_gas_balance_eth * 10**18)
        if balance < threshold:
            self.alerts.alert(
                "low_gas",
                self.signer.address,
                f"low gas balance: {self.signer.address} holds {balance / 10**18:.4f} "
                f"(alert below {self.settings.low_gas_balance_eth})",
            )

    async def _check_breakers(
        self,
        head: int,
        timestamp: int,
        reserves: dict[str, ReserveInfo],
        prices: dict[str, int],
    ) -> None:
        """Evaluate every breaker at this head; report trips and clears once each."""
        if head - self._last_failure_block >= FAILURE_MEMORY_BLOCKS:
            self._consecutive_failures = 0
        base_fee, tip = await self.sender.fees.base_and_tip(self.client)
        deviations: dict[str, int] = {}
        if self.dex is not None:
            by_address = await self.dex.deviations(
                self._native_asset(reserves),
                prices,
                {a: r.decimals for a, r in reserves.items()},
                head,
            )
            deviations = {reserves[a].symbol: d for a, d in by_address.items()}
        loss = self.journal.losses_since(self.signer.address, time.time() - DAY_S)
        self.metrics.loss_24h.set(loss / self._base_unit if self._base_unit else 0)
        changes = self.breakers.evaluate(
            BreakerInputs(
                stale_feeds=self.monitor.stale_feeds(),
                base_fee_wei=base_fee,
                tip_wei=tip,
                max_fee_wei=self.sender.fees.max_fee,
                consecutive_failures=self._consecutive_failures,
                head_age_s=max(0.0, time.time() - timestamp),
                loss_24h_base=loss,
                loss_budget_base=int(self.settings.breaker_loss_budget_usd * self._base_unit),
                base_unit=self._base_unit or 1,
                dex_deviation_bps=deviations,
                unpriced=[
                    reserves[a].symbol if a in reserves else a
                    for a in self.monitor.tracker.unpriced
                ],
            )
        )
        for change in changes:
            self.metrics.breakers.labels(change.name).set(1 if change.tripped else 0)
            word = "tripped" if change.tripped else "cleared"
            if change.tripped:
                log.warning(
                    "breaker_tripped", breaker=change.name, reason=change.reason, block=head
                )
            else:
                log.info("breaker_cleared", breaker=change.name, block=head)
            self.alerts.alert(
                f"breaker_{word}", change.name, f"breaker {change.name} {word}: {change.reason}"
            )
        self.status.breakers = self.breakers.tripped

    def _record(self, block: int, timestamp: int, report: BlockReport) -> None:
        """Status and metrics after a processed head."""
        engine = self.monitor.engine
        with_debt = [d.health_factor for d in engine.data.values() if d.total_debt_base > 0]
        status, metrics = self.status, self.metrics
        status.head_block, status.head_timestamp = block, timestamp
        status.last_step_at = time.time()
        status.accounts, status.candidates = len(engine.data), report.candidates
        metrics.head_block.set(block)
        metrics.head_lag.set(max(0.0, time.time() - timestamp))
        metrics.blocks.inc()
        metrics.accounts.set(len(engine.data))
        metrics.candidates.set(report.candidates)
        metrics.mismatches.set(self.monitor.mismatches)
        metrics.rpc_failovers.set(self.client.failovers)
        metrics.health_buckets(with_debt)
        for skip in report.skips:
            metrics.skips.labels(_skip_kind(skip.reason)).inc()

    async def _reconcile_sample(self) -> None:
        """A rotating sample of accounts against getUserAccountData.

        Differences are counted and logged by the monitor.
        """
        await self.monitor.reconcile(self.monitor.sample(self.settings.reconcile_sample))

    def _report_stale(self, head: int) -> None:
        """Log when the set of stale feeds changes (not every block)."""
        stale = self.monitor.stale_feeds()
        if set(stale) != self._stale:
            self._stale = set(stale)
            if stale:
                log.warning(
                    "stale_feeds",
                    block=head,
                    ages_s=stale,
                    heartbeat_s=self.settings.oracle_heartbeat_s,
                )
            else:
                log.info("feeds_fresh", block=head)

    async def _act(
        self,
        head: int,
        timestamp: int,
        sync_ms: float,
        stop: asyncio.Event,
        *,
        base_fee: int | None = None,
    ) -> BlockReport:
        """Act on a head; shadow mode gets what was done as soon as it is done."""
        report = await self._act_on(head, timestamp, sync_ms, stop, base_fee=base_fee)
        if self.shadow is not None:  # before the reads after acting, which may fail
            self.shadow.observe(
                head,
                self._step_seen_at,
                report.outcomes,
                report.skips,
                self.monitor.tracker,
                self._symbols,
                self._base_unit,
            )
        return report

    async def _act_on(
        self,
        head: int,
        timestamp: int,
        sync_ms: float,
        stop: asyncio.Event,
        *,
        base_fee: int | None = None,
    ) -> BlockReport:
        """Confirm the engine's candidates on chain and liquidate them.

        ``base_fee`` is the head's (from its header): fees for this cycle are quoted from it.
        """
        structlog.contextvars.bind_contextvars(block=head)
        if base_fee is not None:
            self.sender.fees.pin(head, base_fee, await self.sender.fees.tip(self.client))
        engine = self.monitor.engine
        local = [d for d in engine.below() if d.total_debt_base > 0 and d.total_collateral_base > 0]
        # Every candidate is checked against getUserAccountData before anything is sent (a
        # rotating sample of the others after acting, see _reconcile_sample).
        onchain = await self.monitor.reconcile([d.account for d in local])
        candidates = sorted(
            (
                onchain[d.account]
                for d in local
                if d.account in onchain and is_liquidatable(onchain[d.account].health_factor)
            ),
            key=lambda d: d.total_debt_base,
            reverse=True,
        )
        self.status.waiting = self._waiting(candidates)
        report = BlockReport(head, len(engine.data), len(candidates), 0)
        self._report_stale(head)
        log.info(
            "block_checked",
            block=head,
            accounts=len(engine.data),
            candidates=len(candidates),
            sync_ms=sync_ms,
            health_mismatches=self.monitor.mismatches,
            # When this cycle saw the head (epoch seconds): reaction time = a broadcast's
            # transaction_sent timestamp minus this.
            head_seen_at=round(self._step_seen_at, 6),
        )
        reserves = await self._reserve_infos()
        prices = dict(self.monitor.tracker.prices)  # read at this block by the tracker
        await self._check_breakers(head, timestamp, reserves, prices)
        if not candidates:
            return report
        if self.breakers.tripped:
            names = ", ".join(sorted(self.breakers.tripped))
            report.skips.extend(Skip(d.account, f"breaker tripped: {names}") for d in candidates)
            log.warning(
                "sending_paused",
                block=head,
                breakers=self.breakers.tripped,
                candidates=len(candidates),
            )
            return report
        if self.shadow is not None:
            await self.shadow.reset(head, self.sender)  # act on the real chain's state at head
        base_fee, tip = await self.sender.fees.base_and_tip(self.client)
        pricing = GasPricing(base_fee + tip, prices[self._native_asset(reserves)])
        try:
            await self._try_candidates(
                candidates, head, sync_ms, reserves, prices, pricing, report, stop
            )
        finally:
            structlog.contextvars.unbind_contextvars("account")
        await self.executor.revoke_leftovers()
        return report

    def _waiting(self, candidates: list[AccountData]) -> dict[str, int]:
        """Candidates a grace period holds back, with the time it ends (shown on /status)."""
        engine, reserves = self.monitor.engine, self.monitor.tracker.reserves
        if engine.view is None or not self.market.rules.grace_period:
            return {}
        out = {}
        for data in candidates:
            state = engine.accounts.get(data.account)
            until = None if state is None else grace_wait(state, engine.view, reserves)
            if until is not None:
                out[data.account] = until
        return out

    async def _try_candidates(
        self,
        candidates: list[AccountData],
        head: int,
        sync_ms: float,
        reserves: dict[str, ReserveInfo],
        prices: dict[str, int],
        pricing: GasPricing,
        report: BlockReport,
        stop: asyncio.Event,
    ) -> None:
        """Plan every candidate (the largest debt first) and execute the plans together.

        Plans are made one after the other, each with the inventory the earlier ones left; each
        is executed as soon as it is made, while the next is planned: the transactions go out
        back to back (one nonce writer, one plan's approval and liquidation kept adjacent) and
        are tracked in parallel, so that all of them land in the next block, not one per block.
        """

        async def execute(
            account: AccountData, plan: LiquidationPlan, plan_ms: float, allowance: int | None
        ) -> None:
            structlog.contextvars.bind_contextvars(account=account.account)
            outcome = await self._execute(
                plan, reserves, pricing, {"detect": sync_ms, "plan": plan_ms}, allowance=allowance
            )
            if outcome is not None:
                report.outcomes.append(outcome)
            if outcome is None or outcome.status in ("simulation_failed", "reverted", "lost"):
                self._cooldown[account.account] = (
                    head + 1 + self.settings.failed_plan_cooldown_blocks
                )

        tasks: list[asyncio.Task[None]] = []
        try:
            async for account, plan, plan_ms, allowance in self._plans(
                candidates, head, reserves, prices, pricing, report, stop
            ):
                if self.flash is not None:
                    # Flash liquidations swap in the same pools: a quote must see the swaps
                    # before it.
                    await execute(account, plan, plan_ms, allowance)
                else:
                    # Sent while the next candidate is planned; tracked in parallel.
                    tasks.append(asyncio.create_task(execute(account, plan, plan_ms, allowance)))
        finally:
            # Whatever happens to planning, what was sent is tracked to its end.
            done = await asyncio.gather(*tasks, return_exceptions=True)
        for failure in done:
            if isinstance(failure, BaseException):
                raise failure  # every plan has run its course; the first failure goes up

    async def _plans(
        self,
        candidates: list[AccountData],
        head: int,
        reserves: dict[str, ReserveInfo],
        prices: dict[str, int],
        pricing: GasPricing,
        report: BlockReport,
        stop: asyncio.Event,
    ) -> AsyncIterator[tuple[AccountData, LiquidationPlan, float, int | None]]:
        """A plan per candidate that has one, each with the inventory earlier plans left."""
        # Never a second transaction for an opportunity whose first one is still in flight.
        pending = self._pending_accounts()
        self._mined_at = {a: b for a, b in self._mined_at.items() if b > head}
        spent: dict[str, int] = {}
        seized: dict[str, int] = {}
        for account in candidates:
            if stop.is_set():
                break
            # Lines about this attempt (the sender's included) name the account.
            structlog.contextvars.bind_contextvars(account=account.account)
            if account.account in pending:
                report.skips.append(Skip(account.account, "a liquidation of it is still pending"))
                continue
            if self._cooldown.get(account.account, 0) > head:
                report.skips.append(Skip(account.account, "cooling down after a failed simulation"))
                continue
            mined_at = self._mined_at.get(account.account, -1)
            if mined_at > head:
                reason = f"a liquidation of ours was mined at block {mined_at}, after this head"
                report.skips.append(Skip(account.account, reason))
                continue
            t_plan = time.perf_counter()
            result = await self._plan(account, head, reserves, prices, pricing, spent, seized)
            plan_ms = round((time.perf_counter() - t_plan) * 1000, 2)
            if isinstance(result, Skip):
                report.skips.append(result)
                log.info(
                    "liquidation_skipped",
                    block=head,
                    account=result.account,
                    reason=result.reason,
                    health_factor=format_wad(account.health_factor),
                )
                continue
            plan, allowance = result
            report.plans += 1
            spent[plan.debt_asset] = spent.get(plan.debt_asset, 0) + plan.debt_to_cover
            coll = plan.collateral_asset
            seized[coll] = seized.get(coll, 0) + plan.expected_collateral
            yield account, plan, plan_ms, allowance

    async def _plan(
        self,
        account: AccountData,
        head: int,
        reserves: dict[str, ReserveInfo],
        prices: dict[str, int],
        pricing: GasPricing,
        spent: dict[str, int] | None = None,
        seized: dict[str, int] | None = None,
    ) -> tuple[LiquidationPlan, int | None] | Skip:
        """The best liquidation of ``account`` at ``head``, and our allowance for it.

        The allowance is ours to the Pool of the plan's debt asset as just read (None in flash
        mode). ``spent`` (inventory) and ``seized`` (collateral reserves' liquidity) are what
        plans of this cycle already use.
        """
        assets = list(reserves)
        holder = None if self.flash is not None else self.signer.address
        tracker, engine = self.monitor.tracker, self.monitor.engine
        state, view = engine.accounts.get(account.account), engine.view
        if state is None or view is None:
            return Skip(account.account, "not tracked: its state is being read")
        a_tokens = {a: r.a_token for a, r in tracker.reserves.items()}
        # The account's balances come from the tracked state (no read on this path); what is
        # available (reserve cash, our balances and allowances) is read now: earlier plans of
        # the cycle use it.
        available = await read_available(self.client, self.market, assets, a_tokens, holder)
        allowances = available.allowances or {}
        inventory = None if available.balances is None else _less(available.balances, spent)
        liquidity = _less(available.liquidity, seized)
        gas_estimate = (
            FLASH_GAS_ESTIMATE
            if self.flash is not None
            else LIQUIDATION_GAS_ESTIMATE + APPROVE_GAS_ESTIMATE
        )
        plan = choose_liquidation(
            account=account.account,
            health_factor=account.health_factor,
            total_debt_base=account.total_debt_base,
            block=head,
            holdings=holdings(state, view),
            reserves=reserve_terms(tracker.reserves.values(), prices, view.timestamp + 1),
            rules=self.market.rules,
            inventory=inventory,
            min_profit_base=self._min_profit_base(),
            gas_cost_base=pricing.cost_base(gas_estimate),
            emode=emode_terms(state, tracker.emodes, tracker.reserves.values()),
            liquidity=liquidity,
            liquidator=self.flash.contract if self.flash is not None else self.signer.address,
        )
        if isinstance(plan, Skip):
            return plan
        return plan, allowances.get(plan.debt_asset)

    async def _pending_stage(self, stop: asyncio.Event) -> None:
        """Predictive mode over WebSocket: back-run pending oracle updates.

        A transaction in the node's pool that moves one of the market's feeds is decoded, the
        exposed accounts' health recomputed at its price, and their liquidations sent right
        behind it (simulated after it, tip capped at its tip) to land in the same block.
        """
        queue = await self.client.pending_transactions()
        if queue is None:
            log.info("pending_watch_off", reason="the node is not a WebSocket endpoint")
            await stop.wait()
            return
        log.info("pending_watch_on")
        while not stop.is_set():
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (getter, stopper):
                if task not in done:
                    task.cancel()
            if getter in done and self._prepared:
                try:
                    await self._on_pending(getter.result())
                except RpcError as exc:
                    log.warning("pending_update_skipped", error=str(exc))

    async def _on_pending(self, tx_hash: str) -> None:
        t0 = time.perf_counter()
        tx = await self.client.request("eth_getTransactionByHash", [tx_hash])
        tracker = self.monitor.tracker
        update = (
            decode_update(tx, {f.lower() for f in tracker.feeds.emitters()})
            if isinstance(tx, dict)
            else None
        )
        if update is None:
            return
        assets = tracker.feeds.assets_by_emitter.get(update.feed, [])
        engine, head = self.monitor.engine, self.monitor.block
        prices = dict(tracker.prices)
        hit: dict[str, AccountData] = {}
        for asset in assets:
            prices[asset] = update.answer
            for data in engine.at_price(asset, update.answer):
                if data.health_factor < WAD_INT and data.total_debt_base > 0:
                    hit[data.account] = data
        log.info(
            "pending_oracle_update",
            tx_hash=tx_hash,
            feed=update.feed,
            answer=update.answer,
            accounts=len(hit),
        )
        if not hit or update.answer <= 0 or self.flash is not None or self.breakers.tripped:
            return
        reserves = await self._reserve_infos()
        base_fee, tip = await self.sender.fees.base_and_tip(self.client)
        pricing = GasPricing(base_fee + tip, prices[self._native_asset(reserves)])
        # One wei less than the update pays, in tip and in max fee: a block orders ours right
        # after it.
        cap = Fees(max(0, _max_fee(tx) - 1), max(0, _effective_tip(tx, base_fee) - 1))
        detect_ms = round((time.perf_counter() - t0) * 1000, 2)

        async def backrun(data: AccountData) -> None:
            t_plan = time.perf_counter()
            planned = await self._plan(data, head, reserves, prices, pricing)
            if isinstance(planned, Skip):
                log.info("backrun_skipped", account=data.account, reason=planned.reason)
                return
            plan, allowance = planned
            phases = {"detect": detect_ms, "plan": round((time.perf_counter() - t_plan) * 1000, 2)}
            await self._execute(
                plan, reserves, pricing, phases, behind=tx, tip_cap=cap, allowance=allowance
            )

        pending = self._pending_accounts()
        ordered = sorted(hit.values(), key=lambda d: d.total_debt_base, reverse=True)
        await asyncio.gather(*(backrun(d) for d in ordered if d.account not in pending))

    def _note_mined(self, account: str, block: int) -> None:
        """Remember where a transaction of ours on ``account`` was mined (see ``_mined_at``)."""
        self._mined_at[account] = max(block, self._mined_at.get(account, -1))

    def _pending_accounts(self) -> set[str]:
        """Accounts with a liquidation of ours still in flight."""
        return {
            str(e.meta.get("account"))
            for e in self.journal.open_entries(self.signer.address)
            if e.purpose in ("liquidation", "flash_liquidation")
        }

    async def _execute_flash(
        self, plan: LiquidationPlan, reserves: dict[str, ReserveInfo], pricing: GasPricing
    ) -> Outcome:
        """Quote the swap at this block, set the terms, and run the flash liquidation."""
        flash, quoter = self.flash, self.settings.uniswap_quoter
        if flash is None or quoter is None:  # pragma: no cover - checked at construction
            raise ConfigError("flash mode is not configured")
        same = plan.collateral_asset == plan.debt_asset
        quote = 0
        if not same:
            raw = await self.client.call(
                quoter,
                QUOTER.encode(
                    "quoteExactInputSingle",
                    (
                        plan.collateral_asset,
                        plan.debt_asset,
                        plan.expected_collateral,
                        self.settings.swap_fee,
                        0,
                    ),
                ),
            )
            quote = int(QUOTER.decode("quoteExactInputSingle", raw)[0])
        debt = reserves[plan.debt_asset]
        debt_price = self.monitor.tracker.prices[plan.debt_asset]
        minimum = self._min_profit_base()
        terms = flash_terms(
            debt_to_cover=plan.debt_to_cover,
            collateral_received=plan.expected_collateral,
            same_asset=same,
            quote_out=quote,
            premium_bps=self._premium_bps,
            slippage_bps=self.settings.max_slippage_bps,
            debt_price=debt_price,
            debt_decimals=debt.decimals,
            min_profit_base=minimum,
            gas_cost_base=pricing.cost_base(FLASH_GAS_ESTIMATE),
            debt_repaid=plan.expected_debt_repaid or plan.debt_to_cover,
            premium_rounds_up=self.market.rules.directed_rounding,
        )
        if terms.profit_at_min < terms.min_profit:
            return Outcome(
                "not_sent",
                plan,
                reason=(
                    f"flash profit at the worst accepted swap ({terms.profit_at_min}) is below "
                    f"minimum profit plus gas ({terms.min_profit}), in {debt.symbol} units"
                ),
            )

        def guard(gas: int) -> str | None:
            net = units_to_base(terms.profit_at_min, debt_price, debt.decimals) - pricing.cost_base(
                gas
            )
            if net < minimum:
                return f"flash profit after simulated gas ({gas}) is {net}, below minimum {minimum}"
            return None

        outcome = await flash.execute_flash(plan, terms, guard)
        outcome.expected_profit = terms.profit_at_quote
        outcome.reason = outcome.reason or f"quote {terms.swap_out_quote}, premium {terms.premium}"
        return outcome

    def _count(
        self, outcome: Outcome, reserves: dict[str, ReserveInfo], pricing: GasPricing
    ) -> None:
        """Metrics of one attempt: outcome, gas, realised profit, reaction latency."""
        metrics = self.metrics
        metrics.attempts.labels(outcome.status).inc()
        if outcome.error is not None:
            metrics.revert_errors.labels(outcome.error).inc()
        if outcome.status in ("reverted", "lost", "timeout"):
            self._consecutive_failures += 1
            self._last_failure_block = outcome.plan.block
        elif outcome.status == "liquidated":
            self._consecutive_failures = 0
        plan = outcome.plan
        if outcome.status == "liquidated":
            self.alerts.alert(
                "won",
                outcome.tx_hash or plan.account,
                f"liquidated {plan.account}: repaid {outcome.debt_repaid} of "
                f"{plan.debt_asset}, received {outcome.collateral_received} of "
                f"{plan.collateral_asset} (tx {outcome.tx_hash})",
            )
        elif outcome.status in ("lost", "reverted"):
            self.alerts.alert(
                "lost",
                plan.account,
                f"liquidation of {plan.account} {outcome.status}: {outcome.reason}",
            )
        metrics.gas_spent.inc(outcome.gas_cost_wei)
        if outcome.tx_hash is not None and self._step_started:
            sent = max(
                self.executor.last_sent_at,
                self.flash.last_sent_at if self.flash is not None else 0.0,
            )
            if sent > self._step_started:
                metrics.reaction.observe(sent - self._step_started)
        self._book(outcome, reserves, pricing)

    def _book(
        self, outcome: Outcome, reserves: dict[str, ReserveInfo], pricing: GasPricing
    ) -> int | None:
        """Record a mined attempt's realised P&L (journal ledger, profit metric); return it."""
        pnl = self._realised_pnl(outcome, reserves, pricing)
        if pnl is not None:
            self.journal.record_result(self.signer.address, outcome.tx_hash, pnl)
            if pnl > 0 and self._base_unit:
                self.metrics.profit.inc(pnl / self._base_unit)  # display only, not money math
        return pnl

    async def _record_late(self, settled: list[Settled]) -> None:
        """Record the realised P&L of our liquidations settled outside an executor.

        Those settled after a receipt timeout or at start from the journal: the loss budget
        counts them as well.
        """
        mined = [
            s
            for s in settled
            if s.receipt is not None and s.purpose in ("liquidation", "flash_liquidation")
        ]
        if not mined:
            return
        reserves = await self._reserve_infos()
        native = self.monitor.tracker.prices.get(self._native_asset(reserves), 0)
        fields = {f.name for f in dataclasses.fields(LiquidationPlan)}
        for late in mined:
            plan = LiquidationPlan(**{k: v for k, v in late.meta.items() if k in fields})
            executor = self.flash if late.purpose == "flash_liquidation" else self.executor
            if executor is None or late.receipt is None:
                continue
            try:
                outcome = await executor.outcome_of(plan, late.receipt)
            except TransactionError as exc:
                log.warning("late_result_unread", tx_hash=late.tx_hash, error=str(exc))
                continue
            if outcome.status == "liquidated":
                self._consecutive_failures = 0  # it timed out, but it did not fail
            pnl = self._book(outcome, reserves, GasPricing(0, native))
            if pnl is not None:
                log.info(
                    "late_result",
                    tx_hash=outcome.tx_hash,
                    outcome=outcome.status,
                    account=plan.account,
                    realised_pnl=format_base(pnl, self._base_unit),
                )

    def _realised_pnl(
        self, outcome: Outcome, reserves: dict[str, ReserveInfo], pricing: GasPricing
    ) -> int | None:
        """Base units gained (negative: lost) by a mined attempt, gas included.

        None when nothing was mined.
        """
        gas = wei_to_base(outcome.gas_cost_wei, pricing.native_price)
        if outcome.status != "liquidated":
            return -gas if outcome.gas_cost_wei else None
        plan, prices = outcome.plan, self.monitor.tracker.prices
        debt = reserves[plan.debt_asset]
        if outcome.realized_profit is not None:  # flash: paid out in the debt asset
            return (
                units_to_base(outcome.realized_profit, prices[plan.debt_asset], debt.decimals) - gas
            )
        received = value_in_base(
            outcome.collateral_received,
            prices[plan.collateral_asset],
            reserves[plan.collateral_asset].decimals,
        )
        return (
            received - value_in_base(outcome.debt_repaid, prices[debt.asset], debt.decimals) - gas
        )

    async def _reserve_infos(self) -> dict[str, ReserveInfo]:
        """The strategy's view of the reserves, from the tracker's configuration at this block.

        No RPC: the configuration bitmap is already decoded; a token's symbol is read once.
        """
        infos = {}
        for reserve in self.monitor.tracker.reserves.values():
            if reserve.asset not in self._symbols:
                try:
                    raw = await self.client.call(reserve.asset, ERC20.encode("symbol"))
                    self._symbols[reserve.asset] = str(ERC20.decode("symbol", raw)[0])
                except RpcError:
                    self._symbols[reserve.asset] = reserve.asset[:10]
            c = reserve.config
            infos[reserve.asset] = ReserveInfo(
                reserve.asset,
                self._symbols[reserve.asset],
                c.decimals,
                c.ltv,
                c.liquidation_threshold,
                c.liquidation_bonus,
                c.liquidation_protocol_fee,
                c.active,
                c.frozen,
                c.paused,
            )
        return infos

    def _min_profit_base(self) -> int:
        return int(self.settings.min_profit_usd * self._base_unit)

    def _native_asset(self, reserves: dict[str, ReserveInfo]) -> str:
        """The reserve that prices the native token (gas): configured, or the wrapped native."""
        wanted = self.settings.native_price_asset
        if wanted is not None:
            if wanted not in reserves:
                raise ConfigError(f"native_price_asset: {wanted} is not a reserve of this market")
            return wanted
        for asset, info in reserves.items():
            if info.symbol.upper() in WRAPPED_NATIVE_SYMBOLS:
                return asset
        raise ConfigError(
            "native_price_asset: no wrapped-native reserve found; set native_price_asset to the "
            "reserve whose price is the chain's native token price"
        )

    async def _execute(
        self,
        plan: LiquidationPlan,
        reserves: dict[str, ReserveInfo],
        pricing: GasPricing,
        phases: dict[str, float],
        behind: dict[str, Any] | None = None,
        tip_cap: Fees | None = None,
        allowance: int | None = None,
    ) -> Outcome | None:
        coll, debt = reserves[plan.collateral_asset], reserves[plan.debt_asset]
        minimum = self._min_profit_base()

        def guard(gas: int) -> str | None:
            net = net_after_gas(plan.gross_profit_base, gas, pricing)
            if net < minimum:
                return f"profit after simulated gas ({gas}) is {net}, below minimum {minimum}"
            return None

        try:
            if self.flash is not None:
                outcome = await self._execute_flash(plan, reserves, pricing)
            else:
                outcome = await self.executor.execute(
                    plan,
                    guard,
                    behind=behind,
                    tip_cap=tip_cap,
                    fee_ceiling=_break_even_fee(plan, minimum, pricing),
                    allowance=allowance,
                )
        except TransactionError as exc:
            log.error(  # noqa: TRY400 - the attempt line, not a traceback
                "liquidation_attempt",
                outcome="error",
                account=plan.account,
                collateral=coll.symbol,
                debt=debt.symbol,
                debt_to_cover=plan.debt_to_cover,
                reason=str(exc),
                block=plan.block,
            )
            return None
        if outcome.block is not None:
            self._note_mined(plan.account, outcome.block)
        self._count(outcome, reserves, pricing)
        log.info(
            "liquidation_attempt",
            outcome=outcome.status,
            dry_run_fork=self.shadow is not None,
            realized_profit=outcome.realized_profit,
            block=plan.block,
            account=plan.account,
            health_factor=format_wad(plan.health_factor),
            collateral=coll.symbol,
            debt=debt.symbol,
            debt_to_cover=plan.debt_to_cover,
            debt_repaid=outcome.debt_repaid,
            collateral_received=outcome.collateral_received,
            expected_profit=format_base(plan.expected_profit_base, self._base_unit),
            gas_used=outcome.gas_used,
            tx_hash=outcome.tx_hash,
            reason=outcome.reason or None,
            winner_tx=outcome.winner_tx,
            timings_ms={**phases, **outcome.timings_ms},
        )
        return outcome


async def run_keeper(
    settings: Settings,
    stop: asyncio.Event,
    on_block: Callable[[BlockReport], None] | None = None,
) -> None:
    """Connect and run the loop until ``stop`` is set."""
    client, chain_id, market = await connect(settings)
    try:
        loop = KeeperLoop(settings, client, chain_id, market, on_block)
        try:
            await loop.run(stop)
        finally:
            loop.journal.close()
    finally:
        await client.close()


__all__ = ["BlockReport", "KeeperLoop", "connect", "run_keeper"]


def _break_even_fee(plan: LiquidationPlan, minimum: int, pricing: GasPricing) -> int | None:
    """The gas price (wei) above which the plan's profit falls below ``minimum``.

    At the plan's gas estimate; no transaction of the plan, replacements included, pays more.
    """
    if pricing.native_price <= 0:
        return None
    margin = max(0, plan.gross_profit_base - minimum)
    gas = LIQUIDATION_GAS_ESTIMATE + APPROVE_GAS_ESTIMATE
    # The estimate is above the simulated gas: never below today's price, which the guard
    # accepted with the simulated gas.
    return max(pricing.gas_price_wei, margin * WEI_PER_NATIVE // (gas * pricing.native_price))


def _less(amounts: dict[str, int], used: dict[str, int] | None) -> dict[str, int]:
    """``amounts`` minus what is already ``used`` (never below zero)."""
    out = dict(amounts)
    for asset, amount in (used or {}).items():
        out[asset] = max(0, out.get(asset, 0) - amount)
    return out


def _max_fee(tx: dict[str, Any]) -> int:
    """The most a pending transaction pays per gas (legacy: its gas price)."""
    return int(str(tx.get("maxFeePerGas") or tx.get("gasPrice") or "0x0"), 16)


def _effective_tip(tx: dict[str, Any], base_fee: int) -> int:
    """The tip per gas a pending transaction pays above ``base_fee`` (legacy or EIP-1559)."""
    if tx.get("maxPriorityFeePerGas") is not None:
        tip = int(str(tx["maxPriorityFeePerGas"]), 16)
        return max(0, min(tip, int(str(tx["maxFeePerGas"]), 16) - base_fee))
    return max(0, int(str(tx.get("gasPrice") or "0x0"), 16) - base_fee)


def _skip_kind(reason: str) -> str:
    """A low-cardinality label for a skip reason."""
    for needle, kind in (
        ("grace period", "grace_period"),
        ("gas", "unprofitable"),
        ("below minimum", "unprofitable"),
        ("dust", "dust"),
        ("inventory", "no_inventory"),
        ("cooling", "cooldown"),
        ("still pending", "pending"),
        ("collateral", "no_collateral"),
        ("debt", "no_debt"),
        ("healthy", "healthy"),
    ):
        if needle in reason:
            return kind
    return "other"
