"""The ``keeper shadow-report`` command's options and body (the CLI only dispatches here)."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keeper.errors import ConfigError
from keeper.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

_UNITS = {"m": 60, "h": 3600, "d": 86_400}


def moment(text: str) -> float:
    """Epoch seconds from an ISO 8601 time (UTC unless it says) or a duration ago (30m, 24h)."""
    if text[-1:] in _UNITS and text[:-1].isdigit():
        return time.time() - int(text[:-1]) * _UNITS[text[-1]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601 like 2026-12-01T09:00, or 30m, 24h, 7d)"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def add_report_parser(sub: Any, block: Callable[[str], int]) -> None:
    """The ``shadow-report`` subcommand on the CLI's subparsers."""
    p = sub.add_parser(
        "shadow-report",
        help="what shadow mode (dry run) would have won, against the real liquidators",
    )
    p.add_argument(
        "--config", type=Path, help="TOML settings file (its journal_path locates the journal)"
    )
    p.add_argument(
        "--journal", type=Path, help="the shadow journal (default: <journal_path>.dry-run)"
    )
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--from-block", type=block, help="first block of the period")
    p.add_argument("--to-block", type=block, help="last block of the period")
    p.add_argument(
        "--since", type=moment, help="rows recorded at or after: ISO time or a duration (24h)"
    )
    p.add_argument("--until", type=moment, help="rows recorded at or before (same forms)")


def shadow_report(args: argparse.Namespace) -> str:
    """The report's text; ConfigError (exit 2) when there is no shadow journal to read."""
    # Imported here: the parser above is built for every `keeper` command, even `--help`.
    from keeper.shadow import report  # noqa: PLC0415
    from keeper.shadow.ledger import ShadowLedger  # noqa: PLC0415
    from keeper.shadow.mode import shadow_journal_path  # noqa: PLC0415

    if args.journal is not None:
        path = Path(args.journal)
    else:
        path = Path(shadow_journal_path(load_settings(args.config)))
    if not path.is_file():
        raise ConfigError(
            f"--journal: no shadow journal at {path}; run `keeper run --dry-run` first, or pass "
            "--journal (or the --config whose journal_path the run used)"
        )
    ledger = ShadowLedger(path)
    try:
        rows = ledger.rows(
            from_block=args.from_block, to_block=args.to_block, since=args.since, until=args.until
        )
    finally:
        ledger.close()
    if args.format == "json":
        return report.render_json(rows) + "\n"
    if args.format == "csv":
        return report.render_csv(rows)
    return report.render_table(rows) + "\n"
