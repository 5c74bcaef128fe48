"""``keeper shadow-report``: the shadow journal's rows for a period, as a table, JSON or CSV.

Money stays integer base units in JSON and CSV (USD x 1e8 on Aave's USD markets); the table
shows them as decimals. Rows: one per opportunity the keeper would have acted on and one per
real liquidation it had no plan for (lost to a skip, or missed: the rows that matter most).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keeper.shadow.summary import signed_base
from keeper.shadow.verdict import Verdict

if TYPE_CHECKING:
    from keeper.shadow.ledger import ShadowRow

COLUMNS = (
    "row_id",
    "account",
    "verdict",
    "reason",
    "plan_block",
    "ms_after_head",
    "our_tx_to",
    "our_max_fee",
    "our_max_tip",
    "fork_outcome",
    "our_expected_profit_base",
    "our_simulated_profit_base",
    "real_block",
    "winner",
    "winner_tx",
    "winner_tip",
    "winner_gas_price",
    "winner_profit_base",
    "status",
)


@dataclass
class Summary:
    """Totals of a period."""

    rows: int = 0
    opportunities: int = 0
    would_win: int = 0
    would_lose: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    undecided: int = 0
    profit_would_have_made_base: int = 0
    rivals_profit_base: int = 0


def summarize(rows: list[ShadowRow]) -> Summary:
    """Count verdicts and add up profits (integers)."""
    out = Summary(rows=len(rows))
    for row in rows:
        if row.plan_block is not None:
            out.opportunities += 1
        if row.their_profit_base is not None:
            out.rivals_profit_base += row.their_profit_base
        if row.verdict is None or row.reason is None:
            out.undecided += 1
        elif row.verdict is Verdict.WOULD_WIN:
            out.would_win += 1
            out.profit_would_have_made_base += row.our_profit_base or 0
        elif row.verdict is Verdict.WOULD_LOSE:
            out.would_lose[row.reason.value] = out.would_lose.get(row.reason.value, 0) + 1
        else:
            out.missed[row.reason.value] = out.missed.get(row.reason.value, 0) + 1
    return out


def flat(row: ShadowRow) -> dict[str, Any]:
    """One row's columns (integers kept exact; None where not known)."""
    ours, real = row.ours or {}, row.real or {}
    tx, fork = ours.get("transaction") or {}, ours.get("fork") or {}
    return {
        "row_id": row.row_id,
        "account": row.account,
        "verdict": None if row.verdict is None else row.verdict.value,
        "reason": None if row.reason is None else row.reason.value,
        "plan_block": row.plan_block,
        "ms_after_head": ours.get("ms_after_head"),
        "our_tx_to": tx.get("to"),
        "our_max_fee": tx.get("max_fee"),
        "our_max_tip": tx.get("max_tip"),
        "fork_outcome": fork.get("status"),
        "our_expected_profit_base": ours.get("expected_profit_base"),
        "our_simulated_profit_base": fork.get("profit_base"),
        "real_block": row.real_block,
        "winner": real.get("liquidator"),
        "winner_tx": real.get("tx_hash"),
        "winner_tip": real.get("effective_tip"),
        "winner_gas_price": real.get("effective_gas_price"),
        "winner_profit_base": row.their_profit_base,
        "status": row.status,
    }


def render_json(rows: list[ShadowRow]) -> str:
    """One document: the summary and every row in full (our transaction, the real one)."""
    summary = summarize(rows)
    return json.dumps(
        {
            "summary": summary.__dict__,
            "rows": [
                {**flat(r), "ours": r.ours, "real": r.real, "created_at": r.created_at}
                for r in rows
            ],
        },
        indent=2,
    )


def render_csv(rows: list[ShadowRow]) -> str:
    """One line per row, the columns of ``COLUMNS``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in flat(row).items()})
    return buf.getvalue()


def _short(value: Any, keep: int = 10) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= keep + 2 else text[:keep] + ".."


def render_table(rows: list[ShadowRow], base_unit: int = 10**8) -> str:
    """For reading: a summary, then one line per row."""
    s = summarize(rows)

    def money(value: int | None) -> str:
        return "" if value is None else signed_base(value, base_unit)

    lines = [
        f"rows                         {s.rows}",
        f"opportunities                {s.opportunities}",
        f"would win                    {s.would_win}",
        f"would lose                   {sum(s.would_lose.values())} {s.would_lose or ''}",
        f"missed                       {sum(s.missed.values())} {s.missed or ''}",
        f"undecided                    {s.undecided}",
        f"profit we would have made    {money(s.profit_would_have_made_base)}",
        f"profit the winners made      {money(s.rivals_profit_base)}",
        "",
    ]
    header = (
        f"{'account':<14}{'verdict':<12}{'reason':<19}{'plan':>8}{'ms':>8}{'our tip':>14}"
        f"{'our profit':>16}{'real':>8}  {'winner':<14}{'winner tx':<14}{'tip':>14}"
        f"{'their profit':>16}"
    )
    lines.append(header)
    for row in rows:
        f = flat(row)
        ours_profit = f["our_simulated_profit_base"]
        if ours_profit is None:
            ours_profit = f["our_expected_profit_base"]
        lines.append(
            f"{_short(f['account']):<14}{f['verdict'] or row.status:<12}{f['reason'] or '':<19}"
            f"{'' if f['plan_block'] is None else f['plan_block']:>8}"
            f"{'' if f['ms_after_head'] is None else f['ms_after_head']:>8}"
            f"{'' if f['our_max_tip'] is None else f['our_max_tip']:>14}"
            f"{money(ours_profit):>16}"
            f"{'' if f['real_block'] is None else f['real_block']:>8}  "
            f"{_short(f['winner']):<14}{_short(f['winner_tx']):<14}"
            f"{'' if f['winner_tip'] is None else f['winner_tip']:>14}"
            f"{money(f['winner_profit_base']):>16}"
        )
    return "\n".join(lines)
