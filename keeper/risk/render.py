"""Radar and stress reports as text: a table for people, JSON and CSV for programs.

Money stays integer in JSON and CSV (base units, token units, wad health factors as exact
decimal strings); the table rounds for reading only.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from keeper.core.display import format_wad
from keeper.protocols.aave_v3.math import MAX_UINT256, WAD

if TYPE_CHECKING:
    from collections.abc import Sequence
    from fractions import Fraction

    from keeper.risk.cascade import Cascade
    from keeper.risk.market import MarketState
    from keeper.risk.radar import AccountRadar, Radar

FORMATS = ("table", "json", "csv")


def pct(fraction: Fraction | None, places: int = 4) -> str | None:
    """A fraction as a percentage string with ``places`` decimals (rounded half even)."""
    if fraction is None:
        return None
    value = Decimal(fraction.numerator) * 100 / Decimal(fraction.denominator)
    return str(value.quantize(Decimal(1).scaleb(-places)))


def change_pct(new: int, old: int, places: int = 4) -> str:
    """The move from ``old`` to ``new`` in percent."""
    from fractions import Fraction  # noqa: PLC0415 - only at run time, typing imports it above

    return pct(Fraction(new - old, old) if old else Fraction(0), places) or "0"


def _money(value: int, unit: int) -> str:
    return f"{Decimal(value) / unit:,.2f}"


def _hf(value: int) -> str:
    if value == MAX_UINT256:
        return "inf"
    return f"{Decimal(value) / WAD:.4f}"


def _csv(sections: Sequence[tuple[list[str], list[list[Any]]]]) -> str:
    """Sections separated by one blank line, each with its own header row."""
    out = io.StringIO()
    for k, (header, rows) in enumerate(sections):
        if k:
            out.write("\n")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return out.getvalue()


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


# -- radar ---------------------------------------------------------------------------------------


def _radar_account(state: MarketState, row: AccountRadar) -> dict[str, Any]:
    d = row.data
    return {
        "account": d.account,
        "health_factor": format_wad(d.health_factor),
        "total_collateral_base": d.total_collateral_base,
        "total_debt_base": d.total_debt_base,
        "liquidatable": row.liquidatable,
        "waiting": None if row.waiting_until is None else {"grace_period_until": row.waiting_until},
        "distance_pct": pct(row.distance),
        "collateral": [
            {
                "asset": c.asset,
                "symbol": state.symbol(c.asset),
                "price": c.price,
                "liquidation_price": c.liquidation_price,
                "drop_pct": pct(c.drop),
            }
            for c in row.collateral
        ],
    }


def radar_json(state: MarketState, result: Radar) -> str:
    """The radar as one JSON document."""
    return json.dumps(
        {
            "block": state.block,
            "timestamp": state.timestamp,
            "base_unit": state.base_unit,
            "accounts": [_radar_account(state, r) for r in result.accounts],
            "curves": {
                state.symbol(asset): {
                    "asset": asset,
                    "points": [
                        {
                            "drop_pct": p.drop_pct,
                            "price": p.price,
                            "accounts": p.accounts,
                            "debt_base": p.debt_base,
                        }
                        for p in points
                    ],
                }
                for asset, points in result.curves.items()
            },
        },
        indent=1,
    )


def radar_csv(state: MarketState, result: Radar) -> str:
    """Accounts (one row per collateral asset), a blank line, then the debt curves."""
    accounts = [
        [
            r.data.account,
            format_wad(r.data.health_factor),
            r.data.total_collateral_base,
            r.data.total_debt_base,
            c.asset,
            state.symbol(c.asset),
            c.price,
            "" if c.liquidation_price is None else c.liquidation_price,
            pct(c.drop) or "",
        ]
        for r in result.accounts
        for c in r.collateral
    ]
    curves = [
        [asset, state.symbol(asset), p.drop_pct, p.price, p.accounts, p.debt_base]
        for asset, points in result.curves.items()
        for p in points
    ]
    return _csv(
        [
            (
                [
                    "account",
                    "health_factor",
                    "total_collateral_base",
                    "total_debt_base",
                    "asset",
                    "symbol",
                    "price",
                    "liquidation_price",
                    "drop_pct",
                ],
                accounts,
            ),
            (["asset", "symbol", "drop_pct", "price", "accounts", "debt_base"], curves),
        ]
    )


def radar_table(state: MarketState, result: Radar, limit: int | None = None) -> str:
    """Accounts nearest to liquidation first, then the liquidatable debt per 1% price step."""
    unit = state.base_unit
    assets = list(result.curves)
    shown = result.accounts if limit is None else result.accounts[:limit]
    rows = []
    for r in shown:
        by_asset = {c.asset: c for c in r.collateral}
        cells = []
        for asset in assets:
            c = by_asset.get(asset)
            if c is None:
                cells.append("")
            elif c.liquidation_price is None:
                cells.append("-" if not r.liquidatable else "now")
            else:
                cells.append(f"-{pct(c.drop, 2)}% @ {_money(c.liquidation_price, unit)}")
        rows.append(
            [
                r.data.account,
                _hf(r.data.health_factor),
                _money(r.data.total_collateral_base, unit),
                _money(r.data.total_debt_base, unit),
                (
                    "liquidatable"
                    if r.waiting_until is None
                    else f"waiting (grace until {r.waiting_until})"
                )
                if r.liquidatable
                else (f"{pct(r.distance, 2)}%" if r.distance is not None else "-"),
                *cells,
            ]
        )
    lines = [
        (
            f"block {state.block}: {len(result.accounts)} accounts with debt; values in the "
            "oracle's base currency; per asset: the fall to its liquidation price @ that price"
        ),
        "",
        *_table(
            [
                "account",
                "HF",
                "collateral",
                "debt",
                "distance",
                *(f"{state.symbol(a)}" for a in assets),
            ],
            rows,
        ),
    ]
    if limit is not None and len(result.accounts) > limit:
        lines.append(f"... {len(result.accounts) - limit} more (--limit)")
    lines += ["", "liquidatable debt (accounts) by price drop of one asset, others unchanged:", ""]
    steps = max((len(p) for p in result.curves.values()), default=0)
    curve_rows = []
    for k in range(steps):
        cells = []
        for asset in assets:
            p = result.curves[asset][k]
            cells.append(f"{_money(p.debt_base, unit)} ({p.accounts})")
        curve_rows.append([f"-{k}%", *cells])
    lines += _table(["drop", *(state.symbol(a) for a in assets)], curve_rows)
    return "\n".join(lines)


# -- stress ---------------------------------------------------------------------------------------


def _shocks(
    state: MarketState, shocked: dict[str, int], pcts: dict[str, Decimal]
) -> list[dict[str, Any]]:
    return [
        {
            "asset": asset,
            "symbol": state.symbol(asset),
            "pct": str(pcts[asset]),
            "old_price": state.prices[asset],
            "new_price": price,
        }
        for asset, price in shocked.items()
    ]


def stress_json(
    state: MarketState,
    shocked: dict[str, int],
    pcts: dict[str, Decimal],
    cascade: Cascade,
    quote: str,
    dex: dict[str, str],
) -> str:
    """The stress report and the cascade as one JSON document."""
    first = cascade.first
    final_bad = _final_bad(state, cascade)
    body = {
        "block": state.block,
        "timestamp": state.timestamp,
        "base_unit": state.base_unit,
        "shocks": _shocks(state, shocked, pcts),
        "liquidatable_accounts": len(first.liquidatable),
        "liquidatable_debt_base": first.liquidatable_debt_base,
        "debt_to_cover_base": first.debt_repaid_base,
        "collateral_seized_base": first.collateral_seized_base,
        "liquidator_bonus_base": first.bonus_base,
        "protocol_fee_base": first.protocol_fee_base,
        "liquidation_calls": first.calls,
        "bad_debt_accounts": len(first.bad_debt),
        "bad_debt_base": first.bad_debt_base,
        "accounts": [
            {
                "account": a.before.account,
                "health_factor": format_wad(a.before.health_factor),
                "total_collateral_base": a.before.total_collateral_base,
                "total_debt_base": a.before.total_debt_base,
                "calls": len(a.calls),
                "debt_repaid_base": sum(c.debt_repaid_base for c in a.calls),
                "collateral_seized_base": sum(
                    c.collateral_base + c.protocol_fee_base for c in a.calls
                ),
                "bonus_base": sum(c.bonus_base for c in a.calls),
                "protocol_fee_base": sum(c.protocol_fee_base for c in a.calls),
                "health_factor_after": format_wad(a.after.health_factor),
                "bad_debt_base": a.bad_debt_base,
            }
            for a in sorted(first.liquidatable, key=lambda a: a.before.health_factor)
        ],
        "cascade": {
            "quote": {"asset": quote, "symbol": state.symbol(quote)},
            "dex": {state.symbol(a): source for a, source in dex.items()},
            "converged": cascade.converged,
            "rounds": [
                {
                    "round": k + 1,
                    "prices": {state.symbol(a): p for a, p in r.prices.items()},
                    "change_pct": {
                        state.symbol(a): change_pct(p, cascade.start_prices[a])
                        for a, p in r.prices.items()
                    },
                    "liquidated_accounts": len(r.liquidated),
                    "calls": r.calls,
                    "debt_repaid_base": r.debt_repaid_base,
                    "collateral_seized_base": r.collateral_seized_base,
                    "bonus_base": r.bonus_base,
                    "protocol_fee_base": r.protocol_fee_base,
                    "bad_debt_base": r.bad_debt_base,
                    "sold": {state.symbol(a): n for a, n in cascade.sold[k].items()},
                }
                for k, r in enumerate(cascade.rounds)
            ],
            "final_prices": {state.symbol(a): p for a, p in cascade.final_prices.items()},
            "final_bad_debt_accounts": final_bad[0],
            "final_bad_debt_base": final_bad[1],
        },
    }
    return json.dumps(body, indent=1)


def _final_bad(state: MarketState, cascade: Cascade) -> tuple[int, int]:
    from keeper.risk.cascade import bad_debt  # noqa: PLC0415 - avoids a cycle at import time

    return bad_debt(state, cascade.final_accounts, cascade.final_prices)


def _round_rows(state: MarketState, cascade: Cascade) -> tuple[list[str], list[list[Any]]]:
    assets = state.assets()
    header = [
        "round",
        "liquidated_accounts",
        "calls",
        "debt_repaid_base",
        "collateral_seized_base",
        "bonus_base",
        "protocol_fee_base",
        "bad_debt_base",
        *(f"{state.symbol(a)}_price" for a in assets),
    ]
    rows: list[list[Any]] = [
        [
            k + 1,
            len(r.liquidated),
            r.calls,
            r.debt_repaid_base,
            r.collateral_seized_base,
            r.bonus_base,
            r.protocol_fee_base,
            r.bad_debt_base,
            *(r.prices[a] for a in assets),
        ]
        for k, r in enumerate(cascade.rounds)
    ]
    return header, rows


def stress_csv(state: MarketState, cascade: Cascade) -> str:
    """Liquidatable accounts, a blank line, then one row per cascade round."""
    first = cascade.first
    accounts = [
        [
            a.before.account,
            format_wad(a.before.health_factor),
            a.before.total_collateral_base,
            a.before.total_debt_base,
            len(a.calls),
            sum(c.debt_repaid_base for c in a.calls),
            sum(c.collateral_base + c.protocol_fee_base for c in a.calls),
            sum(c.bonus_base for c in a.calls),
            sum(c.protocol_fee_base for c in a.calls),
            a.bad_debt_base,
        ]
        for a in sorted(first.liquidatable, key=lambda a: a.before.health_factor)
    ]
    header = [
        "account",
        "health_factor",
        "total_collateral_base",
        "total_debt_base",
        "calls",
        "debt_repaid_base",
        "collateral_seized_base",
        "bonus_base",
        "protocol_fee_base",
        "bad_debt_base",
    ]
    return _csv([(header, accounts), _round_rows(state, cascade)])


def stress_table(
    state: MarketState,
    shocked: dict[str, int],
    pcts: dict[str, Decimal],
    cascade: Cascade,
    quote: str,
    dex: dict[str, str],
) -> str:
    """A summary, the liquidatable accounts, and the cascade round by round."""
    unit = state.base_unit
    first = cascade.first
    final_bad = _final_bad(state, cascade)
    moves = ", ".join(
        f"{state.symbol(a)} {pcts[a]}% ({_money(state.prices[a], unit)} -> {_money(p, unit)})"
        for a, p in shocked.items()
    )
    lines = [
        f"block {state.block}: shock {moves}; values in the oracle's base currency",
        "",
        *_table(
            ["", ""],
            [
                ["liquidatable accounts", str(len(first.liquidatable))],
                ["their debt", _money(first.liquidatable_debt_base, unit)],
                ["debt to cover (repaid)", _money(first.debt_repaid_base, unit)],
                ["collateral seized", _money(first.collateral_seized_base, unit)],
                ["liquidator bonus", _money(first.bonus_base, unit)],
                ["protocol fee", _money(first.protocol_fee_base, unit)],
                ["liquidation calls", str(first.calls)],
                ["accounts left with bad debt", str(len(first.bad_debt))],
                ["bad debt", _money(first.bad_debt_base, unit)],
            ],
        )[1:],
        "",
    ]
    rows = [
        [
            a.before.account,
            _hf(a.before.health_factor),
            _money(a.before.total_debt_base, unit),
            _money(sum(c.debt_repaid_base for c in a.calls), unit),
            _money(sum(c.collateral_base + c.protocol_fee_base for c in a.calls), unit),
            _hf(a.after.health_factor),
            _money(a.bad_debt_base, unit) if a.bad_debt_base else "",
        ]
        for a in sorted(first.liquidatable, key=lambda a: a.before.health_factor)
    ]
    if rows:
        lines += _table(["account", "HF", "debt", "repaid", "seized", "HF after", "bad debt"], rows)
        lines.append("")
    sources = "; ".join(f"{state.symbol(a)}: {s}" for a, s in dex.items())
    lines.append(f"cascade: seized collateral sold for {state.symbol(quote)} ({sources})")
    lines.append("")
    assets = state.assets()
    round_rows = [
        [
            str(k + 1),
            *(
                f"{_money(r.prices[a], unit)} "
                f"({change_pct(r.prices[a], cascade.start_prices[a], 2)}%)"
                for a in assets
            ),
            str(len(r.liquidated)),
            _money(r.debt_repaid_base, unit),
            _money(r.collateral_seized_base, unit),
            _money(r.bad_debt_base, unit),
        ]
        for k, r in enumerate(cascade.rounds)
    ]
    lines += _table(
        ["round", *(state.symbol(a) for a in assets), "liquidated", "repaid", "seized", "bad debt"],
        round_rows,
    )
    end = "fixed point" if cascade.converged else "round cap reached"
    lines += [
        "",
        (
            f"{end} after {len(cascade.rounds)} rounds; bad debt then: {final_bad[0]} "
            f"accounts, {_money(final_bad[1], unit)}"
        ),
    ]
    return "\n".join(lines)
