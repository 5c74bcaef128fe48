"""Shadow mode's running totals, their log line and the ``/status`` summary (integers)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from keeper.shadow.verdict import Verdict

if TYPE_CHECKING:
    from keeper.shadow.reality import RealLiquidation
    from keeper.shadow.verdict import OurAttempt, Reason

log = structlog.get_logger(__name__)


def signed_base(value: int, unit: int) -> str:
    """Base units as a signed decimal string (``-0.5``, not divmod's ``-1.5``)."""
    digits = len(str(unit)) - 1
    whole, frac = divmod(abs(value), unit)
    text = f"{whole}.{frac:0{digits}d}" if digits else str(whole)
    return "-" + text if value < 0 else text


@dataclass
class ShadowCounts:
    """The live summary behind ``/status``."""

    opportunities: int = 0
    would_win: int = 0
    would_lose: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    profit_base: int = 0  # what the would-win opportunities would have made, after gas
    rival_profit_base: int = 0  # what the real liquidators made on the rows we saw

    def count(self, verdict: Verdict, reason: Reason, ours: int | None, their: int | None) -> None:
        """One new verdict."""
        if verdict is Verdict.WOULD_WIN:
            self.would_win += 1
            self.profit_base += ours or 0
        elif verdict is Verdict.WOULD_LOSE:
            self.would_lose[reason.value] = self.would_lose.get(reason.value, 0) + 1
        else:
            self.missed[reason.value] = self.missed.get(reason.value, 0) + 1
        self.rival_profit_base += their or 0

    def as_status(self, open_count: int, last_block: int | None, unit: int) -> dict[str, Any]:
        """The ``shadow`` member of ``/status``."""
        return {
            "opportunities": self.opportunities,
            "open": open_count,
            "would_win": self.would_win,
            "would_lose": dict(self.would_lose),
            "missed": dict(self.missed),
            "profit_would_have_made": signed_base(self.profit_base, unit),
            "rivals_profit": signed_base(self.rival_profit_base, unit),
            "last_block": last_block,
            "updated_at": round(time.time(), 3),
        }


def log_verdict(
    verdict: Verdict,
    reason: Reason,
    account: str,
    ours: OurAttempt | None,
    real: RealLiquidation | None,
    our_profit: int | None,
    their_profit: int | None,
    *,
    unit: int,
    revised: bool,
) -> None:
    """The one ``shadow_verdict`` line of a verdict."""
    log.info(
        "shadow_verdict",
        verdict=verdict.value,
        reason=reason.value,
        account=account,
        plan_block=None if ours is None else ours.plan_block,
        our_max_fee=None if ours is None else ours.bid.max_fee,
        our_max_tip=None if ours is None else ours.bid.max_tip,
        our_profit=None if our_profit is None else signed_base(our_profit, unit),
        real_block=None if real is None else real.block,
        winner=None if real is None else real.liquidator,
        winner_tx=None if real is None else real.tx_hash,
        winner_tip=None if real is None else real.effective_tip,
        winner_gas_price=None if real is None else real.effective_gas_price,
        winner_profit=None if their_profit is None else signed_base(their_profit, unit),
        revised=revised,
    )
