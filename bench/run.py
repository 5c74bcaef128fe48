"""Run every benchmark and write bench/RESULTS.md (see bench/README.md).

.venv/bin/python bench/run.py          (= make bench)

Each measurement runs in its own process (peak RSS is per process; a crash names its step).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bidding_tables import (  # after the path is set
    NODE_TIP_GWEI,
    TIP_BUDGET_GWEI,
    baseline_name,
    bidding_goals,
    bidding_rows,
    pct,
    tip_name,
    verdict,
)
from bench.losing_results import losing_steps, splice_losing
from bench.race_scale import HEADER as RACE_SCALE_HEADER
from bench.race_scale import race_scale_steps
from bench.reaction_results import reaction_steps, splice_reaction, splice_section
from bench.risk_results import risk_steps, splice

HERE = Path(__file__).resolve().parent
COMMAND = "make bench  (= .venv/bin/python bench/run.py)"
ENGINE_SIZES = (10_000, 100_000, 300_000)
RPC_SIZES = (1_000, 10_000)
RACE_SIZES = (1_000, 10_000)
SHOCKS = 20
BIDDING_SHOCKS = 10  # the races of the bidding policy: ours alone, and against a bidding baseline


def _run(*args: str, timeout_s: int = 600) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
        cwd=HERE.parent,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"bench step failed: {' '.join(args)}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["step_s"] = round(time.perf_counter() - started, 1)
    print(f"  {' '.join(args)}: {result['step_s']} s", file=sys.stderr)
    return result


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.1f}x"


def _ms(stats: dict[str, Any], key: str) -> str:
    return f"{stats[key]:,.0f} ms" if stats.get("n") else "n/a"


def _ms_of(stats: dict[str, Any], *keys: str) -> str:
    """Several statistics of one series, as "a / b / c"."""
    return " / ".join(_ms(stats, k) for k in keys)


def _label(race: dict[str, Any]) -> str:
    return f"{race['accounts']:,}: {tip_name(race)} vs {baseline_name(race)}"


def _race_rows(races: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            "| accounts | tip (ours) | baseline | shocks | opportunities | won by us | "
            "won by baseline | neither | our share | first of each shock: us / baseline | "
            "next block (any / us) |"
        ),
        "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows.extend(
        f"| {r['accounts']:,} | {tip_name(r)} | {baseline_name(r)} | {r['shocks']} "
        f"| {r['opportunities']} "
        f"| {r['won_ours']} | {r['won_baseline']} | {r['won_other_or_none']} "
        f"| {pct(r['ours_win_share'])} "
        f"| {r['first_of_shock_won_ours']} / {r['first_of_shock_won_baseline']} "
        f"| {pct(r['next_block_share_any'])} / {pct(r['next_block_share_ours'])} |"
        for r in races
    )
    return rows


def _latency_rows(races: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            "| race | ours: first tx p50 / p95 / max | ours: first liquidation p50 / p95 / max "
            "| baseline: first liquidation p50 / p95 / max | baseline / ours (p50) |"
        ),
        "| ---: | --- | --- | --- | ---: |",
    ]
    for r in races:
        ours_tx = r["ours_reaction"]["first_tx_ms"]
        ours = r["ours_reaction"]["first_liquidation_ms"]
        base = r["baseline_reaction"]["first_liquidation_ms"]
        rows.append(
            f"| {_label(r)} "
            f"| {_ms_of(ours_tx, 'p50', 'p95', 'max')} "
            f"| {_ms_of(ours, 'p50', 'p95', 'max')} "
            f"| {_ms_of(base, 'p50', 'p95', 'max')} "
            f"| {_ratio(base.get('p50'), ours.get('p50'))} |"
        )
    return rows


def _cycle_rows(races: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            "| race | our sync per block p50 / p95 (`sync_ms`) | approve (send + wait) "
            "p50 / max | baseline scan per block p50 / p95 | baseline / ours (p50) |"
        ),
        "| ---: | --- | --- | --- | ---: |",
    ]
    for r in races:
        sync, scan, approve = r["ours_sync_ms"], r["baseline_scan_ms"], r["ours_approve_ms"]
        rows.append(
            f"| {_label(r)} | {_ms_of(sync, 'p50', 'p95')} "
            f"| {_ms_of(approve, 'p50', 'max')} "
            f"| {_ms_of(scan, 'p50', 'p95')} "
            f"| {_ratio(scan.get('p50'), sync.get('p50'))} |"
        )
    return rows


def _rpc_rows(races: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            "| race | ours: requests per block | of which | baseline: requests per block "
            "| baseline / ours |"
        ),
        "| ---: | ---: | --- | ---: | ---: |",
    ]
    for r in races:
        methods = ", ".join(
            f"{m} {c}" for m, c in sorted(r["ours_rpc_requests_per_block_by_method"].items())
        )
        rows.append(
            f"| {_label(r)} | {r['ours_rpc_requests_per_block']} | {methods} "
            f"| {r['baseline_rpc_requests_per_block'] or 'n/a'} "
            f"| {_ratio(r['baseline_rpc_requests_per_block'], r['ours_rpc_requests_per_block'])} |"
        )
    return rows


def _goal_rows(engine: list[dict[str, Any]], races: list[dict[str, Any]]) -> list[str]:
    """Each goal of issues 6 and 18 with this run's figure."""
    budget = [r for r in races if r["tip"] == "budget"]
    big = max(budget, key=lambda r: r["accounts"])
    small = min(budget, key=lambda r: r["accounts"])
    liq = big["ours_reaction"]["first_liquidation_ms"]
    e100k = next(r for r in engine if r["accounts"] == 100_000)
    rows = ["| goal | this run | verdict |", "| --- | --- | --- |"]
    for r in budget:
        share = r["ours_win_share"]
        rows.append(
            f"| we win >= 95% of opportunities ({r['accounts']:,} accounts) | {pct(share)} "
            f"(first liquidation of each shock: {r['first_of_shock_won_ours']} of {r['shocks']}) "
            f"| {verdict(None if share is None else share >= 0.95)} |"
        )
    rows += [
        (
            f"| reaction p50 <= 50 ms at 10k (first liquidation) | {_ms(liq, 'p50')} "
            f"| {verdict(liq['p50'] <= 50 if liq.get('n') else None)} |"
        ),
        (
            f"| reaction p95 <= 150 ms at 10k (first liquidation) | {_ms(liq, 'p95')} "
            f"| {verdict(liq['p95'] <= 150 if liq.get('n') else None)} |"
        ),
    ]
    for r in budget:
        share = r["next_block_share_ours"]
        rows.append(
            f"| 100% of opportunities liquidated by us in the next block ({r['accounts']:,}) "
            f"| {pct(share)} | {verdict(None if share is None else share >= 1)} |"
        )
    flat = big["ours_rpc_requests_per_block"] <= 1.1 * small["ours_rpc_requests_per_block"]
    rows += bidding_goals(races)
    rows += [
        (
            f"| RPC requests per block do not grow with accounts | "
            f"{small['ours_rpc_requests_per_block']} at {small['accounts']:,}, "
            f"{big['ours_rpc_requests_per_block']} at {big['accounts']:,} | {verdict(flat)} |"
        ),
        (
            f"| 100k full recompute <= 1 s, <= 200 MB | {e100k['full_recompute_s']} s, "
            f"{e100k['peak_rss_mb']} MB | "
            f"{verdict(e100k['full_recompute_s'] <= 1 and e100k['peak_rss_mb'] <= 200)} |"
        ),
    ]
    return rows


ONE_RUN = (
    "- All figures come from this one run. The machine is shared and the race runs Anvil and",
    "  both keepers on the same 2 cores, so absolute times are noisy; the ratios against the",
    "  baseline, measured side by side in the same run, are the figures to compare.",
)


def _write(
    engine: list[dict[str, Any]],
    rpc: list[dict[str, Any]],
    races: list[dict[str, Any]],
    total_s: float,
    provenance: tuple[str, ...] = ONE_RUN,
) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"- Command: `{COMMAND}`",
        f"- Date: {now}; whole run {total_s:.0f} s",
        f"- Machine: {_machine()}",
        *provenance,
        "",
        "## Goals of issues 6 and 18",
        "",
        *_goal_rows(engine, races),
        "",
        "Why a goal is not met, and what would fix it: bench/README.md, section Findings.",
        "",
        "## Race against the baseline bot (1 s blocks)",
        "",
        f"Both keepers: same Anvil, same inventory, tip cap {TIP_BUDGET_GWEI} gwei, head polled",
        "every 100 ms. The baseline pays `eth_gasPrice` x 1.2 (legacy) unless it bids a share of",
        "its expected profit. `tip (ours)`: `budget` = `priority_fee_gwei` at the whole cap,",
        f"`{NODE_TIP_GWEI} gwei fixed` = the node's suggestion as a fixed tip (the default before",
        "issue 18), `default (bidding)` = no tip setting: the bidding policy with its defaults.",
        "Winner = the `liquidator` of the first `LiquidationCall` of the account after the shock.",
        "",
        *_race_rows(races),
        "",
        "## Bidding: the tip each keeper paid (issue 18)",
        "",
        "Per liquidation transaction mined (ours: every liquidation attempt, won or lost; the",
        "baseline: every one it saw mined): its effective gas price minus its block's base fee,",
        f"in gwei (the budget: {TIP_BUDGET_GWEI} gwei). Rivals outbid / let go: our competition",
        "watch's `rival_outbid` / `rival_let_go` log lines.",
        "",
        *bidding_rows(races),
        "",
        "## Reaction latency (our own log timestamps)",
        "",
        "From `head_seen_at` of the cycle that saw the block carrying the oracle update to",
        "`sent_at` of the first broadcast (`first tx`: any purpose, the approve included; `first",
        "liquidation`: `purpose` = liquidation). One value per shock. The baseline's figure is the",
        "same measure from its own log.",
        "",
        *_latency_rows(races),
        "",
        *_cycle_rows(races),
        "",
        "## RPC requests per block in steady state (no price moves)",
        "",
        "Ours from `/metrics` (`keeper_rpc_latency_seconds_count`, a JSON-RPC batch counts once),",
        "the baseline from its own counter, over the same blocks before the first shock.",
        "",
        *_rpc_rows(races),
        "",
        "## Health engine (synthetic market, one core)",
        "",
        "| accounts | full recompute | one-asset update (accounts exposed) | peak RSS |",
        "| ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['accounts']:,} | {r['full_recompute_s']} s | {r['one_asset_recompute_s']} s "
        f"({r['exposed_to_one_asset']:,}) | {r['peak_rss_mb']} MB |"
        for r in engine
    ]
    lines += [
        "",
        "## getUserAccountData for every account vs the local recompute (same block, devnet)",
        "",
        "| accounts | getUserAccountData, batches of 200 | local recompute | ratio | equal |",
        "| ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r['accounts']:,} | {r['rpc_batches_s']} s | {r['local_recompute_s']} s "
        f"| {r['ratio_rpc_over_local']}x | {r['equal_to_the_wei']} |"
        for r in rpc
    ]
    lines += ["", "## Raw figures", "", "```json"]
    lines.append(json.dumps({"engine": engine, "rpc": rpc, "races": races}, indent=1))
    lines += ["```", ""]
    return "\n".join(lines)


def main() -> None:
    """Every step in its own process, then RESULTS.md.

    ``--only risk`` / ``--only losing`` / ``--only reaction`` / ``--only race100k``: only the
    radar and stress steps, the races against a copy of ours, head seen -> broadcast at 100k
    accounts, or the race at 100k accounts, their section replaced in RESULTS.md.
    """
    started = time.perf_counter()
    only = ("risk", "losing", "reaction", "race100k")
    if len(sys.argv) == 3 and sys.argv[1] == "--only" and sys.argv[2] in only:
        path = HERE / "RESULTS.md"
        if sys.argv[2] == "risk":
            text = splice(path.read_text(), risk_steps(_run))
        elif sys.argv[2] == "race100k":
            text = splice_section(path.read_text(), RACE_SCALE_HEADER, race_scale_steps(_run))
        elif sys.argv[2] == "reaction":
            text = splice_reaction(path.read_text(), reaction_steps(_run))
        else:
            text = splice_losing(path.read_text(), losing_steps(_run))
        path.write_text(text)
        print(text)
        return
    print("engine", file=sys.stderr)
    engine = [_run("bench/engine_bench.py", str(n)) for n in ENGINE_SIZES]
    print("worlds and getUserAccountData baseline", file=sys.stderr)
    rpc = [_run("bench/rpc_baseline.py", str(n)) for n in RPC_SIZES]
    print("races", file=sys.stderr)
    races = [
        _run("bench/race.py", str(n), "--shocks", str(SHOCKS), "--tip-gwei", TIP_BUDGET_GWEI)
        for n in RACE_SIZES
    ]
    small = str(RACE_SIZES[0])
    races.append(_run("bench/race.py", small, "--shocks", "6", "--tip-gwei", NODE_TIP_GWEI))
    races.append(_run("bench/race.py", small, "--shocks", str(SHOCKS)))
    bidding = str(BIDDING_SHOCKS)
    races.append(_run("bench/race.py", small, "--shocks", bidding, "--baseline", "none"))
    for share in ("5000", "10"):  # ours (both bid the budget), and a rival under the budget
        share_args = ("--baseline", "share", "--baseline-share-bps", share)
        races.append(_run("bench/race.py", small, "--shocks", bidding, *share_args))
    risk = risk_steps(_run)
    losing = losing_steps(_run)
    reaction = reaction_steps(_run)
    print("race at 100k accounts (a world built once, then cached)", file=sys.stderr)
    race100k = race_scale_steps(_run)
    text = splice(_write(engine, rpc, races, time.perf_counter() - started), risk)
    text = splice_losing(text, losing)
    text = splice_reaction(text, reaction)
    text = splice_section(text, RACE_SCALE_HEADER, race100k)
    (HERE / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
