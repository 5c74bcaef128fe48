"""``keeper scan``: one pass over every borrower, reporting those below a health factor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keeper.protocols.aave_v3.discovery import BorrowerDiscovery
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.risk.display import format_wad
from keeper.runner import connect

if TYPE_CHECKING:
    from keeper.errors import RpcError
    from keeper.settings import Settings


@dataclass(frozen=True)
class ScanRow:
    """One account's line of output."""

    account: str
    health_factor: int
    total_collateral_base: int
    total_debt_base: int

    def as_json(self) -> dict[str, str | int]:
        """The JSON object printed for this row."""
        return {
            "account": self.account,
            "health_factor": format_wad(self.health_factor),
            "total_collateral_base": self.total_collateral_base,
            "total_debt_base": self.total_debt_base,
        }


@dataclass(frozen=True)
class ScanResult:
    """Rows below the threshold, plus what could not be read."""

    block: int
    accounts: int
    rows: list[ScanRow]
    failed: dict[str, RpcError]


async def scan(settings: Settings, below: int) -> ScanResult:
    """Every borrower since ``start_block`` with health factor < ``below`` (wad), at the head."""
    client, _, market = await connect(settings)
    try:
        head = await client.block_number()
        discovery = BorrowerDiscovery(client, market.pool, settings.start_block, settings.log_range)
        await discovery.advance(head)
        accounts = sorted(discovery.borrowers)
        data, failed = await read_account_data(client, market, accounts, head, settings.batch_size)
    finally:
        await client.close()
    rows = [
        ScanRow(d.account, d.health_factor, d.total_collateral_base, d.total_debt_base)
        for d in sorted(data.values(), key=lambda d: d.health_factor)
        if d.health_factor < below
    ]
    return ScanResult(head, len(accounts), rows, failed)
