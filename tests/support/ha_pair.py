"""Keeper processes on one key sharing a PostgreSQL journal, and what the HA tests check.

Each keeper is ``python -m tests.support.ha_keeper run`` (the real CLI with an optional
``HA_FAULT`` hook), JSON logs collected by :class:`tests.support.daemon.Daemon`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import psycopg

from keeper.localnode.anvil import free_port
from tests.integration.conftest import KEEPER_ADDRESS
from tests.support.daemon import Daemon, keeper_env

if TYPE_CHECKING:
    from pathlib import Path

    from keeper.chain.client import ChainClient

TTL_S, RENEW_S, BLOCK_S = 4.0, 1.0, 1.0


@dataclass
class HaKeeper:
    """One keeper process of the pair."""

    name: str
    daemon: Daemon
    ops_port: int
    fault_file: Path

    def arm(self, fault: str) -> None:
        """Die at ``fault`` (``point:n``, tests.support.ha_keeper), counted from now."""
        self.fault_file.write_text(fault)

    @property
    def alive(self) -> bool:
        return self.daemon.proc is not None and self.daemon.proc.returncode is None

    async def status(self) -> dict[str, Any] | None:
        """/status, None when the endpoint does not answer."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
                session.get(f"http://127.0.0.1:{self.ops_port}/status") as resp,
            ):
                body: dict[str, Any] = await resp.json()
                return body
        except (aiohttp.ClientError, TimeoutError):
            return None

    def first(self, event: str, **match: Any) -> dict[str, Any] | None:
        for found in self.daemon.events(event):
            if all(found.get(k) == v for k, v in match.items()):
                return found
        return None

    async def kill(self) -> float:
        """SIGKILL; the time it was sent (epoch seconds)."""
        assert self.daemon.proc is not None
        at = time.time()
        if self.daemon.proc.returncode is None:
            self.daemon.proc.kill()
        await self.daemon.proc.wait()
        return at


async def start_keeper(
    name: str, rpc_url: str, pg_url: str, tmp_path: Path, fault: str = "", **extra: str
) -> HaKeeper:
    """Start one keeper of the pair (it waits for its first processed block)."""
    port = free_port()
    env = keeper_env(
        rpc_url,
        tmp_path / f"{name}.sqlite",  # unused with journal_url: proves nothing goes there
        port,
        KEEPER_JOURNAL_URL=pg_url,
        KEEPER_LEASE_TTL_S=str(TTL_S),
        KEEPER_LEASE_RENEW_S=str(RENEW_S),
        KEEPER_RPC_TIMEOUT_S="3",
        **extra,
    )
    fault_file = tmp_path / f"{name}.fault"
    env["HA_FAULT_FILE"] = str(fault_file)
    if fault:
        env["HA_FAULT"] = fault
    daemon = Daemon(["-m", "tests.support.ha_keeper", "run"], env)
    await daemon.start()
    keeper = HaKeeper(name, daemon, port, fault_file)
    await daemon.wait_event("block_checked", 120)
    return keeper


async def stop_all(keepers: list[HaKeeper], logs: Path | None = None) -> None:
    """SIGTERM every keeper still running (then SIGKILL past the deadline); keep their logs."""
    await asyncio.gather(*(k.daemon.stop(30) for k in keepers), return_exceptions=True)
    for keeper in keepers:
        if logs is not None:
            (logs / f"{keeper.name}.log").write_text("".join(keeper.daemon.err))


def dump(pg_url: str, path: Path) -> None:
    """The journal as text, for the record of a failed run."""
    lines = [
        f"{r['nonce']} {r['purpose']} {r['status']} {r['tx_hash'][:12]} epoch {r['epoch']}/"
        f"{r['updated_epoch']} block {r['block']} {r['note'] or ''}"
        for r in rows(pg_url)
    ]
    path.write_text("\n".join(lines) + "\n")


def rows(pg_url: str) -> list[dict[str, Any]]:
    """The journal, in nonce order."""
    with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT tx_hash, nonce, purpose, status, meta, epoch, updated_epoch, block, note "
            "FROM keeper_txs ORDER BY nonce, created_at"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@dataclass
class JournalCheck:
    """What the end-of-test check found in the journal and on chain (all empty: clean)."""

    open: list[str] = field(default_factory=list)
    nonce_twice: list[int] = field(default_factory=list)  # two settled transactions at one nonce
    nonce_gaps: list[int] = field(default_factory=list)  # used on chain, nothing settled for it
    plan_twice: list[tuple[str, int]] = field(default_factory=list)  # one plan at two nonces
    not_journaled: list[str] = field(default_factory=list)  # ours on chain, not in the journal
    pending_gap: int = 0
    lease_epoch: int = 0  # the key's lease epoch at the end
    epochs: set[int] = field(default_factory=set)


async def check_journal(
    chain: ChainClient, pg_url: str, first_nonce: int, first_block: int
) -> JournalCheck:
    """The journal against the chain after ``first_block`` (nonces from ``first_nonce``)."""
    out = JournalCheck()
    journal = rows(pg_url)
    out.open = [r["tx_hash"] for r in journal if r["status"] in ("signed", "broadcast")]
    out.epochs = {int(r["epoch"]) for r in journal}
    with psycopg.connect(pg_url) as conn:
        lease = conn.execute("SELECT max(epoch) FROM keeper_lease").fetchone()
        out.lease_epoch = int(lease[0]) if lease and lease[0] is not None else 0
    settled: dict[int, list[str]] = {}
    plans: dict[tuple[str, int], set[int]] = {}
    for r in journal:
        if r["status"] in ("mined", "reverted"):
            settled.setdefault(int(r["nonce"]), []).append(r["tx_hash"])
        if r["purpose"] == "liquidation":
            meta = json.loads(r["meta"])
            plans.setdefault((str(meta["account"]), int(meta["block"])), set()).add(r["nonce"])
    out.nonce_twice = [n for n, hashes in settled.items() if len(hashes) > 1]
    latest = await chain.get_transaction_count(KEEPER_ADDRESS, "latest")
    out.pending_gap = await chain.get_transaction_count(KEEPER_ADDRESS, "pending") - latest
    out.nonce_gaps = [n for n in range(first_nonce, latest) if n not in settled]
    out.plan_twice = [k for k, nonces in plans.items() if len(nonces) > 1]
    hashes = {r["tx_hash"] for r in journal}
    for number in range(first_block + 1, await chain.block_number() + 1):
        block = await chain.request("eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            if str(tx["from"]).lower() == KEEPER_ADDRESS.lower() and tx["hash"] not in hashes:
                out.not_journaled.append(tx["hash"])
    return out


def assert_clean(found: JournalCheck) -> None:
    """Nothing open, no nonce twice or skipped, no plan twice, every transaction journaled."""
    assert found.open == [], f"open in the journal: {found.open}"
    assert found.pending_gap == 0, "a transaction of the keeper is stuck in the pool"
    assert found.nonce_twice == [], found.nonce_twice
    assert found.nonce_gaps == [], found.nonce_gaps
    assert found.plan_twice == [], found.plan_twice
    assert found.not_journaled == [], found.not_journaled


async def wait_quiet(pg_url: str, seconds: float = 90) -> None:
    """Until the journal holds nothing open and no new row came for 3 s."""
    deadline = time.monotonic() + seconds
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        journal = rows(pg_url)
        if len(journal) != count:
            count, since = len(journal), time.monotonic()
        still_open = any(r["status"] in ("signed", "broadcast") for r in journal)
        if not still_open and time.monotonic() - since > 3:
            return
        await asyncio.sleep(0.25)
