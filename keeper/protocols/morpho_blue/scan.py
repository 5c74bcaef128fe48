"""``keeper scan`` for Morpho Blue: every borrowing position's exact health at the head.

One JSON line per position with borrow shares: ``account``, ``market`` (the id), the health
factor (``maxBorrow * 1e18 / borrowed`` rounded down, below 1 exactly when Morpho would let it
be liquidated), the debt (shares to assets rounded up, interest accrued to the block) and the
collateral, in token units.

With ``verify`` every position and its market's totals are read again from Morpho at the same
block, and Morpho itself is asked whether each position is liquidatable (``liquidate``
simulated from a probe that cannot pay: ``reads.read_liquidatable``); a position or total that
differs, or a verdict other than the local one, is a mismatch and fails the scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keeper.core.display import format_wad
from keeper.errors import RpcError
from keeper.protocols.morpho_blue.connect import connect
from keeper.protocols.morpho_blue.health import health_factor, max_borrow
from keeper.protocols.morpho_blue.reads import read_liquidatable
from keeper.protocols.morpho_blue.tracker import MorphoTracker

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient
    from keeper.settings import Settings

WAD = 10**18


@dataclass(frozen=True)
class MorphoScanRow:
    """One position's line of output."""

    account: str
    market: str
    health_factor: int
    borrowed: int
    max_borrow: int
    collateral: int
    onchain_liquidatable: bool | None = None  # Morpho's own verdict (with --verify)

    def as_json(self) -> dict[str, object]:
        """The JSON object printed for this row."""
        out: dict[str, object] = {
            "account": self.account,
            "market": self.market,
            "health_factor": format_wad(self.health_factor),
            "borrow_assets": self.borrowed,
            "max_borrow": self.max_borrow,
            "collateral": self.collateral,
        }
        if self.onchain_liquidatable is not None:
            out["onchain_liquidatable"] = self.onchain_liquidatable
        return out


@dataclass
class MorphoScanResult:
    """Rows below the bound; markets whose price or rate could not be read (not shown)."""

    block: int
    accounts: int
    rows: list[MorphoScanRow]
    unreadable: list[str]
    mismatches: int = 0
    unverified: list[str] = field(default_factory=list)  # "market:account" without a verdict


async def verify_positions(
    client: ChainClient, tracker: MorphoTracker
) -> tuple[dict[tuple[str, str], bool], int, list[str]]:
    """Morpho's verdicts by (market, account), the mismatches, the positions left unverified."""
    pairs = [(m, a) for m, a, _ in tracker.borrowers() if m not in tracker.unpriced]
    mismatches = len(await tracker.reconcile(pairs))
    markets = tracker.state.markets
    verdicts = await read_liquidatable(
        client,
        tracker.morpho,
        [(markets[m].params, a) for m, a in pairs],
        tracker.block,
        tracker.batch_size,
    )
    onchain: dict[tuple[str, str], bool] = {}
    unverified = []
    for (market_id, account), verdict in zip(pairs, verdicts, strict=True):
        if isinstance(verdict, RpcError):
            unverified.append(f"{market_id}:{account}")
            continue
        onchain[market_id, account] = verdict
        local = (tracker.health(market_id, account) or WAD) < WAD
        mismatches += int(local != verdict)
    return onchain, mismatches, unverified


async def scan(settings: Settings, below: int, *, verify: bool = False) -> MorphoScanResult:
    """Positions with health factor < ``below`` (wad) at the head, lowest first."""
    client, _, morpho = await connect(settings)
    try:
        tracker = MorphoTracker(
            client,
            morpho,
            start_block=settings.start_block,
            log_range=settings.log_range,
            batch_size=settings.batch_size,
            follows=settings.follows,
        )
        await tracker.start()
        onchain, mismatches, unverified = (
            await verify_positions(client, tracker) if verify else ({}, 0, [])
        )
    finally:
        await client.close()
    rows = []
    count = 0
    for market_id, account, position in tracker.borrowers():
        count += 1
        view = tracker.view(market_id)
        if view is None:
            continue
        borrowed = position.borrowed(view.totals)
        limit = max_borrow(position.collateral, view.price, view.params.lltv)
        hf = health_factor(position, view.totals, view.price, view.params.lltv)
        if hf < below:
            rows.append(
                MorphoScanRow(
                    account,
                    market_id,
                    hf,
                    borrowed,
                    limit,
                    position.collateral,
                    onchain.get((market_id, account)),
                )
            )
    rows.sort(key=lambda r: (r.health_factor, r.market, r.account))
    return MorphoScanResult(
        tracker.block, count, rows, sorted(tracker.unpriced), mismatches, unverified
    )
