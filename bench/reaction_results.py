"""The section of RESULTS.md for issue 16 item 1: head seen to broadcast at 100k accounts."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

REACTION_HEADER = "## Reaction at 100k accounts: head seen to broadcast (issue 16, item 1)"
# The section this one replaces (the local part alone, before the broadcast was measured).
OLD_HEADER = "## Reaction path at 100k accounts: finding who a block's move can liquidate"
SIZE = 100_000
REPEAT = 15
GOAL_P50_MS, GOAL_P95_MS = 20.0, 50.0
MOVES = {1: "WETH -1% (a block)", 10: "WETH -10% (a shock)"}


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['p50']} / {stats['p95']} ms"


def reaction_rows(result: dict[str, Any], command: str) -> list[str]:
    """The section: method, the figures against the previous method, the goal."""
    rows = {(r["fall_pct"], r["method"]): r for r in result["reaction"]}
    sim = result["simulation"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        REACTION_HEADER,
        "",
        f"Measured {now} by `{command}` (`bench/broadcast_bench.py`, its docstring gives the",
        f"method), {result['accounts']:,} accounts (the synthetic market of 100,000, those",
        f"liquidatable at the start left out), {result['repeat']} blocks per row, one core. From",
        "the header in hand to `eth_sendRawTransaction` of the first liquidation returned: the",
        "block's logs (one `eth_getLogs` to a real Anvil), the engine at the new price, the",
        "candidates, the plan, our contract's call, signing, the journal (SQLite) and the",
        "broadcast (the same Anvil, holding the 1,000-borrower devnet world). `baseline`: the",
        "previous method in the same run, same engine: every account under the urgent bound",
        "recomputed before acting, `getUserAccountData` of every candidate, the batch of",
        "reserve cash, our balances and allowances before the plan. The simulation stays on",
        "the path and is measured apart (below); the machine is shared (2 cores, other work",
        "beside), so compare the two methods of the same run.",
        "",
        (
            "| move | method | recomputed before the broadcast (urgent) | candidates "
            "| head seen -> broadcast p50 / p95 | of which (medians): logs, engine, confirm, "
            "plan, send | rest after the broadcast p50 / p95 |"
        ),
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    for fall, label in MOVES.items():
        for method in ("baseline", "new"):
            r = rows[(fall, method)]
            parts = r["parts_median_ms"]
            of_which = ", ".join(
                f"{parts[k]}" for k in ("logs", "engine", "confirm", "plan", "send")
            )
            rest = _ms(r["rest_after_broadcast_ms"]) if method == "new" else "n/a"
            lines.append(
                f"| {label} | {method} | {r['recomputed_before_broadcast']:,} "
                f"({r['urgent']:,}) | {r['candidates']} | {_ms(r['head_seen_to_broadcast_ms'])} "
                f"| {of_which} | {rest} |"
            )
    lines += [
        "",
        "| move | baseline / new (p50) | goal: p50 <= 20 ms and p95 <= 50 ms |",
        "| --- | ---: | --- |",
    ]
    for fall, label in MOVES.items():
        old = rows[(fall, "baseline")]["head_seen_to_broadcast_ms"]
        new = rows[(fall, "new")]["head_seen_to_broadcast_ms"]
        met = new["p50"] <= GOAL_P50_MS and new["p95"] <= GOAL_P95_MS
        ratio = f"{old['p50'] / new['p50']:.1f}x" if new["p50"] else "n/a"
        lines.append(f"| {label} | {ratio} | {'met' if met else '**not met**'} |")
    lines += [
        "",
        "The simulation on the path (`eth_simulateV1` of a real liquidation through our",
        (
            "contract on the devnet world, after a WETH -40% shock, the same Anvil): "
            f"{_ms(sim['simulate_ms'])} alone (now: its padded gas is the limit); the previous"
        ),
        f"method asked `eth_estimateGas` after it: {_ms(sim['simulate_then_estimate_ms'])}.",
        "A keeper's broadcast comes one simulation after the figures above (the keeper sends",
        "the first plan's simulation while it plans the next candidates).",
        "",
        "What changed on the path: candidates from the exact local account data (checked",
        "with `getUserAccountData` after acting; an account found different is logged as",
        "`health_mismatch`, counted, re-read, and read on chain before it is acted on again),",
        "the reserves' cash tracked (read with a reserve's state when an operation moves it),",
        "our balances and allowances read after acting (`aave_v3/available.py`), the urgent",
        "set limited to the accounts the moved price reaches, the first wave (largest debt",
        "first, up to the first account under 1) acted on before the rest is computed, no",
        "gas estimate before the broadcast. Race at 100k accounts on a devnet: not run",
        "(building the world takes about 25 minutes here); the races above are at 1k and 10k.",
        "Tests: `tests/integration/test_reaction_reads.py`, `tests/unit/test_reaction_waves.py`.",
        "",
        "```json",
        json.dumps(result, indent=1),
        "```",
    ]
    return lines


def reaction_steps(run: Callable[..., dict[str, Any]]) -> list[str]:
    """Run the step (``run`` as run.py's) and render its section."""
    print("reaction at 100k: head seen to broadcast", file=sys.stderr)
    args = ("bench/broadcast_bench.py", str(SIZE), "--repeat", str(REPEAT))
    result = run(*args, timeout_s=1200)
    return reaction_rows(result, f"python {' '.join(args)}")


def splice_reaction(text: str, section: list[str]) -> str:
    """``text`` with this section (or the one it replaces) replaced by ``section``."""
    lines = text.splitlines()
    header = next((h for h in (REACTION_HEADER, OLD_HEADER) if any(h in x for x in lines)), None)
    if header is None:
        raw = lines.index("## Raw figures") if "## Raw figures" in lines else len(lines)
        lines[raw:raw] = [*section, ""]
    else:
        start = next(k for k, x in enumerate(lines) if header in x)
        end = next(
            (k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines)
        )
        lines[start:end] = [*section, ""]
    return "\n".join(lines).rstrip("\n") + "\n"
