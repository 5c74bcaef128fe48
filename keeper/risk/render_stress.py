"""Stress reports as text: a table for people, JSON and CSV for programs.

Money stays integer in JSON and CSV (base units, token units, wad health factors as exact
decimal strings); pass-through shares are exact fractions ("1/2"); the table rounds for reading
only. Each report states how every asset's price behaves in the cascade (pegged, the share of
its pool's move that reaches the oracle, or the quote) and which pool it is sold into.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from keeper.core.display import format_wad
from keeper.risk.pricing import PEG, QUOTE
from keeper.risk.render import change_pct, csv_sections, document, hf, money, pct, table

if TYPE_CHECKING:
    from fractions import Fraction

    from keeper.risk.cascade import Cascade
    from keeper.risk.liquidate import AccountLiquidation
    from keeper.risk.market import MarketState
    from keeper.risk.pricing import PriceRule


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


def _move(ratio: Fraction) -> str:
    """A pool's price ratio as a change in percent (4 decimals)."""
    return pct(ratio - 1) or "0"


def rule_text(rule: PriceRule) -> str:
    """One asset's price rule in words."""
    if rule.kind == QUOTE:
        return "the quote: keeps its price (the numeraire)"
    if rule.kind == PEG:
        return f"pegged: holds its price ({rule.why})"
    return f"passes {pct(rule.share, 2)}% of its pool's move to the oracle ({rule.why})"


def _account_row(a: AccountLiquidation) -> dict[str, Any]:
    return {
        "account": a.before.account,
        "health_factor": format_wad(a.before.health_factor),
        "total_collateral_base": a.before.total_collateral_base,
        "total_debt_base": a.before.total_debt_base,
        "calls": len(a.calls),
        "debt_repaid_base": sum(c.debt_repaid_base for c in a.calls),
        "collateral_seized_base": sum(c.collateral_base + c.protocol_fee_base for c in a.calls),
        "bonus_base": sum(c.bonus_base for c in a.calls),
        "protocol_fee_base": sum(c.protocol_fee_base for c in a.calls),
        "health_factor_after": format_wad(a.after.health_factor),
        "bad_debt_base": a.bad_debt_base,
    }


def _cascade_json(
    state: MarketState, cascade: Cascade, quote: str, dex: dict[str, str]
) -> dict[str, Any]:
    final_bad = _final_bad(state, cascade)
    sym = state.symbol
    return {
        "quote": {"asset": quote, "symbol": sym(quote)},
        "dex": {sym(a): source for a, source in dex.items()},
        "price_rules": {
            sym(a): {"rule": r.kind, "share": str(r.share), "why": r.why}
            for a, r in cascade.rules.items()
        },
        "dex_depth_2pct_tokens": {sym(a): n for a, n in cascade.depth_2pct.items()},
        "converged": cascade.converged,
        "rounds": [
            {
                "round": k + 1,
                "prices": {sym(a): p for a, p in r.prices.items()},
                "change_pct": {
                    sym(a): change_pct(p, cascade.start_prices[a]) for a, p in r.prices.items()
                },
                "liquidated_accounts": len(r.liquidated),
                "calls": r.calls,
                "debt_repaid_base": r.debt_repaid_base,
                "collateral_seized_base": r.collateral_seized_base,
                "bonus_base": r.bonus_base,
                "protocol_fee_base": r.protocol_fee_base,
                "bad_debt_base": r.bad_debt_base,
                "sold": {sym(a): n for a, n in cascade.sold[k].items()},
                "unsold": {sym(a): n for a, n in cascade.unsold[k].items()},
                "pool_move_pct": {sym(a): _move(x) for a, x in cascade.dex_moves[k].items()},
            }
            for k, r in enumerate(cascade.rounds)
        ],
        "final_prices": {sym(a): p for a, p in cascade.final_prices.items()},
        "final_bad_debt_accounts": final_bad[0],
        "final_bad_debt_base": final_bad[1],
    }


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
            _account_row(a)
            for a in sorted(first.liquidatable, key=lambda a: a.before.health_factor)
        ],
        "cascade": _cascade_json(state, cascade, quote, dex),
    }
    return document(body)


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
        *(f"{state.symbol(a)}_pool_move_pct" for a in assets),
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
            *(_move(cascade.dex_moves[k][a]) if a in cascade.dex_moves[k] else "" for a in assets),
        ]
        for k, r in enumerate(cascade.rounds)
    ]
    return header, rows


def stress_csv(state: MarketState, cascade: Cascade) -> str:
    """Liquidatable accounts, a blank line, then one row per cascade round."""
    first = cascade.first
    rows = [
        list(_account_row(a).values())
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
        "health_factor_after",
        "bad_debt_base",
    ]
    return csv_sections([(header, rows), _round_rows(state, cascade)])


def _rules_lines(
    state: MarketState, cascade: Cascade, quote: str, dex: dict[str, str]
) -> list[str]:
    lines = [f"cascade: seized collateral sold for {state.symbol(quote)}; per asset:"]
    for asset in state.assets():
        rule = cascade.rules.get(asset)
        if rule is None:
            continue
        line = f"  {state.symbol(asset)}: {rule_text(rule)}"
        if asset in dex:
            line += f"; sold into {dex[asset]}"
        depth = cascade.depth_2pct.get(asset)
        if depth is not None:
            unit = 10 ** state.reserves[asset].config.decimals
            line += f"; -2% takes {Decimal(depth) / unit:,.4f} {state.symbol(asset)}"
        lines.append(line)
    return lines


def stress_table(
    state: MarketState,
    shocked: dict[str, int],
    pcts: dict[str, Decimal],
    cascade: Cascade,
    quote: str,
    dex: dict[str, str],
) -> str:
    """A summary, the liquidatable accounts, the price rules, and the cascade round by round."""
    unit = state.base_unit
    first = cascade.first
    final_bad = _final_bad(state, cascade)
    moves = ", ".join(
        f"{state.symbol(a)} {pcts[a]}% ({money(state.prices[a], unit)} -> {money(p, unit)})"
        for a, p in shocked.items()
    )
    lines = [
        f"block {state.block}: shock {moves}; values in the oracle's base currency",
        "",
        *table(
            ["", ""],
            [
                ["liquidatable accounts", str(len(first.liquidatable))],
                ["their debt", money(first.liquidatable_debt_base, unit)],
                ["debt to cover (repaid)", money(first.debt_repaid_base, unit)],
                ["collateral seized", money(first.collateral_seized_base, unit)],
                ["liquidator bonus", money(first.bonus_base, unit)],
                ["protocol fee", money(first.protocol_fee_base, unit)],
                ["liquidation calls", str(first.calls)],
                ["accounts left with bad debt", str(len(first.bad_debt))],
                ["bad debt", money(first.bad_debt_base, unit)],
            ],
        )[1:],
        "",
    ]
    rows = [
        [
            a.before.account,
            hf(a.before.health_factor),
            money(a.before.total_debt_base, unit),
            money(sum(c.debt_repaid_base for c in a.calls), unit),
            money(sum(c.collateral_base + c.protocol_fee_base for c in a.calls), unit),
            hf(a.after.health_factor),
            money(a.bad_debt_base, unit) if a.bad_debt_base else "",
        ]
        for a in sorted(first.liquidatable, key=lambda a: a.before.health_factor)
    ]
    if rows:
        lines += table(["account", "HF", "debt", "repaid", "seized", "HF after", "bad debt"], rows)
        lines.append("")
    lines += [*_rules_lines(state, cascade, quote, dex), ""]
    assets = state.assets()
    round_rows = [
        [
            str(k + 1),
            *(
                f"{money(r.prices[a], unit)} "
                f"({change_pct(r.prices[a], cascade.start_prices[a], 2)}%)"
                for a in assets
            ),
            str(len(r.liquidated)),
            money(r.debt_repaid_base, unit),
            money(r.collateral_seized_base, unit),
            money(r.bad_debt_base, unit),
            ", ".join(
                f"{state.symbol(a)} {pct(x - 1, 2)}%" for a, x in cascade.dex_moves[k].items()
            )
            or "-",
        ]
        for k, r in enumerate(cascade.rounds)
    ]
    lines += table(
        [
            "round",
            *(state.symbol(a) for a in assets),
            "liquidated",
            "repaid",
            "seized",
            "bad debt",
            "pool moves after the round's sales",
        ],
        round_rows,
    )
    unsold = {a for u in cascade.unsold for a in u}
    if unsold:
        names = ", ".join(state.symbol(a) for a in sorted(unsold))
        lines += ["", f"unsold (beyond the pool ticks read): {names}; see the JSON report"]
    end = "fixed point" if cascade.converged else "round cap reached"
    lines += [
        "",
        (
            f"{end} after {len(cascade.rounds)} rounds; bad debt then: {final_bad[0]} "
            f"accounts, {money(final_bad[1], unit)}"
        ),
    ]
    return "\n".join(lines)
