"""Radar and stress at N synthetic accounts, one core: the new methods against the reference.

    python bench/risk_bench.py radar 100000 3.6
    python bench/risk_bench.py stress 100000 3.6

prints one JSON line. The market is bench/synthetic's (8 reserves, one eMode category, the
engine benchmark's accounts) on the Pool version's health formula; automatic garbage
collection is off while a method runs, as in `keeper radar` and `keeper stress`.

- radar: the solved radar (keeper.risk.solved) over all N accounts, best of 2; the reference
  (bisection per account and asset, a recompute per curve step) over the first
  ``REFERENCE_SUBSET`` accounts, extrapolated linearly to N (both of its parts are per
  account); the solved radar of the same subset must equal it (rows and curves).
Each time is the wall time and the process's CPU time; the machine is shared, so the CPU
time (what one core spent on this process) is what the goals are judged on.

- stress: the market in steady state (the generator's accounts that are not liquidatable at
  the start, the first N of them), reserve 0 (ETH-like) -25%, quote and price rules as
  `keeper stress` chooses them (pegged $1 assets, full pass-through), each sold asset into a
  constant-product pool holding ``DEPTH_PCT``% of what the market supplies of it. The
  cascade (20 rounds at most) plus the final bad-debt pass, with the incremental rounds
  against the reference (every account every round), both over all N; the rounds must be
  equal.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import TYPE_CHECKING, Any

from bench import synthetic
from keeper.protocols.aave_v3.health import account_data
from keeper.protocols.aave_v3.math import RAY, WAD
from keeper.risk.amm import SellSide, constant_product_side
from keeper.risk.cascade import bad_debt, default_quote, run_cascade
from keeper.risk.market import MarketState
from keeper.risk.pricing import price_rules
from keeper.risk.radar import reference_radar
from keeper.risk.shock import shocked_price
from keeper.risk.solved import SolveStats, solved_radar

if TYPE_CHECKING:
    from collections.abc import Callable

    from keeper.protocols.aave_v3.state import AccountState

TIMESTAMP = 1_700_100_000
REFERENCE_SUBSET = 2_000
DEPTH_PCT = 10
SHOCK_PCT = -25
MAX_ROUNDS = 20


def _market(accounts: list[AccountState], version: str) -> MarketState:
    reserves = synthetic.reserves()
    return MarketState(
        block=1,
        timestamp=TIMESTAMP,
        reserves={r.asset: r for r in reserves},
        emodes=synthetic.emodes(),
        prices=synthetic.prices(reserves),
        accounts={a.address: a for a in accounts},
        pool_version=version,
    )


CPU: dict[str, float] = {}  # the process CPU time of the last run of each label


def _timed(fn: Callable[[], Any], label: str = "") -> tuple[float, Any]:
    """Wall time of ``fn()`` (and its CPU time under ``label``), with collection off."""
    gc.collect()
    gc.disable()
    try:
        cpu, started = time.process_time(), time.perf_counter()
        out = fn()
        wall = time.perf_counter() - started
        CPU[label] = min(CPU.get(label, wall), time.process_time() - cpu)
        return wall, out
    finally:
        gc.enable()


def radar(n: int, version: str) -> dict[str, Any]:
    """The radar at n accounts: solved over all, the reference over a subset."""
    state = _market(synthetic.accounts(n), version)
    view, assets = state.view(), state.assets()
    stats = SolveStats()
    runs = [
        _timed(
            lambda: solved_radar(state.accounts, view, assets, 50, state.reserves, stats), "solved"
        )
        for _ in range(2)
    ]
    solved_s = min(t for t, _ in runs)
    result = runs[0][1]
    subset = _market(synthetic.accounts(n)[:REFERENCE_SUBSET], version)
    sub_view = subset.view()
    ref_s, reference = _timed(
        lambda: reference_radar(subset.accounts, sub_view, assets, 50, subset.reserves),
        "reference",
    )
    sub_s, mine = _timed(
        lambda: solved_radar(subset.accounts, sub_view, assets, 50, subset.reserves)
    )
    extrapolated = ref_s * n / REFERENCE_SUBSET
    extrapolated_cpu = CPU["reference"] * n / REFERENCE_SUBSET
    return {
        "accounts": n,
        "pool_version": version,
        "accounts_with_debt": len(result.accounts),
        "liquidation_prices": sum(
            1 for r in result.accounts for c in r.collateral if c.liquidation_price is not None
        ),
        "solved_s": round(solved_s, 3),
        "solved_cpu_s": round(CPU["solved"], 3),
        "solver": {k: v // 2 for k, v in stats.as_dict().items()},
        "reference_subset": REFERENCE_SUBSET,
        "reference_subset_s": round(ref_s, 3),
        "solved_subset_s": round(sub_s, 4),
        "reference_extrapolated_s": round(extrapolated, 1),
        "reference_extrapolated_cpu_s": round(extrapolated_cpu, 1),
        "ratio": round(extrapolated / solved_s, 1),
        "ratio_cpu": round(extrapolated_cpu / CPU["solved"], 1),
        "equal_on_subset": mine.accounts == reference.accounts and mine.curves == reference.curves,
    }


def _steady(n: int, version: str) -> MarketState:
    """The first n generated accounts that are not liquidatable at the start."""
    state = _market([], version)
    view = state.view()
    kept: list[AccountState] = []
    for account in synthetic.accounts(n * 3 // 2):
        if account_data(account, view).health_factor >= WAD:
            kept.append(account)
            if len(kept) == n:
                break
    return _market(kept, version)


def _supplied(state: MarketState) -> dict[str, int]:
    """What the market supplies of each asset, in base units."""
    view = state.view()
    supplied: dict[str, int] = defaultdict(int)
    for account in state.accounts.values():
        for i, scaled in account.scaled_collateral.items():
            r = view.reserves[i]
            if r is not None:
                supplied[r.asset] += scaled * r.normalized_income // RAY * r.price // r.unit
    return supplied


def _sides(state: MarketState, quote: str, supplied: dict[str, int]) -> dict[str, SellSide]:
    """Per asset but the quote: a constant-product pool of DEPTH_PCT% of its supply."""
    return {
        a: constant_product_side(
            a,
            state.prices[a],
            10 ** state.reserves[a].config.decimals,
            max(1, supplied[a] * DEPTH_PCT // 100),
        )
        for a in state.assets()
        if a != quote
    }


def stress(n: int, version: str) -> dict[str, Any]:
    """The stress test with its cascade at n accounts, incremental against the reference."""
    state = _steady(n, version)
    first = state.assets()[0]
    shocked = {first: shocked_price(state.prices[first], SHOCK_PCT)}
    quote = default_quote(state, shocked)
    rules = price_rules(state, quote)
    supplied = _supplied(state)

    def run(*, reference: bool) -> Any:
        sides = _sides(state, quote, supplied)
        cascade = run_cascade(state, shocked, sides, MAX_ROUNDS, rules, reference=reference)
        return cascade, bad_debt(state, cascade.final_accounts, cascade.final_prices)

    new_s, (new, _) = _timed(lambda: run(reference=False), "stress")
    ref_s, (ref, _) = _timed(lambda: run(reference=True), "reference")
    return {
        "accounts": n,
        "pool_version": version,
        "shock": f"reserve 0 {SHOCK_PCT}%",
        "rounds": len(new.rounds),
        "converged": new.converged,
        "liquidated_accounts": sum(len(r.liquidated) for r in new.rounds),
        "liquidation_calls": sum(r.calls for r in new.rounds),
        "pegged": sum(1 for r in rules.values() if r.kind == "peg"),
        "stress_s": round(new_s, 3),
        "stress_cpu_s": round(CPU["stress"], 3),
        "reference_s": round(ref_s, 3),
        "reference_cpu_s": round(CPU["reference"], 3),
        "ratio": round(ref_s / new_s, 1),
        "ratio_cpu": round(CPU["reference"] / CPU["stress"], 1),
        "recomputed": new.recomputed,
        "reference_recomputed": ref.recomputed,
        "equal": new.rounds == ref.rounds and new.final_prices == ref.final_prices,
    }


if __name__ == "__main__":
    what, size, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(radar(size, version) if what == "radar" else stress(size, version)))
