"""The daemon as operators run it: a `keeper run` process against the devnet.

It survives a stage crash, serves /healthz, /status and /metrics, never shows a secret in any
byte of its output, and on SIGTERM with a transaction in flight exits 0 within the deadline,
leaving the transaction in the journal (and then mined).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from typing import Any

import aiohttp
import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import FEED, shock_price
from keeper.localnode.anvil import free_port
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY
from tests.integration.helpers import liquidation_events
from tests.support.daemon import Daemon, keeper_env
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration


async def _get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return resp.status, await resp.text()


@pytest.mark.asyncio
async def test_daemon_survives_a_stage_crash_serves_its_status_and_shows_no_secret(
    devnet, tmp_path
):
    """The RPC URLs carry a basic-auth password, a path token and a query API key; a webhook
    URL carries a token; the key is known. Two injected crashes of the head-following stage
    are logged with tracebacks and the stage restarts; after a shock the daemon liquidates;
    /healthz is 200, /status and /metrics carry the values; SIGTERM exits 0. No secret appears
    in any byte of stdout, stderr, /status, /metrics or /healthz.
    """
    secrets = ["BasicPassw0rdSECRET", "PathTokenSECRET", "QueryKeySECRET", "HookTokenSECRET"]
    ops_port = free_port()
    async with RpcProxy(devnet.url) as proxy:
        primary = f"http://keeper:{secrets[0]}@127.0.0.1:{proxy.port}/v3/{secrets[1]}"
        fallback = f"http://127.0.0.1:{proxy.port}/rpc?apikey={secrets[2]}"
        env = keeper_env(
            primary,
            tmp_path / "journal.sqlite",
            ops_port,
            KEEPER_RPC_FALLBACK_URLS=json.dumps([fallback]),
            KEEPER_ALERT_WEBHOOKS=json.dumps([f"slack:http://127.0.0.1:9/hooks/{secrets[3]}"]),
            KEEPER_LOW_GAS_BALANCE_ETH="1000000000",  # alerts at once: a delivery that fails
        )
        daemon = Daemon(["-m", "tests.support.crashing_keeper", "2", "run"], env)
        await daemon.start()
        bodies: list[str] = []
        try:
            await daemon.wait_event("keeper_started")
            crashes = [await daemon.wait_event("stage_crashed") for _ in range(1)]
            await daemon.wait_event("stage_restarting", crashes=2)
            async with ChainClient(devnet.url) as chain:
                await daemon.wait_event("block_checked")
                shock = await shock_price(
                    chain, devnet.world.market.pool_addresses_provider, "WETH", -30
                )
                await daemon.wait_event("liquidation_attempt", outcome="liquidated")
                events = await liquidation_events(chain, devnet.world.market.pool, shock.block)
                assert events and all(e["liquidator"] == KEEPER_ADDRESS for e in events)
            await daemon.wait_event("alert_delivery_failed")
            # The shock's block is fully processed: a cycle of some 20 liquidations, each with
            # its approval, on a loaded 2-core machine.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                _, status_body = await _get(ops_port, "/status")
                if json.loads(status_body)["head_block"] >= shock.block:
                    break
                await asyncio.sleep(0.1)
            health, body = await _get(ops_port, "/healthz")
            bodies.append(body)
            assert health == 200, body
            _, metrics = await _get(ops_port, "/metrics")
            bodies += [status_body, metrics]
        finally:
            code, _ = await daemon.stop()
        assert code == 0, "".join(daemon.err[-30:])
    status = json.loads(status_body)
    assert status["healthy"] is True and status["stages"] == {
        "keeper_loop": True,
        "balance_watch": True,
    }
    assert status["head_block"] >= shock.block and status["accounts"] > 200
    assert 'keeper_liquidation_attempts_total{outcome="liquidated"}' in metrics
    assert "keeper_head_lag_seconds" in metrics and "keeper_blocks_processed_total" in metrics
    assert 'keeper_rpc_latency_seconds_count{method="eth_blockNumber"}' in metrics
    crashed = daemon.events("stage_crashed")
    assert len(crashed) == 2 and all("injected stage failure" in e["exception"] for e in crashed)
    assert crashes[0]["stage"] == "keeper_loop"
    everything = "".join(daemon.out + daemon.err + bodies)
    for needle in [*secrets, KEEPER_KEY[2:], KEEPER_KEY[2:].upper()]:
        assert needle not in everything, f"a secret leaked: {needle[:6]}..."
    assert f"127.0.0.1:{proxy.port}" in everything  # endpoints are named, redacted


@pytest.mark.asyncio
async def test_sigterm_with_a_liquidation_in_flight_exits_0_and_journals_it(devnet, tmp_path):
    """Automine off: the keeper's approval is mined on demand, its liquidation waits in the
    node's pool when SIGTERM comes. The daemon stops new work, gives the transaction the 2 s
    deadline, exits 0 well before the receipt timeout, and the transaction is in the journal
    as broadcast; mined afterwards, it is the liquidation.
    """
    ops_port = free_port()
    journal = tmp_path / "journal.sqlite"
    async with ChainClient(devnet.url) as chain:
        market = devnet.world.market
        await chain.request("evm_setAutomine", [False])
        daemon = Daemon(
            ["-m", "keeper", "run"],
            keeper_env(devnet.url, journal, ops_port, KEEPER_SHUTDOWN_TIMEOUT_S="2"),
        )
        await daemon.start()
        try:
            sent = await _liquidation_in_flight(devnet, daemon, chain)
        finally:
            code, took = await daemon.stop()
        assert code == 0, "".join(daemon.err[-30:])
        assert took < 2 + 8, took  # the deadline, plus start-up of nothing new
        stopped = await daemon.wait_event("keeper_stopped")
        assert sent["tx_hash"] in [t["tx_hash"] for t in stopped["open_transactions"]]
        await daemon.wait_event("shutdown_deadline")
        with sqlite3.connect(journal) as db:
            (status,) = db.execute(
                "SELECT status FROM txs WHERE tx_hash=?", (sent["tx_hash"],)
            ).fetchone()
        assert status == "broadcast"
        await chain.request("evm_mine", [])
        receipt = await chain.get_receipt(sent["tx_hash"])
        assert receipt is not None and int(receipt["status"], 16) == 1
        events = await liquidation_events(chain, market.pool, int(receipt["blockNumber"], 16))
        assert [e["liquidator"] for e in events][:1] == [KEEPER_ADDRESS]


@pytest.mark.asyncio
async def test_a_second_signal_exits_at_once(devnet, tmp_path):
    """With a long shutdown deadline and a liquidation in flight, a second SIGTERM does not
    wait: exit 130 at once, the transaction still journaled.
    """
    journal = tmp_path / "journal.sqlite"
    async with ChainClient(devnet.url) as chain:
        await chain.request("evm_setAutomine", [False])
        daemon = Daemon(
            ["-m", "keeper", "run"],
            keeper_env(devnet.url, journal, free_port(), KEEPER_SHUTDOWN_TIMEOUT_S="120"),
        )
        await daemon.start()
        try:
            sent = await _liquidation_in_flight(devnet, daemon, chain)
            assert daemon.proc is not None
            daemon.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert daemon.proc.returncode is None, "the first signal waits for the transaction"
        finally:
            code, took = await daemon.stop()
        assert code == 130, "".join(daemon.err[-30:])
        assert took < 10
        await daemon.wait_event("forced_exit")
    with sqlite3.connect(journal) as db:
        (status,) = db.execute(
            "SELECT status FROM txs WHERE tx_hash=?", (sent["tx_hash"],)
        ).fetchone()
    assert status == "broadcast"


async def _liquidation_in_flight(devnet, daemon: Daemon, chain: ChainClient) -> dict[str, Any]:
    """Shock WETH by -30% (automine is off), mine the keeper's approval, and return the
    transaction_sent line of its liquidation, left unmined in the node's pool.
    """
    await daemon.wait_event("block_checked")
    weth = devnet.world.asset("WETH")
    (answer,) = FEED.decode(
        "latestAnswer", await chain.call(weth.feed, FEED.encode("latestAnswer"))
    )
    (owner,) = FEED.decode("owner", await chain.call(weth.feed, FEED.encode("owner")))
    await chain.request("anvil_impersonateAccount", [owner])
    await chain.request(
        "eth_sendTransaction",
        [
            {
                "from": owner,
                "to": weth.feed,
                "data": FEED.encode("setAnswer", int(answer) * 70 // 100),
            }
        ],
    )
    await chain.request("evm_mine", [])
    return await _mine_approvals_until_the_liquidation_is_sent(daemon, chain)


async def _mine_approvals_until_the_liquidation_is_sent(
    daemon: Daemon, chain: ChainClient
) -> dict[str, Any]:
    """The liquidation's transaction_sent line; its approval went out just before it, and
    neither is mined (the keeper does not wait for the approval's receipt).
    """
    del chain
    return await daemon.wait_event("transaction_sent", 60, purpose="liquidation")
