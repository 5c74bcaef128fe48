"""A test double of the lending-market seam (``keeper.core.market.LendingMarket``).

Not a protocol: it holds what a test puts in (candidates, prices, receipts' effects) and
answers the seam's questions from that, so the neutral stages (the block cycle, the attempt
book, the ledger, the executors' bookkeeping) can be unit-tested without Anvil. Real protocol
behaviour is tested against Aave's own bytecode in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode

from keeper.chain.client import ChainClient
from keeper.chain.types import PendingTx
from keeper.core.market import AssetInfo, Call, FlashCall, Tick
from keeper.core.outcome import Realised
from keeper.core.plan import Amount, Plan, Skip
from keeper.oracles.pending import SET_ANSWER
from keeper.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from keeper.chain.heads import Header
    from keeper.chain.types import Receipt
    from keeper.core.checkpoint import MarketCheckpoint
    from keeper.core.market import FlashInputs, ObservedLiquidation, PlanContext
    from keeper.core.plan import AnyPlan, Candidate
    from keeper.settings import Settings

SPENDER = "0x" + "22" * 20
DEBT = "0x" + "aa" * 20
COLLATERAL = "0x" + "cc" * 20
FEED = "0x" + "fe" * 20


@dataclass(frozen=True)
class FakePayload:
    """What the fake market's plans carry."""

    note: str = "fake"

    def to_meta(self) -> dict[str, object]:
        """JSON-able."""
        return {"note": self.note}


def fake_plan(account: str, block: int, amount: int = 500, gross: int = 10**9) -> AnyPlan:
    """A plan of the fake market: repay ``amount`` DEBT for COLLATERAL."""
    return Plan(
        account=account,
        block=block,
        health_factor=9 * 10**17,
        spend=Amount(DEBT, amount),
        receive=Amount(COLLATERAL, amount),
        expected_spent=amount,
        gross_profit_base=gross,
        expected_profit_base=gross,
        gas_estimate=100_000,
        payload=FakePayload(),
    )


@dataclass
class FakeMarket:
    """Answers from what the test set; records what the stages asked."""

    name: str = "fake"
    spender: str = SPENDER
    address: str = "0x" + "fa" * 20
    candidates: list[Candidate] = field(default_factory=list)
    skips: dict[str, Skip] = field(default_factory=dict)
    asset_prices: dict[str, int] = field(
        default_factory=lambda: {DEBT: 10**8, COLLATERAL: 2_000 * 10**8}
    )
    symbols: dict[str, str | None] = field(
        default_factory=lambda: {DEBT: "USDC", COLLATERAL: "WETH"}
    )
    head: int = 100
    planned: list[str] = field(default_factory=list)
    checked_after_acting: int = 0  # calls of check_after_acting
    waves: list[list[Candidate]] = field(default_factory=list)  # more_candidates, in turn

    @property
    def block(self) -> int:
        return self.head

    @property
    def base_unit(self) -> int:
        return 10**8

    @property
    def mismatches(self) -> int:
        return 0

    async def start(self) -> Tick:
        return Tick(self.head, 1_700_000_000)

    async def advance(self, *, defer: bool, head: Header | None = None) -> Tick | None:
        del defer, head
        return None

    def snapshot(self) -> None:
        return None  # a fake market has no state to checkpoint

    async def restore(self, checkpoint: MarketCheckpoint) -> Tick:
        del checkpoint
        return await self.start()

    def finish(self) -> None:
        return None

    def account_count(self) -> int:
        return len(self.candidates)

    def health_factors(self) -> list[int]:
        return [c.health_factor for c in self.candidates]

    def below_one(self) -> list[str]:
        return [c.account for c in self.candidates]

    async def confirm(self, accounts: Sequence[str]) -> list[Candidate]:
        return [c for c in self.candidates if c.account in accounts]

    async def more_candidates(self) -> list[Candidate]:
        wave, self.waves = (self.waves[0], self.waves[1:]) if self.waves else ([], [])
        self.candidates.extend(wave)
        return wave

    async def check_after_acting(self, holder: str | None) -> None:
        self.checked_after_acting += 1
        del holder

    async def reconcile_sample(self, size: int) -> None:
        del size

    def exposed_at(self, feed: str, answer: int) -> tuple[dict[str, int], list[Candidate]]:
        del feed, answer
        return dict(self.asset_prices), list(self.candidates)

    def feed_emitters(self) -> set[str]:
        return set()

    def waiting(self, candidates: Sequence[Candidate]) -> dict[str, int]:
        del candidates
        return {}

    async def assets(self) -> dict[str, AssetInfo]:
        return {a: AssetInfo(a, s, 18) for a, s in self.symbols.items()}

    def prices(self) -> dict[str, int]:
        return dict(self.asset_prices)

    def stale_feeds(self) -> dict[str, int]:
        return {}

    def unpriced(self) -> list[str]:
        return []

    async def plan(
        self, candidate: Candidate, ctx: PlanContext, prices: Mapping[str, int] | None = None
    ) -> AnyPlan | Skip:
        del prices
        self.planned.append(candidate.account)
        if candidate.account in self.skips:
            return self.skips[candidate.account]
        return fake_plan(candidate.account, ctx.block)

    async def allowance(self, plan: AnyPlan, owner: str) -> int | None:
        del plan, owner
        return 0

    def inventory_call(self, plan: AnyPlan) -> Call:
        return Call(SPENDER, "0x" + plan.account[2:])

    def flash_call(
        self, plan: AnyPlan, contract: str, swap_fee: int, inputs: FlashInputs
    ) -> FlashCall:
        del swap_fee, inputs
        return FlashCall(Call(contract, "0x" + plan.account[2:]), 1, 1, "fake")

    def contract_call(self, plan: AnyPlan, contract: str, bid_wei: int = 0) -> None:
        del plan, contract, bid_wei

    def realised(self, plan: AnyPlan, receipt: Receipt, liquidator: str) -> Realised:
        del receipt, liquidator
        return Realised(plan.spend.amount, plan.receive.amount)

    async def winner(
        self, client: ChainClient, plan: AnyPlan, receipt: Receipt, liquidator: str
    ) -> str | None:
        del client, plan, receipt, liquidator
        return None

    def revert_error(self, data: str | None) -> str | None:
        del data
        return None

    def rival_target(self, tx: PendingTx) -> str | None:
        """A call shaped like our own liquidation (to the spender, the account as data)."""
        if (tx.to or "").lower() != SPENDER or len(tx.input) != 42:
            return None
        return "0x" + tx.input[2:].lower()

    async def observed_liquidations(
        self, client: ChainClient, from_block: int, to_block: int
    ) -> list[ObservedLiquidation]:
        del client, from_block, to_block
        return []

    def plan_from_meta(self, meta: Mapping[str, object]) -> AnyPlan:
        return fake_plan(str(meta["account"]), int(str(meta["block"])))


class QuietNode(ChainClient):
    """A node double: fixed fees, one pending oracle update; nothing else is asked."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:9", retry_s=0)

    async def get_block(self, block: int | str = "latest") -> dict[str, Any]:
        del block
        return {"number": "0x64", "hash": "0x" + "00" * 32, "baseFeePerGas": hex(10**9)}

    async def max_priority_fee(self) -> int:
        return 10**9

    async def pending_tx(self, tx_hash: str) -> PendingTx | None:
        data = SET_ANSWER + encode(["int256"], [10**8]).hex()
        return PendingTx(tx_hash, "0x" + "01" * 20, FEED, data, 5 * 10**9, 2 * 10**9)


def offline_settings(tmp_path: Path, key: str, **overrides: Any) -> Settings:
    """Keeper settings for stage tests: a node that is never dialled, a journal in ``tmp_path``."""
    return load_settings(
        rpc_url="http://127.0.0.1:9",
        pool_addresses_provider="0x" + "11" * 20,
        private_key=key,
        journal_path=str(tmp_path / "journal.sqlite"),
        **({"inventory_direct": True} | overrides),
    )
