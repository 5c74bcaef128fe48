"""The wiring: every stage built from the typed settings, in one place, and run supervised.

``cli`` is the face; this module is the only one that knows every stage. The stages: the head
follower (``keeper.loop.follow``) -> the block cycle (``keeper.loop.cycle``) over a
:class:`~keeper.core.market.LendingMarket` -> an :class:`~keeper.execution.executor.Executor`
-> the sender and its submission channels; the ledger, guards and ops beside them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from keeper.chain.l1_fee import L1FeeReader, open_reader
from keeper.core.market import ExecutionMode
from keeper.core.outcome import TxPurpose
from keeper.daemon import RestartPolicy, Stage, Supervisor
from keeper.errors import ConfigError, JournalUnavailableError, RpcError, TransactionError
from keeper.execution.fees import FeePolicy
from keeper.execution.flash import FlashExecutor
from keeper.execution.inventory import InventoryExecutor
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.execution.through_contract import ContractInventoryExecutor
from keeper.execution.transactor import Transactor
from keeper.gc_pacing import IdleCollector
from keeper.keys import resolve_key
from keeper.loop.attempt import Execution
from keeper.loop.attempts import AttemptBook
from keeper.loop.backrun import Backrun
from keeper.loop.checkpoints import open_checkpoints
from keeper.loop.cycle import BlockCycle
from keeper.loop.follow import HeadFollower
from keeper.loop.guards import Guards
from keeper.loop.ledger import Ledger
from keeper.loop.pricing import NativeAssetUnknownError, native_asset
from keeper.loop.report import BlockReport
from keeper.loop.role import ALONE, RoleKeeper, open_journal, publish_role
from keeper.loop.svr_backrun import svr_stage
from keeper.mode_checks import check_execution_settings
from keeper.ops.alerts import Alerts, parse_webhooks
from keeper.ops.channel_watch import ChannelWatch
from keeper.ops.metrics import Metrics
from keeper.ops.server import OpsServer, Status
from keeper.oracles.dex import DexPriceCheck
from keeper.protocols import opener
from keeper.shadow.mode import ShadowMode, shadow_journal_path
from keeper.submission.wiring import close_channels, open_backrun_channel, open_channels

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.chain.client import ChainClient
    from keeper.core.market import LendingMarket
    from keeper.execution.executor import Executor
    from keeper.settings import Settings
    from keeper.submission.channel import BackrunChannel, SubmissionChannel

log = structlog.get_logger(__name__)


class Keeper:
    """One market, one key: every stage, wired."""

    def __init__(
        self,
        settings: Settings,
        client: ChainClient,
        chain_id: int,
        market: LendingMarket,
        on_block: Callable[[BlockReport], None] | None = None,
        l1_fee: L1FeeReader | None = None,
    ) -> None:
        check_execution_settings(settings)
        self.settings, self.client, self.chain_id, self.market = settings, client, chain_id, market
        self.signer = Signer(resolve_key(settings))
        # A dry run (shadow mode) journals apart and sends only to its fork (built at start).
        path = shadow_journal_path(settings) if settings.dry_run else settings.journal_path
        # PostgreSQL with journal_url: the journal is shared and written under a lease (HA).
        self.journal, self.lease = open_journal(settings, chain_id, self.signer.address, path)
        self.metrics = Metrics()
        client.on_request = self.metrics.observe_rpc
        self.alerts = Alerts(
            parse_webhooks(settings.alert_webhooks),
            dedup_s=settings.alert_dedup_s,
            per_minute=settings.alert_per_minute,
        )
        self.status = Status(dry_run=settings.dry_run, max_head_age_s=settings.max_head_age_s)
        self._transactors: list[Transactor] = []
        # Every channel opened, closed at the end.
        self._channels: list[SubmissionChannel | BackrunChannel] = []
        self.channel_watch = ChannelWatch(
            self.metrics.channels, self.journal, self.alerts, settings.channel_failures_to_alert
        )
        self.execution = self._execution(client)
        self.book = AttemptBook(
            self.journal, self.signer.address, settings.failed_plan_cooldown_blocks
        )
        self.ledger = Ledger(market, self.journal, self.signer.address, self.metrics, self.alerts)
        factory = settings.uniswap_factory
        dex = DexPriceCheck(client, factory) if factory is not None else None
        self.guards = Guards(
            settings, client, market, self.ledger, (self.metrics, self.alerts, self.status), dex
        )
        self.cycle = BlockCycle(
            settings,
            client,
            market,
            self.execution,
            self.book,
            self.ledger,
            self.guards,
            self.status,
        )
        self.cycle.l1_fee = l1_fee
        self.cycle.gate = ALONE if self.lease is None else self.lease
        self.follower = HeadFollower(settings, client, self.cycle, (self.metrics, self.status))
        self.role = (
            None
            if self.lease is None
            else RoleKeeper.build(settings, self.lease, (self.metrics, self.status), self._adopt)
        )
        publish_role(self.cycle.gate, self.metrics, self.status)
        self._market_ready = asyncio.Event()
        if on_block is not None:
            self.follower.on_block.append(on_block)
        self.backrun = Backrun(client, self.cycle)
        self.svr = svr_stage(settings, self.cycle, self.metrics)
        self.checkpoints, self.checkpoint_file = open_checkpoints(
            settings, client, (chain_id, market), self.metrics.checkpoints, self.lease
        )
        self.follower.on_block.append(lambda report: self.checkpoints.after_block(report.block))
        self.shadow = (
            ShadowMode(
                settings,
                chain_id,
                self.journal,
                client,
                market,
                self.metrics.registry,
                self.status,
            )
            if settings.dry_run
            else None
        )
        self.restart_policy = RestartPolicy()
        self.prepared = False

    @property
    def last_block(self) -> int:
        """The last head fully processed (-1 before the first)."""
        block = self.follower.last_block
        return -1 if block is None else block

    def _execution(self, exec_client: ChainClient) -> Execution:
        """The sender, its channels and the executors (a dry run: its fork only)."""
        settings = self.settings
        fixed = settings.priority_fee_gwei
        channels = open_channels(
            settings, exec_client, self.channel_watch, self.signer.address, fork=settings.dry_run
        )
        backrun = open_backrun_channel(
            settings, exec_client, self.channel_watch, fork=settings.dry_run
        )
        self._channels += [*channels, *([backrun] if backrun else [])]
        for channel in self._channels:  # their series exported at 0 from the start
            self.metrics.channels.declare(channel.name)
        sender = TxSender(
            exec_client,
            self.signer,
            self.journal,
            FeePolicy(
                settings.max_fee_gwei,
                settings.max_priority_fee_gwei,
                # The opening tip: fixed, or the bid policy's floor (None: the node's).
                fixed if fixed is not None else settings.bid_floor_gwei,
            ),
            chain_id=self.chain_id,
            stuck_blocks=settings.replace_after_blocks,
            channels=channels,
            backrun_channel=backrun,
        )
        tx = Transactor(
            exec_client,
            sender,
            self.market,
            receipt_timeout_s=settings.receipt_timeout_s,
            watch_rivals=settings.bid_watch and fixed is None,
        )
        self._transactors.append(tx)
        inventory: Executor = InventoryExecutor(tx)
        if (
            settings.flash_liquidator
            and not settings.inventory_direct
            and settings.protocol == "aave_v3"  # the contract is Aave's (Morpho: direct)
        ):
            inventory = ContractInventoryExecutor(tx, contract=settings.flash_liquidator)
        execution = Execution(sender, inventory, {TxPurpose.LIQUIDATION: inventory})
        mode = ExecutionMode(settings.execution_mode)
        if mode is ExecutionMode.FLASH and settings.flash_liquidator and settings.uniswap_quoter:
            flash = FlashExecutor(
                tx,
                contract=settings.flash_liquidator,
                quoter=settings.uniswap_quoter,
                swap_fee=settings.swap_fee,
                slippage_bps=settings.max_slippage_bps,
            )
            execution.executor = flash
            execution.by_purpose[TxPurpose.FLASH_LIQUIDATION] = flash
        return execution

    def _use(self, execution: Execution) -> None:
        self.execution = execution
        self.cycle.execution = execution

    async def run(self, stop: asyncio.Event) -> None:
        """Run the supervised stages until ``stop``; returns once in-flight work is settled."""
        server = None
        if self.settings.ops_port is not None:
            radar = getattr(self.market, "radar", None)
            server = OpsServer(
                self.status,
                self.metrics,
                self.settings.ops_host,
                self.settings.ops_port,
                radar=radar() if callable(radar) else None,
                checkpoint_file=self.checkpoint_file,
            )
            port = await server.start()
            log.info(
                "ops_endpoint",
                url=f"http://{self.settings.ops_host}:{port}",
                paths=["/healthz", "/status", "/metrics", "/radar", "/checkpoint"],
            )
        await self.alerts.start()
        # Every line of every stage names the chain (stage tasks inherit this context).
        structlog.contextvars.bind_contextvars(chain=self.chain_id)
        supervisor = Supervisor(self.status, self.alerts, self.restart_policy)
        stages = [
            Stage("keeper_loop", self._loop_stage),
            Stage("balance_watch", lambda s: self.guards.watch_gas_money(s, self.signer.address)),
        ]
        if self.settings.predictive:
            stages.append(Stage("pending_watch", self.backrun.stage))
        if self.svr is not None:
            stages.append(Stage("svr_watch", self.svr.stage))
        if self.shadow is not None:
            stages.append(Stage("shadow_book", self.shadow.stage))
        timeout = (
            self.shadow.shutdown_timeout_s if self.shadow else self.settings.shutdown_timeout_s
        )
        if self.role is not None:
            self.role.start()  # renewed through the drain, released after it
        try:
            await supervisor.run(stages, stop, shutdown_timeout_s=timeout)
        finally:
            for transactor in self._transactors:
                await transactor.close()
            await close_channels(self._channels)
            if self.shadow is not None:
                await self.shadow.stop(self.signer.address)
            if self.role is not None:
                await self.role.stop()
            self._log_open_transactions()
            await self.alerts.stop()
            if server is not None:
                await server.stop()

    def _log_open_transactions(self) -> None:
        """At shutdown: what is still open is in the journal, reconciled at the next start."""
        try:
            open_entries = self.journal.open_entries(self.signer.address)
        except JournalUnavailableError as exc:  # PostgreSQL gone: the next active adopts them
            log.warning("keeper_stopped", last_block=self.last_block, journal=str(exc))
            return
        log.info(
            "keeper_stopped",
            last_block=self.last_block,
            health_mismatches=self.market.mismatches,
            open_transactions=[
                {"nonce": e.nonce, "tx_hash": e.tx_hash, "status": e.status} for e in open_entries
            ],
        )

    async def _loop_stage(self, stop: asyncio.Event) -> None:
        """Follow the head and act on it; the one-time preparation is redone until it works."""
        if not self.prepared:
            await self._prepare(stop)
            self.prepared = True
            self.backrun.ready = True
            if self.svr is not None:
                self.svr.start()  # an SVR aggregator the market does not read: exit 2
        try:
            with IdleCollector() as collector:
                await self.follower.follow(stop, collector.idle)
            await self.checkpoints.close()  # a clean stop: the last block's state, in the drain
        finally:
            self.checkpoints.cancel()

    async def _prepare(self, stop: asyncio.Event) -> None:
        if self.shadow is not None:
            fork = await self.shadow.start(await self.client.block_number(), self.signer.address)
            self._use(self._execution(fork))
            self._hook_shadow(self.shadow)
        # HA: the open transactions are adopted by whoever holds the lease (RoleKeeper).
        recovered = (
            await self.execution.sender.reconcile(timeout_s=self.settings.receipt_timeout_s)
            if self.lease is None
            else []
        )
        log.info(
            "keeper_started",
            keeper=self.signer.address,
            role=self.cycle.gate.role,
            journal=self.journal.location,
            market=self.market.name,
            spender=self.market.spender,
            rpc=self.client.label,
            dry_run=self.settings.dry_run,
            start_block=self.settings.start_block,
        )
        tick = await self.checkpoints.start()
        self.cycle.min_profit_base = int(self.settings.min_profit_usd * self.market.base_unit)
        executor = self.execution.executor
        if isinstance(executor, ContractInventoryExecutor):  # its approvals: read before acting
            await executor.prime(list(await self.market.assets()))
        self._market_ready.set()
        await self.follower.record_late(recovered)
        await self.follower.first(tick, stop)

    async def _adopt(self) -> None:
        """HA, on acquiring the lease: settle, re-send or replace what the journal holds open.

        The nonce counter is then the chain's, never below the journal's open ones
        (``Recovery.reconcile``).
        """
        await self._market_ready.wait()
        try:
            recovered = await self.execution.sender.reconcile(
                timeout_s=self.settings.receipt_timeout_s
            )
            await self.follower.record_late(recovered)
        except RpcError as exc:  # retried at the next renewal
            raise TransactionError(f"adopting the journal: {exc}") from None

    def _hook_shadow(self, shadow: ShadowMode) -> None:
        """Shadow mode resets its fork before sending and books every processed head."""

        async def reset(head: int) -> None:
            await shadow.reset(head, self.execution.sender)

        def observe(tick: object, report: BlockReport) -> None:
            del tick
            assets, prices = self.cycle.last_assets, self.market.prices()
            try:
                native = native_asset(assets, self.settings.native_price_asset)
            except (ConfigError, NativeAssetUnknownError):
                native = ""
            shadow.observe(
                report.block,
                self.cycle.seen_at,
                (report.outcomes, report.skips),
                prices,
                {a: i.decimals for a, i in assets.items()},
                prices.get(native, 0),
                self.market.base_unit,
            )

        self.cycle.before_sending = reset
        self.follower.on_report.append(observe)


async def run_keeper(
    settings: Settings,
    stop: asyncio.Event,
    on_block: Callable[[BlockReport], None] | None = None,
) -> None:
    """Connect and run the keeper until ``stop`` is set."""
    client, chain_id, market = await opener(settings.protocol)(settings)
    try:
        l1_fee = await open_reader(settings.l1_fee_model, client, chain_id, market.spender)
        keeper = Keeper(settings, client, chain_id, market, on_block, l1_fee)
        try:
            await keeper.run(stop)
        finally:
            keeper.journal.close()
    finally:
        await client.close()


__all__ = ["BlockReport", "Keeper", "run_keeper"]
