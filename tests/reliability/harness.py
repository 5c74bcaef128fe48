"""What every fault scenario does and checks.

A scenario starts `keeper run` (a real process) behind a fault proxy, shocks a price so that
accounts become liquidatable, applies its fault, clears it, and then checks:
- every account liquidatable after the shock is liquidated by the keeper within a bound;
- no nonce gap: nothing of the keeper's is left pending and the journal has nothing open;
- no two mined transactions for one opportunity (one plan of one account at one block);
- no liquidation with negative profit after its gas;
- the daemon is still up and /healthz answers 200.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from keeper.chain.abi import Codec, error_string
from keeper.errors import RpcError
from keeper.localnode.anvil import free_port
from keeper.protocols.aave_v3.market import POOL
from tests.integration.conftest import KEEPER_ADDRESS
from tests.integration.helpers import account_data, liquidation_events
from tests.support.daemon import Daemon
from tests.support.daemon import keeper_env as daemon_env

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient

ORACLE = Codec.named("aave_v3/IAaveOracle")
WAD = 10**18
LIQUIDATED_WITHIN_S = 90.0


def keeper_env(rpc_url: str, journal: Path, ops_port: int, **extra: str) -> dict[str, str]:
    """The daemon's environment, with short RPC deadlines so that faults show quickly."""
    return daemon_env(
        rpc_url,
        journal,
        ops_port,
        **{"KEEPER_RPC_TIMEOUT_S": "2", "KEEPER_RPC_RETRY_S": "15", **extra},
    )


@dataclass
class Keeper:
    """A keeper process and where it keeps its journal and endpoint."""

    daemon: Daemon
    journal: Path
    ops_port: int

    @classmethod
    async def start(
        cls, rpc_url: str, tmp_path: Path, args: list[str] | None = None, **env: str
    ) -> Keeper:
        journal, port = tmp_path / "journal.sqlite", free_port()
        daemon = Daemon(args or ["-m", "keeper", "run"], keeper_env(rpc_url, journal, port, **env))
        await daemon.start()
        await daemon.wait_event("block_checked", 90)
        return cls(daemon, journal, port)

    async def restart(self, args: list[str] | None = None) -> None:
        """Start again with the same journal, endpoint and environment."""
        self.daemon = Daemon(args or ["-m", "keeper", "run"], self.daemon.env)
        await self.daemon.start()
        await self.daemon.wait_event("block_checked", 90)

    async def healthz(self) -> int:
        """/healthz status (0 when the endpoint does not answer)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
                session.get(f"http://127.0.0.1:{self.ops_port}/healthz") as resp,
            ):
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return 0


async def liquidatable(chain: ChainClient, devnet: Any, block: int) -> set[str]:
    """Accounts with health below 1 and collateral left, at ``block``."""
    out = set()
    for account in devnet.world.borrowers:
        data = await account_data(chain, devnet.world.market.pool, account, block)
        if data.health_factor < WAD and data.total_collateral_base > 0:
            out.add(account)
    return out


async def wait_liquidated(
    chain: ChainClient,
    devnet: Any,
    accounts: set[str],
    since: int,
    seconds: float = LIQUIDATED_WITHIN_S,
    mine: bool = False,
    debt_at_shock: dict[str, int] | None = None,
) -> set[str]:
    """Until every account has been liquidated by the keeper since ``since``; the set done.

    With ``debt_at_shock``, an account whose debt has fallen below it also counts (a node
    restored from a dump may have lost the logs of the blocks before its restart).
    """
    deadline = time.monotonic() + seconds
    done: set[str] = set()
    while time.monotonic() < deadline:
        events = await liquidation_events(chain, devnet.world.market.pool, since)
        done = {e["user"] for e in events if e["liquidator"] == KEEPER_ADDRESS}
        for account, debt in (debt_at_shock or {}).items():
            now = await account_data(chain, devnet.world.market.pool, account, "latest")
            if now.total_debt_base < debt:
                done.add(account)
        if done >= accounts:
            break
        if mine:
            await chain.request("evm_mine", [])
        await asyncio.sleep(0.25)
    return done


@dataclass
class Invariants:
    """What the end-of-scenario check found."""

    liquidations: int = 0
    reverted: list[str] = field(default_factory=list)
    why_reverted: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    losses: list[tuple[str, int]] = field(default_factory=list)
    open_entries: int = 0
    open: list[tuple[str, int, str, str]] = field(default_factory=list)
    pending_gap: int = 0


def _digest(keeper: Keeper) -> str:
    """The daemon's notable lines, for a failure message."""
    quiet = ('"block_checked"', '"backfill_progress"', '"liquidation_attempt"')
    lines = [x for x in keeper.daemon.err if not any(q in x for q in quiet)]
    return "".join(lines[-60:])


def _journal_rows(journal: Path) -> list[tuple[str, int, str, str, str]]:
    with sqlite3.connect(journal) as db:
        return list(
            db.execute("SELECT tx_hash, nonce, purpose, status, meta FROM txs ORDER BY nonce")
        )


async def _price(chain: ChainClient, oracle: str, asset: str, block: int) -> int:
    try:
        raw = await chain.call(oracle, ORACLE.encode("getAssetPrice", asset), block)
    except RpcError:
        # A node restarted from a state dump keeps blocks but not their states; the scenarios
        # move no price after the shock, so the latest price is the price of that block.
        raw = await chain.call(oracle, ORACLE.encode("getAssetPrice", asset), "latest")
    return int(ORACLE.decode("getAssetPrice", raw)[0])


async def check_invariants(chain: ChainClient, devnet: Any, journal: Path) -> Invariants:
    """The end-of-scenario checks, from the chain and the journal."""
    out = Invariants()
    latest = await chain.get_transaction_count(KEEPER_ADDRESS, "latest")
    pending = await chain.get_transaction_count(KEEPER_ADDRESS, "pending")
    out.pending_gap = pending - latest
    rows = _journal_rows(journal)
    out.open = [r[:4] for r in rows if r[3] in ("signed", "broadcast")]
    out.open_entries = len(out.open)
    market = devnet.world.market
    decimals = {a.address: a.decimals for a in market.assets.values()}
    weth = devnet.world.asset("WETH").address
    plans: dict[tuple[str, int], int] = {}
    for tx_hash, _nonce, purpose, status, meta in rows:
        if status not in ("mined", "reverted"):
            continue
        receipt = await chain.get_receipt(tx_hash)
        if receipt is None:
            continue
        if int(receipt["status"], 16) != 1:
            out.reverted.append(tx_hash)
            out.why_reverted.append(await _why_reverted(chain, receipt, purpose, meta))
            continue
        if purpose != "liquidation":
            continue
        plan = json.loads(meta)
        key = (str(plan["account"]), int(plan["block"]))
        plans[key] = plans.get(key, 0) + 1
        block = int(receipt["blockNumber"], 16)
        gas_wei = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
        for entry in receipt["logs"]:
            decoded = POOL.decode_log(entry)
            if decoded is None or decoded[0] != "LiquidationCall":
                continue
            event = decoded[1]
            out.liquidations += 1
            coll, debt = event["collateralAsset"], event["debtAsset"]
            gained = (
                event["liquidatedCollateralAmount"]
                * await _price(chain, market.oracle, coll, block)
                // 10 ** decimals[coll]
                - event["debtToCover"]
                * await _price(chain, market.oracle, debt, block)
                // 10 ** decimals[debt]
            )
            gas = gas_wei * await _price(chain, market.oracle, weth, block) // WAD
            if gained - gas < 0:
                out.losses.append((tx_hash, gained - gas))
    out.duplicates = [k for k, n in plans.items() if n > 1]
    return out


async def _why_reverted(
    chain: ChainClient, receipt: dict[str, Any], purpose: str, meta: str
) -> str:
    """A reverted transaction of the keeper in one line: what it was, where, and the revert data."""
    tx_hash = receipt["transactionHash"]
    try:
        trace = await chain.request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
        data = trace.get("output") or "0x"
        output = f"{trace.get('error')} {error_string(data) or data!r}"
    except RpcError as exc:
        output = f"(no trace: {exc})"
    mined = int(receipt["blockNumber"], 16)
    index = int(receipt["transactionIndex"], 16)
    return f"{tx_hash} {purpose} mined at {mined}#{index}: {output}; plan {meta}"


def assert_clean(found: Invariants, *, reverted_allowed: int = 0) -> None:
    """No gap, nothing open, no duplicate, no loss; at most ``reverted_allowed`` reverts."""
    assert found.liquidations > 0
    assert found.pending_gap == 0, "a transaction of the keeper is stuck in the pool"
    assert found.open_entries == 0, f"the journal still holds open transactions: {found.open}"
    assert found.duplicates == [], found.duplicates
    assert found.losses == [], found.losses
    assert len(found.reverted) <= reverted_allowed, "\n".join(found.why_reverted)


async def run_to_clean_end(
    chain: ChainClient,
    devnet: Any,
    keeper: Keeper,
    shock_block: int,
    *,
    mine: bool = False,
    wanted: set[str] | None = None,
    debt_at_shock: dict[str, int] | None = None,
) -> Invariants:
    """After the fault cleared: everything liquidated, healthy, and the invariants."""
    if wanted is None:
        wanted = await liquidatable(chain, devnet, shock_block)
    assert len(wanted) >= 5
    done = await wait_liquidated(
        chain, devnet, wanted, shock_block, mine=mine, debt_at_shock=debt_at_shock
    )
    assert done >= wanted, f"not liquidated: {sorted(wanted - done)[:5]}\n{_digest(keeper)}"
    await wait_quiet(chain, keeper, mine=mine)
    assert keeper.daemon.proc is not None and keeper.daemon.proc.returncode is None
    assert await keeper.healthz() == 200
    return await check_invariants(chain, devnet, keeper.journal)


async def wait_quiet(chain: ChainClient, keeper: Keeper, *, mine: bool = False) -> None:
    """Until the keeper is quiet: nothing open and no new transaction for 2 s (follow-up
    liquidations of accounts still below 1 after a close-factor-limited one may go on).
    """
    deadline = time.monotonic() + 60
    rows, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if mine:
            await chain.request("evm_mine", [])
        journal = _journal_rows(keeper.journal)
        if len(journal) != rows:
            rows, quiet_since = len(journal), time.monotonic()
        still_open = any(r[3] in ("signed", "broadcast") for r in journal)
        if not still_open and time.monotonic() - quiet_since > 2 and await keeper.healthz() == 200:
            break
        await asyncio.sleep(0.25)
