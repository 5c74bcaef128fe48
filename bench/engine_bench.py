"""Health engine benchmark: full and single-asset recompute at N synthetic accounts, and memory.

Run one size per process so that peak RSS is that size's own:
    python bench/engine_bench.py 100000
prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import TYPE_CHECKING

from bench import synthetic
from keeper.risk.engine import HealthEngine

if TYPE_CHECKING:
    from collections.abc import Callable


def _best(fn: Callable[[], None], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main(n: int) -> dict[str, object]:
    """Measure one size."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reserves = synthetic.reserves()
    prices = synthetic.prices(reserves)
    accounts = synthetic.accounts(n)
    engine = HealthEngine()
    engine.set_market(reserves, synthetic.emodes(), prices, 1_700_100_000)
    t0 = time.perf_counter()
    engine.upsert(accounts)
    load_s = time.perf_counter() - t0
    ts = [1_700_100_000]

    def full() -> None:
        ts[0] += 12
        engine.set_market(reserves, synthetic.emodes(), prices, ts[0])
        engine.recompute_all()

    asset = reserves[2].asset  # a BTC-like reserve
    price = [prices[asset]]

    def one_asset() -> None:
        price[0] = price[0] * 99 // 100
        engine.on_price(asset, price[0])

    full_best, full_median = _best(full, 5)
    one_best, one_median = _best(one_asset, 9)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "accounts": n,
        "exposed_to_one_asset": len(engine.exposed(asset)),
        "load_s": round(load_s, 3),
        "full_recompute_s": round(full_best, 4),
        "full_recompute_median_s": round(full_median, 4),
        "one_asset_recompute_s": round(one_best, 4),
        "one_asset_recompute_median_s": round(one_median, 4),
        "peak_rss_mb": round(rss_after / 1024, 1),
        "rss_for_state_mb": round((rss_after - rss_before) / 1024, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
