"""`keeper scan` with protocol morpho_blue, as a real process against Morpho's own bytecode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from keeper.chain.client import ChainClient
from keeper.core.display import format_wad
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.math import WAD, mul_div_down, to_assets_up
from keeper.protocols.morpho_blue.scan import verify_positions
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from tests.integration.morpho_chain import MC, chain_position, chain_totals, fund, send

if TYPE_CHECKING:
    from keeper.devnet.morpho_market import DevMarket
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ORACLE = codec_of(morpho_artifact("OracleMock"))
ADMIN, LIQUIDATOR = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1]


def _keeper(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    return subprocess.run(
        [sys.executable, "-m", "keeper", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def _shock(client: ChainClient, oracle: str, pct: int) -> None:
    (price,) = ORACLE.decode("price", await client.call(oracle, ORACLE.encode("price")))
    await send(client, ADMIN, oracle, ORACLE.encode("setPrice", int(price) * (100 + pct) // 100))


async def _liquidatable_at(
    client: ChainClient, morpho: str, params, account: str, when: int
) -> bool:
    """Whether ``liquidate`` of one collateral unit succeeds in a block at ``when`` (undone)."""
    snap = await client.request("evm_snapshot", [])
    await client.request("evm_setNextBlockTimestamp", [when])
    data = MC.encode("liquidate", params.as_tuple(), account, 1, 0, b"")
    sent = await send(client, LIQUIDATOR, morpho, data)
    await client.request("evm_revert", [snap])
    return sent.ok


async def _chain_health(
    client: ChainClient, morpho: str, market: DevMarket, price: int, account: str, when: int
) -> int:
    """The health factor from Morpho's own state after ``accrueInterest`` at ``when`` (undone)."""
    snap = await client.request("evm_snapshot", [])
    await client.request("evm_setNextBlockTimestamp", [when])
    await send(client, ADMIN, morpho, MC.encode("accrueInterest", market.params.as_tuple()))
    totals = await chain_totals(client, morpho, market.id)
    position = await chain_position(client, morpho, market.id, account)
    await client.request("evm_revert", [snap])
    borrowed = to_assets_up(
        position.borrow_shares, totals.total_borrow_assets, totals.total_borrow_shares
    )
    limit = mul_div_down(position.collateral, price, 10**36) * market.params.lltv // WAD
    return limit * WAD // borrowed


@pytest.mark.asyncio
async def test_scan_prints_every_position_with_morphos_health(morpho_devnet: MorphoDevnet) -> None:
    """After price drops, scan prints one line per borrowing position (account, market id,
    18-decimal health factor); below 1 exactly for the positions Morpho lets be liquidated in
    the same second, and each health factor equals one computed from Morpho's own state.
    """
    world = morpho_devnet.world
    d = world.deployment
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        for token in d.tokens.values():
            amount = 10**12 * 10**token.decimals
            await fund(client, ADMIN, token.address, LIQUIDATOR, amount, world.morpho)
        await client.request("evm_increaseTime", [30 * 86_400])  # interest moves every debt
        await _shock(client, d.market("WETH/USDC").params.oracle, -9)
        await _shock(client, d.market("WBTC/DAI").params.oracle, -12)
        head = await client.get_block("latest")
    env = {
        "KEEPER_RPC_URL": morpho_devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": world.morpho,
        "KEEPER_LOG_FORMAT": "json",
    }
    result = _keeper("scan", "--below", "1000000", env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(world.borrowers)
    assert {(r["market"], r["account"]) for r in rows} == {
        (d.market(b.market).id, b.address) for b in world.borrowers
    }
    when = int(head["timestamp"], 16)
    by_id = {m.id: m for m in d.markets}
    low = 0
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        for row in rows:
            market = by_id[row["market"]]
            (price,) = ORACLE.decode(
                "price", await client.call(market.params.oracle, ORACLE.encode("price"))
            )
            hf = int(row["health_factor"].replace(".", ""))
            assert row["health_factor"] == format_wad(hf)
            below = hf < WAD
            low += below
            ok = await _liquidatable_at(client, world.morpho, market.params, row["account"], when)
            assert ok == below, row
            assert hf == await _chain_health(
                client, world.morpho, market, int(price), row["account"], when
            )
    assert 0 < low < len(rows)
    only_low = _keeper("scan", env=env)
    assert len(only_low.stdout.splitlines()) == low


def test_scan_with_no_contract_at_morpho_exits_2_naming_the_key(
    morpho_devnet: MorphoDevnet,
) -> None:
    """A `morpho` address with no code behind it: exit 2, and the message names `morpho`."""
    env = {
        "KEEPER_RPC_URL": morpho_devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": "0x" + "12" * 20,
    }
    result = _keeper("scan", env=env)
    assert result.returncode == 2
    assert "morpho: no contract" in result.stderr
    missing = _keeper(
        "scan", env={"KEEPER_RPC_URL": morpho_devnet.url, "KEEPER_PROTOCOL": "morpho_blue"}
    )
    assert missing.returncode == 2
    assert "morpho: missing; set KEEPER_MORPHO" in missing.stderr


def test_check_config_connects_to_morpho(morpho_devnet: MorphoDevnet) -> None:
    """check-config with protocol morpho_blue connects, checks the code and prints the address."""
    env = {
        "KEEPER_RPC_URL": morpho_devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": morpho_devnet.world.morpho,
    }
    result = _keeper("check-config", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["morpho"] == morpho_devnet.world.morpho
    assert report["settings"]["pool_addresses_provider"] is None


@pytest.mark.asyncio
async def test_scan_verify_asks_morpho_for_each_verdict_and_fails_on_a_difference(
    morpho_devnet: MorphoDevnet,
) -> None:
    """`scan --verify` re-reads every position and asks Morpho itself (a liquidate simulated
    from a probe that cannot pay) whether each is liquidatable: after a price drop the verdicts
    match the local health factors (some true, some false) and it exits 0. A tracked position
    that differs from Morpho's is counted as a mismatch (and taken from the chain).
    """
    world = morpho_devnet.world
    d = world.deployment
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        await _shock(client, d.market("WETH/USDC").params.oracle, -9)
        await _shock(client, d.market("WBTC/DAI").params.oracle, -12)
    env = {
        "KEEPER_RPC_URL": morpho_devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": world.morpho,
        "KEEPER_LOG_FORMAT": "json",
    }
    result = _keeper("scan", "--verify", "--below", "1000000", env=env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == len(world.borrowers)
    verdicts = [r["onchain_liquidatable"] for r in rows]
    assert any(verdicts) and not all(verdicts)
    for row in rows:
        assert row["onchain_liquidatable"] == (int(row["health_factor"].replace(".", "")) < WAD)
    logged = [json.loads(line) for line in result.stderr.splitlines() if "scan_verified" in line]
    assert logged and logged[0]["mismatches"] == 0 and logged[0]["unverified"] == 0
    async with ChainClient(morpho_devnet.url) as client:
        tracker = MorphoTracker(client, world.morpho)
        await tracker.start()
        market_id, account, position = next(iter(tracker.borrowers()))
        tampered = position.with_(collateral=position.collateral // 2)
        tracker.state.markets[market_id].positions[account] = tampered
        _, mismatches, unverified = await verify_positions(client, tracker)
        assert mismatches == 1 and unverified == []
        assert tracker.state.markets[market_id].positions[account] == position
