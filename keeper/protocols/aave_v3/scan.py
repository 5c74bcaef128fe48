"""``keeper scan``: every account's exact health at the head, from the local engine.

With ``verify`` every account is also read with ``getUserAccountData`` at the same block; the
on-chain values are printed beside the local ones and any difference fails the scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.core.display import format_wad
from keeper.protocols.aave_v3.connect import connect
from keeper.protocols.aave_v3.liquidation import is_liquidatable
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.positions import grace_wait as waiting

if TYPE_CHECKING:
    from keeper.protocols.aave_v3.reads import AccountData
    from keeper.settings import Settings


@dataclass(frozen=True)
class ScanRow:
    """One account's line of output."""

    data: AccountData
    onchain: AccountData | None = None
    # A liquidatable account held back by a reserve's grace period: until when (timestamp).
    waiting_until: int | None = None

    def as_json(self) -> dict[str, object]:
        """The JSON object printed for this row."""
        out: dict[str, object] = _json(self.data)
        if self.waiting_until is not None:
            out["waiting"] = {"grace_period_until": self.waiting_until}
        if self.onchain is not None:
            out["onchain"] = _json(self.onchain)
            out["match"] = self.onchain == self.data
        return out


def _json(d: AccountData) -> dict[str, object]:
    return {
        "account": d.account,
        "health_factor": format_wad(d.health_factor),
        "total_collateral_base": d.total_collateral_base,
        "total_debt_base": d.total_debt_base,
    }


@dataclass
class ScanResult:
    """Rows below the bound, and the verification outcome."""

    block: int
    accounts: int
    rows: list[ScanRow]
    mismatches: int = 0
    unverified: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # state could not be read: not shown


async def scan(settings: Settings, below: int, *, verify: bool = False) -> ScanResult:
    """Accounts with health factor < ``below`` (wad) at the head, lowest first."""
    client, _, market = await connect(settings)
    try:
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        data = monitor.engine.data
        onchain: dict[str, AccountData] = {}
        if verify:
            onchain = await monitor.reconcile(sorted(data))
    finally:
        await client.close()
    engine, reserves = monitor.engine, monitor.tracker.reserves
    rows = [
        ScanRow(
            d,
            onchain.get(d.account) if verify else None,
            waiting(engine.accounts[d.account], engine.view, reserves)
            if engine.view is not None and is_liquidatable(d.health_factor)
            else None,
        )
        for d in sorted(data.values(), key=lambda d: d.health_factor)
        if d.health_factor < below
    ]
    result = ScanResult(monitor.block, len(data), rows, unreadable=sorted(monitor.tracker.dirty))
    if verify:
        result.mismatches = monitor.mismatches
        result.unverified = sorted(set(data) - set(onchain))
    return result
