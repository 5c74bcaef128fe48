"""On Aave v3.6 bytecode, the pure rules predict every liquidationCall: amounts to the wei, and
which calls revert with which custom error (the leftover rule on both sides of its boundary).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from keeper.chain.client import ChainClient
from keeper.devnet.deployer import Deployer
from keeper.devnet.scenarios import FEED
from keeper.protocols.aave_v3.health import account_data, build_view
from keeper.protocols.aave_v3.liquidation import MIN_LEFTOVER_BASE, LiquidationAmounts
from keeper.protocols.aave_v3.market import ERC20, POOL, POOL_V36, resolve_market
from keeper.protocols.aave_v3.monitor import MarketMonitor
from keeper.protocols.aave_v3.pair_rules import predict_call
from keeper.protocols.aave_v3.positions import emode_terms, holdings, reserve_terms
from keeper.protocols.aave_v3.reverts import revert_error
from keeper.settings import load_settings
from tests.integration.conftest import KEEPER_ADDRESS

pytestmark = pytest.mark.integration
CASES = 40
MAX_UINT = 2**256 - 1
WAD = 10**18
DEFICIT_TOPIC = POOL_V36.topic("DeficitCreated")


async def _send(client: ChainClient, data: str, pool: str) -> tuple[dict[str, Any], str | None]:
    """Send the liquidation; (receipt, the decoded revert when it failed)."""
    tx = {"from": KEEPER_ADDRESS, "to": pool, "data": data, "gas": hex(3_000_000)}
    tx_hash = await client.request("eth_sendTransaction", [tx], retry=False)
    receipt = await client.wait_for_receipt(tx_hash, timeout_s=30, poll_s=0.002)
    assert receipt is not None
    if int(receipt["status"], 16) == 1:
        return receipt, None
    trace = await client.request("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    return receipt, revert_error(trace.get("output") or "0x") or str(trace.get("error"))


@pytest.mark.asyncio
async def test_v36_rules_match_liquidation_call_over_random_cases(devnet_v36):
    """Random shocks, accounts, pairs and amounts (one unit, random, the cap, above it, the
    whole debt, max uint, and the leftover-dust boundary one unit on each side): the Pool
    reverts exactly when the rules say so and with the error they name (MustNotLeaveDust, ...),
    and otherwise repays, seizes and creates deficits exactly as predicted, to the wei. Both
    close-factor regimes, small positions, collateral-limited calls and dust reverts occur.
    """
    devnet = devnet_v36
    rng = random.Random(36)
    async with ChainClient(devnet.url) as client:
        dep = Deployer(client)
        await dep.impersonate_all()
        market = await resolve_market(client, devnet.world.market.pool_addresses_provider)
        assert market.rules.version == "3.6"
        for info in devnet.world.market.assets.values():
            await dep.transact(
                KEEPER_ADDRESS, info.address, ERC20.encode("approve", market.pool, MAX_UINT)
            )
        settings = load_settings(
            rpc_url=devnet.url, pool_addresses_provider=market.addresses_provider
        )
        monitor = MarketMonitor(client, market, settings)
        await monitor.start()
        seen = dict.fromkeys(("half", "full", "small", "limited", "dust", "deficit"), 0)
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
                FEED.encode("setAnswer", int(answer) * rng.randint(85, 97) // 100),
            )
            await monitor.step()
            tracker, engine = monitor.tracker, monitor.engine
            candidates = [d.account for d in engine.below() if d.total_debt_base > 0]
            rng.shuffle(candidates)
            for account in candidates[:3]:
                state = engine.accounts[account]
                now = await client.get_block("latest")
                ts = int(now["timestamp"], 16) + rng.randint(1, 600)
                view = build_view(
                    list(tracker.reserves.values()),
                    tracker.emodes,
                    tracker.prices,
                    ts,
                    market.rules,
                )
                data = account_data(state, view)
                rows = holdings(state, view)
                colls = [h for h in rows if h.collateral > 0 and h.collateral_enabled]
                debts = [h for h in rows if h.debt > 0]
                if not colls or not debts or data.health_factor >= WAD:
                    continue
                coll, debt = rng.choice(colls), rng.choice(debts)
                price = tracker.prices[debt.asset]
                unit = 10 ** tracker.reserves[debt.asset].config.decimals
                keep = -(-MIN_LEFTOVER_BASE * unit // price)  # debt worth the leftover bound
                cover = rng.choice(
                    [
                        1,
                        rng.randint(1, debt.debt),
                        debt.debt // 2 + rng.randint(0, 10**6),
                        debt.debt,
                        MAX_UINT,
                        max(1, debt.debt - keep),
                        max(1, debt.debt - keep + 1),
                        max(1, debt.debt - keep - 1),
                    ]
                )
                terms = reserve_terms(tracker.reserves.values(), tracker.prices, ts)
                predicted = predict_call(
                    health_factor=data.health_factor,
                    total_debt_base=data.total_debt_base,
                    holdings=rows,
                    reserves=terms,
                    emode=emode_terms(state, tracker.emodes, tracker.reserves.values()),
                    rules=market.rules,
                    collateral_asset=coll.asset,
                    debt_asset=debt.asset,
                    debt_to_cover=cover,
                    borrow_index=tracker.reserves[debt.asset].normalized_debt(ts),
                )
                await client.request("evm_setNextBlockTimestamp", [hex(ts)])
                call = POOL.encode("liquidationCall", coll.asset, debt.asset, account, cover, False)
                receipt, error = await _send(client, call, market.pool)
                if isinstance(predicted, str):
                    assert error == predicted, (account, cover, predicted, error)
                    seen["dust"] += predicted == "MustNotLeaveDust"
                    done += 1
                    continue
                assert error is None, (account, cover, predicted, error)
                assert isinstance(predicted, LiquidationAmounts)
                decoded = [POOL.decode_log(e) for e in receipt["logs"]]
                event = next(x[1] for x in decoded if x is not None and x[0] == "LiquidationCall")
                assert event["debtToCover"] == predicted.debt_to_repay
                assert event["liquidatedCollateralAmount"] == predicted.collateral_to_liquidator
                seen["half" if data.health_factor > 95 * WAD // 100 else "full"] += 1
                debt_base = debt.debt * price // unit
                seen["small"] += debt_base < 2_000 * 10**8
                taken = predicted.collateral_to_liquidator + predicted.protocol_fee
                seen["limited"] += taken == coll.collateral
                seen["deficit"] += any(log["topics"][0] == DEFICIT_TOPIC for log in receipt["logs"])
                done += 1
                await monitor.step()
        assert all(seen.values()), seen
