"""The ``keeper`` command: run, scan, radar, stress, shadow-report, demo, devnet up and shock.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import structlog

from keeper import __version__
from keeper.cli_deploy import add_deploy_parser, run_deploy
from keeper.core.display import parse_wad
from keeper.errors import ConfigError, KeeperError
from keeper.ops.logging import configure_logging
from keeper.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from keeper.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
# The devnet's PoolAddressesProvider: the first contract Anvil's account 0 deploys, so the same
# on every fresh devnet (checked by a test).
DEVNET_PROVIDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _wad(text: str) -> int:
    try:
        return parse_wad(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}: {value}")
        return value

    return parse


def _market_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, help="TOML settings file (keys as KEEPER_* in lower case)"
    )
    p.add_argument("--rpc-url", help="node URL (prefer KEEPER_RPC_URL: URLs may hold API keys)")
    p.add_argument("--pool-addresses-provider", help="the market's PoolAddressesProvider")
    p.add_argument("--protocol", choices=["aave_v3", "morpho_blue"], help="the lending protocol")
    p.add_argument("--morpho", help="the Morpho Blue contract (with --protocol morpho_blue)")
    p.add_argument("--start-block", type=int, help="first block of borrower discovery")
    p.add_argument("--log-format", choices=["auto", "json", "console"])
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="keeper", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"keeper {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="follow the chain and liquidate unhealthy accounts")
    _market_options(run)
    run.add_argument("--dry-run", action="store_true", default=None, help="plan, never send")

    scan = sub.add_parser("scan", help="print accounts below a health factor as JSON lines")
    _market_options(scan)
    scan.add_argument("--below", type=_wad, default=10**18, help="health factor bound (default 1)")
    scan.add_argument(
        "--verify",
        action="store_true",
        help="also read getUserAccountData for every account; exit 1 on a difference",
    )

    from keeper.risk.command import add_risk_parsers  # noqa: PLC0415 - a small module

    add_risk_parsers(sub, _market_options, _bounded_int)

    from keeper.shadow.command import add_report_parser  # noqa: PLC0415 - a small module

    add_report_parser(sub, _bounded_int(0, 2**63))

    demo = sub.add_parser("demo", help="devnet + borrowers + price shock + keeper, end to end")
    demo.add_argument("--borrowers", type=int, default=60)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--asset", default="WETH", help="asset whose price drops")
    demo.add_argument("--pct", type=_decimal, default=Decimal(-30), help="price move in percent")
    _aave_option(demo)
    demo.add_argument(
        "--protocol",
        choices=["aave_v3", "morpho_blue"],
        default="aave_v3",
        help="the lending protocol of the demo (morpho_blue: flash mode, zero capital)",
    )

    check = sub.add_parser(
        "check-config", help="validate, connect, check the chain; print settings (redacted)"
    )
    _market_options(check)

    add_deploy_parser(sub, _market_options)

    devnet = sub.add_parser(
        "devnet", help="a local Anvil chain with a real Aave V3 or Morpho market"
    )
    dsub = devnet.add_subparsers(dest="devnet_command", required=True)
    up = dsub.add_parser("up", help="start, deploy, print addresses, run until Ctrl-C")
    up.add_argument("--borrowers", type=int, default=60)
    up.add_argument("--seed", type=int, default=7)
    up.add_argument("--port", type=int, default=0, help="fixed port (default: a free one)")
    up.add_argument("--block-time", type=float, help="seconds per block (default: automine)")
    up.add_argument(
        "--snapshot",
        type=Path,
        help="folder with world.json + state.gz: loaded if present, else written",
    )
    up.add_argument(
        "--fund", default=None, help="address to fund with tokens (default: Anvil account 1)"
    )
    _aave_option(up)
    up.add_argument(
        "--protocol",
        choices=["aave_v3", "morpho_blue"],
        default="aave_v3",
        help="the devnet's lending protocol: an Aave V3 market (default) or Morpho Blue 1.0.0 "
        "with its markets (no --snapshot)",
    )
    shock = dsub.add_parser("shock", help="move an asset's price feed on a devnet")
    shock.add_argument("--rpc-url", required=True)
    shock.add_argument("--asset", required=True, help="reserve symbol, e.g. WETH")
    shock.add_argument("--pct", type=_decimal, required=True, help="e.g. -30")
    shock.add_argument("--pool-addresses-provider", default=DEVNET_PROVIDER)
    return parser


def _aave_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--aave",
        choices=("3.0", "3.6"),
        default="3.6",
        help="market version: 3.6 compiled from aave-v3-origin 3.6.0 (default), or 3.0 from "
        "@aave/core-v3 1.19.3; a --snapshot keeps the version it was made with",
    )


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return load_settings(
        args.config,
        rpc_url=args.rpc_url,
        pool_addresses_provider=args.pool_addresses_provider,
        protocol=getattr(args, "protocol", None),
        morpho=getattr(args, "morpho", None),
        start_block=args.start_block,
        log_format=args.log_format,
        log_level=args.log_level,
        **extra,
    )


async def _until_signal(work: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``work(stop)``; SIGINT/SIGTERM set ``stop``, a second signal cancels at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set() and task is not None:
            task.cancel()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await work(stop)


def _cmd_run(args: argparse.Namespace) -> int:
    from keeper.app import run_keeper  # noqa: PLC0415 - keep `keeper --help` fast

    settings = _settings(args, dry_run=args.dry_run)
    if settings.dry_run:
        from keeper.shadow.anvil import find_anvil  # noqa: PLC0415

        find_anvil()  # shadow mode without Anvil: exit 2 now, before any connection
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_until_signal(lambda stop: run_keeper(settings, stop)))
    except asyncio.CancelledError:
        structlog.get_logger("keeper").warning("forced_exit", reason="second signal")
        return EXIT_INTERRUPTED
    return EXIT_OK


def _cmd_shadow_report(args: argparse.Namespace) -> int:
    from keeper.shadow.command import shadow_report  # noqa: PLC0415

    print(shadow_report(args), end="")
    return EXIT_OK


def _cmd_scan_morpho(args: argparse.Namespace, settings: Settings) -> int:
    from keeper.protocols.morpho_blue.scan import scan  # noqa: PLC0415

    result = asyncio.run(scan(settings, args.below, verify=args.verify))
    for row in result.rows:
        print(json.dumps(row.as_json()))
    logger = structlog.get_logger("keeper")
    if result.unreadable:
        logger.error("scan_incomplete", block=result.block, unpriced_markets=result.unreadable)
        return EXIT_FAILURE
    if args.verify:
        logger.info(
            "scan_verified",
            block=result.block,
            accounts=result.accounts,
            mismatches=result.mismatches,
            unverified=len(result.unverified),
        )
        if result.mismatches or result.unverified:
            return EXIT_FAILURE
    return EXIT_OK


def _cmd_scan(args: argparse.Namespace) -> int:
    from keeper.protocols.aave_v3.scan import scan  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.protocol == "morpho_blue":
        return _cmd_scan_morpho(args, settings)
    result = asyncio.run(scan(settings, args.below, verify=args.verify))
    for row in result.rows:
        print(json.dumps(row.as_json()))
    logger = structlog.get_logger("keeper")
    if result.unreadable:
        logger.error("scan_incomplete", block=result.block, unreadable=len(result.unreadable))
        return EXIT_FAILURE
    if args.verify:
        logger.info(
            "scan_verified",
            block=result.block,
            accounts=result.accounts,
            mismatches=result.mismatches,
            unverified=len(result.unverified),
        )
        if result.mismatches or result.unverified:
            return EXIT_FAILURE
    return EXIT_OK


def _morpho_risk(args: argparse.Namespace) -> bool:
    """True when radar or stress run on Morpho Blue (read live: no snapshot format for it)."""
    return args.snapshot is None and _settings(args).protocol == "morpho_blue"


def _cmd_radar(args: argparse.Namespace) -> int:
    if _morpho_risk(args):
        from keeper.protocols.morpho_blue.risk_command import cmd_radar as morpho  # noqa: PLC0415

        return morpho(args, _settings)
    from keeper.risk.command import cmd_radar  # noqa: PLC0415

    return cmd_radar(args, _settings)


def _cmd_stress(args: argparse.Namespace) -> int:
    if _morpho_risk(args):
        from keeper.protocols.morpho_blue.risk_command import cmd_stress as morpho  # noqa: PLC0415

        return morpho(args, _settings)
    from keeper.risk.command import cmd_stress  # noqa: PLC0415

    return cmd_stress(args, _settings)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from keeper.checks import check_config  # noqa: PLC0415

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    print(json.dumps(asyncio.run(check_config(settings)), indent=2))
    return EXIT_OK


def _cmd_deploy_liquidator(args: argparse.Namespace) -> int:
    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    return run_deploy(settings, args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from keeper.demo import run_demo  # noqa: PLC0415

    configure_logging("warning", "auto")
    return run_demo(
        args.borrowers,
        args.seed,
        args.asset,
        args.pct,
        lambda line: print(line, flush=True),
        aave=args.aave,
        protocol=args.protocol,
    )


def _cmd_devnet_up(args: argparse.Namespace) -> int:
    from keeper.devnet.up import devnet_up  # noqa: PLC0415

    configure_logging("info", "auto")
    return devnet_up(
        borrowers=args.borrowers,
        seed=args.seed,
        port=args.port,
        block_time=args.block_time,
        snapshot=args.snapshot,
        fund=args.fund,
        aave=args.aave,
        protocol=args.protocol,
        show=lambda info: print(json.dumps(info, indent=2), flush=True),
    )


def _cmd_devnet_shock(args: argparse.Namespace) -> int:
    from keeper.chain.client import ChainClient  # noqa: PLC0415
    from keeper.devnet.scenarios import shock_price  # noqa: PLC0415

    async def go() -> None:
        async with ChainClient(args.rpc_url) as client:
            shock = await shock_price(client, args.pool_addresses_provider, args.asset, args.pct)
        print(
            json.dumps(
                {
                    "asset": shock.symbol,
                    "address": shock.asset,
                    "feed": shock.feed,
                    "old_answer": shock.old_answer,
                    "new_answer": shock.new_answer,
                    "block": shock.block,
                }
            )
        )

    asyncio.run(go())
    return EXIT_OK


def _fail(code: int, message: str) -> NoReturn:
    print(f"keeper: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``keeper`` console script."""
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": _cmd_run,
        "scan": _cmd_scan,
        "shadow-report": _cmd_shadow_report,
        "radar": _cmd_radar,
        "stress": _cmd_stress,
        "demo": _cmd_demo,
        "deploy-liquidator": _cmd_deploy_liquidator,
        "check-config": _cmd_check_config,
        "devnet:up": _cmd_devnet_up,
        "devnet:shock": _cmd_devnet_shock,
    }
    key = args.command if args.command != "devnet" else f"devnet:{args.devnet_command}"
    started = time.monotonic()
    try:
        return handlers[key](args)
    except ConfigError as exc:
        _fail(EXIT_CONFIG, str(exc))
    except KeeperError as exc:
        _fail(EXIT_FAILURE, f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        print(f"keeper: interrupted after {time.monotonic() - started:.1f}s", file=sys.stderr)
        return EXIT_INTERRUPTED
