"""Head-to-head race: our keeper against the baseline bot, on a devnet with 1 s blocks.

    python bench/race.py 1000 [--shocks 20]
prints one JSON line (see bench/README.md for every field).

Both keepers run as subprocesses against the same Anvil (interval mining, one block a second),
loaded from a cached world of N borrowers (bench/world_cache.py), with the same inventory and the
same tip cap: ours is ``keeper run`` configured through ``KEEPER_*`` variables, the baseline is
``python -m bench.baseline.bot``. Both poll the head every 100 ms over HTTP.

1. Quiet window: a few blocks without price moves; our keeper's RPC requests per block from its
   ``/metrics`` (``keeper_rpc_latency_seconds_count``, a batch counts as one request) and the
   baseline's from its own counter.
2. Shocks: the harness keeps its own copy of the exact health engine (``MarketMonitor``) and, for
   each shock, picks the smallest fall of WETH's or WBTC's feed (alternating) that makes at least
   two more accounts liquidatable; when a feed has fallen too far it is restored first. Each
   opportunity is confirmed on chain (``getUserAccountData`` below 1 at the shock's block, not at
   the block before). After the shock the harness waits until every opportunity is liquidated
   (or 10 blocks) and both keepers' nonces are quiet.
3. Winners: the ``liquidator`` of the first ``LiquidationCall`` of each opportunity's account
   after the shock. Reaction: from each keeper's own log lines, the broadcast time of its first
   transaction after the shock minus the time its cycle saw the shock's block.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench import world_cache
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import CHAIN_ID, Anvil, AnvilOptions, free_port
from keeper.protocols.aave_v3.market import POOL, resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.reads import read_account_data
from keeper.settings import load_settings

if TYPE_CHECKING:
    from keeper.devnet.world import World
    from keeper.risk.engine import HealthEngine

WAD = 10**18
ROOT = Path(__file__).resolve().parents[1]
ASSETS = ("WETH", "WBTC")
MIN_NEW = 2  # opportunities per shock (at least)
STEP_BPS = 5
COARSE_BPS = 50
MAX_FALL_BPS = 2_500  # per shock
RESTORE_BELOW = Decimal("0.70")  # restore a feed that has fallen under 70% of its start
RESOLVE_BLOCKS = 10
QUIET_BLOCKS = 8


@dataclass
class Opportunity:
    """An account made liquidatable by one shock."""

    account: str
    shock_block: int
    winner: str = "none"
    block: int | None = None
    log_index: int = 0


@dataclass
class Keepers:
    """The two running keepers and their log files."""

    ours: subprocess.Popen[bytes]
    baseline: subprocess.Popen[bytes]
    ours_log: Path
    baseline_log: Path
    ops_port: int
    files: list[IO[bytes]] = field(default_factory=list)


def _start(world: World, url: str, tmp: Path, tip_gwei: str | None) -> Keepers:
    ops_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    ours_env = env | {
        "KEEPER_RPC_URL": url,
        "KEEPER_POOL_ADDRESSES_PROVIDER": world.market.pool_addresses_provider,
        "KEEPER_PRIVATE_KEY": world_cache.OURS_KEY,
        "KEEPER_CHAIN_ID": str(CHAIN_ID),
        "KEEPER_POLL_INTERVAL_S": "0.1",
        "KEEPER_MIN_PROFIT_USD": "1",
        "KEEPER_MAX_PRIORITY_FEE_GWEI": "3",
        "KEEPER_MAX_FEE_GWEI": "500",
        "KEEPER_JOURNAL_PATH": str(tmp / "journal.sqlite"),
        "KEEPER_OPS_PORT": str(ops_port),
        # A race loses on purpose; the failures breaker would pause sending after 3 in a row.
        "KEEPER_BREAKER_MAX_CONSECUTIVE_FAILURES": "1000000",
        # The cached world's feeds were last set when it was built (maybe hours ago); the
        # baseline has no staleness check, so neither does ours here.
        "KEEPER_ORACLE_HEARTBEAT_S": str(30 * 86_400),
        "KEEPER_BREAKER_MAX_HEAD_LAG_S": "0",
    }
    if tip_gwei is not None:
        ours_env["KEEPER_PRIORITY_FEE_GWEI"] = tip_gwei
    ours_log, baseline_log = tmp / "ours.log", tmp / "baseline.log"
    ours_out, base_out = ours_log.open("wb"), baseline_log.open("wb")
    ours = subprocess.Popen(
        [sys.executable, "-m", "keeper", "run", "--log-format", "json"],
        env=ours_env,
        stdout=ours_out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    baseline = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline.bot",
            "--rpc-url",
            url,
            "--provider",
            world.market.pool_addresses_provider,
            "--poll-interval-s",
            "0.1",
            "--max-priority-fee-gwei",
            "3",
            "--max-fee-gwei",
            "500",
        ],
        env=env | {"BASELINE_PRIVATE_KEY": world_cache.BASELINE_KEY},
        stdout=base_out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    return Keepers(ours, baseline, ours_log, baseline_log, ops_port, [ours_out, base_out])


def _stop(keepers: Keepers) -> None:
    for proc in (keepers.ours, keepers.baseline):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in (keepers.ours, keepers.baseline):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for fh in keepers.files:
        fh.close()


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


async def _ready(keepers: Keepers, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in (keepers.ours, keepers.baseline):
            if proc.poll() is not None:
                raise RuntimeError(f"a keeper exited at start: {proc.args!r}")
        ours = any(e.get("event") == "block_checked" for e in _lines(keepers.ours_log))
        base = any(e.get("event") == "block" for e in _lines(keepers.baseline_log))
        if ours and base:
            return
        await asyncio.sleep(0.25)
    raise RuntimeError("the keepers did not start in time")


async def _metrics(port: int) -> tuple[dict[str, float], float]:
    """(RPC requests by method, blocks processed) from our keeper's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    requests = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r'^keeper_rpc_latency_seconds_count\{method="([^"]*)"\} (\S+)$', text, re.MULTILINE
        )
    }
    blocks = re.search(r"^keeper_blocks_processed_total (\S+)$", text, re.MULTILINE)
    return requests, float(blocks.group(1)) if blocks else 0.0


async def _wait_block(client: ChainClient, number: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while await client.block_number() < number:
        if time.monotonic() > deadline:
            raise RuntimeError(f"block {number} did not come")
        await asyncio.sleep(0.05)


async def _quiet(client: ChainClient, keepers: Keepers) -> dict[str, Any]:
    """RPC requests per block of both keepers over a few blocks without price moves."""
    head = await client.block_number()
    await _wait_block(client, head + 2)
    req0, blk0 = await _metrics(keepers.ops_port)
    base0 = [e for e in _lines(keepers.baseline_log) if e.get("event") == "block"][-1]
    await _wait_block(client, head + 2 + QUIET_BLOCKS)
    await asyncio.sleep(0.5)
    req1, blk1 = await _metrics(keepers.ops_port)
    base1 = [e for e in _lines(keepers.baseline_log) if e.get("event") == "block"][-1]
    base_blocks = max(1, int(base1["block"]) - int(base0["block"]))
    blocks = max(1.0, blk1 - blk0)
    by_method = {m: round((c - req0.get(m, 0.0)) / blocks, 2) for m, c in req1.items()}
    return {
        "ours_rpc_requests_per_block": round(sum(by_method.values()), 2),
        "ours_rpc_requests_per_block_by_method": {m: c for m, c in by_method.items() if c},
        "baseline_rpc_requests_per_block": round(
            (int(base1["requests"]) - int(base0["requests"])) / base_blocks, 2
        ),
    }


def _new_liquidatable(engine: HealthEngine, asset: str, old: int, new: int) -> set[str]:
    def liquidatable() -> set[str]:
        return {
            d.account
            for d in engine.below()
            if d.total_debt_base > 0 and d.total_collateral_base > 0
        }

    before = liquidatable()
    engine.on_price(asset, new)
    after = liquidatable()
    engine.on_price(asset, old)
    return after - before


def _smallest_fall(
    engine: HealthEngine, asset: str, old: int, start: int
) -> tuple[int | None, set[str]]:
    """The smallest fall (bps, in 5 bps steps) that makes MIN_NEW more accounts liquidatable.

    Coarse steps first, then fine steps inside the first coarse step that is enough.
    """
    previous = 0
    for coarse in range(COARSE_BPS, MAX_FALL_BPS + 1, COARSE_BPS):
        new = old * (10_000 - coarse) // 10_000
        if new < start * RESTORE_BELOW:
            return None, set()
        if len(_new_liquidatable(engine, asset, old, new)) >= MIN_NEW:
            for bps in range(previous + STEP_BPS, coarse + 1, STEP_BPS):
                predicted = _new_liquidatable(engine, asset, old, old * (10_000 - bps) // 10_000)
                if len(predicted) >= MIN_NEW:
                    return bps, predicted
        previous = coarse
    return None, set()


async def _nonces_quiet(client: ChainClient, addresses: list[str]) -> tuple[int, ...] | None:
    out = []
    for address in addresses:
        latest = await client.get_transaction_count(address, "latest")
        if latest != await client.get_transaction_count(address, "pending"):
            return None
        out.append(latest)
    return tuple(out)


async def _settle(client: ChainClient, world: World, opps: list[Opportunity]) -> None:
    """Until every opportunity is liquidated (or 10 blocks), then both keepers are quiet."""
    pool = world.market.pool
    shock_block = opps[0].shock_block if opps else await client.block_number()
    topic = POOL.topic("LiquidationCall")
    users = ["0x" + "00" * 12 + o.account[2:].lower() for o in opps]
    while opps:
        head = await client.block_number()
        if head <= shock_block:
            await asyncio.sleep(0.1)
            continue
        logs = await client.get_logs(
            address=pool,
            topics=[topic, None, None, users],
            from_block=shock_block + 1,
            to_block=head,
        )
        decoded = [POOL.decode_log(e) for e in logs]
        done = {str(d[1]["user"]).lower() for d in decoded if d is not None}
        if all(o.account.lower() in done for o in opps):
            break
        if await client.block_number() > shock_block + RESOLVE_BLOCKS:
            break
        await asyncio.sleep(0.2)
    addresses = [world_cache.OURS_ADDRESS, world_cache.BASELINE_ADDRESS]
    previous = None
    deadline = await client.block_number() + 15
    while await client.block_number() < deadline:
        head = await client.block_number()
        now = await _nonces_quiet(client, addresses)
        if now is not None and now == previous:
            return
        previous = now
        await _wait_block(client, head + 1)


async def _confirm(
    client: ChainClient, world: World, candidates: set[str], block: int
) -> list[str]:
    """The candidates below 1 at ``block`` and not below 1 at ``block - 1``."""
    from keeper.protocols.aave_v3.market import Market  # noqa: PLC0415

    market = Market(world.market.pool_addresses_provider, world.market.pool, "", "", "")
    after, _ = await read_account_data(client, market, sorted(candidates), block, 200)
    before, _ = await read_account_data(client, market, sorted(candidates), block - 1, 200)
    return sorted(
        a
        for a in candidates
        if a in after
        and a in before
        and after[a].health_factor < WAD
        and after[a].total_debt_base > 0
        and before[a].health_factor >= WAD
    )


async def _shocks(
    client: ChainClient, world: World, monitor: MarketMonitor, count: int
) -> tuple[list[Opportunity], list[dict[str, Any]]]:
    provider = world.market.pool_addresses_provider
    start_prices = {s: monitor.tracker.prices[world.asset(s).address] for s in ASSETS}
    opportunities: list[Opportunity] = []
    shocks: list[dict[str, Any]] = []
    turn = 0
    attempts = 0
    while len(shocks) < count and attempts < 4 * count:
        attempts += 1
        symbol = ASSETS[turn % len(ASSETS)]
        turn += 1
        await monitor.step()
        asset = world.asset(symbol).address
        old = monitor.tracker.prices[asset]
        chosen, predicted = _smallest_fall(monitor.engine, asset, old, start_prices[symbol])
        if chosen is None:  # fallen too far or nothing left near the edge: restore
            pct = Decimal(start_prices[symbol] - old) * 100 / Decimal(old)
            await shock_price(client, provider, symbol, pct)
            continue
        # Candidates to confirm: the predicted ones and anyone else close to 1 after the move.
        shock = await shock_price(client, provider, symbol, Decimal(-chosen) / 100)
        confirmed = await _confirm(client, world, predicted, shock.block)
        opps = [Opportunity(a, shock.block) for a in confirmed]
        shocks.append(
            {
                "asset": symbol,
                "fall_bps": chosen,
                "block": shock.block,
                "predicted": len(predicted),
                "opportunities": len(opps),
            }
        )
        opportunities.extend(opps)
        await _settle(client, world, opps)
    return opportunities, shocks


async def _winners(client: ChainClient, world: World, opps: list[Opportunity], first: int) -> None:
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
    }
    for opp in opps:
        for block, log_index, user, liquidator in events:
            if block > opp.shock_block and user == opp.account.lower():
                opp.winner, opp.block = names.get(liquidator, liquidator), block
                opp.log_index = log_index
                break


def _reaction(
    lines: list[dict[str, Any]], shock_blocks: list[int], *, ours: bool
) -> dict[str, Any]:
    """Per shock: first broadcast after the cycle that saw the shock's block (ms)."""
    cycle_event, block_key = ("block_checked", "block") if ours else ("block", "block")
    cycles = [e for e in lines if e.get("event") == cycle_event]
    sends = [e for e in lines if e.get("event") == ("transaction_sent" if ours else "sent")]
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
    return {"first_tx_ms": _stats(first_tx), "first_liquidation_ms": _stats(first_liq)}


def _stats(values: list[float]) -> dict[str, Any]:
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


def _approve_ms(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Time our executor spent approving (send + wait for the receipt) per attempt."""
    return _stats(
        [
            float(e["timings_ms"]["approve"])
            for e in lines
            if e.get("event") == "liquidation_attempt"
            and isinstance(e.get("timings_ms"), dict)
            and "approve" in e["timings_ms"]
            and e.get("tx_hash")
        ]
    )


async def race(n: int, shocks: int, tip_gwei: str | None) -> dict[str, Any]:
    """One size: quiet window, shocks, winners, reaction."""
    snap = world_cache.snapshot(n)
    world = snap.world
    with (
        tempfile.TemporaryDirectory(prefix="keeper-race-") as tmpdir,
        Anvil(AnvilOptions(load_state=snap.state, block_time=1)) as anvil,
    ):
        tmp = Path(tmpdir)
        async with ChainClient(anvil.url, timeout_s=60) as client:
            market = await resolve_market(client, world.market.pool_addresses_provider)
            settings = load_settings(
                rpc_url=anvil.url, pool_addresses_provider=market.addresses_provider
            )
            monitor = MarketMonitor(client, market, settings)
            await monitor.start()
            accounts = len(monitor.engine.data)
            t0 = time.perf_counter()
            keepers = _start(world, anvil.url, tmp, tip_gwei)
            try:
                await _ready(keepers, timeout_s=180)
                ready_s = round(time.perf_counter() - t0, 1)
                rpc = await _quiet(client, keepers)
                first = await client.block_number()
                opps, shock_list = await _shocks(client, world, monitor, shocks)
                await _winners(client, world, opps, first)
            finally:
                _stop(keepers)
                # Kept for reading after the run (bench/.cache/ is not committed).
                for log_file in (keepers.ours_log, keepers.baseline_log):
                    target = world_cache.CACHE / f"race-{n}-{log_file.name}"
                    target.write_bytes(log_file.read_bytes())
            ours_lines, base_lines = _lines(keepers.ours_log), _lines(keepers.baseline_log)
    blocks = [s["block"] for s in shock_list]
    total = len(opps)
    # Per shock, the opportunity liquidated first (the race for the block right after it).
    firsts = []
    for block in blocks:
        mine = [o for o in opps if o.shock_block == block and o.block is not None]
        if mine:
            firsts.append(min(mine, key=lambda o: (o.block or 0, o.log_index)).winner)
    won = sum(1 for o in opps if o.winner == "ours")
    lost = sum(1 for o in opps if o.winner == "baseline")
    return {
        "accounts": accounts,
        "world_build_s": snap.build_s,
        "keepers_ready_s": ready_s,
        "shocks": len(shock_list),
        "opportunities": total,
        "won_ours": won,
        "won_baseline": lost,
        "won_other_or_none": total - won - lost,
        "first_of_shock_won_ours": sum(1 for w in firsts if w == "ours"),
        "first_of_shock_won_baseline": sum(1 for w in firsts if w == "baseline"),
        "ours_win_share": round(won / total, 3) if total else None,
        "next_block_share_any": round(
            sum(1 for o in opps if o.block == o.shock_block + 1) / total, 3
        )
        if total
        else None,
        "next_block_share_ours": round(
            sum(1 for o in opps if o.block == o.shock_block + 1 and o.winner == "ours") / total, 3
        )
        if total
        else None,
        "ours_reaction": _reaction(ours_lines, blocks, ours=True),
        "baseline_reaction": _reaction(base_lines, blocks, ours=False),
        "ours_approve_ms": _approve_ms(ours_lines),
        "ours_outcomes": _count(ours_lines, "liquidation_attempt", "outcome"),
        "ours_sync_ms": _stats(
            [float(e["sync_ms"]) for e in ours_lines if e.get("event") == "block_checked"]
        ),
        "baseline_scan_ms": _stats(
            [float(e["scan_ms"]) for e in base_lines if e.get("event") == "block"]
        ),
        "health_mismatches": max(
            (int(e.get("health_mismatches", 0)) for e in ours_lines if "health_mismatches" in e),
            default=0,
        ),
        **rpc,
        "shock_list": shock_list,
    }


def _count(lines: list[dict[str, Any]], event: str, key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in lines:
        if e.get("event") == event:
            out[str(e.get(key))] = out.get(str(e.get(key)), 0) + 1
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("borrowers", type=int)
    parser.add_argument("--shocks", type=int, default=20)
    parser.add_argument("--tip-gwei", default=None, help="our keeper's priority_fee_gwei")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(race(args.borrowers, args.shocks, args.tip_gwei))))
