"""After a price shock the keeper liquidates every liquidatable account and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest

from keeper.app import run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.scenarios import shock_price
from keeper.localnode.anvil import CHAIN_ID, free_port
from keeper.protocols.aave_v3.planner import aave_payload
from tests.integration.conftest import KEEPER_ADDRESS, KEEPER_KEY
from tests.integration.helpers import (
    account_data,
    balance_of,
    keeper_settings,
    liquidation_events,
    run_through_shock,
)
from tests.support.rpc_proxy import RpcProxy

pytestmark = pytest.mark.integration
WAD = 10**18


async def _positions(client, devnet, block):
    pool = devnet.world.market.pool
    return {b: await account_data(client, pool, b, block) for b in devnet.world.borrowers}


async def _debt_and_collateral_tokens(client, devnet, account, block="latest"):
    """Per-asset debt and aToken balances of an account."""
    out = {}
    for sym, info in devnet.world.market.assets.items():
        out[sym] = (
            await balance_of(client, info.variable_debt_token, account, block),
            await balance_of(client, info.a_token, account, block),
        )
    return out


OPS_PORT = free_port()


async def _ops(port: int) -> tuple[int, dict[str, Any], str]:
    """/healthz status code, /status JSON and /metrics text of a running keeper."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            health = resp.status
        async with session.get(f"http://127.0.0.1:{port}/status") as resp:
            status = await resp.json()
        async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
            metrics = await resp.text()
    return health, status, metrics


def _keeper_env(devnet, journal) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env.update(
        {
            "KEEPER_RPC_URL": devnet.url,
            "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
            "KEEPER_PRIVATE_KEY": KEEPER_KEY,
            "KEEPER_CHAIN_ID": str(CHAIN_ID),
            "KEEPER_POLL_INTERVAL_S": "0.1",
            "KEEPER_MIN_PROFIT_USD": "1",
            "KEEPER_JOURNAL_PATH": str(journal),
            "KEEPER_OPS_PORT": str(OPS_PORT),
            "KEEPER_BREAKER_MAX_HEAD_LAG_S": "0",
            "KEEPER_INVENTORY_DIRECT": "true",  # no contract of ours deployed here
        }
    )
    if "KEEPER_NODE_MODULES" in os.environ:
        env["KEEPER_NODE_MODULES"] = os.environ["KEEPER_NODE_MODULES"]
    return env


@pytest.mark.asyncio
async def test_keeper_run_subprocess_liquidates_every_liquidatable_account(devnet, tmp_path):
    """`keeper run` as a process: after a WETH -30% shock every account that became
    liquidatable is liquidated (its debt fell), the keeper's collateral balance rose, no healthy
    account was touched, and SIGTERM stops the keeper with exit 0 and JSON log lines.
    """
    # Files, not pipes: a pipe nobody reads fills up and blocks the keeper's logging.
    out_file, err_file = (tmp_path / "out.log").open("w+"), (tmp_path / "err.log").open("w+")
    async with ChainClient(devnet.url) as client:
        proc = subprocess.Popen(
            [sys.executable, "-m", "keeper", "run", "--log-format", "json"],
            env=_keeper_env(devnet, tmp_path / "journal.sqlite"),
            stdout=out_file,
            stderr=err_file,
            text=True,
        )
        try:
            await asyncio.sleep(2.0)  # the keeper discovers borrowers and checks the head
            assert proc.poll() is None, (tmp_path / "err.log").read_text()
            shock = await shock_price(
                client, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            before = await _positions(client, devnet, shock.block)
            liquidatable = {
                a
                for a, d in before.items()
                if d.health_factor < WAD and d.total_collateral_base > 0
            }
            assert len(liquidatable) >= 5
            tokens_before = {
                a: await _debt_and_collateral_tokens(client, devnet, a, shock.block)
                for a in liquidatable
            }
            keeper_weth_before = await balance_of(
                client, devnet.world.asset("WETH").address, KEEPER_ADDRESS, shock.block
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                events = await liquidation_events(client, devnet.world.market.pool, shock.block)
                if {e["user"] for e in events} >= liquidatable:
                    break
                await asyncio.sleep(0.3)
            # Until the keeper has counted every liquidation on chain (follow-up liquidations of
            # the same block may still settle; a loaded machine can take seconds).
            deadline = time.monotonic() + 180
            stable, last = 0, -1
            while True:
                ops = await _ops(OPS_PORT)
                mined = await liquidation_events(client, devnet.world.market.pool, shock.block)
                stable, last = (stable + 1, last) if len(mined) == last else (0, len(mined))
                counted = (
                    f'keeper_liquidation_attempts_total{{outcome="liquidated"}} {float(len(mined))}'
                )
                # Counted, and no follow-up liquidation for three looks in a row.
                if (counted in ops[2] and stable >= 3) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        out, err = (tmp_path / "out.log").read_text(), (tmp_path / "err.log").read_text()
        out_file.close()
        err_file.close()
        assert proc.returncode == 0, err[-3000:]

        events = await liquidation_events(client, devnet.world.market.pool, shock.block)
        liquidated = {e["user"] for e in events}
        assert liquidated == liquidatable, "exactly the liquidatable accounts are liquidated"
        assert all(e["liquidator"] == KEEPER_ADDRESS for e in events)
        assert all(e["receiveAToken"] is False for e in events)
        for account in liquidatable:
            after = await _debt_and_collateral_tokens(client, devnet, account)
            # Interest accrues, so compare per debt asset: some debt balance fell.
            assert any(after[s][0] < tokens_before[account][s][0] for s in after), account
        for account in before:
            if account not in liquidatable:
                assert account not in liquidated
        seized_weth = sum(
            e["liquidatedCollateralAmount"]
            for e in events
            if e["collateralAsset"] == devnet.world.asset("WETH").address
        )
        assert seized_weth > 0
        keeper_weth_after = await balance_of(
            client, devnet.world.asset("WETH").address, KEEPER_ADDRESS
        )
        assert keeper_weth_after == keeper_weth_before + seized_weth
        lines = [line for line in err.splitlines() if '"liquidation_attempt"' in line]
        assert len(lines) == len(events), [
            (json.loads(x)["account"], json.loads(x)["outcome"], json.loads(x)["reason"])
            for x in lines
            if '"liquidated"' not in x
        ]
        odd = [x for x in lines if '"outcome": "liquidated"' not in x or '"tx_hash": "0x' not in x]
        for phase in ("detect", "plan", "simulate", "send", "include"):
            assert all(f'"{phase}": ' in x for x in lines), phase
        assert odd == []
        assert KEEPER_KEY[2:] not in out + err
        health, status, metrics = ops
        assert health == 200
        assert status["head_block"] >= shock.block and status["accounts"] > 0
        assert status["healthy"] is True
        assert status["stages"] == {"keeper_loop": True, "balance_watch": True}
        assert (  # as many liquidations counted as were mined when the metrics were read
            f'keeper_liquidation_attempts_total{{outcome="liquidated"}} {float(len(mined))}'
            in metrics
        )
        assert "keeper_rpc_latency_seconds_count" in metrics
        assert "keeper_reaction_latency_seconds_count" in metrics
        assert 'keeper_accounts_by_health_factor{bucket="ge_2"}' in metrics
        assert KEEPER_KEY[2:] not in metrics


@pytest.mark.asyncio
async def test_keeper_in_process_amounts_match_the_pool(devnet, tmp_path):
    """In process: where the close factor bounds the amount, each liquidation repays exactly the
    planned debt and yields exactly the planned collateral (the pure rules agree with the Pool
    to the unit); where the collateral bounds it, or (v3.3+) all of the debt is repaid as it has
    grown by inclusion, the keeper never repays more than it passed nor receives less than
    planned, and the difference is interest of a few seconds. No approval is left behind.
    """
    settings = keeper_settings(devnet, tmp_path)
    reports, _ = await run_through_shock(
        settings, devnet.url, devnet.world.market.pool_addresses_provider, "WBTC", -35
    )
    async with ChainClient(devnet.url) as client:
        outcomes = [o for r in reports for o in r.outcomes]
        assert outcomes, "the WBTC shock must create liquidations"
        exact = 0
        for o in outcomes:
            assert o.status == "liquidated", o.reason
            if o.plan.spend.amount > o.plan.expected_spent:  # all of the debt, v3.3+
                assert o.plan.expected_spent <= o.spent <= o.plan.spend.amount
                assert o.spent - o.plan.expected_spent <= o.spent // 10**6
                assert o.received >= o.plan.receive.amount
            elif aave_payload(o.plan).collateral_limited:
                assert o.spent <= o.plan.spend.amount
                assert o.received >= o.plan.receive.amount
                # interest of a few seconds: far below a millionth
                assert o.received - o.plan.receive.amount <= o.received // 10**6
            else:
                exact += 1
                assert o.spent == o.plan.spend.amount
                assert o.received == o.plan.receive.amount
        assert exact > 0
        from keeper.protocols.aave_v3.market import ERC20

        for info in devnet.world.market.assets.values():
            raw = await client.call(
                info.address, ERC20.encode("allowance", KEEPER_ADDRESS, devnet.world.market.pool)
            )
            assert ERC20.decode("allowance", raw)[0] == 0


@pytest.mark.asyncio
async def test_reads_fail_over_when_the_preferred_node_goes_away(devnet, tmp_path):
    """The preferred endpoint (a proxy) disappears while the keeper runs: reads fail over to
    the fallback and every liquidatable account is still liquidated after the shock.
    """
    proxy = RpcProxy(devnet.url)
    await proxy.__aenter__()
    stopped = False

    async def node_goes_away(_client: ChainClient) -> None:
        nonlocal stopped
        stopped = True
        await proxy.__aexit__(None, None, None)

    try:
        settings = keeper_settings(
            devnet,
            tmp_path,
            rpc_url=proxy.url,
            rpc_fallback_urls=[devnet.url],
            rpc_retry_s=10,
        )
        assert proxy.forwarded == []
        reports, shock = await run_through_shock(
            settings,
            devnet.url,
            devnet.world.market.pool_addresses_provider,
            "WETH",
            -30,
            before_shock=node_goes_away,
        )
    finally:
        if not stopped:
            await proxy.__aexit__(None, None, None)
    assert proxy.forwarded, "the keeper started on the preferred endpoint"
    async with ChainClient(devnet.url) as client:
        after = await _positions(client, devnet, "latest")
        events = await liquidation_events(client, devnet.world.market.pool, shock.block)
    assert events and all(e["liquidator"] == KEEPER_ADDRESS for e in events)
    outcomes = [o for r in reports for o in r.outcomes]
    assert outcomes and all(o.status == "liquidated" for o in outcomes)
    assert not [
        a
        for a, d in after.items()
        if d.health_factor < WAD and d.total_debt_base > 0 and d.total_collateral_base > 10**8
    ]


@pytest.mark.asyncio
async def test_seizures_are_cut_to_the_collateral_reserves_liquidity(devnet, tmp_path):
    """A whale borrows all but 1 WETH of the WETH reserve's cash, then WETH falls 30%: the
    keeper never plans to seize more WETH than the reserve can pay out (a liquidation asking
    more would revert), so nothing fails; liquidations seizing other collateral go on.
    """
    from keeper.devnet.borrowers import MarketActions
    from keeper.devnet.deployer import Deployer

    weth = devnet.world.asset("WETH")
    whale = "0x" + "5a" * 20
    left = 10**18

    async def drain(client: ChainClient) -> None:
        dep = Deployer(client)
        await dep.impersonate_all()
        await dep.set_balance(whale, 10**21)
        actions = MarketActions(dep, devnet.world.market)
        cash = await balance_of(client, weth.address, weth.a_token)
        await actions.supply(whale, "USDC", 10**9 * 10**6)
        await actions.borrow(whale, "WETH", cash - left)
        assert await balance_of(client, weth.address, weth.a_token) == left

    settings = keeper_settings(devnet, tmp_path)
    reports, shock = await run_through_shock(
        settings, devnet.url, devnet.world.market.pool_addresses_provider, "WETH", -30, drain
    )
    outcomes = [o for r in reports for o in r.outcomes]
    assert outcomes
    assert all(o.status == "liquidated" for o in outcomes), [(o.status, o.reason) for o in outcomes]
    async with ChainClient(devnet.url) as client:
        events = await liquidation_events(client, devnet.world.market.pool, shock.block)
        seized_weth = sum(
            e["liquidatedCollateralAmount"] for e in events if e["collateralAsset"] == weth.address
        )
        assert 0 < seized_weth <= left  # the first WETH plan was cut to fit, not skipped
    # The later plans count what the earlier ones of the block seize from the reserve's cash at
    # the block (tracked with the reserve's state), so none asks for WETH that is not there:
    # none failed above, whatever each was skipped for (no liquidity, or the dust left).


@pytest.mark.asyncio
async def test_liquidations_settled_after_their_receipt_timeout_are_in_the_ledger(devnet, tmp_path):
    """With 2 s blocks and a 0.3 s receipt timeout every liquidation times out in its executor;
    the next cycles settle them from the journal (check_open) and their realised P&L goes into
    the ledger the loss budget reads, positive, one row per mined liquidation.
    """
    import sqlite3

    journal = tmp_path / "journal.sqlite"
    settings = keeper_settings(devnet, tmp_path, receipt_timeout_s=0.3, min_profit_usd=1)
    stop = asyncio.Event()
    task = asyncio.create_task(run_keeper(settings, stop))
    try:
        async with ChainClient(devnet.url) as client:
            await asyncio.sleep(2.0)
            await client.request("evm_setIntervalMining", [2])
            shock = await shock_price(
                client, devnet.world.market.pool_addresses_provider, "WETH", -30
            )
            deadline = time.monotonic() + 60
            mined: set[str] = set()
            recorded: dict[str, int] = {}
            while time.monotonic() < deadline:
                db = sqlite3.connect(journal)
                try:
                    mined = {
                        h
                        for (h,) in db.execute(
                            "SELECT tx_hash FROM txs WHERE purpose='liquidation' AND status='mined'"
                        )
                    }
                    recorded = {
                        h: int(p) for h, p in db.execute("SELECT tx_hash, pnl_base FROM results")
                    }
                    still_open = db.execute(
                        "SELECT count(*) FROM txs WHERE status IN ('signed','broadcast')"
                    ).fetchone()[0]
                finally:
                    db.close()
                if mined and not still_open and mined <= set(recorded):
                    break
                await asyncio.sleep(0.3)
            events = await liquidation_events(client, devnet.world.market.pool, shock.block)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert mined, "the shock must lead to liquidations"
    assert len(events) == len(mined)
    assert mined <= set(recorded), "every late-settled liquidation has its P&L recorded"
    assert all(recorded[h] > 0 for h in mined)
