"""The executor seam: a plan in, an outcome out; inventory and flash are two implementations.

Below an executor, :class:`keeper.execution.sender.TxSender` is the only code that signs,
takes nonces, journals and replaces; the executors only decide what to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from keeper.execution.transactions import bid_meta, coinbase_meta

if TYPE_CHECKING:
    from keeper.chain.types import PendingTx, Receipt
    from keeper.core.outcome import Outcome, TxPurpose
    from keeper.core.plan import AnyPlan
    from keeper.execution.fees import Fees
    from keeper.strategy.bidding import BidLimits
    from keeper.strategy.gas import GasPricing
    from keeper.submission.channel import BackrunRoute


@dataclass(frozen=True)
class ExecRequest:
    """How to execute one plan.

    ``pricing`` and ``min_profit_base`` refuse a plan whose profit after the simulated gas is
    too low. ``behind`` is a pending transaction the plan depends on (an oracle update): the
    simulation runs it first and ``tip_cap`` keeps our fees under its own. ``bid`` is the
    plan's bidding limits (``keeper.strategy.bidding``): the most per gas any of its
    transactions may ever offer, replacements included, and how far a rival is outbid while
    they are pending (None: no ceiling, no competition watch). ``coinbase_wei`` is a bid paid
    to ``block.coinbase`` from inside the liquidation (for a bundle: all-or-nothing with it;
    only through our contract), counted against the profit like gas. ``route`` makes it a
    back-run of a private transaction (an SVR update): sent only as that bundle's second
    transaction, never replaced; ``behind`` is then that transaction's call, simulated first.
    """

    pricing: GasPricing
    min_profit_base: int
    behind: PendingTx | None = None
    tip_cap: Fees | None = None
    bid: BidLimits | None = None
    coinbase_wei: int = 0
    route: BackrunRoute | None = None

    def journal_meta(self, plan: AnyPlan) -> dict[str, object]:
        """What a liquidation transaction of ``plan`` journals.

        The plan, its bidding limits (replacements follow them) and its coinbase bid (booked
        when it settles).
        """
        return {**plan.to_meta(), **bid_meta(self.bid), **coinbase_meta(self.coinbase_wei)}

    def auction(self, plan: AnyPlan) -> tuple[str, BidLimits] | None:
        """The account and the limits rivals for it are outbid within (None: no limits)."""
        return None if self.bid is None else (plan.account, self.bid)


class Executor(Protocol):
    """Turns plans into transactions and reports what came of them."""

    liquidator: str  # the address the protocol sees as liquidator
    purpose: TxPurpose  # the journal purpose of its liquidation transactions
    sequential: bool  # plans must run one after the other (swaps move each other's quotes)

    @property
    def holder(self) -> str | None:
        """Whose token balances pay (None: nobody's, a flash loan pays)."""
        ...

    async def execute(self, plan: AnyPlan, request: ExecRequest) -> Outcome:
        """Run one plan to a final outcome; never raises for an on-chain failure."""
        ...

    async def outcome_of(self, plan: AnyPlan, receipt: Receipt) -> Outcome:
        """What a liquidation of ours settled elsewhere did (after a timeout or a restart)."""
        ...

    async def after_block(self) -> None:
        """Work once a block's plans are done (e.g. revoke approvals left unused)."""
