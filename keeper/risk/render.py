"""Radar reports as text (a table for people, JSON and CSV for programs); shared helpers.

The helpers (percentages, money and health factors for reading, CSV sections, tables) serve
the stress report too (keeper.risk.render_stress).

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


def money(value: int, unit: int) -> str:
    """Base units as a rounded amount for reading (display only)."""
    return f"{Decimal(value) / unit:,.2f}"


def hf(value: int) -> str:
    """A wad health factor to four decimals for reading (display only)."""
    if value == MAX_UINT256:
        return "inf"
    return f"{Decimal(value) / WAD:.4f}"


def csv_sections(sections: Sequence[tuple[list[str], list[list[Any]]]]) -> str:
    """Sections separated by one blank line, each with its own header row."""
    out = io.StringIO()
    for k, (header, rows) in enumerate(sections):
        if k:
            out.write("\n")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return out.getvalue()


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Aligned columns, one string per line."""
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


def document(body: dict[str, Any]) -> str:
    """``body`` as one JSON document: a key per line, and one line per item of a list.

    The same document as ``json.dumps(body)``, laid out for reading and for ``grep`` (an
    account per line), written by the C encoder (``indent`` would take the pure-Python one,
    ten times slower on 100k accounts).
    """
    lines = []
    for key, value in body.items():
        head = f" {json.dumps(key)}: "
        if isinstance(value, list) and value:
            items = ",\n  ".join(json.dumps(v) for v in value)
            lines.append(f"{head}[\n  {items}\n ]")
        else:
            lines.append(head + json.dumps(value))
    return "{\n" + ",\n".join(lines) + "\n}"


def radar_json(state: MarketState, result: Radar) -> str:
    """The radar as one JSON document."""
    return document(
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
        }
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
    return csv_sections(
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
                cells.append(f"-{pct(c.drop, 2)}% @ {money(c.liquidation_price, unit)}")
        rows.append(
            [
                r.data.account,
                hf(r.data.health_factor),
                money(r.data.total_collateral_base, unit),
                money(r.data.total_debt_base, unit),
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
        *table(
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
            cells.append(f"{money(p.debt_base, unit)} ({p.accounts})")
        curve_rows.append([f"-{k}%", *cells])
    lines += table(["drop", *(state.symbol(a) for a in assets)], curve_rows)
    return "\n".join(lines)
