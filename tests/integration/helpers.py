"""Small on-chain helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from keeper.app import BlockReport, run_keeper
from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import Shock, fund_keeper, shock_price
from keeper.errors import ContractRevertError
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.aave_v3.market import ERC20, POOL
from keeper.protocols.aave_v3.reads import AccountData
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_KEY

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from keeper.app import Keeper
    from keeper.core.plan import Candidate
    from keeper.protocols.aave_v3.lending_market import AaveLendingMarket
    from keeper.protocols.aave_v3.market import Market
    from keeper.settings import Settings

ANVIL_MID_BLOCK_READS = 3


async def account_data(
    client: ChainClient, pool: str, account: str, block: int | str = "latest"
) -> AccountData:
    """``getUserAccountData``, read again if it reverts.

    Anvil can answer a read of its newest block with the state of the block it is mining under
    the older header (Aave's interest math then underflows, panic 0x11); a revert that persists
    is real.
    """
    for attempt in range(1, ANVIL_MID_BLOCK_READS + 1):
        try:
            raw = await client.call(pool, POOL.encode("getUserAccountData", account), block)
            break
        except ContractRevertError:
            if attempt == ANVIL_MID_BLOCK_READS:
                raise
            await asyncio.sleep(0.05)
    return AccountData(account, *(int(v) for v in POOL.decode("getUserAccountData", raw)))


async def balance_of(
    client: ChainClient, token: str, holder: str, block: int | str = "latest"
) -> int:
    raw = await client.call(token, ERC20.encode("balanceOf", holder), block)
    return int(ERC20.decode("balanceOf", raw)[0])


async def liquidation_events(
    client: ChainClient, pool: str, from_block: int
) -> list[dict[str, Any]]:
    head = await client.block_number()
    logs = await client.get_logs(
        address=pool, topics=[POOL.topic("LiquidationCall")], from_block=from_block, to_block=head
    )
    out = []
    for entry in logs:
        decoded = POOL.decode_log(entry)
        assert decoded is not None
        out.append(decoded[1])
    return out


async def run_through_shock(
    settings: Settings,
    url: str,
    provider: str,
    symbol: str,
    pct: int,
    before_shock: Callable[[ChainClient], Awaitable[Any]] | None = None,
) -> tuple[list[BlockReport], Shock]:
    """Run the keeper in process, move ``symbol`` by ``pct``%, and stop it once a block after
    the shock needed no more plans (or after 60 s); return its reports and the shock.
    """
    reports: list[BlockReport] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_keeper(settings, stop, reports.append))
    try:
        async with ChainClient(url) as client:
            deadline = time.monotonic() + 60
            while not reports and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if before_shock is not None:
                await before_shock(client)
            shock = await shock_price(client, provider, symbol, pct)
            while time.monotonic() < deadline and not any(
                r.block > shock.block and r.plans == 0 for r in reports
            ):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return reports, shock


def keeper_settings(devnet: Any, tmp_path: Path, **overrides: Any) -> Settings:
    """In-process keeper settings on the devnet, fast polling; ``overrides`` win.

    Without a ``flash_liquidator`` override, inventory mode takes the direct path
    (``inventory_direct``: liquidationCall to the Pool, an approval per plan), which the tests
    written before our contract's inventory path exercise; tests of the contract path pass
    the contract.
    """
    fields: dict[str, Any] = {
        "rpc_url": devnet.url,
        "pool_addresses_provider": devnet.world.market.pool_addresses_provider,
        "private_key": KEEPER_KEY,
        "journal_path": str(tmp_path / "journal.sqlite"),
        "poll_interval_s": 0.05,
        "inventory_direct": "flash_liquidator" not in overrides,
    }
    return load_settings(**(fields | overrides))


COMPETITOR = DEV_ACCOUNTS[2]
MAX_UINT = 2**256 - 1


async def competitor_ready(client: ChainClient, devnet: Any) -> None:
    """Another liquidator, funded with every asset and approved to the Pool."""
    pool = devnet.world.market.pool
    dep = Deployer(client)
    await dep.impersonate_all()
    await fund_keeper(client, devnet.world.market, COMPETITOR)
    for info in devnet.world.market.assets.values():
        await dep.transact(COMPETITOR, info.address, ERC20.encode("approve", pool, MAX_UINT))


async def competitor_liquidates(
    client: ChainClient,
    pool: str,
    collateral: str,
    debt: str,
    account: str,
    *,
    tip: int = 50 * 10**9,
    max_fee: int = 500 * 10**9,
) -> str:
    """The competitor's liquidation of all it may take of ``account``, tipping 50 gwei unless
    told otherwise (``tip``, ``max_fee`` in wei).
    """
    return str(
        await client.request(
            "eth_sendTransaction",
            [
                {
                    "from": COMPETITOR,
                    "to": pool,
                    "gas": hex(1_500_000),
                    "maxFeePerGas": hex(max_fee),
                    "maxPriorityFeePerGas": hex(tip),
                    "data": POOL.encode(
                        "liquidationCall", collateral, debt, account, MAX_UINT, False
                    ),
                }
            ],
        )
    )


def keeper_for(
    settings: Settings,
    client: ChainClient,
    chain_id: int,
    market: Market,
    on_block: Callable[[BlockReport], None] | None = None,
) -> Keeper:
    """The wired keeper over an Aave market resolved by ``connect``."""
    from keeper.app import Keeper
    from keeper.protocols.aave_v3.lending_market import AaveLendingMarket

    return Keeper(settings, client, chain_id, AaveLendingMarket(client, market, settings), on_block)


def aave_keeper(
    settings: Settings, client: ChainClient, chain_id: int, market: Market
) -> tuple[Keeper, AaveLendingMarket]:
    """The wired keeper and its Aave market (for tests that drive the stages by hand)."""
    from keeper.app import Keeper
    from keeper.protocols.aave_v3.lending_market import AaveLendingMarket

    aave = AaveLendingMarket(client, market, settings)
    return Keeper(settings, client, chain_id, aave), aave


def candidate_of(data: AccountData) -> Candidate:
    """The neutral candidate of an account's data."""
    from keeper.core.plan import Candidate

    return Candidate(
        data.account, data.health_factor, data.total_debt_base, data.total_collateral_base
    )


def keeper_cli(devnet: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m keeper ARGS`` against the devnet (its URL, market and Uniswap factory in
    ``KEEPER_*`` variables, no others); asserts exit 0.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    if "KEEPER_NODE_MODULES" in os.environ:
        env["KEEPER_NODE_MODULES"] = os.environ["KEEPER_NODE_MODULES"]
    env["KEEPER_RPC_URL"] = devnet.url
    env["KEEPER_POOL_ADDRESSES_PROVIDER"] = devnet.world.market.pool_addresses_provider
    env["KEEPER_LOG_FORMAT"] = "json"
    if devnet.world.uniswap is not None:
        env["KEEPER_UNISWAP_FACTORY"] = devnet.world.uniswap.factory
    result = subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def keeper_cli_as(
    devnet: Any, key: str, journal: Path, *args: str, contract: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m keeper ARGS`` with the key, the devnet market and (if given) our contract."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env |= {
        "KEEPER_RPC_URL": devnet.url,
        "KEEPER_PRIVATE_KEY": key,
        "KEEPER_POOL_ADDRESSES_PROVIDER": devnet.world.market.pool_addresses_provider,
        "KEEPER_JOURNAL_PATH": str(journal),
    }
    if contract is not None:
        env["KEEPER_FLASH_LIQUIDATOR"] = contract
    return subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def printed_json(proc: subprocess.Popen[str], timeout_s: float) -> dict[str, Any]:
    """The JSON object a command prints first (``devnet up``'s addresses), read line by line
    until its closing brace, within ``timeout_s``.
    """
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            break
        lines.append(line)
        if line.startswith("}"):
            break
    info: dict[str, Any] = json.loads("".join(lines))
    return info
