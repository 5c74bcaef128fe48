"""`keeper scan`, `keeper devnet up/shock` and `keeper demo` as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from keeper.chain.client import ChainClient
from tests.integration.helpers import account_data, printed_json

pytestmark = pytest.mark.integration


def _keeper(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_NODE_MODULES" in os.environ:
        base["KEEPER_NODE_MODULES"] = os.environ["KEEPER_NODE_MODULES"]
    return subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def _onchain(devnet, accounts, block):
    async with ChainClient(devnet.url) as client:
        return {a: await account_data(client, devnet.world.market.pool, a, block) for a in accounts}


@pytest.mark.asyncio
async def test_scan_agrees_with_get_user_account_data_for_every_account(devnet):
    """With a bound above every health factor, scan prints every borrower, and each line equals
    getUserAccountData at that block (health factor with all 18 decimals, base totals).
    """
    async with ChainClient(devnet.url) as client:
        block = await client.block_number()
    result = _keeper(
        "scan",
        "--rpc-url",
        devnet.url,
        "--pool-addresses-provider",
        devnet.world.market.pool_addresses_provider,
        "--below",
        "1000000",
        "--log-format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["account"] for r in rows} == set(devnet.world.borrowers)
    onchain = await _onchain(devnet, [r["account"] for r in rows], block)
    for row in rows:
        data = onchain[row["account"]]
        whole, frac = row["health_factor"].split(".")
        assert len(frac) == 18
        assert int(whole) * 10**18 + int(frac) == data.health_factor
        assert row["total_collateral_base"] == data.total_collateral_base
        assert row["total_debt_base"] == data.total_debt_base
    hfs = [int(r["health_factor"].replace(".", "")) for r in rows]
    assert hfs == sorted(hfs)


@pytest.mark.asyncio
async def test_scan_default_bound_lists_exactly_the_liquidatable(devnet):
    """After `keeper devnet shock` moves WETH by -25%, `keeper scan` (default bound 1) prints
    exactly the accounts whose on-chain health factor is below 1.
    """
    shock = _keeper("devnet", "shock", "--rpc-url", devnet.url, "--asset", "WETH", "--pct", "-25")
    assert shock.returncode == 0, shock.stderr
    moved = json.loads(shock.stdout)
    assert moved["new_answer"] == 2250 * 10**8
    result = _keeper(
        "scan",
        "--rpc-url",
        devnet.url,
        "--pool-addresses-provider",
        devnet.world.market.pool_addresses_provider,
    )
    assert result.returncode == 0, result.stderr
    listed = {json.loads(line)["account"] for line in result.stdout.splitlines()}
    async with ChainClient(devnet.url) as client:
        head = await client.block_number()
    onchain = await _onchain(devnet, devnet.world.borrowers, head)
    expected = {a for a, d in onchain.items() if d.health_factor < 10**18}
    assert listed == expected
    assert expected, "a 25% WETH drop must make some accounts liquidatable"


def test_devnet_up_prints_addresses_reloads_snapshot_and_stops_on_signal(tmp_path):
    """`keeper devnet up --snapshot DIR` deploys and writes world.json + state.gz; a second run
    reloads them; SIGINT stops it with exit 0 and Anvil is gone.
    """
    snap = tmp_path / "snap"
    outputs = []
    for _ in range(2):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keeper",
                "devnet",
                "up",
                "--borrowers",
                "12",
                "--snapshot",
                str(snap),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            info = printed_json(proc, 90)
            outputs.append(info)
            block = asyncio.run(_head(info["rpc_url"]))
            assert block > 0
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert (snap / "world.json").is_file() and (snap / "state.gz").is_file()
        with pytest.raises(Exception):  # noqa: B017, PT011 - any connection error will do
            asyncio.run(_head(info["rpc_url"]))
    assert outputs[0]["pool"] == outputs[1]["pool"]
    assert outputs[0]["borrowers"] == outputs[1]["borrowers"] > 0
    # The default market is v3.6, with its fourth reserve (LINK, the LT-0 case).
    assert set(outputs[0]["assets"]) == {"WETH", "USDC", "WBTC", "LINK"}
    assert outputs[0]["aave_version"] == outputs[1]["aave_version"] == "3.6"
    assert outputs[0]["pool_revision"] == 10


async def _head(url: str) -> int:
    async with ChainClient(url, retry_s=0) as client:
        return await client.block_number()


def test_demo_runs_end_to_end():
    """`keeper demo` deploys, shocks, shows liquidations and a summary, and exits 0, also
    when the ops endpoint's default port (9464) is taken: the demo binds no fixed port.
    """
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 9464))  # taken for the demo's whole run
        holder.listen()
    except OSError:
        pass  # already taken by something else: the condition under test holds anyway
    try:
        result = _keeper("demo", "--borrowers", "40", timeout=300)
    finally:
        holder.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "liquidated:" in result.stdout
    assert "summary" in result.stdout
    assert "accounts liquidated" in result.stdout
    assert "still liquidatable (collateral over $1)  0" in result.stdout


def test_wrong_chain_id_refuses_to_start_and_dead_node_exits_1(devnet):
    """A node on another chain than the config says: exit 2 naming chain_id, before any
    transaction. An unreachable node: exit 1 with a one-line error, no traceback.
    """
    env = {
        "KEEPER_RPC_URL": devnet.url,
        "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
        "KEEPER_PRIVATE_KEY": "0x" + "cd" * 32,
        "KEEPER_CHAIN_ID": "1",
    }
    wrong = _keeper("run", env=env)
    assert wrong.returncode == 2, wrong.stderr
    assert "chain_id" in wrong.stderr and "31337" in wrong.stderr
    dead = _keeper(
        "scan",
        env={
            **env,
            "KEEPER_CHAIN_ID": "31337",
            "KEEPER_RPC_URL": "http://127.0.0.1:9/TOKEN",
            "KEEPER_RPC_RETRY_S": "0.5",
        },
    )
    assert dead.returncode == 1, dead.stderr
    assert "Traceback" not in dead.stderr
    assert "TOKEN" not in dead.stderr and "cd" * 32 not in dead.stderr


def test_no_contract_at_provider_is_a_config_error(devnet):
    """A pool_addresses_provider with no contract behind it: exit 2 naming the key."""
    result = _keeper("scan", "--rpc-url", devnet.url, "--pool-addresses-provider", "0x" + "12" * 20)
    assert result.returncode == 2, result.stderr
    assert "pool_addresses_provider" in result.stderr


def test_scan_verify_agrees_with_the_pool_after_time_and_price_moves(devnet):
    """`keeper scan --verify` computes every account locally, reads getUserAccountData for all of
    them at the same block, prints both, and exits 0 because they are equal to the wei; even
    after a 90-day time warp and a price move.
    """
    asyncio.run(_warp(devnet.url, 90 * 86400))
    shock = _keeper("devnet", "shock", "--rpc-url", devnet.url, "--asset", "WBTC", "--pct", "-12")
    assert shock.returncode == 0, shock.stderr
    result = _keeper(
        "scan",
        "--rpc-url",
        devnet.url,
        "--pool-addresses-provider",
        devnet.world.market.pool_addresses_provider,
        "--below",
        "1000000",
        "--verify",
        "--log-format",
        "json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(devnet.world.borrowers)
    assert all(
        r["match"] is True and r["onchain"]["health_factor"] == r["health_factor"] for r in rows
    )
    assert '"mismatches": 0' in result.stderr


async def _warp(url: str, seconds: int) -> None:
    async with ChainClient(url) as client:
        await client.request("evm_increaseTime", [seconds])
        await client.request("evm_mine", [])
