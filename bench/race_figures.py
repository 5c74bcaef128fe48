"""What a race came to, read from the chain and the keepers' own logs.

Winners from the Pool's ``LiquidationCall`` events; reaction and cycle timings from each
keeper's JSON lines; the tip each keeper really paid per liquidation transaction from the
receipts (effective gas price minus the block's base fee), in integer wei.
"""

from __future__ import annotations

import itertools
import json
import statistics
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bench import world_cache
from keeper.protocols.aave_v3.market import POOL

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient
    from keeper.devnet.world import World

GWEI = 10**9


def lines(path: Path | None) -> list[dict[str, Any]]:
    """A keeper's JSON log lines (none for a keeper that did not run)."""
    if path is None:
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def stats(values: list[float]) -> dict[str, Any]:
    """n, p50, p95 and max of timings (ms)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


def count(entries: list[dict[str, Any]], event: str, key: str) -> dict[str, int]:
    """How many ``event`` lines per value of ``key``."""
    out: dict[str, int] = {}
    for e in entries:
        if e.get("event") == event:
            out[str(e.get(key))] = out.get(str(e.get(key)), 0) + 1
    return out


async def winners(
    client: ChainClient,
    world: World,
    opps: list[Any],
    first: int,
    aliases: dict[str, str] | None = None,
) -> None:
    """Each opportunity's winner: the liquidator of its account's first LiquidationCall.

    ``aliases``: more liquidator addresses (lower case) -> name (a keeper's own contract).
    """
    logs = await client.get_logs(
        address=world.market.pool,
        topics=[POOL.topic("LiquidationCall")],
        from_block=first,
        to_block=await client.block_number(),
    )
    events = []
    for entry in logs:
        decoded = POOL.decode_log(entry)
        if decoded is None:
            continue
        events.append(
            (
                int(entry["blockNumber"], 16),
                int(entry["logIndex"], 16),
                str(decoded[1]["user"]).lower(),
                str(decoded[1]["liquidator"]).lower(),
            )
        )
    events.sort()
    names = {
        world_cache.OURS_ADDRESS.lower(): "ours",
        world_cache.BASELINE_ADDRESS.lower(): "baseline",
        **(aliases or {}),
    }
    for opp in opps:
        for block, log_index, user, liquidator in events:
            if block > opp.shock_block and user == opp.account.lower():
                opp.winner, opp.block = names.get(liquidator, liquidator), block
                opp.log_index = log_index
                break


def reaction(
    entries: list[dict[str, Any]], shock_blocks: list[int], *, ours: bool
) -> dict[str, Any]:
    """Per shock: first broadcast after the cycle that saw the shock's block (ms)."""
    cycle_event, block_key = ("block_checked", "block") if ours else ("block", "block")
    cycles = [e for e in entries if e.get("event") == cycle_event]
    sends = [e for e in entries if e.get("event") == ("transaction_sent" if ours else "sent")]
    first_tx, first_liq = [], []
    for block in shock_blocks:
        cycle = next((c for c in cycles if int(c[block_key]) >= block), None)
        if cycle is None:
            continue
        seen = float(cycle["head_seen_at"])
        later = [s for s in sends if float(s["sent_at"]) >= seen and float(s["sent_at"]) < seen + 8]
        if later:
            first_tx.append(1000 * (float(later[0]["sent_at"]) - seen))
        liq = [s for s in later if not ours or s.get("purpose") == "liquidation"]
        if liq:
            first_liq.append(1000 * (float(liq[0]["sent_at"]) - seen))
    return {"first_tx_ms": stats(first_tx), "first_liquidation_ms": stats(first_liq)}


def approve_ms(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Time our executor spent approving (send + wait for the receipt) per attempt."""
    return stats(
        [
            float(e["timings_ms"]["approve"])
            for e in entries
            if e.get("event") == "liquidation_attempt"
            and isinstance(e.get("timings_ms"), dict)
            and "approve" in e["timings_ms"]
            and e.get("tx_hash")
        ]
    )


def _gwei(wei: int) -> str:
    return str((Decimal(wei) / GWEI).quantize(Decimal("0.001")))


async def tips_paid(client: ChainClient, hashes: list[str], budget_wei: int) -> dict[str, Any]:
    """The tip per gas each mined transaction paid above its block's base fee (integer wei).

    ``mean_wei`` is rounded down; the gwei figures are for reading.
    """
    receipts = await client.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    mined = [r for r in receipts if isinstance(r, dict)]
    blocks = sorted({r["blockNumber"] for r in mined})
    headers = await client.batch([("eth_getBlockByNumber", [b, False]) for b in blocks])
    base = {
        b: int(h.get("baseFeePerGas", "0x0"), 16)
        for b, h in zip(blocks, headers, strict=True)
        if isinstance(h, dict)
    }
    tips = [int(r["effectiveGasPrice"], 16) - base.get(r["blockNumber"], 0) for r in mined]
    if not tips:
        return {"n": 0, "budget_gwei": _gwei(budget_wei)}
    mean = sum(tips) // len(tips)
    return {
        "n": len(tips),
        "mean_wei": mean,
        "mean_gwei": _gwei(mean),
        "max_gwei": _gwei(max(tips)),
        "budget_gwei": _gwei(budget_wei),
        "mean_over_budget_bps": mean * 10_000 // budget_wei,
    }


def liquidation_hashes(entries: list[dict[str, Any]], *, ours: bool) -> list[str]:
    """The transactions of a keeper's liquidation attempts (the attempt that was mined)."""
    if ours:
        return [
            str(e["tx_hash"])
            for e in entries
            if e.get("event") == "liquidation_attempt" and e.get("tx_hash")
        ]
    return [str(e["tx_hash"]) for e in entries if e.get("event") == "mined"]


def bidding(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Our competition watch's work: rivals outbid, let go, and replacements sent to outbid."""
    return {
        "rivals_outbid": sum(1 for e in entries if e.get("event") == "rival_outbid"),
        "rivals_let_go": sum(1 for e in entries if e.get("event") == "rival_let_go"),
        "replacements_to_outbid": sum(
            1
            for e in entries
            if e.get("event") == "transaction_replaced" and e.get("why") == "outbid"
        ),
    }


def block_interval(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds between the blocks our keeper saw (its ``head_seen_at``), per block: mean, max."""
    seen = sorted(
        (int(e["block"]), float(e["head_seen_at"]))
        for e in entries
        if e.get("event") == "block_checked" and "head_seen_at" in e
    )
    gaps = [(t2 - t1) / (b2 - b1) for (b1, t1), (b2, t2) in itertools.pairwise(seen) if b2 > b1]
    if not gaps:
        return {"n": 0}
    span = (seen[-1][1] - seen[0][1]) / (seen[-1][0] - seen[0][0])
    return {"n": len(gaps), "mean_s": round(span, 2), "max_s": round(max(gaps), 2)}


def first_attempt_parts(entries: list[dict[str, Any]], shock_blocks: list[int]) -> dict[str, Any]:
    """Medians over the shocks of our first liquidation attempt's parts (ms).

    Its ``timings_ms``: detect, plan, simulate, send (where the reaction's time went).
    """
    attempts = [e for e in entries if e.get("event") == "liquidation_attempt"]
    parts: dict[str, list[float]] = {"detect": [], "plan": [], "simulate": [], "send": []}
    for block in shock_blocks:
        first = next((a for a in attempts if int(a.get("block", -1)) >= block), None)
        timings = {} if first is None else first.get("timings_ms") or {}
        for name, values in parts.items():
            if name in timings:
                values.append(float(timings[name]))
    return {n: round(statistics.median(v), 1) for n, v in parts.items() if v}
