"""`keeper devnet up --protocol morpho_blue` as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from tests.integration.helpers import printed_json

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration
UP = (sys.executable, "-m", "keeper", "devnet", "up", "--protocol", "morpho_blue")


async def _follow(url: str, morpho: str, start: int) -> MorphoTracker:
    async with ChainClient(url, retry_s=0) as client:
        tracker = MorphoTracker(client, morpho, start_block=start)
        await tracker.start()
        return tracker


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}


def test_devnet_up_with_morpho_prints_its_markets_and_stops_on_signal() -> None:
    """It deploys Morpho with its markets (OracleMock and feed-priced ones) and borrowers,
    prints them as JSON; the keeper's tracker finds every market there and resolves the feeds
    behind the feed-priced oracles; SIGINT stops it with exit 0.
    """
    proc = subprocess.Popen(
        [*UP, "--borrowers", "12"],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = printed_json(proc, 120)
        tracker = asyncio.run(_follow(info["rpc_url"], info["morpho"], info["start_block"]))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert info["protocol"] == "morpho_blue" and info["borrowers"] == 12
    kinds = {m["label"]: m["oracle_kind"] for m in info["markets"]}
    assert kinds["WBTC/USDC"] == kinds["wstETH/USDC"] == "feed"
    assert kinds["WETH/USDC"] == "mock"
    assert {m["id"] for m in info["markets"]} == set(tracker.state.markets)
    resolved = {o for o, s in tracker.feeds.shapes.items() if s is not None}
    assert resolved == {m["oracle"] for m in info["markets"] if m["oracle_kind"] == "feed"}
    assert set(tracker.feeds.emitters.values()) == {
        f["aggregator"].lower() for f in info["feeds"].values()
    }
    assert info["funded_keeper_key"]


def test_devnet_up_with_morpho_refuses_a_snapshot(tmp_path: Path) -> None:
    """--snapshot is the Aave devnet's: with morpho_blue it exits 2 saying so."""
    done = subprocess.run(
        [*UP, "--snapshot", str(tmp_path / "s")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "--snapshot" in done.stderr
