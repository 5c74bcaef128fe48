"""What shadow mode's tests check a round against: the real liquidations, the verdict each
deserves from the chain's own data, and the shadow report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.world_cache import BASELINE_ADDRESS
from keeper.protocols.aave_v3.market import POOL
from tests.integration.helpers import (
    COMPETITOR,
)

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

ROOT = Path(__file__).resolve().parents[2]


async def real_liquidations(client: ChainClient, pool: str, since: int) -> list[dict[str, Any]]:
    logs = await client.get_logs(
        address=pool,
        topics=[POOL.topic("LiquidationCall")],
        from_block=since,
        to_block=await client.block_number(),
    )
    return [
        {"tx_hash": e["transactionHash"], "block": int(e["blockNumber"], 16), **decoded[1]}
        for e in logs
        if (decoded := POOL.decode_log(e)) is not None
    ]


def expected_verdict(row: dict[str, Any], base_fee: int, winner_tip: int) -> tuple[str, str] | None:
    """The verdict the rules give, recomputed from our recorded bid and the chain's data."""
    if row["plan_block"] is None:
        return None  # no plan: lost to a skip or missed; checked by the caller
    if row["fork_outcome"] != "liquidated":
        return "would_lose", "fork_reverted"
    landing = row["plan_block"] + 1
    assert row["real_block"] >= landing
    if row["real_block"] > landing:
        return "would_win", "earlier_block"
    if row["our_max_fee"] < base_fee:
        return "would_lose", "priced_out"
    ours = min(row["our_max_tip"], row["our_max_fee"] - base_fee)
    if ours > winner_tip:
        return "would_win", "higher_bid"
    return ("would_lose", "equal_bid") if ours == winner_tip else ("would_lose", "lower_bid")


def report(journal: Path, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    done = subprocess.run(
        [sys.executable, "-m", "keeper", "shadow-report", "--journal", str(journal), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def check_round(chain_data: dict[str, Any], rows: list[dict[str, Any]], result: Any) -> None:
    """Every real liquidation of the round has its row, winner and the right verdict."""
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["winner_tx"] is not None:
            by_tx.setdefault(row["winner_tx"], []).append(row)
    assert result["reals"], "the baseline liquidated nothing"
    for real in result["reals"]:
        matches = [r for r in by_tx.get(real["tx_hash"], []) if r["account"] == real["user"]]
        assert len(matches) == 1, (real, by_tx.get(real["tx_hash"]))
        row = matches[0]
        assert row["winner"] == real["liquidator"]
        assert real["liquidator"] == (
            COMPETITOR if real["tx_hash"] in result["sniped"] else BASELINE_ADDRESS
        )
        assert row["real_block"] == real["block"]
        base_fee, tip = chain_data[real["tx_hash"]]
        assert row["winner_tip"] == tip
        expected = expected_verdict(row, base_fee, tip)
        if real["tx_hash"] in result["sniped"]:
            # Liquidated in the very block that made it liquidatable: never a candidate.
            assert (row["verdict"], row["reason"]) == ("missed", "not_a_candidate"), row
        elif expected is None:
            assert row["verdict"] in ("would_lose", "missed"), row
        else:
            assert (row["verdict"], row["reason"]) == expected, row
        assert row["winner_profit_base"] is not None
