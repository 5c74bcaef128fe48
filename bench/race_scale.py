"""The race at 100,000 accounts (issue 16, item 1): its step and its RESULTS.md section.

The same method as the 1k and 10k races (bench/race.py): a cached devnet world of 100,000
planned borrowers (bench/world_cache.py; about 12 minutes to build here, then cached), Anvil
mining a block a second, our keeper with its default settings (the bidding policy) against the
baseline bot bidding the node's gas price x 1.2, price shocks, winners read from the Pool's
events. Fewer shocks than the small races: each one moves thousands of accounts.

Not part of the full ``make bench``: on this project's 24 GB machine Anvil itself runs out of
memory with this world (13 GB once the state is loaded, killed by the kernel at 22 GB while
the keepers read every account at start). Run it alone on a larger machine:
``python bench/run.py --only race100k``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

HEADER = "## Race at 100k accounts (issue 16, item 1)"
ACCOUNTS = 100_000
SHOCKS = 4
STEP_TIMEOUT_S = 3_600  # a world built from nothing, then the race


def race_scale_steps(run: Callable[..., dict[str, Any]]) -> list[str]:
    """Run the race at 100k and describe it."""
    race = run("bench/race.py", str(ACCOUNTS), "--shocks", str(SHOCKS), timeout_s=STEP_TIMEOUT_S)
    return section(race)


def _ms(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n/a"
    return f"{stats['p50']} / {stats['p95']} / {stats['max']} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "n/a"


def section(race: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of one race at scale."""
    ours, base = race["ours_reaction"], race["baseline_reaction"]
    share = race["ours_win_share"]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    won = " | ".join(
        str(x)
        for x in (
            race["opportunities"],
            race["won_ours"],
            race["won_baseline"],
            race["won_other_or_none"],
            "n/a" if share is None else f"{share:.1%}",
            f"{race['first_of_shock_won_ours']} / {race['first_of_shock_won_baseline']}",
        )
    )
    ratio = _ratio(base["first_liquidation_ms"].get("p50"), ours["first_liquidation_ms"].get("p50"))
    sync = race["ours_sync_ms"]
    return [
        HEADER,
        "",
        f"Measured {when} by `python bench/race.py {ACCOUNTS} --shocks {SHOCKS}` (by",
        "`bench/run.py --only race100k`; `bench/race_scale.py` gives the method):",
        f"{race['accounts']:,} accounts tracked, {race['shocks']} shocks, our keeper with its",
        "default settings (the bidding policy) against the baseline bot (eth_gasPrice x 1.2),",
        "both started on the same cached world, Anvil mining a block a second. World build:",
        f"{race['world_build_s']} s (0.0: from the cache); both keepers ready (first block",
        f"checked) {race['keepers_ready_s']} s after their start.",
        "",
        (
            "| opportunities | won by us | won by baseline | neither | our share | first of each "
            "shock: us / baseline |"
        ),
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {won} |",
        "",
        (
            "| keeper | first tx after the shock's block p50 / p95 / max | first liquidation "
            "p50 / p95 / max | requests per block |"
        ),
        "| --- | --- | --- | ---: |",
        (
            f"| ours | {_ms(ours['first_tx_ms'])} | {_ms(ours['first_liquidation_ms'])} | "
            f"{race['ours_rpc_requests_per_block']} |"
        ),
        (
            f"| baseline | n/a | {_ms(base['first_liquidation_ms'])} | "
            f"{race['baseline_rpc_requests_per_block']} |"
        ),
        "",
        (
            f"Baseline / ours at the first liquidation's p50: {ratio}. Our per-block sync p50 / "
            f"p95: {sync.get('p50')} / {sync.get('p95')} ms; health mismatches: "
            f"{race['health_mismatches']}."
        ),
        "",
    ]
