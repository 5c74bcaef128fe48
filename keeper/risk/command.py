"""The ``keeper radar`` and ``keeper stress`` commands: options and bodies (the CLI dispatches)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keeper.errors import ConfigError
from keeper.ops.logging import configure_logging

if TYPE_CHECKING:
    from collections.abc import Callable
    from fractions import Fraction

    from keeper.risk.market import MarketState
    from keeper.settings import Settings

EXIT_OK = 0


def _shock(text: str) -> tuple[str, Decimal]:
    from keeper.risk.shock import parse_shock  # noqa: PLC0415 - keep `keeper --help` fast

    try:
        return parse_shock(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rule(text: str) -> tuple[str, Fraction | None]:
    from keeper.risk.pricing import parse_rule  # noqa: PLC0415

    try:
        return parse_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> Fraction:
    from keeper.risk.pricing import parse_share  # noqa: PLC0415

    try:
        return parse_share(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def add_risk_parsers(
    sub: Any,
    market_options: Callable[[argparse.ArgumentParser], None],
    bounded_int: Callable[[int, int], Callable[[str], int]],
) -> None:
    """The ``radar`` and ``stress`` subcommands on the CLI's subparsers."""
    radar = sub.add_parser(
        "radar", help="health, liquidation prices and liquidatable debt per price drop"
    )
    _risk_options(radar, market_options, bounded_int)
    radar.add_argument(
        "--limit", type=bounded_int(1, 10**9), help="table: show only the nearest N accounts"
    )
    radar.add_argument(
        "--method",
        choices=["solve", "bisect"],
        default="solve",
        help="solve each liquidation price in integers (default) or bisect (the reference)",
    )
    stress = sub.add_parser(
        "stress", help="apply price shocks: liquidations, bad debt, then the cascade"
    )
    _risk_options(stress, market_options, bounded_int)
    stress.add_argument(
        "--shock",
        type=_shock,
        action="append",
        required=True,
        metavar="ASSET=PCT",
        help="a price move, e.g. WETH=-20%% (repeat for more assets)",
    )
    stress.add_argument(
        "--rounds", type=bounded_int(1, 1000), default=20, help="cascade round cap (default 20)"
    )
    stress.add_argument(
        "--quote",
        metavar="ASSET",
        help="what seized collateral is sold for (default: the most borrowed reserve that is "
        "not shocked)",
    )
    stress.add_argument(
        "--dex-depth-usd",
        type=_positive_decimal,
        default=Decimal(10_000_000),
        help="per side of the constant-product pool used where no Uniswap V3 pool is "
        "configured (default 10000000)",
    )
    stress.add_argument(
        "--pass-through",
        type=_share,
        metavar="SHARE",
        help="share (0 to 1) of its pool's move a volatile asset's oracle price follows "
        "(default 1: all of it)",
    )
    stress.add_argument(
        "--price-rule",
        type=_rule,
        action="append",
        default=[],
        metavar="ASSET=peg|SHARE",
        help="one asset's behaviour: peg (holds its price) or its pass-through share; "
        "stablecoins (oracle price within 1%% of 1) are pegged unless given here (repeat)",
    )


def _risk_options(
    p: argparse.ArgumentParser,
    market_options: Callable[[argparse.ArgumentParser], None],
    bounded_int: Callable[[int, int], Callable[[str], int]],
) -> None:
    """What `radar` and `stress` share: the market, where its state comes from, the output."""
    market_options(p)
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--snapshot",
        type=Path,
        metavar="FILE",
        help="read the market from FILE (written by --save-snapshot)",
    )
    source.add_argument(
        "--save-snapshot", type=Path, metavar="FILE", help="also save the live market state to FILE"
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument(
        "--max-drop",
        type=bounded_int(1, 99),
        default=50,
        help="last step of the liquidatable-debt curve, in %% of price drop (default 50)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="also draw the curves and health factors to FILE.png",
    )


def _risk_state(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> MarketState:
    """The market from ``--snapshot``, or live from the node (saved with ``--save-snapshot``)."""
    from keeper.risk import snapshot  # noqa: PLC0415
    from keeper.risk.plots import require_matplotlib  # noqa: PLC0415

    if args.plot is not None:
        require_matplotlib()  # fail before a long backfill, not after it
    if args.snapshot is not None:
        configure_logging(args.log_level or "info", args.log_format or "auto")
        return snapshot.load(args.snapshot)
    from keeper.risk.live import load_state  # noqa: PLC0415 - the node's stack, live only

    settings = settings_of(args)
    configure_logging(settings.log_level, settings.log_format)
    state = asyncio.run(load_state(settings))
    if args.save_snapshot is not None:
        try:
            snapshot.save(state, args.save_snapshot)
        except OSError as exc:
            raise ConfigError(
                f"--save-snapshot: cannot write {args.save_snapshot}: {exc.strerror}"
            ) from None
    return state


def _write_plot(path: Path, png: bytes) -> None:
    try:
        path.write_bytes(png)
    except OSError as exc:
        raise ConfigError(f"--plot: cannot write {path}: {exc.strerror}") from None
    print(f"keeper: plot written to {path}", file=sys.stderr)  # noqa: T201 - the CLI's output


def cmd_radar(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> int:
    """``keeper radar``."""
    from keeper.gc_pacing import IdleCollector  # noqa: PLC0415
    from keeper.risk import render  # noqa: PLC0415
    from keeper.risk.plots import PlotData, render_png  # noqa: PLC0415
    from keeper.risk.radar import radar  # noqa: PLC0415

    state = _risk_state(args, settings_of)
    with IdleCollector():  # no cyclic collection over 100k accounts' objects mid-computation
        result = radar(
            state.accounts,
            state.view(),
            state.assets(),
            args.max_drop,
            reserves=state.reserves,
            method=args.method,
        )
    if args.format == "json":
        text = render.radar_json(state, result)
    elif args.format == "csv":
        text = render.radar_csv(state, result)
    else:
        text = render.radar_table(state, result, args.limit)
    _print(text, args.format)
    if args.plot is not None:
        data = PlotData(
            title=f"Liquidation radar, block {state.block}",
            curves={state.symbol(a): pts for a, pts in result.curves.items()},
            health=[("now", result.health_factors())],
            base_unit=state.base_unit,
        )
        _write_plot(args.plot, render_png(data))
    return EXIT_OK


def _print(text: str, fmt: str) -> None:
    print(text, end="" if fmt == "csv" else "\n")  # noqa: T201 - the CLI's output


def cmd_stress(
    args: argparse.Namespace, settings_of: Callable[[argparse.Namespace], Settings]
) -> int:
    """``keeper stress``."""
    from keeper.gc_pacing import IdleCollector  # noqa: PLC0415
    from keeper.risk import render_stress  # noqa: PLC0415
    from keeper.risk.amm import build_sides  # noqa: PLC0415
    from keeper.risk.cascade import run_cascade  # noqa: PLC0415
    from keeper.risk.pricing import DEFAULT_PASS_THROUGH, price_rules  # noqa: PLC0415
    from keeper.risk.shock import shocked_price  # noqa: PLC0415

    state = _risk_state(args, settings_of)
    pcts: dict[str, Decimal] = {}
    for name, pct in args.shock:
        pcts[_asset(state, name, "--shock")] = pct
    quote = _quote(state, args.quote, pcts)
    configured = {_asset(state, name, "--price-rule"): share for name, share in args.price_rule}
    shocked = {a: shocked_price(state.prices[a], p) for a, p in pcts.items()}
    with IdleCollector():  # no cyclic collection over 100k accounts' objects mid-computation
        sides = build_sides(state, quote, int(args.dex_depth_usd * state.base_unit))
        share = DEFAULT_PASS_THROUGH if args.pass_through is None else args.pass_through
        rules = price_rules(state, quote, configured, share)
        cascade = run_cascade(state, shocked, sides, args.rounds, rules)
        dex = {a: side.source for a, side in sides.items()}
        if args.format == "json":
            text = render_stress.stress_json(state, shocked, pcts, cascade, quote, dex)
        elif args.format == "csv":
            text = render_stress.stress_csv(state, cascade)
        else:
            text = render_stress.stress_table(state, shocked, pcts, cascade, quote, dex)
    _print(text, args.format)
    if args.plot is not None:
        _stress_plot(args, state, shocked, pcts, cascade, quote)
    return EXIT_OK


def _asset(state: MarketState, name: str, option: str) -> str:
    asset = state.asset(name)
    if asset is None:
        known = ", ".join(state.symbol(a) for a in state.assets())
        raise ConfigError(f"{option}: no reserve {name!r} in this market (reserves: {known})")
    return asset


def _quote(state: MarketState, name: str | None, pcts: dict[str, Decimal]) -> str:
    from keeper.risk.cascade import default_quote  # noqa: PLC0415

    if name is None:
        return default_quote(state, pcts)
    found = state.asset(name)
    if found is None:
        raise ConfigError(f"--quote: no reserve {name!r} in this market")
    return found


def _stress_plot(
    args: argparse.Namespace,
    state: MarketState,
    shocked: dict[str, int],
    pcts: dict[str, Decimal],
    cascade: Any,
    quote: str,
) -> None:
    from keeper.protocols.aave_v3.health import account_data  # noqa: PLC0415
    from keeper.risk.plots import PlotData, render_png  # noqa: PLC0415
    from keeper.risk.radar import radar  # noqa: PLC0415
    from keeper.risk.render import change_pct  # noqa: PLC0415

    before, after = state.view(), state.view({**state.prices, **shocked})
    with_debt = [a for a in state.accounts.values() if account_data(a, before).total_debt_base > 0]
    moves = ", ".join(f"{state.symbol(a)} {p}%" for a, p in pcts.items())
    curves = radar(state.accounts, before, state.assets(), args.max_drop).curves
    data = PlotData(
        title=f"Stress test, block {state.block}: {moves}",
        curves={state.symbol(a): pts for a, pts in curves.items()},
        health=[
            ("before the shock", [account_data(a, before).health_factor for a in with_debt]),
            ("after the shock", [account_data(a, after).health_factor for a in with_debt]),
        ],
        base_unit=state.base_unit,
        price_paths={
            state.symbol(a) + (" (quote, held)" if a == quote else ""): [
                float(change_pct(r.prices[a], state.prices[a])) for r in cascade.rounds
            ]
            for a in state.assets()
        },
    )
    _write_plot(args.plot, render_png(data))


__all__ = ["add_risk_parsers", "cmd_radar", "cmd_stress"]
