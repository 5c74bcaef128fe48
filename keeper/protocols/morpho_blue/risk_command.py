"""``keeper radar`` and ``keeper stress`` with ``protocol = "morpho_blue"`` (the CLI dispatches).

The state is the keeper's own (``MorphoLendingMarket`` started at the head: every followed
market, exact); the math is ``risk.py``. Outputs: a table, one JSON document, or CSV (one row
per position, or per market for stress). Options of Aave's risk tools that model a shared
collateral and DEX cascade (``--snapshot``, ``--save-snapshot``, ``--plot``, ``--quote``,
``--pass-through``, ``--price-rule``) are refused: Morpho markets are isolated.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import TYPE_CHECKING, Any

from keeper.core.display import format_base, format_wad
from keeper.errors import ConfigError
from keeper.ops.logging import configure_logging
from keeper.protocols.morpho_blue.connect import connect
from keeper.protocols.morpho_blue.lending_market import MorphoLendingMarket
from keeper.protocols.morpho_blue.risk import curve, position_risks, stress

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from decimal import Decimal

    from keeper.core.market import AssetInfo
    from keeper.protocols.morpho_blue.risk import CurvePoint, MarketStress, PositionRisk
    from keeper.protocols.morpho_blue.tracker import MarketView, MorphoTracker
    from keeper.settings import Settings

EXIT_OK = 0
REFUSED = ("snapshot", "save_snapshot", "plot", "quote", "pass_through")


class _Loaded:
    """The markets at the head: views, positions, USD prices, token metadata."""

    def __init__(
        self,
        tracker: MorphoTracker,
        usd: dict[str, int],
        assets: dict[str, AssetInfo],
    ) -> None:
        self.block, self.timestamp = tracker.block, tracker.timestamp
        self.views: dict[str, MarketView] = {}
        for market_id in tracker.state.markets:
            view = tracker.view(market_id)
            if view is not None:
                self.views[market_id] = view
        self.positions = list(tracker.borrowers())
        self.usd, self.assets = usd, assets
        self.decimals = {a: i.decimals for a, i in assets.items()}

    def label(self, market_id: str) -> str:
        """``COLLATERAL/LOAN`` of a market."""
        p = self.views[market_id].params
        return f"{self.symbol(p.collateral_token)}/{self.symbol(p.loan_token)}"

    def symbol(self, token: str) -> str:
        """A token's symbol (its address while unread)."""
        info = self.assets.get(token)
        return token if info is None else info.label

    def token(self, name: str) -> str | None:
        """A token by symbol (any case) or address."""
        for address, info in self.assets.items():
            if name.lower() in {address.lower(), (info.symbol or "").lower()}:
                return address
        return None


def _refuse_aave_options(args: argparse.Namespace) -> None:
    given = [o for o in REFUSED if getattr(args, o, None) is not None]
    if getattr(args, "price_rule", None):
        given.append("price_rule")
    if given:
        names = ", ".join("--" + o.replace("_", "-") for o in given)
        them = "them" if len(given) > 1 else "it"
        raise ConfigError(
            f"{names}: not available with protocol morpho_blue (its markets are isolated); "
            f"drop {them}"
        )


async def _load(settings: Settings) -> _Loaded:
    client, _, morpho = await connect(settings)
    try:
        market = MorphoLendingMarket(client, morpho, settings)
        await market.start()
        assets = await market.assets()
        return _Loaded(market.tracker, market.prices(), assets)
    finally:
        await client.close()


def _state(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> _Loaded:
    _refuse_aave_options(args)
    settings = settings_of(args)
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(_load(settings))


def _risk_row(s: _Loaded, r: PositionRisk) -> dict[str, Any]:
    return {
        "market": r.market_id,
        "label": s.label(r.market_id),
        "account": r.account,
        "health_factor": format_wad(r.health_factor),
        "price": str(r.price),
        "liquidation_price": str(r.liquidation_price),
        "drop_pct": f"{r.drop_bps / 100:.2f}",
        "debt": str(r.debt),
        "debt_usd": None if r.debt_base is None else format_base(r.debt_base),
    }


def cmd_radar(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> int:
    """``keeper radar`` on Morpho: each position's liquidation price, each market's curve."""
    s = _state(args, settings_of)
    risks = position_risks(s.views, s.positions, s.usd, s.decimals)
    rows = [_risk_row(s, r) for r in risks]
    curves = {m: curve(risks, v, args.max_drop) for m, v in sorted(s.views.items())}
    if args.format == "json":
        body = {
            "block": s.block,
            "timestamp": s.timestamp,
            "protocol": "morpho_blue",
            "positions": rows,
            "curves": {
                m: {"label": s.label(m), "points": [_point(p) for p in points]}
                for m, points in curves.items()
            },
        }
        print(json.dumps(body, indent=1))  # noqa: T201 - the CLI's output
    elif args.format == "csv":
        print(_csv(rows), end="")  # noqa: T201 - the CLI's output
    else:
        print(_radar_table(s, rows[: args.limit] if args.limit else rows, curves))  # noqa: T201
    return EXIT_OK


def _point(p: CurvePoint) -> dict[str, Any]:
    return {
        "drop_pct": p.drop_pct,
        "price": str(p.price),
        "positions": p.positions,
        "debt": str(p.debt),
        "debt_usd": None if p.debt_base is None else format_base(p.debt_base),
    }


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _radar_table(
    s: _Loaded, rows: list[dict[str, Any]], curves: dict[str, list[CurvePoint]]
) -> str:
    lines = [f"Morpho radar, block {s.block}: {len(rows)} positions, nearest first", ""]
    lines.append(
        f"{'market':<14} {'account':<42} {'health factor':<22} {'drop %':>8} {'debt USD':>16}"
    )
    lines.extend(
        f"{r['label']:<14} {r['account']:<42} {r['health_factor'][:20]:<22} "
        f"{r['drop_pct']:>8} {r['debt_usd'] or '-':>16}"
        for r in rows
    )
    lines += ["", "liquidatable debt (USD) by oracle price drop"]
    for market_id, points in curves.items():
        steps = [p for p in points if p.drop_pct % 10 == 0]
        cells = ", ".join(
            f"-{p.drop_pct}%: {'-' if p.debt_base is None else format_base(p.debt_base)}"
            for p in steps
        )
        lines.append(f"{s.label(market_id):<14} {cells}")
    return "\n".join(lines)


def cmd_stress(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> int:
    """``keeper stress`` on Morpho: the shocks' liquidations and bad debt, per market."""
    s = _state(args, settings_of)
    moves: dict[str, Decimal] = {}
    for name, pct in args.shock:
        token = s.token(name)
        if token is None:
            known = ", ".join(sorted(s.symbol(t) for t in s.assets))
            raise ConfigError(f"--shock: no token {name!r} in the followed markets ({known})")
        moves[token] = pct
    results = stress(s.views, s.positions, moves)
    rows = [_stress_row(s, r) for r in results]
    if args.format == "json":
        body = {"block": s.block, "protocol": "morpho_blue", "markets": rows}
        print(json.dumps(body, indent=1))  # noqa: T201 - the CLI's output
    elif args.format == "csv":
        print(_csv([{k: v for k, v in r.items() if k != "accounts"} for r in rows]), end="")  # noqa: T201
    else:
        shocks = ", ".join(f"{name} {pct}%" for name, pct in args.shock)
        lines = [f"Morpho stress, block {s.block}: {shocks}", ""]
        lines.append(
            f"{'market':<14} {'liquidated':>10} {'repaid':>24} {'seized':>24} {'bad debt':>20}"
        )
        lines.extend(
            f"{r['label']:<14} {r['liquidated']:>10} {r['repaid']:>24} {r['seized']:>24} "
            f"{r['bad_debt']:>20}"
            for r in rows
        )
        print("\n".join(lines))  # noqa: T201 - the CLI's output
    return EXIT_OK


def _stress_row(s: _Loaded, r: MarketStress) -> dict[str, Any]:
    p = s.views[r.market_id].params
    return {
        "market": r.market_id,
        "label": s.label(r.market_id),
        "price_before": str(r.price_before),
        "price_after": str(r.price_after),
        "positions": r.positions,
        "liquidated": r.liquidated,
        "repaid": _units(s, p.loan_token, r.repaid),
        "seized": _units(s, p.collateral_token, r.seized),
        "bad_debt": _units(s, p.loan_token, r.bad_debt),
        "bad_debt_positions": r.bad_debt_positions,
        "accounts": r.accounts,
    }


def _units(s: _Loaded, token: str, amount: int) -> str:
    """Token units as a decimal string with the token's decimals and symbol."""
    places = s.decimals.get(token)
    if places is None:
        return f"{amount} {token}"
    whole, frac = divmod(amount, 10**places)
    digits = f".{frac:0{places}d}" if places else ""
    return f"{whole}{digits} {s.symbol(token)}"
