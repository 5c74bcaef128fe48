"""The pure liquidation rules predict liquidationCall to the wei, over many random cases."""

from __future__ import annotations

import random

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED
from keeper.protocols.aave_v3.config import is_using_as_collateral
from keeper.protocols.aave_v3.health import account_data, build_view
from keeper.protocols.aave_v3.liquidation import (
    liquidation_amounts,
    max_debt_to_cover,
    protocol_fee_transferred,
)
from keeper.protocols.aave_v3.market import ERC20, POOL, resolve_market
from keeper.protocols.aave_v3.math import ray_mul
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_ADDRESS

pytestmark = pytest.mark.integration
CASES = 40
MAX_UINT = 2**256 - 1


@pytest.mark.asyncio
async def test_rules_match_liquidation_call_over_random_cases(devnet_v30):
    """Random price shocks, accounts, (collateral, debt) pairs and amounts (from one unit to
    above the close factor, and type(uint256).max): the debt repaid, the collateral received and
    the protocol fee all equal the prediction, computed at the block's timestamp, to the wei;
    both close factors and collateral-limited cases occur (v3.0 bytecode; v3.6 has its own).
    """
    devnet = devnet_v30
    rng = random.Random(4)
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        for info in devnet.world.market.assets.values():
            await dep.transact(
                KEEPER_ADDRESS, info.address, ERC20.encode("approve", market.pool, MAX_UINT)
            )
        monitor = MarketMonitor(
            client,
            market,
            load_settings(rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider),
        )
        await monitor.start()
        seen = {"half": 0, "full": 0, "limited": 0}
        done = 0
        while done < CASES:
            sym = rng.choice(["WETH", "WBTC"])
            feed = devnet.world.asset(sym).feed
            (answer,) = FEED.decode(
                "latestAnswer", await client.call(feed, FEED.encode("latestAnswer"))
            )
            await dep.transact(
                devnet.world.admin,
                feed,
                FEED.encode("setAnswer", int(answer) * rng.randint(80, 97) // 100),
            )
            await monitor.step()
            tracker, engine = monitor.tracker, monitor.engine
            candidates = [d.account for d in engine.below() if d.total_collateral_base > 10**8]
            rng.shuffle(candidates)
            for account in candidates[:3]:
                state = engine.accounts[account]
                reserves = {r.index: r for r in tracker.reserves.values()}
                colls = [
                    i
                    for i in state.scaled_collateral
                    if state.scaled_collateral[i]
                    and is_using_as_collateral(state.user_config, i)
                    and reserves[i].config.liquidation_threshold
                ]
                debts = [i for i in state.scaled_variable_debt if state.scaled_variable_debt[i]]
                if not colls or not debts:
                    continue
                c, d = reserves[rng.choice(colls)], reserves[rng.choice(debts)]
                now = await client.get_block("latest")
                ts = int(now["timestamp"], 16) + rng.randint(1, 600)
                view = build_view(
                    list(tracker.reserves.values()), tracker.emodes, tracker.prices, ts
                )
                hf = account_data(state, view).health_factor
                if hf >= 10**18:
                    continue
                user_debt = ray_mul(state.scaled_variable_debt[d.index], d.normalized_debt(ts))
                user_coll = ray_mul(state.scaled_collateral[c.index], c.normalized_income(ts))
                cap = max_debt_to_cover(user_debt, hf)
                cover = rng.choice(
                    [MAX_UINT, rng.randint(1, max(1, cap)), cap + rng.randint(1, 10**6)]
                )
                bonus = c.config.liquidation_bonus
                emode = tracker.emodes.get(state.emode)
                c_price, d_price = tracker.prices[c.asset], tracker.prices[d.asset]
                if emode is not None and c.config.emode_category == state.emode:
                    bonus = emode.liquidation_bonus
                predicted = liquidation_amounts(
                    debt_to_cover=cover,
                    user_debt=user_debt,
                    health_factor=hf,
                    user_collateral=user_coll,
                    collateral_price=c_price,
                    debt_price=d_price,
                    collateral_decimals=c.config.decimals,
                    debt_decimals=d.config.decimals,
                    liquidation_bonus=bonus,
                    liquidation_protocol_fee=c.config.liquidation_protocol_fee,
                )
                await client.request("evm_setNextBlockTimestamp", [hex(ts)])
                receipt = await dep.transact(
                    KEEPER_ADDRESS,
                    market.pool,
                    POOL.encode("liquidationCall", c.asset, d.asset, account, cover, False),
                    gas=3_000_000,
                )
                decoded = [POOL.decode_log(e) for e in receipt["logs"]]
                event = next(x[1] for x in decoded if x is not None and x[0] == "LiquidationCall")
                assert event["debtToCover"] == predicted.debt_to_repay
                assert event["liquidatedCollateralAmount"] == predicted.collateral_to_liquidator
                fee = sum(
                    int(log["data"], 16)
                    for log in receipt["logs"]
                    if log["address"].lower() == c.a_token.lower()
                    and log["topics"][0] == ERC20.topic("Transfer")
                    and log["topics"][1].endswith(account[2:].lower())
                    and log["topics"][2].endswith(devnet.world.market.treasury[2:].lower())
                )
                assert fee == protocol_fee_transferred(
                    protocol_fee=predicted.protocol_fee,
                    collateral_to_liquidator=predicted.collateral_to_liquidator,
                    user_scaled_collateral=state.scaled_collateral[c.index],
                    liquidity_index=c.normalized_income(ts),
                )
                seen["half" if hf > 95 * 10**16 else "full"] += 1
                if predicted.debt_to_repay < min(cover, cap):
                    seen["limited"] += 1
                done += 1
                await monitor.step()
        assert all(seen.values()), seen
