"""A nonce in flight and how it ended (the sender's hand-offs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from keeper.submission.channel import BackrunRoute

if TYPE_CHECKING:
    from keeper.chain.types import Receipt
    from keeper.execution.fees import Fees
    from keeper.strategy.bidding import BidLimits


@dataclass
class Sent:
    """A nonce in flight and every attempt at it (latest last)."""

    nonce: int
    to: str
    data: str
    gas_limit: int
    purpose: str
    meta: dict[str, Any]
    hashes: list[str] = field(default_factory=list)
    fees: list[Fees] = field(default_factory=list)
    sent_at_block: int = 0
    value: int = 0  # wei sent with the call (journaled in meta as "value")


@dataclass
class Settled:
    """How a nonce ended."""

    status: Literal["mined", "reverted", "dropped", "timeout"]
    tx_hash: str | None
    receipt: Receipt | None
    replacements: int = 0
    note: str = ""
    # What the settled nonce was sent for (as journaled).
    purpose: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def fee_ceiling(meta: dict[str, Any] | None) -> int | None:
    """The most per gas a transaction may pay (its plan's break-even price), if it has one."""
    value = (meta or {}).get("fee_ceiling")
    return int(value) if value is not None else None


def bid_meta(bid: BidLimits | None) -> dict[str, object]:
    """A plan's bidding limits as journaled with each of its transactions (for replacements)."""
    return {} if bid is None else dict(bid.to_meta())


def route_meta(route: BackrunRoute | None) -> dict[str, object]:
    """A back-run's route as journaled with its transaction (restarts keep it a back-run)."""
    if route is None:
        return {}
    return {"backrun_of": route.target_hash, "backrun_max_block": route.max_block}


def route_of(meta: dict[str, Any] | None) -> BackrunRoute | None:
    """The back-run route journaled in ``meta``, if the transaction is one."""
    target = (meta or {}).get("backrun_of")
    if not isinstance(target, str):
        return None
    return BackrunRoute(target, int(str((meta or {}).get("backrun_max_block", 0))))


def coinbase_meta(coinbase_wei: int) -> dict[str, object]:
    """A liquidation's coinbase bid as journaled with it (paid only if it liquidates)."""
    return {"coinbase_wei": coinbase_wei} if coinbase_wei else {}


def coinbase_of(meta: dict[str, Any] | None) -> int:
    """The coinbase bid journaled in ``meta`` (0: none)."""
    return int(str((meta or {}).get("coinbase_wei", 0)))
