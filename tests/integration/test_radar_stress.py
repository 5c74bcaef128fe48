"""`keeper radar` and `keeper stress` against the devnet: predictions equal the real price moves.

Each prediction is made from the state at block N (timestamp T); the feeds are then moved for
real in blocks stamped T as well (Anvil allows an equal timestamp), so no interest accrues in
between and getUserAccountData at the last block must equal the prediction to the unit. (A
freshly loaded Anvil's clock is ahead of its loaded head, so each test first mines one block.)
"""

from __future__ import annotations

import json

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED, shock_price
from keeper.risk import snapshot
from tests.integration.helpers import account_data, keeper_cli

pytestmark = pytest.mark.integration
WAD = 10**18


async def _liquidatable(client, devnet, accounts, block):
    """Accounts whose getUserAccountData at ``block`` is below 1, with that data."""
    out = {}
    for account in accounts:
        data = await account_data(client, devnet.world.market.pool, account, block)
        if data.health_factor < WAD:
            out[account] = data
    return out


async def _at(client, timestamp):
    """Stamp the next block with ``timestamp`` (equal to the prediction's: no accrual)."""
    await client.request("evm_setNextBlockTimestamp", [timestamp], retry=False)


async def _fresh_head(devnet):
    """Mine one block so that the head's timestamp is the node's own clock."""
    async with ChainClient(devnet.url) as client:
        await client.request("evm_mine", [])


async def _set_answer(client, devnet, symbol, answer):
    feed = devnet.world.asset(symbol).feed
    (owner,) = FEED.decode("owner", await client.call(feed, FEED.encode("owner")))
    await client.request("anvil_impersonateAccount", [owner])
    receipt = await Deployer(client).transact(owner, feed, FEED.encode("setAnswer", answer))
    return int(receipt["blockNumber"], 16)


@pytest.mark.asyncio
async def test_stress_predicts_the_real_shock_exactly(devnet, tmp_path):
    """Stress WETH -20% and WBTC -15% on the live state: after moving both feeds for real, the
    accounts with getUserAccountData below 1 are exactly the predicted ones, each with the
    predicted health factor, collateral and debt, and the debt totals agree to the base unit;
    the snapshot saved on the way gives the same report offline.
    """
    await _fresh_head(devnet)
    snap = tmp_path / "market.json"
    shocks = ["--shock", "WETH=-20%", "--shock", "WBTC=-15%"]
    live = keeper_cli(devnet, "stress", *shocks, "--format", "json", "--save-snapshot", str(snap))
    report = json.loads(live.stdout)
    state = snapshot.load(snap)
    assert report["block"] == state.block
    assert len(state.pools) >= 3  # the devnet's Uniswap V3 pools were read, with their ticks
    assert all(p.tick_spacing == 60 and p.tick_low < p.tick < p.tick_high for p in state.pools)
    cascade = report["cascade"]
    assert cascade["dex"]["WETH"].startswith("uniswap-v3")
    assert cascade["price_rules"]["USDC"]["rule"] == "quote"  # the most borrowed, not shocked
    assert cascade["price_rules"]["WETH"] == {
        "rule": "pass-through",
        "share": "1",
        "why": "default",
    }

    async with ChainClient(devnet.url) as client:
        provider = devnet.world.market.pool_addresses_provider
        for symbol, pct in (("WETH", -20), ("WBTC", -15)):
            await _at(client, state.timestamp)
            shock = await shock_price(client, provider, symbol, pct)
        onchain = await _liquidatable(client, devnet, sorted(state.accounts), shock.block)

    predicted = {a["account"]: a for a in report["accounts"]}
    assert len(onchain) > 10
    assert set(predicted) == set(onchain)
    for account, data in onchain.items():
        row = predicted[account]
        whole, frac = row["health_factor"].split(".")
        assert int(whole) * WAD + int(frac) == data.health_factor
        assert row["total_debt_base"] == data.total_debt_base
        assert row["total_collateral_base"] == data.total_collateral_base
    assert report["liquidatable_accounts"] == len(onchain)
    assert report["liquidatable_debt_base"] == sum(d.total_debt_base for d in onchain.values())
    shocked = {s["symbol"]: s["new_price"] for s in report["shocks"]}
    assert shocked == {"WETH": 2_400 * 10**8, "WBTC": 51_000 * 10**8}

    offline = keeper_cli(devnet, "stress", *shocks, "--format", "json", "--snapshot", str(snap))
    assert json.loads(offline.stdout) == report


@pytest.mark.asyncio
async def test_radar_curve_and_liquidation_price_match_the_chain(devnet):
    """The radar's WETH -25% point names exactly the debt getUserAccountData finds liquidatable
    after a real -25% move; and the nearest account's WETH liquidation price L is exact: the
    feed at L - 1 makes it liquidatable, at L it stays healthy.
    """
    await _fresh_head(devnet)
    radar = json.loads(keeper_cli(devnet, "radar", "--format", "json").stdout)
    point = radar["curves"]["WETH"]["points"][25]
    assert point["drop_pct"] == 25
    nearest = next(
        (a, c)
        for a in radar["accounts"]
        for c in a["collateral"]
        if c["symbol"] == "WETH" and c["liquidation_price"] is not None
    )
    account, weth = nearest[0]["account"], nearest[1]
    level = weth["liquidation_price"]
    assert 0 < level < weth["price"]

    async with ChainClient(devnet.url) as client:
        head = await client.request("eth_getBlockByNumber", [hex(radar["block"]), False])
        timestamp = int(head["timestamp"], 16)
        pool = devnet.world.market.pool
        accounts = [a["account"] for a in radar["accounts"]]
        before = await client.request("evm_snapshot")

        await _at(client, timestamp)
        shock = await shock_price(client, devnet.world.market.pool_addresses_provider, "WETH", -25)
        assert shock.new_answer == point["price"]
        onchain = await _liquidatable(client, devnet, accounts, shock.block)
        assert len(onchain) == point["accounts"] > 0
        assert sum(d.total_debt_base for d in onchain.values()) == point["debt_base"]

        for answer, liquidatable in ((level - 1, True), (level, False), (level + 1, False)):
            await client.request("evm_revert", [before])
            before = await client.request("evm_snapshot")
            await _at(client, timestamp)
            block = await _set_answer(client, devnet, "WETH", answer)
            data = await account_data(client, pool, account, block)
            assert (data.health_factor < WAD) is liquidatable, (answer, data.health_factor)


def test_stress_cascade_holds_the_stablecoin_peg(devnet):
    """WETH -25% (the case of issue 16, where USDC's oracle price used to follow its pool down
    34% by round 9): the seized collateral is sold for WBTC, USDC is pegged (stated with its
    reason), its pool moves under the sales, and its price stays 1.00 in every round, while
    WETH's follows its pool's moves.
    """
    out = keeper_cli(devnet, "stress", "--shock", "WETH=-25%", "--format", "json")
    cascade = json.loads(out.stdout)["cascade"]
    assert cascade["quote"]["symbol"] == "WBTC"
    assert cascade["price_rules"]["USDC"] == {
        "rule": "peg",
        "share": "0",
        "why": "oracle price 1.000000 within 1% of 1",
    }
    rounds = cascade["rounds"]
    assert len(rounds) >= 2
    assert {r["prices"]["USDC"] for r in rounds} == {10**8}
    assert any(r["pool_move_pct"].get("USDC", "0").startswith("-") for r in rounds)
    assert rounds[1]["prices"]["WETH"] < rounds[0]["prices"]["WETH"] == 2_250 * 10**8
