"""The local part of reacting to a block's price move at N accounts: the low band against scans.

    python bench/reaction_bench.py 100000
prints one JSON line.

Method: the synthetic market of bench/synthetic.py (one core, no node). For one block whose
feed moves one asset (a 1% fall, a typical block, and a 10% fall, a shock), the work between
seeing the block and planning: the market accrued with the new price (``set_market``), the
accounts the move can take under the urgent bound found (``move_threshold`` + ``under``) and
recomputed, and the accounts under 1 listed (``below``), as ``MarketMonitor.step(defer=True)``
and the block cycle do. ``low band``: the engine's set of accounts under HF 1.25, kept as they
are computed; ``scan``: the previous method, every account's health factor read on each
``under``/``below`` (measured in the same run on the same engine). Both give the same accounts
(checked). Each figure is the best of 7 (the median beside it).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import TYPE_CHECKING

from bench import synthetic
from keeper.protocols.aave_v3.math import WAD
from keeper.risk.engine import HealthEngine, move_threshold

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.protocols.aave_v3.reads import AccountData

URGENT_HF = 101 * 10**16  # as keeper.protocols.aave_v3.monitor
REPEAT = 7


def _scan_under(engine: HealthEngine, threshold: int) -> set[str]:
    return {a for a, d in engine.data.items() if d.health_factor < threshold}


def _scan_below(engine: HealthEngine) -> list[AccountData]:
    return sorted(
        (d for d in engine.data.values() if d.health_factor < WAD), key=lambda d: d.health_factor
    )


Found = tuple[int, list[str]]  # accounts recomputed, accounts under 1


def _timed(react: Callable[[], Found], undo: Callable[[], None]) -> tuple[float, float, Found]:
    times: list[float] = []
    result: Found = (0, [])
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        result = react()
        times.append(time.perf_counter() - t0)
        undo()  # back to the block before: every repetition does the same work
    return min(times), statistics.median(times), result


def _healthy_engine(n: int) -> tuple[HealthEngine, dict[str, int]]:
    """N synthetic accounts, those liquidatable already left out (a market in steady state)."""
    reserves = synthetic.reserves()
    prices = synthetic.prices(reserves)
    engine = HealthEngine()
    engine.set_market(reserves, synthetic.emodes(), prices, 1_700_100_000)
    engine.upsert(synthetic.accounts(n))
    engine.remove([a for a, d in engine.data.items() if d.health_factor < WAD])
    return engine, prices


def measure(n: int, fall_pct: int) -> dict[str, object]:
    """One size and one move: low band and scan, side by side."""
    engine, prices = _healthy_engine(n)
    reserves, emodes = synthetic.reserves(), synthetic.emodes()
    asset = reserves[0].asset  # an ETH-like reserve, the most used
    moved = dict(prices)
    moved[asset] = prices[asset] * (100 - fall_pct) // 100
    threshold = move_threshold(URGENT_HF, prices, {asset: moved[asset]})
    if threshold is None:
        raise RuntimeError("no bound for a positive price")
    touched: set[str] = set()

    def react(under: Callable[[int], set[str]], below: Callable[[], list[AccountData]]) -> Found:
        engine.set_market(reserves, emodes, moved, 1_700_100_012)
        urgent = under(threshold)
        engine.recompute(urgent)
        touched.update(urgent)
        return len(urgent), sorted(d.account for d in below())

    def undo() -> None:
        engine.set_market(reserves, emodes, prices, 1_700_100_000)
        engine.recompute(touched)
        touched.clear()

    band_best, band_median, band = _timed(lambda: react(engine.under, engine.below), undo)
    scan_best, scan_median, scan = _timed(
        lambda: react(lambda t: _scan_under(engine, t), lambda: _scan_below(engine)), undo
    )
    urgent, liquidatable = band
    return {
        "accounts": len(engine.data),
        "fall_pct": fall_pct,
        "urgent": urgent,
        "liquidatable": len(liquidatable),
        "low_band_ms": round(band_best * 1000, 2),
        "low_band_median_ms": round(band_median * 1000, 2),
        "scan_ms": round(scan_best * 1000, 2),
        "scan_median_ms": round(scan_median * 1000, 2),
        "ratio": round(scan_best / band_best, 1) if band_best > 0 else None,
        "equal": band == scan,
    }


def main(n: int) -> list[dict[str, object]]:
    """Both moves at one size."""
    return [measure(n, 1), measure(n, 10)]


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
