"""The loop's stages with a test double of the market seam (tests/support/fake_market.py).

Each behaviour here was a bug of the single keeper loop: a symbol read failing at start stopped
the daemon; concurrent plans shared one "last sent" time; a back-run that failed set no
cooldown; skips were classified by the words of their reason.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from keeper.app import Keeper
from keeper.core.market import AssetInfo, Call
from keeper.core.outcome import Outcome, OutcomeStatus, TxPurpose
from keeper.core.plan import Candidate, SkipKind
from keeper.errors import ConfigError
from keeper.execution.fees import FeePolicy
from keeper.execution.journal_sqlite import SqliteJournal
from keeper.execution.sender import TxSender
from keeper.execution.signer import Signer
from keeper.execution.transactions import Sent, Settled
from keeper.execution.transactor import Transactor
from keeper.loop.pricing import NativeAssetUnknownError, native_asset
from tests.support.fake_market import (
    COLLATERAL,
    DEBT,
    FEED,
    FakeMarket,
    QuietNode,
    offline_settings,
)

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.core.plan import AnyPlan
    from keeper.execution.executor import ExecRequest

KEY = "0x" + "59" * 32
BORROWER = "0x" + "b0" * 20


class FeedMarket(FakeMarket):
    """The fake market with one feed whose pending update exposes one borrower."""

    def feed_emitters(self) -> set[str]:
        return {FEED}


def test_unread_symbols_postpone_the_native_asset_a_wrong_setting_is_a_config_error():
    """A symbol() read that failed leaves the symbol unknown (never a made-up one): the native
    asset is then unknown for this block only (the block is skipped, the daemon keeps running);
    once read, it resolves. A configured asset that is not in the market is a ConfigError.
    """
    unread = {DEBT: AssetInfo(DEBT, "USDC", 6), COLLATERAL: AssetInfo(COLLATERAL, None, 18)}
    with pytest.raises(NativeAssetUnknownError):
        native_asset(unread, None)
    read = {**unread, COLLATERAL: AssetInfo(COLLATERAL, "WETH", 18)}
    assert native_asset(read, None) == COLLATERAL
    assert native_asset(read, COLLATERAL.upper().replace("0X", "0x")) == COLLATERAL
    with pytest.raises(ConfigError, match="native_price_asset"):
        native_asset(read, "0x" + "99" * 20)
    with pytest.raises(ConfigError, match="native_price_asset"):
        native_asset({DEBT: AssetInfo(DEBT, "USDC", 6)}, None)


class SlowFirstSender(TxSender):
    """A sender double: the first transaction settles only after the second was sent."""

    def __init__(self, journal: SqliteJournal) -> None:
        node = QuietNode()
        super().__init__(
            node, Signer(SecretStr(KEY)), journal, FeePolicy(Decimal(9), Decimal(2)), chain_id=1
        )
        self.second_sent = asyncio.Event()
        self.count = 0

    async def send(self, to: str, data: str, gas_limit: int, **kw: Any) -> Sent:
        self.count += 1
        if self.count == 2:
            await asyncio.sleep(0.2)  # sent well after the first
        return Sent(self.count, to, data, gas_limit, str(kw["purpose"]), {})

    async def settle(self, sent: Sent, *, timeout_s: float) -> Settled:
        del timeout_s
        if sent.nonce == 1:
            await self.second_sent.wait()
        else:
            self.second_sent.set()
        return Settled("timeout", f"0x{sent.nonce:064x}", None)


@pytest.mark.asyncio
async def test_concurrent_deliveries_each_keep_their_own_send_time(tmp_path: Path):
    """Two transactions in flight at once: each delivery reports its own broadcast time and
    send duration (they were once one shared attribute, so the first plan's timings and
    reaction metric came from the second's broadcast).
    """
    sender = SlowFirstSender(SqliteJournal(tmp_path / "j.sqlite", 1))
    tx = Transactor(sender.client, sender, FakeMarket(), receipt_timeout_s=1)
    call = Call(DEBT, "0x")
    t0 = time.perf_counter()
    first, second = await asyncio.gather(
        tx.deliver(call, 1, purpose=TxPurpose.APPROVE),
        tx.deliver(call, 1, purpose=TxPurpose.APPROVE),
    )
    assert first.sent_at < second.sent_at
    assert first.sent_at - t0 < 0.1 <= second.sent_at - t0
    assert first.send_ms < 100 <= second.send_ms


class FailingExecutor:
    """An executor double whose every plan fails simulation."""

    purpose = TxPurpose.LIQUIDATION
    sequential = False
    liquidator = Signer(SecretStr(KEY)).address
    holder = liquidator

    def __init__(self) -> None:
        self.plans: list[str] = []

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        del request
        self.plans.append(plan.account)
        return Outcome(OutcomeStatus.SIMULATION_FAILED, plan, reason="injected")

    async def outcome_of(self, plan: AnyPlan, receipt: object) -> Outcome:
        raise NotImplementedError

    async def after_block(self) -> None:
        return None


@pytest.mark.asyncio
async def test_a_failed_back_run_cools_its_account_down(tmp_path: Path):
    """A back-run of a pending oracle update whose plan fails is booked like any attempt: the
    account cools down, so neither the next back-run nor the next block's cycle retries it at
    once (back-runs once set no cooldown).
    """
    settings = offline_settings(tmp_path, KEY)
    market = FeedMarket(candidates=[Candidate(BORROWER, 9 * 10**17, 10**11, 10**11)])
    keeper = Keeper(settings, QuietNode(), 1, market)
    executor = FailingExecutor()
    keeper.execution.executor = executor
    keeper.backrun.ready = True
    await keeper.backrun.on_pending("0x" + "ab" * 32)
    assert executor.plans == [BORROWER]
    gated = keeper.book.gate(BORROWER, market.block, keeper.book.in_flight())
    assert gated is not None and gated.kind is SkipKind.COOLDOWN
    await keeper.backrun.on_pending("0x" + "ab" * 32)
    assert executor.plans == [BORROWER]  # not tried again while cooling down
    keeper.journal.close()


def test_skip_metric_labels_come_from_the_kind_not_the_words(tmp_path: Path):
    """A breaker named for gas counts as a breaker skip, not an "unprofitable" one (labels were
    once guessed from the reason's words: "gas" meant unprofitable).
    """
    from keeper.core.market import Tick
    from keeper.core.plan import Skip
    from keeper.loop.report import BlockReport

    settings = offline_settings(tmp_path, KEY)
    keeper = Keeper(settings, QuietNode(), 1, FakeMarket())
    report = BlockReport(
        100, 1, 1, 0, skips=[Skip(BORROWER, "breaker tripped: gas_ceiling", SkipKind.BREAKER)]
    )
    keeper.follower.record(Tick(100, int(time.time())), report)
    registry = keeper.metrics.registry
    assert registry.get_sample_value("keeper_liquidation_skips_total", {"reason": "breaker"}) == 1
    assert (
        registry.get_sample_value("keeper_liquidation_skips_total", {"reason": "unprofitable"})
        is None
    )
    keeper.journal.close()


@pytest.mark.asyncio
async def test_the_balance_watch_exports_the_gas_balance_and_its_threshold(tmp_path: Path):
    """The low-gas-money alert rule reads the key's balance and the threshold from /metrics."""

    class Rich(QuietNode):
        async def get_balance(self, address: str, block: int | str = "latest") -> int:
            del address, block
            return 7 * 10**18

    settings = offline_settings(tmp_path, KEY)
    keeper = Keeper(settings, Rich(), 1, FakeMarket())
    keeper.guards.client = Rich()
    stop = asyncio.Event()
    watch = asyncio.create_task(keeper.guards.watch_gas_money(stop, keeper.signer.address))
    registry = keeper.metrics.registry
    labels = {"account": keeper.signer.address}
    for _ in range(100):
        if registry.get_sample_value("keeper_gas_balance_wei", labels) is not None:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await watch
    assert registry.get_sample_value("keeper_gas_balance_wei", labels) == 7 * 10**18
    low = int(settings.low_gas_balance_eth * 10**18)
    assert registry.get_sample_value("keeper_gas_balance_low_wei", labels) == low
    keeper.journal.close()
