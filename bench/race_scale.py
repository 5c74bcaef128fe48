"""The race at 100,000 accounts (issue 16, item 1): its steps and its RESULTS.md section.

The same method as the 1k and 10k races (bench/race.py): a cached devnet world of 100,000
planned borrowers (bench/world_cache.py; about 8 minutes to build here, then cached), a block
every 2 s (Anvil takes about 1 s to mine one block of this world here), our keeper with its
default settings (the bidding policy) against the baseline bot bidding the node's gas price
x 1.2, price shocks, winners read from the Pool's events. Fewer shocks than the small races:
each one moves dozens of accounts. A second race runs ours alone (``--baseline none``) on the
same world: the node then serves only our keeper, which tells our reaction apart from the
baseline's load on the one node both use.

What differs from the small races is the start, not the race: Anvil holding this world's
history (every block's state, every build transaction with its receipt and trace) ran out of
memory on this project's 24 GB machine (13 GB once loaded, killed at 22 GB). The world is
built and loaded without its history (bench/world_lean.py: the accounts and the best block),
so the Pool's events since block 0 are not there to find the accounts from: both keepers start
warm, ours from a checkpoint (every account of the world's list, read at the head by the
harness's own monitor, as our keeper would have saved it), the baseline from the list of
borrowers at that block. Part of the full ``make bench`` (a world built once, about 8 minutes,
then cached; two races of several minutes); alone: ``python bench/run.py --only race100k``.
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
GOAL_P50_MS = 20
GOAL_P95_MS = 50


def race_scale_steps(run: Callable[..., dict[str, Any]]) -> list[str]:
    """Run the race at 100k against the baseline, then ours alone, and describe them."""
    args = ("bench/race.py", str(ACCOUNTS), "--shocks", str(SHOCKS))
    race = run(*args, timeout_s=STEP_TIMEOUT_S)
    alone = run(*args, "--baseline", "none", timeout_s=STEP_TIMEOUT_S)
    return section(race, alone)


def _ms(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "n/a"
    return f"{stats['p50']} / {stats['p95']} / {stats['max']} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.1f}x" if a and b else "n/a"


def _parts(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v} ms" for k, v in parts.items())


def _verdict(first: dict[str, Any]) -> str:
    met = first.get("n") and first["p50"] <= GOAL_P50_MS and first["p95"] <= GOAL_P95_MS
    return "met" if met else "**not met**"


def _won(race: dict[str, Any]) -> str:
    share = race["ours_win_share"]
    return " | ".join(
        str(x)
        for x in (
            race["opportunities"],
            race["won_ours"],
            race["won_baseline"],
            race["won_other_or_none"],
            "n/a" if share is None else f"{share:.1%}",
            f"{race['first_of_shock_won_ours']} / {race['first_of_shock_won_baseline']}",
            f"{race['next_block_share_ours']:.0%}"
            if race["next_block_share_ours"] is not None
            else "n/a",
        )
    )


def _memory(race: dict[str, Any]) -> str:
    rss = race.get("anvil_rss_mb", {})
    return (
        f"{rss.get('loaded')} MB loaded, {rss.get('harness_read_all')} MB after the harness "
        f"read every account, {rss.get('keepers_ready')} MB with the keepers ready, "
        f"{rss.get('end')} MB at the end, peak {rss.get('peak')} MB"
    )


def _blocks(race: dict[str, Any]) -> str:
    b = race.get("block_interval_s", {})
    return f"{b['mean_s']} s (max {b['max_s']} s)" if b.get("n") else "n/a"


def section(race: dict[str, Any], alone: dict[str, Any] | None = None) -> list[str]:
    """The RESULTS.md section of the race at scale (and of ours alone, if run)."""
    ours, base = race["ours_reaction"], race["baseline_reaction"]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    ratio = _ratio(base["first_liquidation_ms"].get("p50"), ours["first_liquidation_ms"].get("p50"))
    sync, scan = race["ours_sync_ms"], race.get("baseline_scan_ms", {})
    races = [("against the baseline", race)] + ([("ours alone", alone)] if alone else [])
    lines = [
        HEADER,
        "",
        f"Measured {when} by `python bench/race.py {ACCOUNTS} --shocks {SHOCKS}` and the same",
        "with `--baseline none` (by `bench/run.py --only race100k`; `bench/race_scale.py` and",
        f"`bench/world_lean.py` give the method): {race['accounts']:,} accounts tracked, our",
        "keeper with its default settings (the bidding policy) against the baseline bot",
        "(eth_gasPrice x 1.2), both on the same cached world and the same Anvil, a block asked",
        f"every 2 s (`evm_mine`; one took Anvil {_ms(race.get('evm_mine_ms', {}))} p50 / p95 /",
        "max, an empty block of this world).",
        f"World build: {race['world_build_s']} s (0.0: from the cache); keepers ready (first",
        f"block checked) {race['keepers_ready_s']} s after their start.",
        "",
        (
            f"Start: {race.get('start', 'cold')}. The state Anvil loads has no history: "
            f"{race.get('state_bytes', 0) / 1e6:,.1f} MB gzipped (the build's own dump, built "
            f"keeping no history: {race.get('full_state_bytes', 0) / 1e6:,.1f} MB), the accounts"
        ),
        "and the best block only; the Pool's events before it are not there, so both keepers",
        "start warm: ours from a checkpoint of every account of the world's list, read at the",
        "head by the harness's own monitor before the chain mines (`checkpoint_source`, then the",
        "logs since), the baseline from the list of borrowers at that block (`--borrowers`, then",
        "the Borrow events since). Anvil keeps 64 recent states (`--prune-history 64`, about",
        "110 MB each: the baseline reads every borrower at one block, which takes it many blocks).",
        "",
        "| race | Anvil's resident memory | seconds per block (asked: 2) |",
        "| --- | --- | --- |",
        *(f"| {name} | {_memory(r)} | {_blocks(r)} |" for name, r in races),
        "",
        (
            "| race | opportunities | won by us | won by baseline | neither | our share | first "
            "of each shock: us / baseline | next block (us) |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {name} | {_won(r)} |" for name, r in races),
        "",
        (
            "| race | keeper | first tx after the shock's block p50 / p95 / max | first "
            "liquidation p50 / p95 / max | requests per block | goal p50 <= 20 ms, p95 <= 50 ms |"
        ),
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    # parts: medians over the shocks of our first liquidation attempt's own timings (detect =
    # the cycle to its candidates, simulate = eth_simulateV1, send = eth_sendRawTransaction).
    for name, r in races:
        mine = r["ours_reaction"]
        parts = r.get("ours_first_attempt_parts_ms", {})
        label = f"{name} (parts: {_parts(parts)})" if parts else name
        lines.append(
            f"| {label} | ours | {_ms(mine['first_tx_ms'])} | {_ms(mine['first_liquidation_ms'])}"
            f" | {r['ours_rpc_requests_per_block']} | {_verdict(mine['first_tx_ms'])} |"
        )
    lines += [
        (
            f"| against the baseline | baseline | {_ms(base['first_tx_ms'])} | "
            f"{_ms(base['first_liquidation_ms'])} | {race['baseline_rpc_requests_per_block']} | |"
        ),
        "",
        (
            f"Baseline / ours at the first liquidation's p50: {ratio}. The baseline's scan of "
            f"every borrower p50 / p95: {scan.get('p50')} / {scan.get('p95')} ms "
            f"({scan.get('n')} scans). Our per-block sync p50 / p95: {sync.get('p50')} / "
            f"{sync.get('p95')} ms; health mismatches: {race['health_mismatches']}."
        ),
        "",
    ]
    return lines
