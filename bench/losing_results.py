"""The "losing is cheap" section of RESULTS.md (issue 18, item 5): races against a copy of ours.

Two races of our keeper against a copy of itself (``race.py --baseline self``: the same software,
the baseline's key, the same settings), before (``--path direct``: liquidationCall to the Pool,
an approval per liquidation and a revocation after a loss) and after (``--path contract``: through
our contract, which stops a lost race early). Figures from ``race_gas.py``: the gas each keeper
spent on transactions that did not liquidate, per shock and per transaction.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

LOSING_HEADER = "## Losing is cheap: gas on lost races against a copy of ourselves (issue 18)"
LOSING_SIZE = 1000
LOSING_SHOCKS = 6
PATHS = ("direct", "contract")


def _args(path: str) -> list[str]:
    return [str(LOSING_SIZE), "--shocks", str(LOSING_SHOCKS), "--baseline", "self", "--path", path]


def losing_steps(run: Callable[..., dict[str, Any]]) -> list[str]:
    """Run both races (``run`` as run.py's) and render their section."""
    print("losing is cheap: races against a copy of ours", file=sys.stderr)
    races = [run("bench/race.py", *_args(path)) for path in PATHS]
    return losing_rows(races, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


def _n(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def losing_rows(races: list[dict[str, Any]], when: str) -> list[str]:
    """The section's lines for the two races."""
    lines = [
        LOSING_HEADER,
        "",
        f"Measured {when} (`bench/run.py --only losing` rewrites only this section), by:",
        "",
        *[f"- `python bench/race.py {' '.join(_args(path))}`" for path in PATHS],
        "",
        "Both keepers: the same software and settings (default bidding), the same inventory, one",
        "Anvil mining a block a second. `direct`: `inventory_direct` (the path before issue 18:",
        "approve, liquidationCall to the Pool, revoke after a loss); `contract`: through each",
        "keeper's own contract (standing approval, early `PlanStale()` stop). Per keeper, every",
        "transaction it sent after a shock that did not liquidate (lost attempts, and on the",
        "direct path the approvals and revocations around every attempt), from the receipts.",
        "",
        (
            "| path | keeper | shocks | opportunities | won | lost attempts | gas per lost attempt"
            " | non-liquidating txs | gas per non-liquidating tx | gas per shock: mean / max |"
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for race in races:
        for who in ("ours", "baseline"):
            gas = race["gas_not_liquidating"].get(who, {})
            won = race["won_ours"] if who == "ours" else race["won_baseline"]
            lines.append(
                f"| {race['path']} | {'ours' if who == 'ours' else 'copy of ours'} "
                f"| {race['shocks']} | {race['opportunities']} | {won} "
                f"| {gas.get('lost_attempts', 0)} | {_n(gas.get('gas_per_lost_attempt_mean'))} "
                f"| {gas.get('not_liquidating_txs', 0)} "
                f"| {_n(gas.get('gas_per_not_liquidating_tx_mean'))} "
                f"| {_n(gas.get('gas_per_shock_mean'))} / {_n(gas.get('gas_per_shock_max'))} |"
            )
    return lines


def splice_losing(text: str, section: list[str]) -> str:
    """``text`` with its losing-is-cheap section replaced by ``section`` (or added)."""
    lines = text.splitlines()
    if LOSING_HEADER in lines:
        start = lines.index(LOSING_HEADER)
        end = next(
            (k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines)
        )
        lines[start:end] = [*section, ""]
    else:
        raw = lines.index("## Raw figures") if "## Raw figures" in lines else len(lines)
        lines[raw:raw] = [*section, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
