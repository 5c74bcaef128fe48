"""The radar-and-stress section of bench/RESULTS.md (issue 16, item 4), and its steps."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

RISK_SIZE = 100_000
RISK_VERSIONS = ("3.6", "3.0")
RISK_HEADER = "## Radar and stress at 100k accounts (issue 16, item 4)"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def risk_rows(radars: list[dict[str, Any]], stresses: list[dict[str, Any]]) -> list[str]:
    """The radar and stress section: goals, the new method against the reference."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        RISK_HEADER,
        "",
        f"Measured {when} (`bench/run.py --only risk` rewrites only this section).",
        "`bench/risk_bench.py` (its docstring gives the method): synthetic market of",
        "`bench/synthetic.py`, one core, automatic garbage collection off while a method runs",
        "(as in the commands). Radar: solved over all accounts against the reference bisection",
        "timed on the first 2,000 accounts and extrapolated linearly (both of its parts are per",
        "account), the two equal on that subset. Stress: the market in steady state (accounts",
        "liquidatable at the start left out), reserve 0 -25%, pegged $1 assets, full",
        "pass-through, pools of 10% of each asset's supply, 20 rounds at most, plus the final",
        "bad-debt pass; incremental rounds against every account every round, both over all",
        "accounts, equal round for round. Each figure is wall / CPU time of the process; the",
        "machine is shared (other work ran beside this one), so the goals are judged on the CPU",
        "time, what one core spent, and the ratios are of CPU times.",
        "",
        "| goal | this run (wall / CPU) | verdict |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `keeper radar` <= 5 s at {r['accounts']:,} (v{r['pool_version']}) "
        f"| {r['solved_s']} s / {r['solved_cpu_s']} s "
        f"| {_verdict(r['solved_cpu_s'] <= 5)} |"
        for r in radars
    ]
    lines += [
        f"| `keeper stress` with the cascade <= 10 s at {r['accounts']:,} "
        f"(v{r['pool_version']}) | {r['stress_s']} s / {r['stress_cpu_s']} s "
        f"| {_verdict(r['stress_cpu_s'] <= 10)} |"
        for r in stresses
    ]
    lines += [
        "",
        (
            "| Pool | accounts (with debt) | liquidation prices | solved | reference (2,000 "
            "accounts -> extrapolated) | reference / solved | equal |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| v{r['pool_version']} | {r['accounts']:,} ({r['accounts_with_debt']:,}) "
        f"| {r['liquidation_prices']:,} | {r['solved_s']} s / {r['solved_cpu_s']} s "
        f"| {r['reference_subset_s']} s -> {r['reference_extrapolated_s']:,} s / "
        f"{r['reference_extrapolated_cpu_s']:,} s | {r['ratio_cpu']}x | {r['equal_on_subset']} |"
        for r in radars
    ]
    lines += [
        "",
        (
            "| Pool | accounts | rounds | liquidated (calls) | accounts recomputed (reference) "
            "| stress + cascade | reference | reference / new | equal |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| v{r['pool_version']} | {r['accounts']:,} "
        f"| {r['rounds']}{'' if r['converged'] else ' (cap)'} "
        f"| {r['liquidated_accounts']:,} ({r['liquidation_calls']:,}) "
        f"| {r['recomputed']:,} ({r['reference_recomputed']:,}) "
        f"| {r['stress_s']} s / {r['stress_cpu_s']} s "
        f"| {r['reference_s']} s / {r['reference_cpu_s']} s | {r['ratio_cpu']}x | {r['equal']} |"
        for r in stresses
    ]
    lines += ["", "```json", json.dumps({"radar": radars, "stress": stresses}, indent=1), "```"]
    return lines


def risk_steps(run: Callable[..., dict[str, Any]]) -> list[str]:
    """Run the radar and stress steps (``run`` as run.py's) and render their section."""
    print("radar and stress", file=sys.stderr)
    radars = [run("bench/risk_bench.py", "radar", str(RISK_SIZE), v) for v in RISK_VERSIONS]
    stresses = [run("bench/risk_bench.py", "stress", str(RISK_SIZE), v) for v in RISK_VERSIONS]
    return risk_rows(radars, stresses)


def splice(text: str, section: list[str]) -> str:
    """``text`` with its radar-and-stress section replaced by ``section`` (or appended)."""
    lines = text.splitlines()
    if RISK_HEADER in lines:
        start = lines.index(RISK_HEADER)
        end = next(
            (k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines)
        )
        lines[start:end] = [*section, ""]
    else:
        raw = lines.index("## Raw figures") if "## Raw figures" in lines else len(lines)
        lines[raw:raw] = [*section, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
