"""The race's keepers as subprocesses: ours (``keeper run``) and the baseline bot, or ours alone.

Ours is configured through ``KEEPER_*`` variables as an operator runs it; ``tip_gwei`` sets a
fixed tip (``priority_fee_gwei``: the budget, or none for our default bidding); ``path`` its
inventory path: through our contract (``contract``, the default: the harness deploys it first)
or straight to the Pool (``direct``: ``inventory_direct``, the path before issue 18). The
baseline is ``python -m bench.baseline.bot``: at ``eth_gasPrice`` x 1.2 (``x1.2``), bidding a
share of its expected profit (``share``), a copy of our keeper with the baseline's key and the
same settings (``self``: another operator running the same software), or not run (``none``).
``warm`` (the race at 100k, on a node without the history: ``bench/world_lean.py``): ours and
the copy start from a checkpoint file (``checkpoint_source``), the baseline from a list of
borrowers known at the checkpoint's block.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from bench import world_cache
from keeper.localnode.anvil import CHAIN_ID, free_port

if TYPE_CHECKING:
    from keeper.devnet.world import World

ROOT = Path(__file__).resolve().parents[1]
TIP_BUDGET_GWEI = "3"  # max_priority_fee_gwei of both keepers
BaselineMode = Literal["x1.2", "share", "self", "none"]
InventoryPath = Literal["contract", "direct"]


@dataclass(frozen=True)
class Contest:
    """Who races: our tip setting and the baseline's way of bidding."""

    tip_gwei: str | None = None  # ours: a fixed tip; None: the bidding policy (the default)
    baseline: BaselineMode = "x1.2"
    baseline_share_bps: int = 5_000
    path: InventoryPath = "contract"  # ours (and the copy of ours): through our contract or not


@dataclass(frozen=True)
class Warm:
    """A warm start: our checkpoint, and the baseline's borrowers known at ``block``."""

    checkpoint: Path
    borrowers: Path
    block: int


@dataclass
class Keepers:
    """The running keepers and their log files."""

    ours: subprocess.Popen[bytes]
    baseline: subprocess.Popen[bytes] | None
    ours_log: Path
    baseline_log: Path | None
    ops_port: int
    files: list[IO[bytes]] = field(default_factory=list)
    baseline_is_ours: bool = False  # the baseline is a copy of our keeper (its log is ours)

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        """Every running process."""
        return [self.ours] + ([self.baseline] if self.baseline is not None else [])


def _ours_env(
    world: World,
    url: str,
    tmp: Path,
    ops_port: int,
    contest: Contest,
    *,
    key: str = world_cache.OURS_KEY,
    contract: str | None = None,
    warm: Warm | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    name = "ours" if key == world_cache.OURS_KEY else "copy"
    ours_env = env | {
        "KEEPER_RPC_URL": url,
        "KEEPER_POOL_ADDRESSES_PROVIDER": world.market.pool_addresses_provider,
        "KEEPER_PRIVATE_KEY": key,
        "KEEPER_CHAIN_ID": str(CHAIN_ID),
        "KEEPER_POLL_INTERVAL_S": "0.1",
        "KEEPER_MIN_PROFIT_USD": "1",
        "KEEPER_MAX_PRIORITY_FEE_GWEI": TIP_BUDGET_GWEI,
        "KEEPER_MAX_FEE_GWEI": "500",
        "KEEPER_JOURNAL_PATH": str(tmp / f"journal-{name}.sqlite"),
        "KEEPER_OPS_PORT": str(ops_port),
        # A race loses on purpose; the failures breaker would pause sending after 3 in a row.
        "KEEPER_BREAKER_MAX_CONSECUTIVE_FAILURES": "1000000",
        # The cached world's feeds were last set when it was built (maybe hours ago); the
        # baseline has no staleness check, so neither does ours here.
        "KEEPER_ORACLE_HEARTBEAT_S": str(30 * 86_400),
        "KEEPER_BREAKER_MAX_HEAD_LAG_S": "0",
    }
    if warm is not None:
        ours_env["KEEPER_CHECKPOINT_SOURCE"] = str(warm.checkpoint)
    if contest.tip_gwei is not None:
        ours_env["KEEPER_PRIORITY_FEE_GWEI"] = contest.tip_gwei
    if contest.path == "direct" or contract is None:
        ours_env["KEEPER_INVENTORY_DIRECT"] = "true"
    else:
        ours_env["KEEPER_FLASH_LIQUIDATOR"] = contract
    return ours_env


def _keeper_proc(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "keeper", "run", "--log-format", "json"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return proc, out


def start(
    world: World,
    url: str,
    tmp: Path,
    contest: Contest,
    contracts: dict[str, str] | None = None,
    warm: Warm | None = None,
) -> Keepers:
    """Start our keeper and, unless alone, the baseline, logging to files in ``tmp``.

    ``contracts``: each keeper address's contract of ours (the contract path); ``warm``: both
    start from it instead of the Pool's events since block 0.
    """
    contracts = contracts or {}
    ops_port = free_port()
    ours_log = tmp / "ours.log"
    ours, ours_out = _keeper_proc(
        _ours_env(
            world,
            url,
            tmp,
            ops_port,
            contest,
            contract=contracts.get(world_cache.OURS_ADDRESS),
            warm=warm,
        ),
        ours_log,
    )
    keepers = Keepers(ours, None, ours_log, None, ops_port, [ours_out])
    if contest.baseline == "none":
        return keepers
    if contest.baseline == "self":
        keepers.baseline_log = tmp / "copy.log"
        env = _ours_env(
            world,
            url,
            tmp,
            free_port(),
            contest,
            key=world_cache.BASELINE_KEY,
            contract=contracts.get(world_cache.BASELINE_ADDRESS),
            warm=warm,
        )
        keepers.baseline, out = _keeper_proc(env, keepers.baseline_log)
        keepers.files.append(out)
        keepers.baseline_is_ours = True
        return keepers
    args = [
        "--rpc-url",
        url,
        "--provider",
        world.market.pool_addresses_provider,
        "--poll-interval-s",
        "0.1",
        "--max-priority-fee-gwei",
        TIP_BUDGET_GWEI,
        "--max-fee-gwei",
        "500",
    ]
    if warm is not None:
        args += ["--borrowers", str(warm.borrowers), "--from-block", str(warm.block)]
    if contest.baseline == "share":
        args += [
            "--bid-share-bps",
            str(contest.baseline_share_bps),
            "--native-asset",
            world.asset("WETH").address,
        ]
    keepers.baseline_log = tmp / "baseline.log"
    base_out = keepers.baseline_log.open("wb")
    keepers.files.append(base_out)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    keepers.baseline = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline.bot", *args],
        env=env | {"BASELINE_PRIVATE_KEY": world_cache.BASELINE_KEY},
        stdout=base_out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return keepers


def stop(keepers: Keepers) -> None:
    """SIGTERM, then a kill after 30 s; the log files closed."""
    for proc in keepers.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in keepers.procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for fh in keepers.files:
        fh.close()
