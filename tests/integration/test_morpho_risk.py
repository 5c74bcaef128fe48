"""`keeper radar` and `keeper stress` on Morpho Blue 1.0.0: predictions Morpho confirms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.artifacts import morpho_artifact
from keeper.devnet.deployer import codec_of
from keeper.errors import ContractRevertError
from keeper.localnode.anvil import DEV_ACCOUNTS
from keeper.protocols.morpho_blue.reads import MORPHO
from keeper.protocols.morpho_blue.tracker import MorphoTracker
from tests.integration.morpho_chain import fund, send

if TYPE_CHECKING:
    from tests.integration.conftest import MorphoDevnet

pytestmark = pytest.mark.integration
ADMIN, LIQUIDATOR = DEV_ACCOUNTS[0], DEV_ACCOUNTS[1]
ORACLE = codec_of(morpho_artifact("OracleMock"))
PRICE_SLOT = "0x" + "00" * 32  # OracleMock's only storage variable, `price`


def _keeper(devnet: MorphoDevnet, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env |= {
        "KEEPER_RPC_URL": devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": devnet.world.morpho,
    }
    result = subprocess.run(
        [sys.executable, "-m", "keeper", *args, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def _liquidate_at(
    client: ChainClient, devnet: MorphoDevnet, market_id: str, account: str, price: int
) -> str | None:
    """Morpho's ``liquidate`` simulated with the market's oracle at ``price`` (a state
    override of OracleMock's one slot): None when it goes through, else the revert reason.
    """
    d = devnet.world.deployment
    market = next(m for m in d.markets if m.id == market_id)
    (_, shares, _) = MORPHO.decode(
        "position",
        await client.call(
            d.morpho, MORPHO.encode("position", bytes.fromhex(market_id[2:]), account)
        ),
    )
    data = MORPHO.encode(
        "liquidate", market.params.as_tuple(), account, 0, max(1, int(shares) // 10), b""
    )
    override = {market.params.oracle: {"stateDiff": {PRICE_SLOT: f"0x{price:064x}"}}}
    try:
        await client.request(
            "eth_call", [{"from": LIQUIDATOR, "to": d.morpho, "data": data}, "latest", override]
        )
    except ContractRevertError as exc:
        return str(exc)
    return None


@pytest.mark.asyncio
async def test_radar_liquidation_prices_are_where_morpho_starts_to_liquidate(
    morpho_devnet: MorphoDevnet,
) -> None:
    """For positions of every market, Morpho's own liquidate goes through with the oracle at
    the radar's liquidation price and refuses (position is healthy) one unit above it; the
    radar lists every borrowing position, nearest first.
    """
    d = morpho_devnet.world.deployment
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        for token in d.tokens.values():
            amount = 10**12 * 10**token.decimals
            await fund(client, ADMIN, token.address, LIQUIDATOR, amount, d.morpho)
        # Mine nothing more from here: the radar reads the block the simulations run on.
        await client.request("evm_setAutomine", [False])
        radar = _keeper(morpho_devnet, "radar")
        tracker = MorphoTracker(client, d.morpho)
        await tracker.start()
        assert radar["block"] == tracker.block
        borrowing = {(m, a) for m, a, p in tracker.borrowers() if p.collateral > 0}
        rows = radar["positions"]
        assert {(r["market"], r["account"]) for r in rows} == borrowing
        drops = [float(r["drop_pct"]) for r in rows]
        assert drops == sorted(drops)
        checked = set()
        for row in rows:
            if row["market"] in checked:
                continue
            checked.add(row["market"])
            at = int(row["liquidation_price"])
            assert (
                await _liquidate_at(client, morpho_devnet, row["market"], row["account"], at)
                is None
            )
            above = await _liquidate_at(
                client, morpho_devnet, row["market"], row["account"], at + 1
            )
            assert above is not None and "position is healthy" in above
        assert len(checked) == len(d.markets)


@pytest.mark.asyncio
async def test_stress_predicts_the_positions_a_shock_makes_liquidatable(
    morpho_devnet: MorphoDevnet,
) -> None:
    """`keeper stress --shock WETH=-15%` moves every market holding WETH (the WETH/USDC price
    down, the wstETH/WETH and USDC/WETH prices up); setting the oracles to its predicted prices
    makes exactly the positions it liquidates unhealthy on chain, and it realises bad debt
    only where the collateral runs out.
    """
    d = morpho_devnet.world.deployment
    report = _keeper(morpho_devnet, "stress", "--shock", "WETH=-15%")
    rows = {r["market"]: r for r in report["markets"]}
    weth_usdc = rows[d.market("WETH/USDC").id]
    assert int(weth_usdc["price_after"]) < int(weth_usdc["price_before"])
    assert weth_usdc["liquidated"] > 0
    up = rows[d.market("USDC/WETH").id]
    assert int(up["price_after"]) > int(up["price_before"]) and up["liquidated"] == 0
    async with ChainClient(morpho_devnet.url) as client:
        await client.request("anvil_autoImpersonateAccount", [True])
        for m in d.markets:
            row = rows.get(m.id)
            if row is not None and row["price_after"] != row["price_before"]:
                data = ORACLE.encode("setPrice", int(row["price_after"]))
                await send(client, ADMIN, m.params.oracle, data)
        tracker = MorphoTracker(client, d.morpho)
        await tracker.start()
        for market_id, row in rows.items():
            unhealthy = sorted(
                a
                for m, a, p in tracker.borrowers()
                if m == market_id and p.collateral > 0 and (tracker.health(m, a) or 0) < 10**18
            )
            assert unhealthy == sorted(row["accounts"]), row["label"]


def test_aave_only_risk_options_are_refused_for_morpho(morpho_devnet: MorphoDevnet) -> None:
    """--plot, --save-snapshot or --quote with protocol morpho_blue: exit 2 naming the options
    (Morpho markets are isolated: no shared-collateral cascade, no snapshot format).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env |= {
        "KEEPER_RPC_URL": morpho_devnet.url,
        "KEEPER_PROTOCOL": "morpho_blue",
        "KEEPER_MORPHO": morpho_devnet.world.morpho,
    }
    for args, named in (
        (["radar", "--plot", "x.png"], "--plot: "),
        (
            ["stress", "--shock", "WETH=-5%", "--quote", "USDC", "--save-snapshot", "s"],
            "--save-snapshot, --quote: ",
        ),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "keeper", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert named in result.stderr and "not available with protocol morpho_blue" in result.stderr
