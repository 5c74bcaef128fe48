"""The lending-market seam: what a protocol package gives the protocol-neutral keeper.

A protocol package (``keeper.protocols.<name>``) implements :class:`LendingMarket`; the loop,
the executors and the ops layer use nothing else of it. Version differences inside a protocol
(Aave v3.0 ... v3.6) stay behind it, chosen from the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from keeper.chain.client import ChainClient
    from keeper.chain.heads import Header
    from keeper.chain.types import PendingTx, Receipt
    from keeper.core.checkpoint import MarketCheckpoint, StateSnapshot
    from keeper.core.outcome import Realised
    from keeper.core.plan import AnyPlan, Candidate, Skip


class ExecutionMode(StrEnum):
    """How a plan is paid for."""

    INVENTORY = "inventory"  # the keeper's own tokens
    FLASH = "flash"  # borrowed within the transaction, through our own contract


@dataclass(frozen=True)
class AssetInfo:
    """What the neutral layers need to know of a token: for logs, prices and P&L."""

    address: str
    symbol: str | None  # None while its symbol() could not be read (retried later)
    decimals: int

    @property
    def label(self) -> str:
        """The symbol, or the address while the symbol is unknown."""
        return self.symbol or self.address


@dataclass(frozen=True)
class Tick:
    """The market state advanced to a new head.

    ``reorg_ancestor`` is the last block kept when blocks were replaced (``deep_reorg``: further
    back than remembered, the state was rebuilt from scratch and nothing below the new head is
    known to hold).
    """

    block: int
    timestamp: int
    ms: float = 0.0
    base_fee: int | None = None
    reorg_ancestor: int | None = None
    deep_reorg: bool = False
    removed: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PlanContext:
    """What a planner may use besides the market's own state: nothing here is read by it.

    ``gas_cost_base`` turns gas units into base units at this cycle's price, the L1 data fee of
    the transaction included on L2s (``l1_fee_base``: that part alone). ``spent`` and
    ``seized`` are what earlier plans of the same cycle already use (inventory, reserve
    liquidity). ``holder`` is whose balances pay (None: a flash liquidation needs none).
    """

    block: int
    mode: ExecutionMode
    liquidator: str
    holder: str | None
    min_profit_base: int
    gas_cost_base: Callable[[int], int]
    spent: Mapping[str, int] = field(default_factory=dict)
    seized: Mapping[str, int] = field(default_factory=dict)
    l1_fee_base: int = 0


@dataclass(frozen=True)
class Call:
    """One contract call a plan needs, built by its market for an execution mode."""

    to: str
    data: str


@dataclass(frozen=True)
class FlashInputs:
    """What a flash plan's terms are computed from (the swap quote read at this block).

    ``bid_wei`` is paid to ``block.coinbase`` by the contract when the liquidation succeeds (a
    bundle's bid); ``bid_cost_base`` is its worth, which the contract's profit floor adds.
    """

    quote_out: int
    slippage_bps: int
    min_profit_base: int
    gas_cost_base: int
    bid_wei: int = 0
    bid_cost_base: int = 0


@dataclass(frozen=True)
class FlashCall:
    """A flash liquidation ready to simulate, with its guaranteed and expected profit.

    Profits are in spend-asset units: ``profit_at_min`` at the worst accepted swap, before gas.
    ``refusal`` is set when even the terms do not pay the minimum; nothing is then sent.
    """

    call: Call
    profit_at_quote: int
    profit_at_min: int
    note: str
    refusal: str | None = None


@dataclass(frozen=True)
class ObservedLiquidation:
    """A liquidation the protocol recorded on chain (anyone's), read from its event."""

    account: str
    block: int
    tx_hash: str
    log_index: int
    liquidator: str
    spend: tuple[str, int]  # (asset, amount repaid)
    receive: tuple[str, int]  # (asset, amount seized)
    to_share_token: bool = False  # received as the protocol's own share token (e.g. an aToken)


class LendingMarket(Protocol):
    """One protocol's market, followed block by block, exact to the wei."""

    name: str  # e.g. "aave_v3"
    spender: str  # whom the keeper's tokens are approved to in inventory mode
    address: str  # the market's own address (an Aave Pool): what a checkpoint is bound to

    @property
    def block(self) -> int:
        """The block the state is at."""
        ...

    @property
    def base_unit(self) -> int:
        """One unit of the base currency that prices are in (e.g. 1e8 for USD)."""
        ...

    @property
    def mismatches(self) -> int:
        """Local health that disagreed with the chain, counted since start (each is a bug)."""
        ...

    async def start(self) -> Tick:
        """Bootstrap: read or backfill the whole state and stand at the head."""
        ...

    async def advance(self, *, defer: bool, head: Header | None = None) -> Tick | None:
        """Follow the head (rolling back on a reorg); None when it has not moved.

        ``head``: the node's new head as the follower received it (None: read the node's head).
        ``defer`` leaves accounts that cannot be liquidatable for :meth:`finish`.
        """
        ...

    def finish(self) -> None:
        """The work ``advance(defer=True)`` left for after acting."""

    def snapshot(self) -> StateSnapshot | None:
        """The tracked state at :attr:`block`, captured cheaply (None while a step is unfinished).

        Runs on the event loop between blocks: it copies references, never encodes.
        """
        ...

    async def restore(self, checkpoint: MarketCheckpoint) -> Tick:
        """Instead of :meth:`start`: the checkpoint's state, then its block + 1 to the head.

        The caller has checked the envelope (chain, market, block hash). Raises
        ``CheckpointRejectedError`` when the payload cannot be used; the state is then as
        before the call, and :meth:`start` builds it from scratch.
        """
        ...

    def account_count(self) -> int:
        """Accounts tracked."""
        ...

    def health_factors(self) -> list[int]:
        """Every borrowing account's health factor (18 decimals), for the distribution."""
        ...

    def below_one(self) -> list[str]:
        """Accounts whose local health says liquidatable now (no RPC)."""
        ...

    async def confirm(self, accounts: Sequence[str]) -> list[Candidate]:
        """Those of ``accounts`` liquidatable at the block, the largest debt first.

        On the reaction path: a market whose local state is exact answers from it and checks
        the chain in :meth:`check_after_acting`; one that is not reads the chain here.
        """
        ...

    async def more_candidates(self) -> list[Candidate]:
        """Candidates an advance left uncomputed to act sooner on the first, computed now.

        Asked after the first candidates' plans are on their way, until it returns none.
        """
        ...

    async def check_after_acting(self, holder: str | None) -> None:
        """Off the reaction path: check what the block's plans were made from, refresh the rest.

        After a block's plans ran: the local data they came from against the chain, and what
        the next plans use read again (``holder``: whose tokens pay). A difference is logged
        and counted, and the account is read from the chain before it is acted on again.
        """
        ...

    async def reconcile_sample(self, size: int) -> None:
        """Compare a rotating sample of accounts with the chain (differences are logged)."""

    def exposed_at(self, feed: str, answer: int) -> tuple[dict[str, int], list[Candidate]]:
        """Prices with ``feed``'s pending ``answer``, and who is liquidatable at them (no RPC)."""
        ...

    def feed_emitters(self) -> set[str]:
        """Addresses whose price transactions move this market's prices (lower case)."""
        ...

    def waiting(self, candidates: Sequence[Candidate]) -> dict[str, int]:
        """Candidates a protocol rule holds back (e.g. a grace period), with when it ends."""
        ...

    async def assets(self) -> dict[str, AssetInfo]:
        """Every asset of the market (symbols read once; an unread one retried later)."""
        ...

    def prices(self) -> dict[str, int]:
        """Oracle prices at the block, in base units per whole token."""
        ...

    def stale_feeds(self) -> dict[str, int]:
        """Price feeds older than their heartbeat: asset label -> age in seconds."""
        ...

    def unpriced(self) -> list[str]:
        """Assets with no usable price at the block."""
        ...

    async def plan(
        self, candidate: Candidate, ctx: PlanContext, prices: Mapping[str, int] | None = None
    ) -> AnyPlan | Skip:
        """The best liquidation of ``candidate``; ``prices`` overrides the block's (pending)."""
        ...

    async def allowance(self, plan: AnyPlan, owner: str) -> int | None:
        """``owner``'s allowance of the plan's spend asset to the spender, if known cheaply."""
        ...

    def inventory_call(self, plan: AnyPlan) -> Call:
        """The liquidation call itself, paid from the caller's approved tokens."""
        ...

    def flash_call(
        self, plan: AnyPlan, contract: str, swap_fee: int, inputs: FlashInputs
    ) -> FlashCall:
        """The call to our flash contract for ``plan``, with its terms."""
        ...

    def contract_call(self, plan: AnyPlan, contract: str, bid_wei: int = 0) -> Call | None:
        """``plan`` through our own contract, paid from the caller's tokens.

        The contract (approved once by the caller) checks cheaply that the plan still holds
        and stops early when it does not (a lost race costs little), pulls the plan's spend,
        liquidates, returns what was received and pays ``bid_wei`` to ``block.coinbase``.
        None: this market has no such contract (the direct :meth:`inventory_call` is used).
        """
        ...

    def realised(self, plan: AnyPlan, receipt: Receipt, liquidator: str) -> Realised:
        """What a mined liquidation of ours moved (``TransactionError`` if it did not)."""
        ...

    async def winner(
        self, client: ChainClient, plan: AnyPlan, receipt: Receipt, liquidator: str
    ) -> str | None:
        """The competitor's transaction when ours reverted because someone liquidated first.

        Read through ``client``: the node the transaction went to (a fork in a dry run).
        """
        ...

    def revert_error(self, data: str | None) -> str | None:
        """A revert's name in this protocol's errors (custom error, string code, panic)."""
        ...

    def rival_target(self, tx: PendingTx) -> str | None:
        """The account a pending transaction liquidates in this market, if it is one (no RPC).

        How the bidding watch recognises a rival of one of our liquidations in the mempool.
        """
        ...

    async def observed_liquidations(
        self, client: ChainClient, from_block: int, to_block: int
    ) -> list[ObservedLiquidation]:
        """Every liquidation of this market in ``[from_block, to_block]``, in chain order."""
        ...

    def plan_from_meta(self, meta: Mapping[str, object]) -> AnyPlan:
        """A plan as journaled (``Plan.to_meta``), for outcomes settled after a restart."""
        ...
